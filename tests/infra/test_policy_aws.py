"""The AWS policy rules (infra.policy.aws_rules) on synthetic resources in wire form.

- Every rule: a compliant synthetic stack passes in dev and prod; each planted violation is
  caught with its exact message; an unknown property gives a "cannot judge" finding (blocking
  for mandatory rules); prod-only rules ignore dev, and dev/prod parts of a rule differ.
- References resolve the way the offline plan's mocks name things (ARNs ending in the logical
  name, ids ``<logical name>-id``).
- ``rules_for`` picks a cloud's rules, the offline check follows the plan's cloud, and each
  cloud's rules find nothing to say about the other cloud's resources.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
from typing import Any

import pytest

from infra.mocks import ProgramRun, RegisteredResource, aws_arn
from infra.plan import Plan
from infra.policy import aws_rules
from infra.policy.aws_rules import (
    ALARM,
    AWS_RULES,
    BUCKETS,
    CACHE,
    CERTIFICATE,
    CLUSTER,
    ECS_SERVICE,
    EXECUTION_POLICY,
    INGRESS_RULE,
    KMS_KEY,
    LISTENER,
    LOAD_BALANCER,
    LOG_GROUP,
    REGISTRY_SCANNING,
    REPOSITORY,
    ROLE,
    ROLE_POLICY,
    ROLE_POLICY_ATTACHMENT,
    SECRET,
    SECRET_VERSION,
    SECURITY_GROUP,
    SNS_TOPIC,
    TAGGED,
    TARGET_GROUP,
    TASK_DEFINITION,
    WEB_ACL,
    WEB_ACL_ASSOCIATION,
)
from infra.policy.common import REQUIRED_OUTPUTS
from infra.policy.engine import (
    UNKNOWN_VALUE,
    Context,
    Report,
    Resource,
    ResourceRule,
    Rule,
    StackRule,
    Suppression,
    evaluate,
)
from infra.policy.gcp_rules import GCP_RULES
from infra.policy.offline import check_plan
from infra.policy.rules import rules_for
from tests.infra.policy_cases import (
    DELETE,
    REMOVE,
    Case,
    case_id,
    edited,
    found,
    props,
    secret,
    urn,
)
from tests.infra.test_policy_gcp import good_stack as gcp_stack

RULES: dict[str, Rule] = {rule.id: rule for rule in AWS_RULES}
ACCOUNT = "123456789012"
KEY_ARN = aws_arn(KMS_KEY, "key")
TOPIC_ARN = aws_arn(SNS_TOPIC, "alerts")
SECRET_ARN = aws_arn(SECRET, "jwt")
EXECUTION_ARN = aws_arn(ROLE, "execution")
ALB_SUFFIX = "app/alb/0123456789abcdef"
TG_SUFFIX = "targetgroup/tg/0123456789abcdef"

# id -> (level, severity, scope): the table's rows with the details decided in aws_rules.
EXPECTED_RULES = {
    "A1": ("mandatory", "high", "all"),
    "A2": ("mandatory", "high", "all"),
    "A3": ("advisory", "low", "prod"),
    "A4": ("mandatory", "critical", "all"),
    "A5": ("mandatory", "high", "all"),
    "A6": ("mandatory", "medium", "all"),
    "A7": ("mandatory", "medium", "prod"),
    "A8": ("mandatory", "critical", "all"),
    "A9": ("mandatory", "high", "all"),
    "A10": ("mandatory", "high", "all"),
    "A11": ("advisory", "low", "prod"),
    "A12": ("mandatory", "critical", "all"),
    "A13": ("advisory", "medium", "all"),
    "A14": ("mandatory", "critical", "all"),
    "A15": ("advisory", "low", "prod"),
    "A16": ("advisory", "medium", "all"),
    "A17": ("mandatory", "medium", "all"),
    "A18": ("mandatory", "medium", "prod"),
    "A19": ("advisory", "low", "all"),
    "X1": ("advisory", "low", "all"),
    "X2": ("advisory", "medium", "all"),
}
STACK_RULES = {"A2", "A7", "A9", "A18", "X2"}


# --- a compliant synthetic stack ----------------------------------------------------------------


def tags(env: str) -> dict[str, str]:
    return {"env": env, "service": "emg-analyzer", "owner": "team"}


def containers(**changes: Any) -> str:
    """``containerDefinitions`` as the program sends it: a JSON string (one container)."""
    container = {
        "name": "api",
        "image": f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/emg@sha256:{'a' * 64}",
        "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
        "environment": [{"name": "LOG_LEVEL", "value": "INFO"}],
        "secrets": [{"name": "JWT_SECRET", "valueFrom": SECRET_ARN}],
        "readonlyRootFilesystem": True,
        "privileged": False,
        "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/emg/api"}},
    }
    return json.dumps([container | changes])


def execution_policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


READ_SECRETS = {
    "Effect": "Allow",
    "Action": "secretsmanager:GetSecretValue",
    "Resource": [SECRET_ARN],
}
DECRYPT = {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": KEY_ARN}
S3_READ = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}


def alarm(metric: str, namespace: str, dimensions: dict[str, str]) -> dict[str, Any]:
    return {
        "metricName": metric,
        "namespace": namespace,
        "dimensions": dimensions,
        "alarmActions": [TOPIC_ARN],
    }


def good_stack(env: str) -> list[Resource]:
    prod = env == "prod"

    def res(type_token: str, name: str, props: dict[str, Any], kept: bool = False) -> Resource:
        tagged = props | {"tags": tags(env)} if type_token in TAGGED else props
        return Resource(urn(env, type_token, name), type_token, name, tagged, kept, kept)

    alb = {"LoadBalancer": ALB_SUFFIX, "TargetGroup": TG_SUFFIX}
    ecs = {"ClusterName": "cluster", "ServiceName": "service"}
    five_xx = {
        "namespace": "AWS/ApplicationELB",
        "metricName": "HTTPCode_Target_5XX_Count",
        "dimensions": alb,
    }
    return [
        res(KMS_KEY, "key", {"enableKeyRotation": True}),
        res(
            REPOSITORY,
            "registry",
            {
                "imageTagMutability": "IMMUTABLE",
                "imageScanningConfiguration": {"scanOnPush": True},
                "encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": KEY_ARN}],
                "forceDelete": not prod,
            },
            kept=prod,
        ),
        res(
            LOAD_BALANCER,
            "alb",
            {
                "loadBalancerType": "application",
                "internal": False,
                "dropInvalidHeaderFields": True,
                "accessLogs": {"bucket": "access-logs", "enabled": True},
                "enableDeletionProtection": prod,
            },
        ),
        res(BUCKETS[0], "access-logs", {"forceDestroy": not prod}),
        res(TARGET_GROUP, "tg", {"port": 8080.0, "protocol": "HTTP", "targetType": "ip"}),
        res(
            LISTENER,
            "http",
            {
                "protocol": "HTTP",
                "port": 80.0,
                "defaultActions": [
                    {
                        "type": "redirect",
                        "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"},
                    }
                ],
            },
        ),
        res(
            LISTENER,
            "https",
            {
                "protocol": "HTTPS",
                "port": 443.0,
                "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
                "certificateArn": aws_arn(CERTIFICATE, "cert"),
                "defaultActions": [
                    {"type": "forward", "targetGroupArn": aws_arn(TARGET_GROUP, "tg")}
                ],
            },
        ),
        res(
            WEB_ACL,
            "waf",
            {
                "scope": "REGIONAL",
                "rules": [
                    {
                        "name": "rate",
                        "action": {"block": {}},
                        "statement": {"rateBasedStatement": {"limit": 1000.0}},
                    },
                    {
                        "name": "common",
                        "overrideAction": {"none": {}},
                        "statement": {
                            "managedRuleGroupStatement": {
                                "vendorName": "AWS",
                                "name": "AWSManagedRulesCommonRuleSet",
                            }
                        },
                    },
                ],
            },
        ),
        res(
            WEB_ACL_ASSOCIATION,
            "waf-association",
            {"resourceArn": aws_arn(LOAD_BALANCER, "alb"), "webAclArn": aws_arn(WEB_ACL, "waf")},
        ),
        res(CERTIFICATE, "cert", {"domainName": "api.example.org", "validationMethod": "DNS"}),
        res(ROLE, "execution", {"assumeRolePolicy": "{}"}),
        res(ROLE, "task-role", {"assumeRolePolicy": "{}"}),
        res(
            ROLE_POLICY_ATTACHMENT,
            "execution-managed",
            {"role": "execution", "policyArn": EXECUTION_POLICY},
        ),
        res(
            ROLE_POLICY,
            "execution-secrets",
            {"role": "execution-id", "policy": execution_policy(READ_SECRETS, DECRYPT)},
        ),
        res(
            TASK_DEFINITION,
            "task",
            {
                "containerDefinitions": containers(),
                "executionRoleArn": EXECUTION_ARN,
                "taskRoleArn": aws_arn(ROLE, "task-role"),
            },
        ),
        res(CLUSTER, "cluster", {"settings": [{"name": "containerInsights", "value": "enabled"}]}),
        res(
            ECS_SERVICE,
            "service",
            {
                "networkConfiguration": {"assignPublicIp": False, "subnets": ["subnet-1"]},
                "deploymentCircuitBreaker": {"enable": True, "rollback": True},
                "enableExecuteCommand": False,
            },
        ),
        res(
            CACHE,
            "redis",
            {
                "replicationGroupId": "emg-redis",
                "engine": "redis",
                "transitEncryptionEnabled": True,
                "atRestEncryptionEnabled": True,
                "authToken": secret("hunter2"),
                "automaticFailoverEnabled": prod,
                "multiAzEnabled": prod,
                "numCacheClusters": 2.0 if prod else 1.0,
                "snapshotRetentionLimit": 7.0 if prod else 0.0,
            },
            kept=prod,
        ),
        res(
            SECURITY_GROUP,
            "alb-sg",
            {
                "ingress": [
                    {
                        "protocol": "tcp",
                        "fromPort": 443.0,
                        "toPort": 443.0,
                        "cidrBlocks": ["0.0.0.0/0"],
                        "ipv6CidrBlocks": ["::/0"],
                    },
                    {
                        "protocol": "tcp",
                        "fromPort": 80.0,
                        "toPort": 80.0,
                        "cidrBlocks": ["0.0.0.0/0"],
                    },
                ]
            },
        ),
        res(SECURITY_GROUP, "task-sg", {"description": "tasks"}),
        res(
            INGRESS_RULE,
            "task-from-alb",
            {
                "securityGroupId": "sg-task",
                "ipProtocol": "tcp",
                "fromPort": 8080.0,
                "toPort": 8080.0,
                "referencedSecurityGroupId": "sg-alb",
            },
        ),
        res(
            INGRESS_RULE,
            "redis-from-task",
            {
                "securityGroupId": "sg-redis",
                "ipProtocol": "tcp",
                "fromPort": 6379.0,
                "toPort": 6379.0,
                "referencedSecurityGroupId": "sg-task",
            },
        ),
        res(
            SECRET,
            "jwt",
            {
                "kmsKeyId": KEY_ARN,
                "recoveryWindowInDays": 30.0 if prod else 0.0,
                "description": "JWT signing key",
            },
            kept=prod,
        ),
        res(
            SECRET_VERSION,
            "jwt-version",
            {
                "secretId": SECRET_ARN,
                "secretStringWo": secret("hunter2"),
                "secretStringWoVersion": 1.0,
            },
        ),
        res(LOG_GROUP, "logs", {"retentionInDays": 365.0 if prod else 30.0, "kmsKeyId": KEY_ARN}),
        res(SNS_TOPIC, "alerts", {"kmsMasterKeyId": KEY_ARN}),
        res(
            ALARM,
            "alb-5xx",
            {
                "alarmActions": [TOPIC_ARN],
                "metricQueries": [
                    {"id": "errors", "metric": five_xx},
                    {"id": "ratio", "expression": "errors / 100", "returnData": True},
                ],
            },
        ),
        res(ALARM, "alb-latency", alarm("TargetResponseTime", "AWS/ApplicationELB", alb)),
        res(ALARM, "alb-unhealthy", alarm("UnHealthyHostCount", "AWS/ApplicationELB", alb)),
        res(ALARM, "ecs-cpu", alarm("CPUUtilization", "AWS/ECS", ecs)),
        res(ALARM, "ecs-memory", alarm("MemoryUtilization", "AWS/ECS", ecs)),
        *(
            res(
                ALARM,
                f"redis-memory-{node}",
                alarm(
                    "DatabaseMemoryUsagePercentage",
                    "AWS/ElastiCache",
                    {"CacheClusterId": f"emg-redis-{node}"},
                ),
            )
            for node in (("001", "002") if prod else ("001",))
        ),
        res(
            ALARM,
            "redis-cpu",
            alarm("EngineCPUUtilization", "AWS/ElastiCache", {"ReplicationGroupId": "emg-redis"}),
        ),
    ]


def variant(env: str, name: str, changes: dict[str, Any]) -> list[Resource]:
    """The good stack of ``env`` with ``name`` changed (see `edited`) or, with REMOVE, gone."""
    stack = good_stack(env)
    if changes == REMOVE:
        assert name in {r.name for r in stack}, f"no resource named {name}"
        return [r for r in stack if r.name != name]
    return edited(stack, name, **changes)


def run(rule_id: str, resources: list[Resource], env: str) -> Report:
    return evaluate(resources, Context(env, env, "aws"), [RULES[rule_id]])  # type: ignore[arg-type]


def urn_of(resources: list[Resource], name: str) -> str:
    return next(r.urn for r in resources if r.name == name)


# --- per rule: violation, unknown, scope --------------------------------------------------------


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return props(policy=execution_policy(*statements))


def task(**changes: Any) -> dict[str, Any]:
    return props(containerDefinitions=containers(**changes))


GUARDED = "may only be reached from a referenced security group (the ALB's or the task's)"
SAME_ROLE = f"executionRoleArn and taskRoleArn are the same role {EXECUTION_ARN!r}"
ONLY_TWO = "an execution role may only have secretsmanager:GetSecretValue and kms:Decrypt"
DEV_SUFFIX = "in dev (pulumi destroy would fail or leave it)"

CASES = [
    Case(
        "A1",
        "registry",
        props(imageTagMutability="MUTABLE"),
        "imageTagMutability is 'MUTABLE', expected 'IMMUTABLE'",
    ),
    Case(
        "A1",
        "registry",
        props(imageTagMutability=DELETE),
        "imageTagMutability is not set, expected 'IMMUTABLE'",
        env="dev",
    ),
    Case(
        "A2",
        "registry",
        props(imageScanningConfiguration__scanOnPush=False),
        "imageScanningConfiguration.scanOnPush is False, expected True",
    ),
    Case(
        "A3",
        "registry",
        props(**{"encryptionConfigurations[0].encryptionType": "AES256"}),
        "encryptionConfigurations[0].encryptionType is 'AES256', expected 'KMS'",
    ),
    Case(
        "A3",
        "registry",
        props(**{"encryptionConfigurations[0].kmsKey": DELETE}),
        "encryptionConfigurations[0].kmsKey is not set (AWS managed key)",
    ),
    Case("A3", "registry", props(forceDelete=True), "forceDelete is True, expected False"),
    Case(
        "A4",
        "http",
        props(**{"defaultActions[0]": {"type": "forward", "targetGroupArn": "tg"}}),
        "defaultActions[0].type is 'forward': plain HTTP reaches a target, expected redirect",
    ),
    Case(
        "A4",
        "https",
        props(protocol=DELETE),  # an ALB listener without protocol is HTTP
        "defaultActions[0].type is 'forward': plain HTTP reaches a target, expected redirect",
    ),
    Case(
        "A4",
        "http",
        props(**{"defaultActions[0].redirect.protocol": DELETE}),
        "defaultActions[0].redirect.protocol is not set, expected 'HTTPS'",
    ),
    Case(
        "A4",
        "http",
        props(**{"defaultActions[0].redirect.port": "8443"}),
        "defaultActions[0].redirect.port is '8443', expected '443'",
    ),
    Case(
        "A4",
        "http",
        props(**{"defaultActions[0].redirect.statusCode": "HTTP_302"}),
        "defaultActions[0].redirect.statusCode is 'HTTP_302', expected 'HTTP_301'",
        env="dev",
    ),
    Case(
        "A4",
        "http",
        props(defaultActions=DELETE),
        "defaultActions is not set on an HTTP listener, expected a redirect to HTTPS",
    ),
    Case(
        "A5",
        "https",
        props(sslPolicy="ELBSecurityPolicy-2016-08"),
        "sslPolicy is 'ELBSecurityPolicy-2016-08', not a TLS 1.3 or forward-secrecy policy",
    ),
    Case(
        "A5",
        "https",
        props(sslPolicy=DELETE),
        "sslPolicy is not set (the default ELBSecurityPolicy-2016-08 allows TLS 1.0)",
        env="dev",
    ),
    Case(
        "A6",
        "alb",
        props(dropInvalidHeaderFields=False),
        "dropInvalidHeaderFields is False, expected True",
        env="dev",
    ),
    Case(
        "A6",
        "alb",
        props(accessLogs__enabled=DELETE),
        "accessLogs.enabled is not set, expected True",
    ),
    Case(
        "A6",
        "alb",
        props(enableDeletionProtection=False),
        "enableDeletionProtection is False, expected True",
    ),
    Case(
        "A7",
        "waf-association",
        REMOVE,
        "no web ACL is associated with this internet-facing load balancer",
        at="alb",
    ),
    Case(
        "A7",
        "waf",
        props(**{"rules[0].action": {"count": {}}}),
        "rules have no rateBasedStatement rule whose action is block",
    ),
    Case(
        "A7",
        "waf",
        props(**{"rules[1].overrideAction": {"count": {}}}),
        "rules do not enforce AWS's AWSManagedRulesCommonRuleSet (in force, not count)",
    ),
    Case(
        "A7",
        "waf-association",
        props(webAclArn=aws_arn(WEB_ACL, "elsewhere")),
        f"webAclArn {aws_arn(WEB_ACL, 'elsewhere')!r} is not a web ACL of this stack, "
        "so it cannot be checked",
    ),
    Case(
        "A7",
        "waf-association",
        props(resourceArn=aws_arn(LOAD_BALANCER, "other")),
        f"resourceArn {aws_arn(LOAD_BALANCER, 'other')!r} is not a load balancer of this stack, "
        "so it cannot be checked",
        more=(("alb", "no web ACL is associated with this internet-facing load balancer"),),
    ),
    Case(
        "A8",
        "task",
        task(environment=[{"name": "JWT_SECRET", "value": "hunter2"}]),
        "containerDefinitions[0].environment[0] sets JWT_SECRET in plain text "
        "(its value is not shown)",
    ),
    Case(
        "A8",
        "task",
        task(secrets=[{"name": "JWT_SECRET", "valueFrom": "hunter2"}]),
        "containerDefinitions[0].secrets[0].valueFrom is 'hunter2', expected a Secrets Manager "
        "or SSM parameter ARN",
    ),
    Case(
        "A8",
        "task",
        task(readonlyRootFilesystem=False),
        "containerDefinitions[0].readonlyRootFilesystem is False, expected True",
        env="dev",
    ),
    Case(
        "A8",
        "task",
        task(logConfiguration={"logDriver": "json-file"}),
        "containerDefinitions[0].logConfiguration.logDriver is 'json-file', expected 'awslogs'",
    ),
    Case(
        "A8",
        "task",
        task(privileged=True),
        "containerDefinitions[0].privileged is True, expected False",
    ),
    Case(
        "A8",
        "task",
        props(containerDefinitions="[{"),
        "containerDefinitions is not valid JSON",
    ),
    Case("A9", "task", props(taskRoleArn=EXECUTION_ARN), SAME_ROLE),
    Case(
        "A9",
        "task",
        props(executionRoleArn=aws_arn(ROLE, "elsewhere")),
        f"executionRoleArn {aws_arn(ROLE, 'elsewhere')!r} is not a role of this stack, "
        "so it cannot be checked",
    ),
    Case(
        "A9",
        "execution-managed",
        props(policyArn="arn:aws:iam::aws:policy/AdministratorAccess"),
        "policyArn is 'arn:aws:iam::aws:policy/AdministratorAccess', "
        f"expected {EXECUTION_POLICY!r} on the execution role execution",
    ),
    Case(
        "A9",
        "execution",
        props(managedPolicyArns=["arn:aws:iam::aws:policy/ReadOnlyAccess"]),
        f"managedPolicyArns has 'arn:aws:iam::aws:policy/ReadOnlyAccess', expected only "
        f"{EXECUTION_POLICY}",
    ),
    Case(
        "A9",
        "execution-secrets",
        policy(READ_SECRETS | {"Resource": "*"}, DECRYPT),
        "policy Statement[0] Resource '*' is not the ARN of a named secret",
    ),
    Case(
        "A9",
        "execution-secrets",
        policy(READ_SECRETS | {"Resource": f"{SECRET_ARN}-*"}),
        f"policy Statement[0] Resource '{SECRET_ARN}-*' is not the ARN of a named secret",
        env="dev",
    ),
    Case(
        "A9",
        "execution-secrets",
        policy(DECRYPT | {"Resource": aws_arn("aws:kms/alias:Alias", "alias")}),
        f"policy Statement[0] Resource {aws_arn('aws:kms/alias:Alias', 'alias')!r} is not the "
        "ARN of a named KMS key",
    ),
    Case(
        "A9",
        "execution-secrets",
        policy(READ_SECRETS | {"Action": "secretsmanager:*"}),
        f"policy Statement[0] allows 'secretsmanager:*'; {ONLY_TWO}",
    ),
    Case(
        "A9",
        "execution-secrets",
        policy({"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "NotResource": "x"}),
        "policy Statement[0] uses NotResource (it allows everything not listed)",
    ),
    Case(
        "A9",
        "execution",
        props(
            inlinePolicies=[{"name": "extra", "policy": execution_policy(READ_SECRETS, S3_READ)}]
        ),
        f"inlinePolicies[0].policy Statement[1] allows 's3:GetObject'; {ONLY_TWO}",
    ),
    Case(
        "A10",
        "service",
        props(networkConfiguration__assignPublicIp=True),
        "networkConfiguration.assignPublicIp is True, expected False",
        env="dev",
    ),
    Case(
        "A10",
        "service",
        props(deploymentCircuitBreaker__rollback=False),
        "deploymentCircuitBreaker.rollback is False, expected True",
    ),
    Case(
        "A10",
        "service",
        props(deploymentCircuitBreaker=DELETE),
        "deploymentCircuitBreaker.enable is not set, expected True",
        more=(("service", "deploymentCircuitBreaker.rollback is not set, expected True"),),
    ),
    Case(
        "A10",
        "service",
        props(enableExecuteCommand=True),
        "enableExecuteCommand is True, expected False",
    ),
    Case(
        "A11",
        "cluster",
        props(**{"settings[0].value": "disabled"}),
        "settings[0].value is 'disabled', expected 'enabled' or 'enhanced'",
    ),
    Case(
        "A11",
        "cluster",
        props(settings=DELETE),
        "settings has no containerInsights, expected 'enabled' or 'enhanced'",
    ),
    Case(
        "A12",
        "redis",
        props(transitEncryptionEnabled=False),
        "transitEncryptionEnabled is False, expected True",
        env="dev",
    ),
    Case(
        "A12",
        "redis",
        props(transitEncryptionMode="preferred"),
        "transitEncryptionMode is 'preferred', expected 'required'",
    ),
    Case(
        "A12",
        "redis",
        props(atRestEncryptionEnabled=DELETE),
        "atRestEncryptionEnabled is not set, expected True",
    ),
    Case(
        "A12",
        "redis",
        props(authToken=DELETE),
        "none of authToken, authTokenWo and userGroupIds is set (no AUTH)",
    ),
    Case("A13", "redis", props(engine="Redis"), "engine is 'Redis', expected lowercase", env="dev"),
    Case(
        "A13",
        "redis",
        props(numCacheClusters=1.0),
        "numCacheClusters is 1, expected >= 2 (a replica)",
    ),
    Case(
        "A13",
        "redis",
        props(snapshotRetentionLimit=DELETE),
        "snapshotRetentionLimit is not set, expected > 0",
    ),
    Case(
        "A13",
        "redis",
        props(multiAzEnabled=False),
        "multiAzEnabled is False, expected True",
    ),
    Case(
        "A14",
        "redis-from-task",
        props(referencedSecurityGroupId=DELETE, cidrIpv4="10.0.0.0/16"),
        f"cidrIpv4 '10.0.0.0/16' may reach tcp port 6379, but port 6379 {GUARDED}",
    ),
    Case(
        "A14",
        "task-from-alb",
        props(referencedSecurityGroupId=DELETE, ipProtocol="-1", cidrIpv6="::/0"),
        f"cidrIpv6 '::/0' may reach every port, but ports 6379 and 8080 {GUARDED}",
        env="dev",
    ),
    Case(
        "A14",
        "alb-sg",
        props(**{"ingress[1].fromPort": 22.0, "ingress[1].toPort": 22.0}),
        "ingress[1].cidrBlocks[0] '0.0.0.0/0' may reach tcp port 22: only tcp 80 and 443 may be "
        "open to the internet",
    ),
    Case(
        "A14",
        "alb-sg",
        props(**{"ingress[0].toPort": 8080.0}),
        "ingress[0].cidrBlocks[0] '0.0.0.0/0' may reach tcp ports 443-8080, but ports 6379 and "
        f"8080 {GUARDED}",
        more=(
            (
                "alb-sg",
                "ingress[0].ipv6CidrBlocks[0] '::/0' may reach tcp ports 443-8080, but ports 6379 "
                f"and 8080 {GUARDED}",
            ),
        ),
    ),
    Case(
        "A14",
        "alb-sg",
        props(**{"ingress[1].protocol": "udp"}),
        "ingress[1].cidrBlocks[0] '0.0.0.0/0' may reach udp port 80: only tcp 80 and 443 may be "
        "open to the internet",
    ),
    Case("A15", "jwt", props(kmsKeyId=DELETE), "kmsKeyId is not set (AWS managed key)"),
    Case(
        "A15",
        "jwt",
        props(recoveryWindowInDays=0.0),
        "recoveryWindowInDays is 0, expected 7-30 in prod",
    ),
    Case("A15", "jwt", props(description=DELETE), "description is not set"),
    Case(
        "A16",
        "jwt-version",
        props(secretStringWo=DELETE, secretStringWoVersion=DELETE, secretString="hunter2"),
        "secretString is set in plain text: its value is kept unencrypted in state",
    ),
    Case(
        "A16",
        "jwt-version",
        props(secretStringWo=DELETE, secretStringWoVersion=DELETE, secretString=secret("x")),
        "secretString is set: its value is kept (encrypted) in state",
        env="dev",
    ),
    Case(
        "A16",
        "jwt-version",
        props(secretStringWoVersion=DELETE),
        "secretStringWoVersion is not set (a new secretStringWo would not roll a version)",
    ),
    Case(
        "A17",
        "logs",
        props(retentionInDays=DELETE),
        "retentionInDays is not set (logs are kept forever)",
        env="dev",
    ),
    Case("A17", "logs", props(retentionInDays=0.0), "retentionInDays is 0 (logs are kept forever)"),
    Case("A17", "logs", props(kmsKeyId=DELETE), "kmsKeyId is not set, expected a KMS key in prod"),
    Case(
        "A18",
        "ecs-cpu",
        props(alarmActions=[]),
        "alarmActions is not set (the alarm notifies nobody)",
    ),
    Case("A18", "ecs-memory", REMOVE, "no alarm watches AWS/ECS MemoryUtilization", at="service"),
    Case(
        "A18",
        "redis-memory-002",
        REMOVE,
        "no alarm watches AWS/ElastiCache DatabaseMemoryUsagePercentage on node emg-redis-002",
        at="redis",
    ),
    Case(
        "A18",
        "redis-cpu",
        props(namespace="AWS/EC2"),
        "no alarm watches AWS/ElastiCache EngineCPUUtilization",
        at="redis",
    ),
    Case(
        "A18",
        "alb-latency",
        props(dimensions={"TargetGroup": TG_SUFFIX}),
        "dimensions.LoadBalancer is not set, so it watches no load balancer of this stack",
        more=(("alb", "no alarm watches AWS/ApplicationELB TargetResponseTime"),),
    ),
    Case(
        "A18",
        "alb-5xx",
        props(**{"metricQueries[0].metric.dimensions.LoadBalancer": "app/other/0123"}),
        "metricQueries[0].metric.dimensions.LoadBalancer 'app/other/0123' is not a load "
        "balancer of this stack, so it cannot be checked",
        more=(("alb", "no alarm watches AWS/ApplicationELB HTTPCode_Target_5XX_Count"),),
    ),
    Case(
        "A19",
        "cert",
        props(validationMethod="EMAIL"),
        "validationMethod is 'EMAIL', expected 'DNS'",
    ),
    Case("X1", "redis", props(tags__owner=DELETE), "tags.owner is not set"),
    Case(
        "X1",
        "alb",
        props(tags__env="dev"),
        "tags.env is 'dev', not the stack's environment 'prod'",
    ),
    Case(
        "X1",
        "logs",
        props(tags=DELETE),
        "tags.env is not set",
        more=(("logs", "tags.service is not set"), ("logs", "tags.owner is not set")),
    ),
    Case(
        "X2",
        "redis",
        {"protect": False, "retain_on_delete": False},
        "neither protect nor retainOnDelete is set in prod",
    ),
    Case("X2", "alb", {"protect": True}, f"protect is set {DEV_SUFFIX}", env="dev"),
    Case(
        "X2",
        "alb",
        props(enableDeletionProtection=True),
        f"enableDeletionProtection is True {DEV_SUFFIX}",
        env="dev",
    ),
    Case(
        "X2",
        "registry",
        props(forceDelete=DELETE),
        f"forceDelete is not set (a repository holding images cannot be deleted) {DEV_SUFFIX}",
        env="dev",
    ),
    Case(
        "X2",
        "access-logs",
        props(forceDestroy=False),
        f"forceDestroy is False (a bucket holding objects cannot be deleted) {DEV_SUFFIX}",
        env="dev",
    ),
]


@pytest.mark.parametrize("env", ["dev", "prod"])
@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_compliant_synthetic_stack_passes(rule_id: str, env: str) -> None:
    assert found(run(rule_id, good_stack(env), env)) == []


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_planted_violation_is_caught_with_its_message(case: Case) -> None:
    stack = variant(case.env, case.resource, case.changes)
    expected = [(urn_of(stack, case.at or case.resource), case.message)]
    expected += [(urn_of(stack, name), message) for name, message in case.more]
    report = run(case.rule, stack, case.env)
    assert sorted(found(report)) == sorted(expected)
    assert not any(f.unknown for f in report.findings)
    assert bool(report.blocking) == (RULES[case.rule].level == "mandatory")


def test_every_rule_has_a_violation_case() -> None:
    assert {c.rule for c in CASES} == set(RULES)


def test_rule_table_ids_levels_and_kinds() -> None:
    assert {r.id: (r.level, r.severity, r.scope) for r in AWS_RULES} == EXPECTED_RULES
    assert {r.id for r in AWS_RULES if isinstance(r, StackRule)} == STACK_RULES
    for rule in AWS_RULES:
        assert rule.title and rule.remediation, rule.id
        assert isinstance(rule, ResourceRule | StackRule)


# (rule, resource, property path made unknown, path the rule reports, env)
UNKNOWN_CASES = [
    ("A1", "registry", "imageTagMutability", "imageTagMutability", "prod"),
    (
        "A2",
        "registry",
        "imageScanningConfiguration",
        "imageScanningConfiguration.scanOnPush",
        "prod",
    ),
    (
        "A3",
        "registry",
        "encryptionConfigurations",
        "encryptionConfigurations[0].encryptionType",
        "prod",
    ),
    ("A4", "http", "defaultActions", "defaultActions", "prod"),
    ("A5", "https", "sslPolicy", "sslPolicy", "prod"),
    ("A6", "alb", "accessLogs", "accessLogs.enabled", "prod"),
    ("A7", "waf-association", "resourceArn", "resourceArn", "prod"),
    ("A8", "task", "containerDefinitions", "containerDefinitions", "prod"),
    ("A9", "task", "executionRoleArn", "executionRoleArn", "prod"),
    ("A9", "execution-secrets", "role", "role", "prod"),
    ("A10", "service", "networkConfiguration", "networkConfiguration.assignPublicIp", "prod"),
    ("A11", "cluster", "settings", "settings", "prod"),
    ("A12", "redis", "transitEncryptionEnabled", "transitEncryptionEnabled", "prod"),
    ("A13", "redis", "engine", "engine", "dev"),
    ("A14", "redis-from-task", "cidrIpv4", "cidrIpv4", "prod"),
    ("A15", "jwt", "recoveryWindowInDays", "recoveryWindowInDays", "prod"),
    ("A16", "jwt-version", "secretStringWoVersion", "secretStringWoVersion", "prod"),
    ("A17", "logs", "retentionInDays", "retentionInDays", "prod"),
    ("A18", "ecs-cpu", "dimensions", "dimensions.ServiceName", "prod"),
    ("A19", "cert", "validationMethod", "validationMethod", "prod"),
    ("X1", "redis", "tags", "tags.env", "prod"),
    ("X2", "alb", "enableDeletionProtection", "enableDeletionProtection", "dev"),
]


@pytest.mark.parametrize(("rule_id", "name", "path", "reported", "env"), UNKNOWN_CASES)
def test_unknown_property_is_reported_not_passed(
    rule_id: str, name: str, path: str, reported: str, env: str
) -> None:
    report = run(rule_id, variant(env, name, props(**{path: UNKNOWN_VALUE})), env)
    assert [(f.unknown, f.message) for f in report.findings] == [
        (True, f"cannot judge: {reported} is unknown before apply")
    ]
    if RULES[rule_id].level == "mandatory":
        assert report.blocking, f"{rule_id}: an unknown value must block a mandatory rule"


def test_unknown_cases_cover_every_rule() -> None:
    assert {c[0] for c in UNKNOWN_CASES} == set(RULES)


@pytest.mark.parametrize(
    ("rule_id", "name", "path"),
    [
        ("A12", "redis", "authToken"),  # a generated AUTH token
        ("A15", "jwt", "kmsKeyId"),  # the ARN of a key created in the same update
        ("A17", "logs", "kmsKeyId"),
        ("A3", "registry", "encryptionConfigurations[0].kmsKey"),
        ("A14", "redis-from-task", "referencedSecurityGroupId"),  # an SG created alongside
    ],
)
def test_a_value_that_only_needs_to_be_set_is_judged_while_unknown(
    rule_id: str, name: str, path: str
) -> None:
    assert found(run(rule_id, variant("prod", name, props(**{path: UNKNOWN_VALUE})), "prod")) == []


def test_an_unknown_secret_string_is_still_a_secret_string_in_state() -> None:
    stack = variant("prod", "jwt-version", props(secretStringWo=DELETE, secretString=UNKNOWN_VALUE))
    assert [m for _, m in found(run("A16", stack, "prod"))] == [
        "secretString is set in plain text: its value is kept unencrypted in state"
    ]


PROD_ONLY = sorted(r for r, (_, _, scope) in EXPECTED_RULES.items() if scope == "prod")


@pytest.mark.parametrize(
    "case",
    # (dev's single Redis node has no second node to leave unwatched)
    [c for c in CASES if c.rule in PROD_ONLY and c.resource in {r.name for r in good_stack("dev")}],
    ids=case_id,
)
def test_prod_only_rule_ignores_dev(case: Case) -> None:
    assert found(run(case.rule, variant("dev", case.resource, case.changes), "dev")) == []


@pytest.mark.parametrize(
    ("rule_id", "name", "changes"),
    [
        ("A6", "alb", props(enableDeletionProtection=False)),
        ("A10", "service", props(enableExecuteCommand=True)),
        ("A13", "redis", props(numCacheClusters=1.0, multiAzEnabled=False)),
        ("A17", "logs", props(kmsKeyId=DELETE)),
    ],
)
def test_prod_part_of_a_rule_is_not_asked_of_dev(
    rule_id: str, name: str, changes: dict[str, Any]
) -> None:
    assert found(run(rule_id, variant("dev", name, changes), "dev")) == []
    assert found(run(rule_id, variant("prod", name, changes), "prod")) != []


def test_x2_asks_opposite_things_of_dev_and_prod() -> None:
    """The prod stack's kept resources would block a dev destroy, and vice versa."""
    prod_in_dev = found(run("X2", good_stack("prod"), "dev"))
    assert {urn.rsplit("::", 1)[-1] for urn, _ in prod_in_dev} == {
        "registry",
        "redis",
        "jwt",
        "alb",
        "access-logs",
    }
    dev_in_prod = found(run("X2", good_stack("dev"), "prod"))
    assert sorted(urn.rsplit("::", 1)[-1] for urn, _ in dev_in_prod) == ["jwt", "redis", "registry"]


