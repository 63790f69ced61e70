"""The whole AWS program against the security rule table of INFRA_NOTES.md (rows A1-A19, X1-X3).

Each committed stack (``Pulumi.dev.yaml``, ``Pulumi.prod.yaml``) is planned once on AWS
(``plan_stack(stack, cloud="aws")``: the real program under Pulumi's mocks) and every row is
checked, for dev and for prod, on what the program registered: inputs in wire form (camelCase
keys, numbers as floats, secrets wrapped). Component tests (test_aws_*.py) check each component
with chosen arguments; these check what the composition produces, so references are followed
the way AWS would follow them: an ARN, id or name that points at another resource must be that
of a resource this program registered (the mocks give every AWS resource an ARN ending in its
logical name, so a reference identifies one resource).

Scope: a row scoped to prod asserts its prod part in prod only; in dev the same test checks the
part of the row that applies everywhere or its dev complement (A3, A6, A15, X2: destroyable;
A13: one node, no failover), so no case passes vacuously or is skipped. The platform builds the
WAF (A7), Container Insights (A11) and the alarms (A18) in every stack, so those are checked in
dev too. A19's expiry check is a runtime (AWS Config) rule: nothing in a plan can show it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any
from unittest import mock
from urllib.parse import unquote, urlsplit

import pytest
from pulumi.runtime.rpc import UNKNOWN

from infra.mocks import RecordingMonitor, RegisteredResource
from infra.plan import Plan, plan_stack
from infra.secret_values import must_be_secret
from stacks.config import SECRETS, StackConfig
from stacks.loader import PROJECT_ROOT, load_stack_config
from stacks.outputs import ENV_NAMES, StackOutputs, secret_sign
from tests.infra.wire import (
    is_secret,
    leaves,
    one,
    prop,
    provider_secret_outputs,
    resources,
    sdk_args,
    sdk_class,
    some,
    stack_urn,
)

STACKS = ("dev", "prod")
PLACEHOLDER = "plan-placeholder-"  # what plan_stack feeds the program as each app secret
MOCK_ECR_PASSWORD = "mock-ecr-password"  # infra.mocks: ecr getAuthorizationToken's password

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
BUCKET = "aws:s3/bucket:Bucket"
CACHE = "aws:elasticache/replicationGroup:ReplicationGroup"
CACHE_SUBNETS = "aws:elasticache/subnetGroup:SubnetGroup"
CERTIFICATE = "aws:acm/certificate:Certificate"
CERTIFICATE_VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
CLUSTER = "aws:ecs/cluster:Cluster"
ECS_SERVICE = "aws:ecs/service:Service"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
IMAGE = "docker:index/image:Image"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
INTERNET_GATEWAY = "aws:ec2/internetGateway:InternetGateway"
KMS_KEY = "aws:kms/key:Key"
LEGACY_SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
LISTENER = "aws:lb/listener:Listener"
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
PROVIDER = "pulumi:providers:aws"
RECORD = "aws:route53/record:Record"
REPOSITORY = "aws:ecr/repository:Repository"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE_TABLE_ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
SCALING_TARGET = "aws:appautoscaling/target:Target"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
STACK_KEY = "emg:aws:StackKey"
SUBNET = "aws:ec2/subnet:Subnet"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
TOPIC = "aws:sns/topic:Topic"
VPC = "aws:ec2/vpc:Vpc"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
WEB_ACL_ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"

# A5: TLS 1.3 policies (1.2 only with forward secrecy) and the FS-only 1.2 policy.
TLS_POLICY = re.compile(
    r"ELBSecurityPolicy-(TLS13-1-[23](-Res)?(-FIPS)?-20\d\d-\d\d|FS-1-2-Res-.+)"
)
DIGEST = re.compile(r"[^\s@]+@sha256:[0-9a-f]{64}")
INTERNET = {"0.0.0.0/0", "::/0"}
PUBLIC_PORTS = {80, 443}
CONTAINER_PORT = 8080  # the service image's port (service/Dockerfile)
REDIS_PORT = 6379
EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
# Actions that take no resource-level permission: "*" is the only Resource IAM accepts.
RESOURCELESS_ACTIONS = {
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
}
# A8: what must reach the container as secrets (the stack's app secrets and the Redis URL).
SECRET_ENV = {s.env_var for s in SECRETS} | {"REDIS_URL"}
REQUIRED_TAGS = ("env", "service", "owner")
PROTECTED_IN_PROD = {CACHE, SECRET, REPOSITORY}  # X2: protect + retain_on_delete
# A18: namespace -> metrics that need an alarm, and the dimensions that name what they watch.
ALB_METRICS = ("HTTPCode_Target_5XX_Count", "TargetResponseTime", "UnHealthyHostCount")
ECS_METRICS = ("CPUUtilization", "MemoryUtilization")
REDIS_METRICS = ("DatabaseMemoryUsagePercentage", "EngineCPUUtilization")


@pytest.fixture(scope="module")
def planned() -> tuple[dict[str, Plan], dict[str, set[str]]]:
    """Each committed stack planned once on AWS for the whole module, with the URNs each
    resource was registered depending on (the recording keeps no dependencies)."""
    dependencies: dict[str, set[str]] = {}
    register = RecordingMonitor.RegisterResource

    def recording(self: RecordingMonitor, request: Any) -> Any:
        response = register(self, request)
        dependencies[response.urn] = set(request.dependencies)
        return response

    with mock.patch.object(RecordingMonitor, "RegisterResource", recording):
        plans = {stack: plan_stack(stack, cloud="aws") for stack in STACKS}
    return plans, dependencies


@pytest.fixture(scope="module")
def plans(planned: tuple[dict[str, Plan], dict[str, set[str]]]) -> dict[str, Plan]:
    return planned[0]


@pytest.fixture(scope="module")
def dependencies(planned: tuple[dict[str, Plan], dict[str, set[str]]]) -> dict[str, set[str]]:
    return planned[1]


@pytest.fixture(params=STACKS)
def plan(request: pytest.FixtureRequest, plans: dict[str, Plan]) -> Plan:
    return plans[request.param]


@pytest.fixture
def config(plan: Plan) -> StackConfig:
    """The stack's committed settings, moved to AWS the way plan_stack moved them."""
    return aws_config(plan.stack)


def aws_config(stack: str) -> StackConfig:
    return load_stack_config(stack, cloud="aws")


# --- helpers ---------------------------------------------------------------------------------


def handles(resource: RegisteredResource, keys: Iterable[str] = ("arn", "id", "name")) -> set[str]:
    """What another resource may use to point at ``resource``."""
    return {value for key in keys if isinstance(value := resource.outputs.get(key), str)}


