"""The AWS policy rules (infra.policy.aws_rules) on the committed dev and prod plans on AWS.

- Each committed stack, planned on AWS, has no finding at all (mandatory, advisory or unknown),
  and its outputs pass X3.
- Mutation table: switching off one secure setting the AWS components set, in the prod (or dev)
  plan, fails exactly the named rule.
- Stack config: a committed stack file with one secure setting switched off is refused by the
  loader with its exact message, or planned into a stack that a rule fails.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from infra.mocks import aws_arn
from infra.plan import Plan, plan_stack
from infra.policy.aws_rules import AWS_RULES, ROLE
from infra.policy.common import check_outputs
from infra.policy.engine import Context, Resource, evaluate
from infra.policy.offline import check_plan, policy_resources
from stacks.errors import StackConfigError
from stacks.loader import PROJECT_ROOT, stack_file
from tests.infra.policy_cases import DELETE, REMOVE, Mutation, edited, found, props, put

STACKS = ("dev", "prod")


@pytest.fixture(scope="module")
def plans() -> dict[str, Plan]:
    return {stack: plan_stack(stack, cloud="aws") for stack in STACKS}


def context(plan: Plan) -> Context:
    return Context(plan.stack, plan.environment, plan.cloud)  # type: ignore[arg-type]


# --- the committed plans ------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_committed_aws_plan_passes_every_mandatory_rule(plans: dict[str, Plan], stack: str) -> None:
    """Not only no blocking or unknown finding: no advisory finding either."""
    plan = plans[stack]
    assert (plan.cloud, plan.environment) == ("aws", stack)
    report = check_plan(plan, context(plan))
    assert [(f.rule_id, f.level, f.urn, f.message) for f in report.findings] == []


@pytest.mark.parametrize("stack", STACKS)
def test_committed_aws_plan_outputs_pass_x3(plans: dict[str, Plan], stack: str) -> None:
    run = plans[stack].run
    assert check_outputs(run.outputs, run.secret_outputs) == []
    assert (run.outputs["cloud"], run.outputs["environment"]) == ("aws", stack)


# --- mutation table: one secure setting switched off ---------------------------------------------


def in_json(edits: dict[str, Any]) -> Callable[[str], str]:
    """A ``props`` value for a property holding a JSON document (a task's
    ``containerDefinitions``, a role policy): the plan's document, parsed, with ``edits``
    (``put`` paths such as ``0.privileged``, values or DELETE) applied, serialised again."""

    def rewrite(document: str) -> str:
        parsed = json.loads(document)
        for path, value in edits.items():
            put(parsed, path, value)
        return json.dumps(parsed)

    return rewrite


def without(statement: str) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    """A ``props`` value for a web ACL's ``rules``: the plan's rules minus those whose
    statement is a ``statement``."""
    return lambda rules: [rule for rule in rules if statement not in rule["statement"]]


def mutated(resources: Sequence[Resource], mutation: Mutation) -> list[Resource]:
    """``resources`` with ``mutation`` applied: its resource removed (REMOVE) or changed by
    `edited`, where a callable ``props`` value is applied to the value the plan has there."""
    named = [r for r in resources if r.name == mutation.resource]
    assert len(named) == 1, f"{len(named)} resources named {mutation.resource} in the plan"
    if mutation.changes == REMOVE:
        return [r for r in resources if r is not named[0]]
    changes = dict(mutation.changes)
    paths = {
        path: value(copy.deepcopy(named[0].get(path))) if callable(value) else value
        for path, value in changes.pop("props", {}).items()
    }
    return edited(list(resources), mutation.resource, props=paths, **changes)


REGISTRY, REDIS, ALB, TASK, SERVICE = (
    "emg-registry-repository",
    "emg-cache-redis",
    "emg-lb-alb",
    "emg-service-task",
    "emg-service-service",
)
EXECUTION_ROLE = "emg-service-execution-role"
MUTATIONS: dict[str, Mutation] = {
    "registry-mutable-tags": Mutation("A1", REGISTRY, props(imageTagMutability="MUTABLE")),
    "registry-tag-mutability-unset-in-dev": Mutation(
        "A1", REGISTRY, props(imageTagMutability=DELETE), stack="dev"
    ),
    "registry-no-scan-on-push": Mutation(
        "A2", REGISTRY, props(imageScanningConfiguration__scanOnPush=False)
    ),
    "registry-aws-managed-encryption": Mutation(
        "A3",
        REGISTRY,
        props(
            **{
                "encryptionConfigurations[0].encryptionType": "AES256",
                "encryptionConfigurations[0].kmsKey": DELETE,
            }
        ),
    ),
    "registry-force-delete-in-prod": Mutation("A3", REGISTRY, props(forceDelete=True)),
    "http-listener-forwards": Mutation(
        "A4",
        "emg-lb-http-redirect",
        props(
            **{
                "defaultActions[0]": {
                    "type": "forward",
                    "targetGroupArn": aws_arn("aws:lb/targetGroup:TargetGroup", "emg-lb-tg"),
                }
            }
        ),
    ),
    "http-listener-temporary-redirect": Mutation(
        "A4",
        "emg-lb-http-redirect",
        props(**{"defaultActions[0].redirect.statusCode": "HTTP_302"}),
        stack="dev",
    ),
    "https-listener-weak-tls": Mutation(
        "A5", "emg-lb-https", props(sslPolicy="ELBSecurityPolicy-2016-08")
    ),
    "https-listener-default-tls": Mutation(
        "A5", "emg-lb-https", props(sslPolicy=DELETE), stack="dev"
    ),
    "alb-keeps-invalid-headers": Mutation(
        "A6", ALB, props(dropInvalidHeaderFields=False), stack="dev"
    ),
    "alb-access-logs-off": Mutation("A6", ALB, props(accessLogs__enabled=False)),
    "alb-deletion-protection-off-in-prod": Mutation(
        "A6", ALB, props(enableDeletionProtection=False)
    ),
    "waf-without-rate-limit": Mutation(
        "A7", "emg-lb-waf", props(rules=without("rateBasedStatement"))
    ),
    "waf-without-managed-rules": Mutation(
        "A7", "emg-lb-waf", props(rules=without("managedRuleGroupStatement"))
    ),
    "waf-not-associated": Mutation("A7", "emg-lb-waf-association", REMOVE),
    "task-secret-in-plain-env": Mutation(
        "A8",
        TASK,
        props(
            containerDefinitions=in_json(
                {"0.environment.0": {"name": "SUPABASE_SERVICE_KEY", "value": "plain"}}
            )
        ),
    ),
    "task-secret-not-from-an-arn": Mutation(
        "A8", TASK, props(containerDefinitions=in_json({"0.secrets.0.valueFrom": "plain"}))
    ),
    "task-writable-root-filesystem": Mutation(
        "A8",
        TASK,
        props(containerDefinitions=in_json({"0.readonlyRootFilesystem": False})),
        stack="dev",
    ),
    "task-logs-not-awslogs": Mutation(
        "A8",
        TASK,
        props(containerDefinitions=in_json({"0.logConfiguration.logDriver": "json-file"})),
    ),
    "task-privileged": Mutation(
        "A8", TASK, props(containerDefinitions=in_json({"0.privileged": True}))
    ),
    "execution-role-reads-every-secret": Mutation(
        "A9", "emg-service-execution-secrets", props(policy=in_json({"Statement.0.Resource": "*"}))
    ),
    "execution-role-extra-managed-policy": Mutation(
        "A9",
        EXECUTION_ROLE,
        props(managedPolicyArns=["arn:aws:iam::aws:policy/AdministratorAccess"]),
        stack="dev",
    ),
    "execution-role-attachment-not-the-execution-policy": Mutation(
        "A9",
        "emg-service-execution-managed",
        props(policyArn="arn:aws:iam::aws:policy/PowerUserAccess"),
    ),
    "task-role-is-the-execution-role": Mutation(
        "A9", TASK, props(taskRoleArn=aws_arn(ROLE, EXECUTION_ROLE))
    ),
    "service-public-ip": Mutation(
        "A10", SERVICE, props(networkConfiguration__assignPublicIp=True), stack="dev"
    ),
    "service-no-rollback": Mutation(
        "A10", SERVICE, props(deploymentCircuitBreaker__rollback=False)
    ),
    "service-exec-in-prod": Mutation("A10", SERVICE, props(enableExecuteCommand=True)),
    "cluster-insights-off": Mutation(
        "A11", "emg-service-cluster", props(**{"settings[0].value": "disabled"})
    ),
    "redis-no-tls": Mutation("A12", REDIS, props(transitEncryptionEnabled=False)),
    "redis-tls-only-preferred": Mutation(
        "A12", REDIS, props(transitEncryptionMode="preferred"), stack="dev"
    ),
    "redis-not-encrypted-at-rest": Mutation(
        "A12", REDIS, props(atRestEncryptionEnabled=False), stack="dev"
    ),
    "redis-no-auth": Mutation("A12", REDIS, props(authTokenWo=DELETE, authTokenWoVersion=DELETE)),
    "redis-no-failover-in-prod": Mutation("A13", REDIS, props(automaticFailoverEnabled=False)),
    "redis-single-az-in-prod": Mutation("A13", REDIS, props(multiAzEnabled=False)),
    "redis-single-node-in-prod": Mutation("A13", REDIS, props(numCacheClusters=1.0)),
    "redis-no-snapshots-in-prod": Mutation("A13", REDIS, props(snapshotRetentionLimit=0.0)),
    "redis-open-to-the-internet": Mutation(
        "A14",
        "emg-network-redis-from-tasks",
        props(referencedSecurityGroupId=DELETE, cidrIpv4="0.0.0.0/0"),
    ),
    "tasks-open-to-the-vpc": Mutation(
        "A14",
        "emg-network-tasks-from-alb",
        props(referencedSecurityGroupId=DELETE, cidrIpv4="10.0.0.0/16"),
        stack="dev",
    ),
    "secret-aws-managed-key": Mutation("A15", "emg-secrets-jwt-secret", props(kmsKeyId=DELETE)),
    "secret-no-recovery-window-in-prod": Mutation(
        "A15", "emg-secrets-database-url", props(recoveryWindowInDays=0.0)
    ),
    "secret-version-plain-string": Mutation(
        "A16",
        "emg-secrets-jwt-secret-version",
        props(secretStringWo=DELETE, secretStringWoVersion=DELETE, secretString="plain"),
    ),
    "logs-kept-forever": Mutation("A17", "emg-service-logs", props(retentionInDays=0.0)),
    "logs-retention-unset-in-dev": Mutation(
        "A17", "emg-service-logs", props(retentionInDays=DELETE), stack="dev"
    ),
    "logs-unencrypted-in-prod": Mutation("A17", "emg-service-logs", props(kmsKeyId=DELETE)),
    "alarm-notifies-nobody": Mutation("A18", "emg-monitoring-ecs-cpu", props(alarmActions=DELETE)),
    "alarm-missing": Mutation("A18", "emg-monitoring-alb-unhealthy-hosts", REMOVE),
    "redis-replica-unwatched": Mutation(
        "A18", "emg-monitoring-redis-cpu-emg-prod-redis-002", REMOVE
    ),
    "certificate-email-validation": Mutation(
        "A19", "emg-lb-certificate", props(validationMethod="EMAIL"), stack="dev"
    ),
    "tags-missing-owner": Mutation("X1", REDIS, props(tags__owner=DELETE)),
    "tags-wrong-env": Mutation("X1", ALB, props(tags__env="dev")),
    "tags-missing-in-dev": Mutation("X1", TASK, props(tags=DELETE), stack="dev"),
    "redis-not-kept-in-prod": Mutation("X2", REDIS, {"protect": False, "retain_on_delete": False}),
    "secret-not-kept-in-prod": Mutation(
        "X2", "emg-secrets-jwt-secret", {"protect": False, "retain_on_delete": False}
    ),
    "registry-protected-in-dev": Mutation("X2", REGISTRY, {"protect": True}, stack="dev"),
    "registry-not-force-deleted-in-dev": Mutation(
        "X2", REGISTRY, props(forceDelete=False), stack="dev"
    ),
    "alb-deletion-protection-in-dev": Mutation(
        "X2", ALB, props(enableDeletionProtection=True), stack="dev"
    ),
    "access-logs-bucket-kept-in-dev": Mutation(
        "X2", "emg-lb-access-logs", props(forceDestroy=False), stack="dev"
    ),
}


@pytest.mark.parametrize("setting", sorted(MUTATIONS))
def test_switching_off_a_secure_setting_fails_its_rule(
    plans: dict[str, Plan], setting: str
) -> None:
    mutation = MUTATIONS[setting]
    plan = plans[mutation.stack]
    base = policy_resources(plan)
    before = evaluate(base, context(plan), AWS_RULES)
    assert [f for f in before.findings if f.rule_id == mutation.rule] == []
    after = evaluate(mutated(base, mutation), context(plan), AWS_RULES)
    new = [f for f in after.findings if f not in before.findings]
    assert {f.rule_id for f in new} == {mutation.rule}, (
        f"{setting}: expected new {mutation.rule} findings only; the mutated plan has "
        f"{[(f.rule_id, f.urn, f.message) for f in after.findings]}"
    )


def test_mutations_cover_every_rule() -> None:
    assert {m.rule for m in MUTATIONS.values()} == {rule.id for rule in AWS_RULES}


def test_mutations_leave_the_plans_untouched(plans: dict[str, Plan]) -> None:
    before = {s: copy.deepcopy([r.inputs for r in p.run.resources]) for s, p in plans.items()}
    for mutation in MUTATIONS.values():
        mutated(policy_resources(plans[mutation.stack]), mutation)
    assert {s: [r.inputs for r in p.run.resources] for s, p in plans.items()} == before


# --- stack config: one secure setting switched off in the committed stack file -------------------


def stack_file_with(root: Path, stack: str, line: str, replacement: str) -> Path:
    """A folder holding the committed stack file of ``stack`` with ``line`` replaced."""
    source = stack_file(stack, PROJECT_ROOT).read_text(encoding="utf-8")
    assert line in source, f"{line!r} is not in the committed Pulumi.{stack}.yaml"
    stack_file(stack, root).write_text(source.replace(line, replacement), encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("line", "replacement", "problem"),
    [
        (
            "emg-analyzer:deletionProtection: true",
            "emg-analyzer:deletionProtection: false",
            "emg-analyzer:deletionProtection (false) must be true in prod",
        ),
        (
            "emg-analyzer:redisTier: STANDARD_HA",
            "emg-analyzer:redisTier: BASIC",
            "emg-analyzer:redisTier (BASIC) must be STANDARD_HA in prod "
            "(a replica in another zone)",
        ),
        (
            "emg-analyzer:alertEmails:\n    - ops@example.org",
            "emg-analyzer:alertEmails: []",
            "emg-analyzer:alertEmails ([]) must list at least one address in prod "
            "(alerts need a recipient)",
        ),
    ],
)
def test_prod_stack_config_without_a_secure_setting_is_refused(
    tmp_path: Path, line: str, replacement: str, problem: str
) -> None:
    root = stack_file_with(tmp_path, "prod", line, replacement)
    with pytest.raises(StackConfigError) as refused:
        plan_stack("prod", root=root, cloud="aws")
    assert refused.value.problems == (problem,)


def test_dev_stack_config_with_deletion_protection_fails_x2(tmp_path: Path) -> None:
    root = stack_file_with(
        tmp_path,
        "dev",
        "emg-analyzer:deletionProtection: false",
        "emg-analyzer:deletionProtection: true",
    )
    plan = plan_stack("dev", root=root, cloud="aws")
    alb = next(r.urn for r in plan.run.resources if r.name == ALB)
    assert found(check_plan(plan, context(plan))) == [
        (alb, "enableDeletionProtection is True in dev (pulumi destroy would fail or leave it)")
    ]