# --- details of single rules ---------------------------------------------------------------------


def test_registry_enhanced_scanning_stands_in_for_scan_on_push() -> None:
    stack = variant("prod", "registry", props(imageScanningConfiguration=DELETE))
    scanning = Resource(
        urn("prod", REGISTRY_SCANNING, "scanning"),
        REGISTRY_SCANNING,
        "scanning",
        {
            "scanType": "ENHANCED",
            "rules": [{"repositoryFilters": [{"filter": "regis*", "filterType": "WILDCARD"}]}],
        },
    )
    assert found(run("A2", [*stack, scanning], "prod")) == []
    basic = dataclasses.replace(scanning, props=scanning.props | {"scanType": "BASIC"})
    assert [m for _, m in found(run("A2", [*stack, basic], "prod"))] == [
        "imageScanningConfiguration.scanOnPush is not set, expected True"
    ]


def test_internal_load_balancer_needs_no_web_acl() -> None:
    stack = variant("prod", "waf-association", REMOVE)
    internal = edited(stack, "alb", props={"internal": True})
    assert found(run("A7", internal, "prod")) == []


def test_a9_ignores_other_roles_and_deny_statements() -> None:
    stack = good_stack("prod")
    extra = [
        Resource(
            urn("prod", ROLE_POLICY_ATTACHMENT, "task-s3"),
            ROLE_POLICY_ATTACHMENT,
            "task-s3",
            {"role": "task-role-id", "policyArn": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"},
        )
    ]
    deny = {"Effect": "Deny", "Action": "*", "Resource": "*"}
    stack = edited(stack, "execution-secrets", **policy(READ_SECRETS, DECRYPT, deny))
    assert found(run("A9", [*stack, *extra], "prod")) == []


def test_stack_rules_are_silent_without_a_load_balancer() -> None:
    """A7 and A18 judge the ALB-fronted platform; a stack without an ALB has none to judge."""
    stack = [r for r in good_stack("prod") if r.type not in (LOAD_BALANCER, ALARM)]
    assert found(evaluate(stack, Context("prod", "prod", "aws"), [RULES["A7"], RULES["A18"]])) == []


def test_messages_never_show_a_secret_value() -> None:
    stack = edited(
        good_stack("prod"),
        "task",
        **task(environment=[{"name": "API_TOKEN", "value": "hunter2"}]),
    )
    stack = edited(stack, "jwt-version", props={"secretString": "hunter2"})
    report = evaluate(stack, Context("prod", "prod", "aws"), AWS_RULES)
    assert {f.rule_id for f in report.findings} == {"A8", "A16"}
    assert all("hunter2" not in f.message for f in report.findings)


def test_suppression_with_a_reason_silences_an_aws_rule() -> None:
    stack = variant("prod", "registry", props(imageTagMutability="MUTABLE"))
    reason = "mutable until the release tooling stops re-pushing latest, ticket 42"
    report = evaluate(
        stack,
        Context("prod", "prod", "aws"),
        [RULES["A1"]],
        [Suppression("A1", "*::registry", reason)],
    )
    (finding,) = report.findings
    assert finding.suppressed_because == reason
    assert report.blocking == []
    with pytest.raises(ValueError, match="needs a reason"):
        Suppression("A1", "*::registry", " ")


def _takes_tags(type_token: str) -> bool:
    module, _, kind = type_token.removeprefix("aws:").partition(":")
    package = importlib.import_module(f"pulumi_aws.{module.split('/')[0]}")
    init = getattr(package, kind)._internal_init
    return "tags" in inspect.signature(init).parameters


AWS_TYPES = sorted(
    {
        value
        for value in vars(aws_rules).values()
        if isinstance(value, str) and value.startswith("aws:")
    }
    | set(BUCKETS)
    | {
        "aws:ecr/lifecyclePolicy:LifecyclePolicy",
        "aws:kms/alias:Alias",
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        "aws:acm/certificateValidation:CertificateValidation",
        "aws:route53/record:Record",
        "aws:cloudwatch/dashboard:Dashboard",
        "aws:sns/topicSubscription:TopicSubscription",
        "aws:appautoscaling/policy:Policy",
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    }
)


@pytest.mark.parametrize("type_token", AWS_TYPES)
def test_x1_checks_exactly_the_types_that_take_tags(type_token: str) -> None:
    assert _takes_tags(type_token) == (type_token in TAGGED), type_token


# --- one rule set per cloud ----------------------------------------------------------------------


def test_rules_for_each_cloud() -> None:
    assert rules_for("aws") is AWS_RULES
    assert rules_for("gcp") is GCP_RULES
    with pytest.raises(ValueError, match="cloud 'azure' has no policy rules"):
        rules_for("azure")


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_each_clouds_rules_ignore_the_other_clouds_resources(env: str) -> None:
    assert found(evaluate(gcp_stack(env), Context(env, env, "gcp"), AWS_RULES)) == []  # type: ignore[arg-type]
    assert found(evaluate(good_stack(env), Context(env, env, "aws"), GCP_RULES)) == []  # type: ignore[arg-type]


def _aws_plan(cloud: str) -> Plan:
    repository = RegisteredResource(
        urn("prod", REPOSITORY, "registry"),
        REPOSITORY,
        "registry",
        None,
        {"imageTagMutability": "MUTABLE"},
        {},
        True,
        False,
        False,
    )
    outputs = {key: f"value-{key}" for key in REQUIRED_OUTPUTS}
    run_ = ProgramRun(resources=[repository], outputs=outputs)
    return Plan(stack="prod", cloud=cloud, environment="prod", run=run_, seconds=0.0)


def test_offline_check_uses_the_rules_of_the_plans_cloud() -> None:
    report = check_plan(_aws_plan("aws"), Context("prod", "prod", "aws"))
    assert ("A1", "imageTagMutability is 'MUTABLE', expected 'IMMUTABLE'") in {
        (f.rule_id, f.message) for f in report.findings
    }
    with pytest.raises(ValueError, match="the plan of stack prod is on aws, but the policy"):
        check_plan(_aws_plan("aws"), Context("prod", "prod"))