def referenced(
    plan: Plan,
    type_token: str,
    ref: Any,
    by: RegisteredResource | str,
    field: str,
    keys: Iterable[str] = ("arn", "id", "name"),
) -> RegisteredResource:
    """The one ``type_token`` resource of this program that ``by``'s ``field`` (``ref``) points
    at through one of ``keys``; fails naming ``by`` when it points at nothing the program
    created."""
    keys = tuple(keys)
    found = [r for r in resources(plan, type_token) if ref in handles(r, keys)]
    where = by if isinstance(by, str) else by.urn
    assert len(found) == 1, (
        f"{where}: {field} = {ref!r} is not the {'/'.join(keys)} of a {type_token} this program "
        f"created (matches {[r.urn for r in found]})"
    )
    return found[0]


def parent_type(resource: RegisteredResource) -> str | None:
    """The type token of ``resource``'s parent (a URN's third part ends with it)."""
    return resource.parent.split("::")[2].split("$")[-1] if resource.parent else None


def stack_key(plan: Plan) -> RegisteredResource:
    """The stack's own KMS key: the StackKey component's (the program may make others)."""
    keys = [k for k in resources(plan, KMS_KEY) if parent_type(k) == STACK_KEY]
    assert len(keys) == 1, f"{stack_urn(plan)}: stack keys {[k.urn for k in keys]}"
    return keys[0]


def container_definitions(task: RegisteredResource) -> list[dict[str, Any]]:
    text = prop(task, "containerDefinitions")
    assert isinstance(text, str), f"{task.urn}: containerDefinitions is {text!r}, not JSON text"
    containers = json.loads(text)
    assert isinstance(containers, list) and containers, f"{task.urn}: no container definitions"
    return containers


def policy_statements(holder: RegisteredResource, field: str = "policy") -> list[dict[str, Any]]:
    document = json.loads(prop(holder, field))
    statements = document["Statement"]
    return [statements] if isinstance(statements, dict) else statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def ports(rule: RegisteredResource) -> range:
    return range(int(prop(rule, "fromPort", -1)), int(prop(rule, "toPort", -2)) + 1)


def rules_of(plan: Plan, group: RegisteredResource, type_token: str) -> list[RegisteredResource]:
    group_ids = handles(group, ["id"])
    return [r for r in resources(plan, type_token) if prop(r, "securityGroupId") in group_ids]


def routed_subnet_ids(plan: Plan, route: str) -> set[str]:
    """Ids of the subnets whose route table sends 0.0.0.0/0 through ``route`` (``gatewayId``
    for an internet gateway, ``natGatewayId`` for NAT)."""
    tables = {
        table.outputs["id"]
        for table in resources(plan, ROUTE_TABLE)
        if any(r.get("cidrBlock") == "0.0.0.0/0" and r.get(route) for r in prop(table, "routes"))
    }
    return {
        prop(a, "subnetId")
        for a in resources(plan, ROUTE_TABLE_ASSOCIATION)
        if prop(a, "routeTableId") in tables
    }


def private_subnet_ids(plan: Plan) -> set[str]:
    found = routed_subnet_ids(plan, "natGatewayId")
    assert found, f"{stack_urn(plan)}: no subnet routes to the internet through NAT"
    assert not found & routed_subnet_ids(plan, "gatewayId"), f"{stack_urn(plan)}: mixed routes"
    for subnet_id in found:
        subnet = referenced(plan, SUBNET, subnet_id, stack_urn(plan), "private subnet", ["id"])
        assert prop(subnet, "mapPublicIpOnLaunch") is not True, f"{subnet.urn}: public IPs"
    return found


def public_subnet_ids(plan: Plan) -> set[str]:
    found = routed_subnet_ids(plan, "gatewayId")
    assert found, f"{stack_urn(plan)}: no subnet routes to the internet gateway"
    return found


def task_security_group(plan: Plan) -> RegisteredResource:
    service = one(plan, ECS_SERVICE)
    groups = prop(service, "networkConfiguration.securityGroups", [])
    assert len(groups) == 1, f"{service.urn}: security groups {groups}"
    return referenced(plan, SECURITY_GROUP, groups[0], service, "securityGroups", ["id"])


def alb_security_group(plan: Plan) -> RegisteredResource:
    alb = one(plan, LOAD_BALANCER)
    groups = prop(alb, "securityGroups", [])
    assert len(groups) == 1, f"{alb.urn}: security groups {groups}"
    return referenced(plan, SECURITY_GROUP, groups[0], alb, "securityGroups", ["id"])


def https_listener(plan: Plan) -> RegisteredResource:
    found = [r for r in resources(plan, LISTENER) if prop(r, "protocol") == "HTTPS"]
    assert len(found) == 1, f"{stack_urn(plan)}: HTTPS listeners {[r.urn for r in found]}"
    return found[0]


def alarm_metrics(alarm: RegisteredResource) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(namespace, metric name, dimensions) of every metric ``alarm`` reads, whether it has
    one metric or metric queries."""
    if prop(alarm, "metricName"):
        yield prop(alarm, "namespace"), prop(alarm, "metricName"), prop(alarm, "dimensions", {})
    for query in prop(alarm, "metricQueries", []):
        metric = query.get("metric") or {}
        if metric.get("metricName"):
            yield metric.get("namespace"), metric["metricName"], metric.get("dimensions", {})


def secret_value(plan: Plan, env_name: str) -> str:
    """The value the program stores in the secret the task reads as ``env_name``."""
    task = one(plan, TASK_DEFINITION)
    (container,) = container_definitions(task)
    (entry,) = [s for s in container.get("secrets", []) if s.get("name") == env_name]
    secret = referenced(plan, SECRET, entry["valueFrom"], task, env_name, ["arn"])
    versions = [
        v for v in resources(plan, SECRET_VERSION) if prop(v, "secretId") in handles(secret)
    ]
    assert len(versions) == 1, f"{secret.urn}: {len(versions)} versions, expected one"
    return str(prop(versions[0], "secretStringWo"))


# --- A1-A3: the registry ---------------------------------------------------------------------


def test_a1_registry_tags_are_immutable(plan: Plan) -> None:
    repository = one(plan, REPOSITORY)
    mutability = prop(repository, "imageTagMutability")
    assert mutability == "IMMUTABLE", f"{repository.urn}: imageTagMutability is {mutability!r}"


def test_a2_every_push_is_scanned(plan: Plan) -> None:
    repository = one(plan, REPOSITORY)
    scan = prop(repository, "imageScanningConfiguration.scanOnPush")
    assert scan is True, f"{repository.urn}: scanOnPush is {scan!r}"


def test_a3_registry_encrypted_with_the_stack_key_and_kept_in_prod(plan: Plan) -> None:
    repository = one(plan, REPOSITORY)
    configs = prop(repository, "encryptionConfigurations", [])
    assert len(configs) == 1, f"{repository.urn}: encryptionConfigurations {configs!r}"
    assert configs[0].get("encryptionType") == "KMS", f"{repository.urn}: not KMS-encrypted"
    assert configs[0].get("kmsKey") in handles(stack_key(plan), ["arn"]), (
        f"{repository.urn}: kmsKey {configs[0].get('kmsKey')!r} is not the stack's key"
    )
    force_delete = prop(repository, "forceDelete")
    # Prod never deletes a repository holding images; dev must be destroyable with images in it.
    assert force_delete is (plan.stack == "dev"), f"{repository.urn}: forceDelete {force_delete!r}"


# --- A4-A7, A19: the load balancer -----------------------------------------------------------


def test_a4_plain_http_only_redirects_to_https(plan: Plan) -> None:
    alb = one(plan, LOAD_BALANCER)
    http = [r for r in resources(plan, LISTENER) if prop(r, "protocol") == "HTTP"]
    assert http, f"{alb.urn}: no port-80 listener (no redirect to HTTPS)"
    for listener in some(plan, LISTENER):
        referenced(plan, LOAD_BALANCER, prop(listener, "loadBalancerArn"), listener, "ALB")
        protocol = prop(listener, "protocol")
        assert protocol in ("HTTP", "HTTPS"), f"{listener.urn}: protocol {protocol!r}"
        if protocol != "HTTP":
            continue
        actions = prop(listener, "defaultActions", [])
        assert [a.get("type") for a in actions] == ["redirect"], (
            f"{listener.urn}: HTTP actions {[a.get('type') for a in actions]} do not only redirect"
        )
        redirect = actions[0].get("redirect") or {}
        expected = {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}
        actual = {key: redirect.get(key) for key in expected}
        assert actual == expected, f"{listener.urn}: redirects with {actual}, not {expected}"


def test_a5_https_uses_a_modern_tls_policy_and_the_stack_certificate(
    plan: Plan, config: StackConfig
) -> None:
    listener = https_listener(plan)
    assert prop(listener, "port") == 443, f"{listener.urn}: HTTPS on port {prop(listener, 'port')}"
    policy = prop(listener, "sslPolicy")
    assert policy and TLS_POLICY.fullmatch(policy), f"{listener.urn}: sslPolicy {policy!r}"
    validation = referenced(
        plan,
        CERTIFICATE_VALIDATION,
        prop(listener, "certificateArn"),
        listener,
        "certificateArn",
        ["certificateArn"],
    )
    certificate = referenced(
        plan, CERTIFICATE, prop(validation, "certificateArn"), validation, "certificateArn"
    )
    assert prop(certificate, "domainName") == config.domain, (
        f"{certificate.urn}: for {prop(certificate, 'domainName')!r}, not {config.domain!r}"
    )
    (action,) = prop(listener, "defaultActions")
    assert action.get("type") == "forward", f"{listener.urn}: default action {action!r}"
    referenced(plan, TARGET_GROUP, action.get("targetGroupArn"), listener, "targetGroupArn")


def test_a6_alb_drops_bad_headers_logs_access_and_is_protected_in_prod(plan: Plan) -> None:
    alb = one(plan, LOAD_BALANCER)
    assert prop(alb, "loadBalancerType") == "application", f"{alb.urn}: not an ALB"
    assert prop(alb, "dropInvalidHeaderFields") is True, f"{alb.urn}: keeps invalid headers"
    assert prop(alb, "accessLogs.enabled") is True, f"{alb.urn}: access logs are off"
    referenced(plan, BUCKET, prop(alb, "accessLogs.bucket"), alb, "accessLogs.bucket", ["id"])
    protection = prop(alb, "enableDeletionProtection")
    assert protection is (plan.stack == "prod"), (
        f"{alb.urn}: enableDeletionProtection is {protection!r} in {plan.stack}"
    )
    assert set(prop(alb, "subnets", [])) == public_subnet_ids(plan), (
        f"{alb.urn}: subnets {prop(alb, 'subnets')} are not the public ones"
    )


def test_a7_the_alb_is_guarded_by_a_rate_limiting_web_acl_with_managed_rules(
    plan: Plan, config: StackConfig
) -> None:
    """Stack level: the association ties this stack's ALB to this stack's WebACL."""
    where = stack_urn(plan)
    alb = one(plan, LOAD_BALANCER)
    associations = [
        a
        for a in resources(plan, WEB_ACL_ASSOCIATION)
        if prop(a, "resourceArn") in handles(alb, ["arn"])
    ]
    assert len(associations) == 1, (
        f"{where}: {alb.urn} has WebACL associations {[a.urn for a in associations]}"
    )
    (association,) = associations
    acl = referenced(plan, WEB_ACL, prop(association, "webAclArn"), association, "webAclArn")
    assert prop(acl, "scope") == "REGIONAL", f"{acl.urn}: scope {prop(acl, 'scope')!r}"
    rules = prop(acl, "rules", [])
    rate = [r for r in rules if "rateBasedStatement" in (r.get("statement") or {})]
    assert len(rate) == 1, f"{acl.urn}: rate-based rules {rate}"
    statement = rate[0]["statement"]["rateBasedStatement"]
    assert statement.get("limit") == config.rate_limit_per_minute, (
        f"{acl.urn}: limit {statement.get('limit')} is not the stack's rateLimitPerMinute"
    )
    assert "block" in (rate[0].get("action") or {}), f"{acl.urn}: the rate limit does not block"
    managed = {
        (s.get("vendorName"), s.get("name")): rule
        for rule in rules
        if (s := (rule.get("statement") or {}).get("managedRuleGroupStatement"))
    }
    common = managed.get(("AWS", "AWSManagedRulesCommonRuleSet"))
    assert common is not None, f"{acl.urn}: no AWS managed common rule set ({sorted(managed)})"
    assert "count" not in (common.get("overrideAction") or {}), (
        f"{acl.urn}: the common rule set only counts"
    )


def test_a19_certificate_validated_by_dns_in_the_stack_zone(
    plan: Plan, config: StackConfig
) -> None:
    certificate = one(plan, CERTIFICATE)
    method = prop(certificate, "validationMethod")
    assert method == "DNS", f"{certificate.urn}: validationMethod {method!r} (no auto-renewal)"
    validation = one(plan, CERTIFICATE_VALIDATION)
    referenced(plan, CERTIFICATE, prop(validation, "certificateArn"), validation, "certificate")
    fqdns = prop(validation, "validationRecordFqdns", [])
    assert fqdns, f"{validation.urn}: no validation records"
    for fqdn in fqdns:
        record = referenced(plan, RECORD, fqdn, validation, "validationRecordFqdns", ["fqdn"])
        assert prop(record, "zoneId") == config.aws_hosted_zone_id, (
            f"{record.urn}: zone {prop(record, 'zoneId')!r} is not awsHostedZoneId"
        )
        option = certificate.outputs["domainValidationOptions"][0]
        assert prop(record, "name") == option["resourceRecordName"], (
            f"{record.urn}: is not {certificate.urn}'s validation record"
        )


# --- A8-A11: the ECS task and service --------------------------------------------------------


def test_a8_secrets_reach_the_task_only_as_secrets_manager_references(plan: Plan) -> None:
    task = one(plan, TASK_DEFINITION)
    for container in container_definitions(task):
        name = container.get("name")
        for env in container.get("environment", []):
            assert not must_be_secret(env["name"]), (
                f"{task.urn}: container {name} gets {env['name']} as a plain value"
            )
        seen = set()
        for entry in container.get("secrets", []):
            secret = referenced(plan, SECRET, entry.get("valueFrom"), task, entry["name"], ["arn"])
            versions = [
                v for v in resources(plan, SECRET_VERSION) if prop(v, "secretId") in handles(secret)
            ]
            assert versions, f"{task.urn}: {entry['name']} reads {secret.urn}, which has no value"
            seen.add(entry["name"])
        assert seen >= SECRET_ENV, (
            f"{task.urn}: container {name} lacks the secrets {sorted(SECRET_ENV - seen)}"
        )


def test_a8_container_is_locked_down_and_health_checked(plan: Plan) -> None:
    task = one(plan, TASK_DEFINITION)
    for container in container_definitions(task):
        name = container.get("name")
        assert container.get("readonlyRootFilesystem") is True, f"{task.urn}: {name} root is rw"
        assert container.get("privileged") is not True, f"{task.urn}: {name} is privileged"
        user = str(container.get("user", ""))
        assert user and user.split(":")[0] not in ("0", "root"), f"{task.urn}: {name} runs as root"
        command = (container.get("healthCheck") or {}).get("command") or []
        assert command[:1] in (["CMD"], ["CMD-SHELL"]) and len(command) > 1, (
            f"{task.urn}: {name} has no health check command ({command})"
        )


def test_a8_container_logs_to_the_stack_log_group(plan: Plan, config: StackConfig) -> None:
    task = one(plan, TASK_DEFINITION)
    log_group = one(plan, LOG_GROUP)
    for container in container_definitions(task):
        logging = container.get("logConfiguration") or {}
        assert logging.get("logDriver") == "awslogs", f"{task.urn}: log driver {logging!r}"
        options = logging.get("options") or {}
        assert options.get("awslogs-group") == prop(log_group, "name"), (
            f"{task.urn}: logs to {options.get('awslogs-group')!r}, not {log_group.urn}"
        )
        assert options.get("awslogs-region") == config.aws_region, (
            f"{task.urn}: logs to region {options.get('awslogs-region')!r}"
        )
        assert options.get("awslogs-stream-prefix"), f"{task.urn}: no awslogs-stream-prefix"


def test_a8_image_is_the_stack_repository_by_digest(plan: Plan) -> None:
    task = one(plan, TASK_DEFINITION)
    repository = one(plan, REPOSITORY)
    image = one(plan, IMAGE)
    url = repository.outputs["repositoryUrl"]
    assert str(prop(image, "imageName")).startswith(f"{url}:"), (
        f"{image.urn}: pushes {prop(image, 'imageName')!r} outside {repository.urn}"
    )
    for container in container_definitions(task):
        ref = container.get("image", "")
        assert DIGEST.fullmatch(ref), f"{task.urn}: image {ref!r} is not by digest"
        assert ref.startswith(f"{url}@sha256:"), f"{task.urn}: {ref!r} not from {repository.urn}"
        assert ref == image.outputs.get("repoDigest"), (
            f"{task.urn}: image {ref!r} is not {image.urn}'s pushed digest"
        )
    assert plan.run.outputs["imageRef"] == image.outputs["repoDigest"], (
        f"{stack_urn(plan)}: imageRef is not the deployed digest"
    )


def test_a9_distinct_roles_and_the_execution_role_reads_only_the_stack_secrets(
    plan: Plan,
) -> None:
    task = one(plan, TASK_DEFINITION)
    execution = referenced(plan, ROLE, prop(task, "executionRoleArn"), task, "executionRoleArn")
    runtime = referenced(plan, ROLE, prop(task, "taskRoleArn"), task, "taskRoleArn")
    assert execution is not runtime, f"{task.urn}: one role {execution.urn} for both"
    attached = [
        prop(a, "policyArn")
        for a in resources(plan, ATTACHMENT)
        if prop(a, "role") in handles(execution, ["name", "id"])
    ]
    assert attached == [EXECUTION_POLICY], f"{execution.urn}: managed policies {attached}"
    inline = [
        p for p in resources(plan, ROLE_POLICY) if prop(p, "role") in handles(execution, ["id"])
    ]
    assert len(inline) == 1, f"{execution.urn}: inline policies {[p.urn for p in inline]}"
    granted: dict[str, set[str]] = {}
    for statement in policy_statements(inline[0]):
        assert statement.get("Effect") == "Allow", f"{inline[0].urn}: {statement}"
        for action in as_list(statement["Action"]):
            resources_ = as_list(statement["Resource"])
            assert not any("*" in r for r in resources_), f"{inline[0].urn}: wildcard {statement}"
            granted.setdefault(action, set()).update(resources_)
    secret_arns = {s.outputs["arn"] for s in some(plan, SECRET)}
    expected = {
        "secretsmanager:GetSecretValue": secret_arns,
        "kms:Decrypt": {stack_key(plan).outputs["arn"]},
    }
    assert granted == expected, f"{inline[0].urn}: grants {granted}, not {expected}"
    for policy in resources(plan, ROLE_POLICY):
        if policy is inline[0]:
            continue
        assert prop(policy, "role") in handles(runtime, ["id"]), f"{policy.urn}: attached to?"
        for statement in policy_statements(policy):
            actions = set(as_list(statement["Action"]))
            assert actions <= RESOURCELESS_ACTIONS, f"{policy.urn}: task role may {actions}"
        assert plan.stack == "dev", f"{policy.urn}: ECS Exec channels for the task role in prod"


def test_a10_service_private_behind_the_alb_with_rollback_and_no_exec_in_prod(
    plan: Plan, dependencies: dict[str, set[str]]
) -> None:
    service = one(plan, ECS_SERVICE)
    network = prop(service, "networkConfiguration", {})
    assert network.get("assignPublicIp") is False, f"{service.urn}: tasks get public IPs"
    assert set(network.get("subnets", [])) == private_subnet_ids(plan), (
        f"{service.urn}: subnets {network.get('subnets')} are not the private (NAT) subnets"
    )
    task_security_group(plan)  # one group of this stack; what it admits is A14's
    breaker = prop(service, "deploymentCircuitBreaker", {})
    assert breaker.get("enable") is True and breaker.get("rollback") is True, (
        f"{service.urn}: deploymentCircuitBreaker {breaker}"
    )
    if plan.stack == "prod":
        exec_on = prop(service, "enableExecuteCommand")
        assert exec_on is False, f"{service.urn}: enableExecuteCommand {exec_on!r} in prod"
    referenced(plan, CLUSTER, prop(service, "cluster"), service, "cluster", ["arn"])
    task = referenced(
        plan, TASK_DEFINITION, prop(service, "taskDefinition"), service, "taskDefinition"
    )
    (balancer,) = prop(service, "loadBalancers")
    target_group = referenced(
        plan, TARGET_GROUP, balancer.get("targetGroupArn"), service, "targetGroupArn"
    )
    (container,) = container_definitions(task)
    assert balancer.get("containerName") == container["name"], f"{service.urn}: {balancer}"
    mapped = [m["containerPort"] for m in container.get("portMappings", [])]
    assert balancer.get("containerPort") == prop(target_group, "port") == CONTAINER_PORT, (
        f"{service.urn}: container port {balancer.get('containerPort')}, target group port "
        f"{prop(target_group, 'port')}"
    )
    assert mapped == [CONTAINER_PORT], f"{task.urn}: port mappings {mapped}"
    listener = https_listener(plan)
    assert listener.urn in dependencies[service.urn], (
        f"{service.urn}: does not depend on {listener.urn} (tasks would register before the "
        "target group is attached)"
    )
    order = [r.urn for r in plan.run.resources]
    assert order.index(listener.urn) < order.index(service.urn), f"{service.urn}: before listener"


def test_target_group_takes_fargate_tasks_by_ip_on_the_container_port(plan: Plan) -> None:
    target_group = one(plan, TARGET_GROUP)
    assert prop(target_group, "targetType") == "ip", f"{target_group.urn}: targetType not ip"
    assert prop(target_group, "port") == CONTAINER_PORT, f"{target_group.urn}: port"
    assert prop(target_group, "protocol") == "HTTP", f"{target_group.urn}: protocol"
    referenced(plan, VPC, prop(target_group, "vpcId"), target_group, "vpcId", ["id"])
    assert prop(target_group, "healthCheck.path"), f"{target_group.urn}: no health check path"


def test_a11_container_insights_on(plan: Plan) -> None:
    cluster = one(plan, CLUSTER)
    settings = {s.get("name"): s.get("value") for s in prop(cluster, "settings", [])}
    assert settings.get("containerInsights") in ("enabled", "enhanced"), (
        f"{cluster.urn}: containerInsights {settings.get('containerInsights')!r}"
    )


def test_task_count_follows_the_config_and_never_scales_to_zero(
    plan: Plan, config: StackConfig
) -> None:
    service = one(plan, ECS_SERVICE)
    target = one(plan, SCALING_TARGET)
    expected_min = max(config.min_instances, 1)  # Fargate cannot scale to zero on requests
    assert prop(target, "minCapacity") == expected_min, (
        f"{target.urn}: minCapacity {prop(target, 'minCapacity')}, minInstances "
        f"{config.min_instances}"
    )
    assert prop(target, "maxCapacity") == config.max_instances, (
        f"{target.urn}: maxCapacity {prop(target, 'maxCapacity')}, maxInstances "
        f"{config.max_instances}"
    )
    assert prop(service, "desiredCount") == expected_min, f"{service.urn}: desiredCount"
    cluster = referenced(plan, CLUSTER, prop(service, "cluster"), service, "cluster", ["arn"])
    resource_id = f"service/{cluster.outputs['name']}/{service.outputs['name']}"
    assert prop(target, "resourceId") == resource_id, f"{target.urn}: scales something else"


# --- A12-A14: ElastiCache and the security groups --------------------------------------------


def test_a12_redis_encrypted_in_transit_and_at_rest_with_auth(plan: Plan) -> None:
    cache = one(plan, CACHE)
    assert prop(cache, "transitEncryptionEnabled") is True, f"{cache.urn}: TLS off"
    mode = prop(cache, "transitEncryptionMode")
    assert mode == "required", f"{cache.urn}: transitEncryptionMode {mode!r}"
    assert prop(cache, "atRestEncryptionEnabled") is True, f"{cache.urn}: at rest unencrypted"
    assert prop(cache, "kmsKeyId") in handles(stack_key(plan), ["arn"]), (
        f"{cache.urn}: kmsKeyId {prop(cache, 'kmsKeyId')!r} is not the stack's key"
    )
    tokens = [k for k in ("authToken", "authTokenWo") if k in cache.inputs]
    assert tokens or prop(cache, "userGroupIds"), f"{cache.urn}: no AUTH token, no user group"
    for key in tokens:
        assert is_secret(cache.inputs[key]), f"{cache.urn}: {key} is not a secret"
    # The service connects with TLS and that token, to this group.
    url = urlsplit(secret_value(plan, "REDIS_URL"))
    assert url.scheme == "rediss", f"{cache.urn}: REDIS_URL is not TLS"
    assert (url.hostname, url.port) == (cache.outputs["primaryEndpointAddress"], REDIS_PORT), (
        f"{cache.urn}: REDIS_URL points at {url.hostname}:{url.port}"
    )
    assert unquote(url.password or "") == prop(cache, tokens[0]), (
        f"{cache.urn}: REDIS_URL does not carry the group's AUTH token"
    )


def test_a13_redis_engine_lowercase_and_highly_available_in_prod(plan: Plan) -> None:
    cache = one(plan, CACHE)
    assert prop(cache, "engine") == "redis", f"{cache.urn}: engine {prop(cache, 'engine')!r}"
    nodes = prop(cache, "numCacheClusters", 1)
    failover = prop(cache, "automaticFailoverEnabled"), prop(cache, "multiAzEnabled")
    if plan.stack == "prod":
        assert nodes >= 2, f"{cache.urn}: {nodes} node(s) in prod"
        assert failover == (True, True), f"{cache.urn}: failover, multi-AZ {failover} in prod"
        retention = prop(cache, "snapshotRetentionLimit", 0)
        assert retention > 0, f"{cache.urn}: snapshotRetentionLimit {retention} in prod"
    else:  # failover needs a replica: one node, none of it
        assert nodes == 1 and failover == (False, False), f"{cache.urn}: {nodes}, {failover}"
    subnet_group = referenced(
        plan, CACHE_SUBNETS, prop(cache, "subnetGroupName"), cache, "subnetGroupName", ["name"]
    )
    assert set(prop(subnet_group, "subnetIds", [])) == private_subnet_ids(plan), (
        f"{subnet_group.urn}: subnets {prop(subnet_group, 'subnetIds')} are not the private ones"
    )


def test_a14_redis_and_tasks_reachable_only_from_their_one_peer(plan: Plan) -> None:
    legacy = resources(plan, LEGACY_SG_RULE)
    assert not legacy, f"{stack_urn(plan)}: rules outside the checked types: {legacy}"
    for group in some(plan, SECURITY_GROUP):
        inline = [k for k in ("ingress", "egress") if k in group.inputs]
        assert not inline, f"{group.urn}: inline {inline} rules escape this check"
    alb_group, task_group = alb_security_group(plan), task_security_group(plan)
    cache = one(plan, CACHE)
    (cache_group_id,) = prop(cache, "securityGroupIds")
    cache_group = referenced(plan, SECURITY_GROUP, cache_group_id, cache, "securityGroupIds")
    assert len({alb_group.urn, task_group.urn, cache_group.urn}) == 3, (
        f"{stack_urn(plan)}: the ALB, tasks and cache share security groups"
    )

    def only_from(group: RegisteredResource, peer: RegisteredResource, port: int) -> None:
        rules = rules_of(plan, group, INGRESS_RULE)
        assert len(rules) == 1, f"{group.urn}: ingress rules {[r.urn for r in rules]}"
        (rule,) = rules
        assert ports(rule) == range(port, port + 1), f"{rule.urn}: ports {ports(rule)}"
        assert prop(rule, "ipProtocol") == "tcp", f"{rule.urn}: {prop(rule, 'ipProtocol')!r}"
        assert prop(rule, "referencedSecurityGroupId") in handles(peer, ["id"]), (
            f"{rule.urn}: admits {prop(rule, 'referencedSecurityGroupId')!r}, not {peer.urn}"
        )
        sources = [k for k in ("cidrIpv4", "cidrIpv6", "prefixListId") if prop(rule, k)]
        assert not sources, f"{rule.urn}: also admits {sources}"

    only_from(cache_group, task_group, REDIS_PORT)
    only_from(task_group, alb_group, CONTAINER_PORT)
    for rule in resources(plan, INGRESS_RULE):
        if {prop(rule, "cidrIpv4"), prop(rule, "cidrIpv6")} & INTERNET:
            assert prop(rule, "securityGroupId") in handles(alb_group, ["id"]), (
                f"{rule.urn}: the internet reaches a group other than the ALB's"
            )
            assert set(ports(rule)) <= PUBLIC_PORTS, f"{rule.urn}: internet on {ports(rule)}"
    assert not rules_of(plan, cache_group, EGRESS_RULE), f"{cache_group.urn}: has egress"


# --- A15-A16: Secrets Manager ----------------------------------------------------------------


def test_a15_secrets_encrypted_described_and_recoverable_in_prod(plan: Plan) -> None:
    key_arns = handles(stack_key(plan), ["arn"])
    for secret in some(plan, SECRET):
        assert prop(secret, "kmsKeyId") in key_arns, (
            f"{secret.urn}: kmsKeyId {prop(secret, 'kmsKeyId')!r} is not the stack's key"
        )
        assert str(prop(secret, "description", "")).strip(), f"{secret.urn}: no description"
        window = prop(secret, "recoveryWindowInDays")
        if plan.stack == "prod":
            assert window is not None and 7 <= window <= 30, (
                f"{secret.urn}: recoveryWindowInDays {window!r} in prod"
            )
        else:
            assert window == 0, f"{secret.urn}: recoveryWindowInDays {window!r} in dev"


def test_a16_secret_values_are_write_only(plan: Plan) -> None:
    for secret in some(plan, SECRET):
        versions = [
            v for v in resources(plan, SECRET_VERSION) if prop(v, "secretId") in handles(secret)
        ]
        assert len(versions) == 1, f"{secret.urn}: versions {[v.urn for v in versions]}"
    for version in some(plan, SECRET_VERSION):
        stored = [k for k in ("secretString", "secretBinary") if k in version.inputs]
        assert not stored, f"{version.urn}: {stored} keep the value in state"
        assert is_secret(version.inputs.get("secretStringWo")), (
            f"{version.urn}: secretStringWo missing or not secret"
        )
        assert prop(version, "secretStringWoVersion") is not None, (
            f"{version.urn}: no secretStringWoVersion (a new value would never be written)"
        )


# --- A17-A18: logs and alarms ----------------------------------------------------------------


def test_a17_logs_kept_for_a_while_and_encrypted_in_prod(plan: Plan) -> None:
    key_arns = handles(stack_key(plan), ["arn"])
    for log_group in some(plan, LOG_GROUP):
        days = prop(log_group, "retentionInDays")
        assert days, f"{log_group.urn}: retentionInDays {days!r} (kept forever)"
        if plan.stack == "prod":
            assert prop(log_group, "kmsKeyId") in key_arns, (
                f"{log_group.urn}: kmsKeyId {prop(log_group, 'kmsKeyId')!r} in prod"
            )


def test_a18_alarms_watch_this_stack_and_notify_its_topic(plan: Plan) -> None:
    """Stack level: for each required metric, an alarm whose dimensions name this stack's ALB
    and target group, ECS cluster and service, or each Redis member cluster."""
    where = stack_urn(plan)
    alb, target_group = one(plan, LOAD_BALANCER), one(plan, TARGET_GROUP)
    service = one(plan, ECS_SERVICE)
    cluster = referenced(plan, CLUSTER, prop(service, "cluster"), service, "cluster", ["arn"])
    cache = one(plan, CACHE)
    members = [
        f"{prop(cache, 'replicationGroupId')}-{i:03d}"
        for i in range(1, int(prop(cache, "numCacheClusters", 1)) + 1)
    ]
    required = {
        ("AWS/ApplicationELB", metric): {
            "LoadBalancer": alb.outputs["arnSuffix"],
            "TargetGroup": target_group.outputs["arnSuffix"],
        }
        for metric in ALB_METRICS
    }
    ecs = {"ClusterName": cluster.outputs["name"], "ServiceName": service.outputs["name"]}
    required |= {("AWS/ECS", metric): ecs for metric in ECS_METRICS}
    watched = [
        (alarm, (namespace, metric), dimensions)
        for alarm in some(plan, ALARM)
        for namespace, metric, dimensions in alarm_metrics(alarm)
    ]
    for key, dimensions in required.items():
        found = [a for a, k, d in watched if k == key and d == dimensions]
        assert found, f"{where}: no alarm on {key} with dimensions {dimensions}"
    for metric in REDIS_METRICS:
        for member in members:
            dimensions = {"CacheClusterId": member}
            found = [
                a for a, k, d in watched if k == ("AWS/ElastiCache", metric) and d == dimensions
            ]
            assert found, f"{where}: no {metric} alarm on Redis node {member} of {cache.urn}"
    topic = one(plan, TOPIC)
    for alarm in resources(plan, ALARM):
        actions = prop(alarm, "alarmActions", [])
        assert actions, f"{alarm.urn}: no alarmActions"
        for action in actions:
            assert action in handles(topic, ["arn"]), f"{alarm.urn}: notifies {action!r}"


def test_alert_subscriptions_one_per_configured_address(plan: Plan, config: StackConfig) -> None:
    """Dev's committed config alerts nobody; prod's reaches every configured address."""
    topic = one(plan, TOPIC)
    subscriptions = resources(plan, SUBSCRIPTION)
    for subscription in subscriptions:
        assert prop(subscription, "protocol") == "email", f"{subscription.urn}: not e-mail"
        referenced(plan, TOPIC, prop(subscription, "topic"), subscription, "topic", ["arn"])
    found = sorted(prop(s, "endpoint") for s in subscriptions)
    emails = sorted(config.alert_emails)
    assert found == emails, f"{topic.urn}: notifies {found}, the config has {emails}"
    if plan.stack == "prod":
        assert emails, f"{stack_urn(plan)}: prod config lists no alert address"


# --- X1-X3: tags, destroyability, outputs ----------------------------------------------------


def test_x1_required_tags_on_every_taggable_resource(plan: Plan) -> None:
    checked = 0
    for resource in plan.run.resources:
        if not resource.custom or not resource.type.startswith("aws:"):
            continue
        assert sdk_class(resource.type) is not None, f"{resource.urn}: no SDK class found"
        if "tags" not in sdk_args(resource.type):
            continue
        tags = prop(resource, "tags") or {}
        missing = [key for key in REQUIRED_TAGS if not tags.get(key)]
        assert not missing, f"{resource.urn}: tags lack {missing}"
        assert tags["env"] == plan.environment, f"{resource.urn}: env tag {tags['env']!r}"
        checked += 1
    assert checked, f"{stack_urn(plan)}: no taggable resource found"


def test_x2_dev_destroyable_and_prod_state_protected(plan: Plan) -> None:
    for resource in plan.run.resources:
        if plan.stack == "dev":
            assert not resource.protect, f"{resource.urn}: protect in dev"
            assert not resource.retain_on_delete, f"{resource.urn}: retainOnDelete in dev"
        elif resource.type in PROTECTED_IN_PROD:
            assert resource.protect and resource.retain_on_delete, (
                f"{resource.urn}: prod needs protect and retainOnDelete"
            )
    for type_token in PROTECTED_IN_PROD:
        some(plan, type_token)
    if plan.stack == "dev":  # what would make `pulumi destroy` fail
        for alb in some(plan, LOAD_BALANCER):
            protection = prop(alb, "enableDeletionProtection")
            assert protection is not True, f"{alb.urn}: deletion protection in dev"
        for bucket in some(plan, BUCKET):
            assert prop(bucket, "forceDestroy") is True, f"{bucket.urn}: not emptied on destroy"
        for repository in some(plan, REPOSITORY):
            assert prop(repository, "forceDelete") is True, f"{repository.urn}: keeps images"


def test_x3_frontend_outputs_present_and_none_secret(plan: Plan) -> None:
    where = stack_urn(plan)
    outputs = plan.run.outputs
    assert set(ENV_NAMES) <= set(outputs), (
        f"{where}: missing {sorted(set(ENV_NAMES) - set(outputs))}"
    )
    assert not plan.run.secret_outputs, f"{where}: secret outputs {sorted(plan.run.secret_outputs)}"
    contract = StackOutputs.from_stack(outputs)
    assert contract.environment == plan.environment, f"{where}: {contract.environment!r}"
    assert contract.cloud == "aws", f"{where}: cloud {contract.cloud!r}"
    for key in ENV_NAMES:
        for _, value, secret in leaves(outputs[key]):
            assert not secret, f"{where}: output {key} is secret"
            assert not (isinstance(value, str) and secret_sign(value)), (
                f"{where}: output {key} {secret_sign(value)}"
            )


def test_no_secret_value_in_any_plain_input_or_output(plan: Plan) -> None:
    """The placeholders plan_stack feeds as app secrets (and the Redis AUTH token), and the
    mocked ECR push password, appear only inside secret-wrapped values (and in outputs the
    provider itself marks secret)."""
    where = stack_urn(plan)
    assert not plan.run.secret_outputs, f"{where}: secret outputs {sorted(plan.run.secret_outputs)}"
    wrapped: set[str] = set()

    def scan(
        urn: str, kind: str, values: dict[str, Any], secret_keys: Callable[[], frozenset[str]]
    ) -> None:
        for key, value in values.items():
            for path, leaf, secret in leaves(value, key):
                found = [m for m in (PLACEHOLDER, MOCK_ECR_PASSWORD) if m in str(leaf)]
                if found and (secret or key in secret_keys()):  # read the SDK source only here
                    wrapped.update(found)
                    continue
                assert not found, f"{urn}: plain {kind} {path} holds a secret ({found})"

    for resource in plan.run.resources:
        scan(resource.urn, "input", resource.inputs, frozenset)
        scan(
            resource.urn,
            "output",
            resource.outputs,
            partial(provider_secret_outputs, resource.type),
        )
    scan(where, "stack output", plan.run.outputs, frozenset)
    # Not vacuous: both kinds of secret were seen, wrapped.
    assert wrapped == {PLACEHOLDER, MOCK_ECR_PASSWORD}, f"{where}: secrets seen wrapped: {wrapped}"


def test_every_checked_input_is_known(plan: Plan) -> None:
    """Under a non-preview mock run nothing may be unknown: a rule would pass on it silently."""
    for resource in plan.run.resources:
        for path, value, _ in leaves(resource.inputs):
            assert value != UNKNOWN, f"{resource.urn}: input {path} is unknown"


def test_every_aws_resource_uses_the_stack_provider_in_the_stack_region(
    plan: Plan, config: StackConfig
) -> None:
    """Resources go through the explicit provider built from awsRegion, never the ambient
    default one (which would deploy to whatever account and region the shell points at)."""
    provider = one(plan, PROVIDER)
    region = prop(provider, "region")
    assert region == config.aws_region, f"{provider.urn}: region {region!r}, not awsRegion"
    for resource in plan.run.resources:
        if resource.custom and resource.type.startswith("aws:"):
            assert resource.provider and resource.provider.startswith(f"{provider.urn}::"), (
                f"{resource.urn} does not use {provider.urn} (provider {resource.provider})"
            )


# --- dev differs from prod -------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    type_token: str
    value: Callable[[RegisteredResource], Any]
    dev: Any
    prod: Any


DIFFERENCES = {
    "redis-nodes": Difference(CACHE, lambda r: prop(r, "numCacheClusters"), 1, 2),
    "redis-failover": Difference(
        CACHE,
        lambda r: (prop(r, "automaticFailoverEnabled"), prop(r, "multiAzEnabled")),
        (False, False),
        (True, True),
    ),
    "redis-snapshots": Difference(
        CACHE, lambda r: prop(r, "snapshotRetentionLimit", 0) > 0, False, True
    ),
    "ecs-exec": Difference(ECS_SERVICE, lambda r: prop(r, "enableExecuteCommand"), True, False),
    "min-tasks": Difference(SCALING_TARGET, lambda r: prop(r, "minCapacity"), 1, 1),
    "log-retention-days": Difference(LOG_GROUP, lambda r: prop(r, "retentionInDays"), 30, 365),
    "log-encryption": Difference(LOG_GROUP, lambda r: "kmsKeyId" in r.inputs, False, True),
    "alb-deletion-protection": Difference(
        LOAD_BALANCER, lambda r: prop(r, "enableDeletionProtection"), False, True
    ),
    "secrets-recovery-window": Difference(SECRET, lambda r: prop(r, "recoveryWindowInDays"), 0, 30),
    "registry-force-delete": Difference(REPOSITORY, lambda r: prop(r, "forceDelete"), True, False),
    "registry-protect": Difference(
        REPOSITORY, lambda r: (r.protect, r.retain_on_delete), (False, False), (True, True)
    ),
    "redis-protect": Difference(
        CACHE, lambda r: (r.protect, r.retain_on_delete), (False, False), (True, True)
    ),
    "secrets-protect": Difference(
        SECRET, lambda r: (r.protect, r.retain_on_delete), (False, False), (True, True)
    ),
}
# How many of a type each stack has: one NAT gateway (and its address) in dev, one per zone in
# prod.
COUNTS = {NAT_GATEWAY: (1, 2), "aws:ec2/eip:Eip": (1, 2)}


@pytest.mark.parametrize("aspect", sorted(DIFFERENCES))
def test_dev_differs_from_prod(plans: dict[str, Plan], aspect: str) -> None:
    difference = DIFFERENCES[aspect]
    for stack, expected in (("dev", difference.dev), ("prod", difference.prod)):
        for resource in some(plans[stack], difference.type_token):
            actual = difference.value(resource)
            assert actual == expected, f"{resource.urn}: {aspect} is {actual!r}, not {expected!r}"


@pytest.mark.parametrize("type_token", sorted(COUNTS))
def test_dev_and_prod_counts(plans: dict[str, Plan], type_token: str) -> None:
    for stack, expected in zip(STACKS, COUNTS[type_token], strict=True):
        found = resources(plans[stack], type_token)
        assert len(found) == expected, (
            f"{stack_urn(plans[stack])}: {len(found)} {type_token}, not {expected}: "
            f"{[r.urn for r in found]}"
        )


def test_each_private_subnet_routes_through_a_nat_in_prod_zones(plans: dict[str, Plan]) -> None:
    """Prod: every private route table uses its own NAT gateway (a zone outage cuts only its
    own zone off)."""
    plan = plans["prod"]
    nats = [
        route.get("natGatewayId")
        for table in resources(plan, ROUTE_TABLE)
        for route in prop(table, "routes", [])
        if route.get("natGatewayId")
    ]
    assert len(nats) == len(set(nats)) == len(resources(plan, NAT_GATEWAY)), (
        f"{stack_urn(plan)}: private route tables share NAT gateways {nats}"
    )
    for nat_id in nats:
        nat = referenced(plan, NAT_GATEWAY, nat_id, stack_urn(plan), "natGatewayId", ["id"])
        assert prop(nat, "subnetId") in public_subnet_ids(plan), f"{nat.urn}: not public"


NAMING_KEYS = ("name", "replicationGroupId", "family")
# Names that follow the domain, not the stack: a second stack needs its own domain anyway.
NAMED_BY_DOMAIN = ("aws:route53/record:Record",)


def physical_names(plan: Plan) -> set[tuple[str, str]]:
    return {
        (r.type, r.inputs[key])
        for r in plan.run.resources
        if r.custom and r.type.startswith("aws:") and r.type not in NAMED_BY_DOMAIN
        for key in NAMING_KEYS
        if isinstance(r.inputs.get(key), str)
    }


def test_two_stacks_of_one_environment_share_no_physical_name(plans, tmp_path) -> None:
    """dev and dev-alice in one AWS account: every name AWS makes unique differs."""
    source = (PROJECT_ROOT / "Pulumi.dev.yaml").read_text(encoding="utf-8")
    (tmp_path / "Pulumi.dev-alice.yaml").write_text(source, encoding="utf-8")
    alice = plan_stack("dev-alice", root=tmp_path, cloud="aws")
    ours = physical_names(plans["dev"])
    assert ours, "no physical names found: the check would pass vacuously"
    assert ours & physical_names(alice) == set()
    assert ("aws:elasticache/replicationGroup:ReplicationGroup", "emg-dev-alice-redis") in (
        physical_names(alice)
    )


@pytest.mark.parametrize("stack", ["dev_Alice", "dev-", "dev--alice", "dev-" + "a" * 21])
def test_a_stack_name_that_cannot_name_resources_is_refused(tmp_path, stack) -> None:
    source = (PROJECT_ROOT / "Pulumi.dev.yaml").read_text(encoding="utf-8")
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(source, encoding="utf-8")
    with pytest.raises(ValueError, match=rf"stack name '{stack}' must be 1-24 lowercase"):
        plan_stack(stack, root=tmp_path, cloud="aws")
