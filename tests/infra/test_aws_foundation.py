"""Stack key, registry, network, secrets and cache on AWS under Pulumi's mocks: the security
rows they hold (A1-A3, A12-A16, X1, X2) for dev-like and prod-like arguments, the subnet plan,
no secret value ever plain, and bad arguments refused before any resource exists.

Every assertion names the resource (URN or name) it is about.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from infra.aws.cache import (
    Cache,
    CacheArgs,
    checked_token,
    member_cluster_ids,
    redis_url,
)
from infra.aws.encryption import StackKey, StackKeyArgs, key_policy
from infra.aws.network import ExistingNetwork, Network, NetworkArgs, plan_subnets
from infra.aws.registry import Registry, RegistryArgs, lifecycle_policy
from infra.aws.secrets import Secrets, SecretsArgs, secret_name
from infra.labels import standard_labels
from infra.mocks import ProgramRun, RegisteredResource
from infra.policy.engine import SECRET_SIG
from tests.infra.conftest import run_component

ENVIRONMENTS = ("dev", "prod")
REPOSITORY = "aws:ecr/repository:Repository"
KEY = "aws:kms/key:Key"
SECRET = "aws:secretsmanager/secret:Secret"
VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
NAT = "aws:ec2/natGateway:NatGateway"
SUBNET = "aws:ec2/subnet:Subnet"
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/t-key-key"
TOKEN = "redis-token-0123456789+abc%"
JWT = "jwt-value-0123456789abcdef"
SECRET_VALUES = (TOKEN, JWT)


def foundation(env: str, existing: ExistingNetwork | None = None) -> Callable[[], None]:
    """The components wired as AwsPlatform wires them, their outputs exported."""
    prod, tags = env == "prod", standard_labels(env)

    def build() -> None:
        key = StackKey(
            "t-key",
            StackKeyArgs(environment=env, region="eu-west-1", tags=tags, deletion_window_days=30),
        )
        registry = Registry(
            "t-registry",
            RegistryArgs(environment=env, tags=tags, kms_key_arn=key.key_arn, protect=prod),
        )
        network = Network(
            "t-network",
            NetworkArgs(
                environment=env, region="eu-west-1", tags=tags, nat_per_zone=prod, existing=existing
            ),
        )
        cache = Cache(
            "t-cache",
            CacheArgs(
                environment=env,
                tags=tags,
                subnet_ids=network.task_subnet_ids,
                security_group_id=network.redis_security_group_id,
                auth_token=pulumi.Output.secret(TOKEN),
                kms_key_arn=key.key_arn,
                node_type="cache.t4g.small",
                replicas=2 if prod else 1,
                snapshot_retention_days=7 if prod else 0,
                protect=prod,
            ),
        )
        secrets = Secrets(
            "t-secrets",
            SecretsArgs(
                environment=env,
                tags=tags,
                values={"JWT_SECRET": JWT, "REDIS_URL": cache.redis_url},
                kms_key_arn=key.key_arn,
                recovery_window_days=30 if prod else 0,
                protect=prod,
            ),
        )
        pulumi.export("repository_url", registry.repository_url)
        pulumi.export("registry_server", registry.registry.server)
        pulumi.export("redis_url", cache.redis_url)
        pulumi.export("task_subnets", network.task_subnet_ids)
        pulumi.export("public_subnets", network.public_subnet_ids)
        for env_var, arn in secrets.secret_arns.items():
            pulumi.export(f"arn_{env_var}", arn)

    return build


@pytest.fixture(scope="module")
def runs() -> dict[str, ProgramRun]:
    return {env: run_component(foundation(env), stack=env) for env in ENVIRONMENTS}


@pytest.fixture(params=ENVIRONMENTS)
def env_run(request, runs) -> tuple[str, ProgramRun]:
    return request.param, runs[request.param]


def rules_of(run: ProgramRun, type_token: str) -> dict[str, RegisteredResource]:
    return {r.name: r for r in run.of_type(type_token)}


# -- A1-A3: the registry ---------------------------------------------------------------------


def test_registry_tags_are_immutable_scanned_and_encrypted_with_the_stack_key(env_run):
    env, run = env_run
    repository = run.one(REPOSITORY)
    assert repository.inputs["imageTagMutability"] == "IMMUTABLE", repository.urn
    assert repository.inputs["imageScanningConfiguration"] == {"scanOnPush": True}, repository.urn
    encryption = repository.inputs["encryptionConfigurations"][0]
    assert encryption["encryptionType"] == "KMS", repository.urn
    assert encryption["kmsKey"].endswith("/t-key-key"), repository.urn
    assert repository.inputs["name"] == f"emg-{env}/emg-service", repository.urn
    assert repository.inputs["forceDelete"] is (env == "dev"), repository.urn
    assert (repository.protect, repository.retain_on_delete) == ((env == "prod"),) * 2, (
        repository.urn
    )


def test_registry_url_is_the_namespace_the_image_name_completes(env_run):
    env, run = env_run
    host = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    assert run.outputs["repository_url"] == f"{host}/emg-{env}"
    assert run.outputs["registry_server"] == host


def test_lifecycle_expires_untagged_first_and_keeps_the_newest_images():
    rules = json.loads(lifecycle_policy(30))["rules"]
    assert [r["selection"]["tagStatus"] for r in rules] == ["untagged", "any"]
    assert rules[-1]["selection"]["countNumber"] == 30
    assert rules[-1]["rulePriority"] == max(r["rulePriority"] for r in rules)


# -- the stack key ------------------------------------------------------------------------------


def test_the_stack_key_rotates_and_only_this_accounts_logs_and_alarms_may_use_it(runs):
    key = runs["prod"].one(KEY)
    assert key.inputs["enableKeyRotation"] is True, key.urn
    policy = json.loads(key.inputs["policy"])
    logs = next(s for s in policy["Statement"] if s["Sid"] == "CloudWatchLogsOfThisAccount")
    assert logs["Principal"] == {"Service": "logs.eu-west-1.amazonaws.com"}, key.urn
    assert logs["Condition"]["ArnLike"] == {
        "kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:eu-west-1:123456789012:log-group:*"
    }, key.urn
    alarms = next(s for s in policy["Statement"] if s["Sid"] == "CloudWatchAlarmsOfThisAccount")
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}, key.urn
    assert set(alarms["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}, key.urn
    assert alarms["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}, key.urn
    assert json.loads(key_policy("1", "r"))["Statement"][0]["Principal"] == {
        "AWS": "arn:aws:iam::1:root"
    }


# -- network: subnets, NAT, security groups (A10, A14) ------------------------------------------


def test_subnets_come_from_a_private_slash_16_in_two_zones():
    plan = plan_subnets("10.40.0.0/16")
    assert plan.public == ("10.40.0.0/20", "10.40.16.0/20")
    assert plan.private == ("10.40.128.0/20", "10.40.144.0/20")


@pytest.mark.parametrize(
    ("cidr", "message"),
    [
        ("10.40.0.0/24", "cidr '10.40.0.0/24' must be a private IPv4 /16 like 10.40.0.0/16"),
        ("8.8.0.0/16", "cidr '8.8.0.0/16' must be a private IPv4 /16 like 10.40.0.0/16"),
        ("ten", "cidr 'ten' must be an IPv4 network like 10.40.0.0/16"),
    ],
)
def test_a_bad_cidr_is_refused(cidr, message):
    with pytest.raises(ValueError) as caught:
        NetworkArgs(environment="dev", region="eu-west-1", tags=standard_labels("dev"), cidr=cidr)
    assert str(caught.value) == message


def test_no_subnet_gives_public_addresses_and_private_ones_route_through_nat(env_run):
    env, run = env_run
    subnets = run.of_type(SUBNET)
    assert len(subnets) == 4
    for subnet in subnets:
        assert subnet.inputs["mapPublicIpOnLaunch"] is False, subnet.urn
    zones = {s.inputs["availabilityZone"] for s in subnets}
    assert zones == {"eu-west-1a", "eu-west-1b"}, "subnets must span two zones"
    nats = run.of_type(NAT)
    assert len(nats) == (2 if env == "prod" else 1), [n.urn for n in nats]
    for routes in run.of_type("aws:ec2/routeTable:RouteTable"):
        if "private" in routes.name:
            assert routes.inputs["routes"][0]["natGatewayId"], routes.urn


def test_only_the_load_balancer_is_open_to_the_internet_and_only_on_80_and_443(env_run):
    _, run = env_run
    ingress = rules_of(run, INGRESS)
    open_ports = {r.inputs["fromPort"] for r in ingress.values() if r.inputs.get("cidrIpv4")}
    assert open_ports == {80, 443}, sorted(ingress)
    alb_group = run.named("t-network-alb").outputs["id"]
    for rule in ingress.values():
        if rule.inputs.get("cidrIpv4"):
            assert rule.inputs["securityGroupId"] == alb_group, rule.urn


def test_redis_and_the_task_port_admit_only_their_one_security_group(env_run):
    _, run = env_run
    ingress = rules_of(run, INGRESS)
    redis = ingress["t-network-redis-from-tasks"]
    assert redis.inputs["fromPort"] == redis.inputs["toPort"] == 6379, redis.urn
    assert "cidrIpv4" not in redis.inputs, redis.urn
    assert redis.inputs["referencedSecurityGroupId"].startswith("sg-"), redis.urn
    tasks = ingress["t-network-tasks-from-alb"]
    assert tasks.inputs["fromPort"] == 8080 and "cidrIpv4" not in tasks.inputs, tasks.urn
    redis_out = [r for r in rules_of(run, EGRESS).values() if "t-network-redis" in r.name]
    assert redis_out == [], "the cache needs no way out"


def test_an_existing_vpc_is_used_as_given_with_the_stacks_own_security_groups():
    existing = ExistingNetwork(
        vpc_id="vpc-0123456789abcdef0",
        public_subnet_ids=("subnet-0a", "subnet-0b"),
        task_subnet_ids=("subnet-0c", "subnet-0d"),
    )
    run = run_component(foundation("dev", existing), stack="dev")
    assert run.of_type("aws:ec2/vpc:Vpc") == [] and run.of_type(SUBNET) == []
    assert run.outputs["task_subnets"] == ["subnet-0c", "subnet-0d"]
    for group in run.of_type("aws:ec2/securityGroup:SecurityGroup"):
        assert group.inputs["vpcId"] == "vpc-0123456789abcdef0", group.urn
    subnet_group = run.one("aws:elasticache/subnetGroup:SubnetGroup")
    assert subnet_group.inputs["subnetIds"] == ["subnet-0c", "subnet-0d"], subnet_group.urn


# -- A12, A13: the cache -------------------------------------------------------------------------


def test_redis_requires_tls_encrypts_at_rest_and_takes_the_token_write_only(env_run):
    _, run = env_run
    group = run.one(GROUP)
    inputs = group.inputs
    assert inputs["transitEncryptionEnabled"] is True, group.urn
    assert inputs["transitEncryptionMode"] == "required", group.urn
    assert inputs["atRestEncryptionEnabled"] is True, group.urn
    assert inputs["kmsKeyId"].endswith("/t-key-key"), group.urn
    assert SECRET_SIG in inputs["authTokenWo"], f"{group.urn}: the AUTH token must be secret"
    assert "authToken" not in inputs, f"{group.urn}: use the write-only token"
    assert inputs["engine"] == "redis", group.urn


def test_prod_redis_fails_over_to_another_zone_and_keeps_snapshots(env_run):
    env, run = env_run
    group = run.one(GROUP)
    prod = env == "prod"
    assert group.inputs["numCacheClusters"] == (2 if prod else 1), group.urn
    assert group.inputs["automaticFailoverEnabled"] is prod, group.urn
    assert group.inputs["multiAzEnabled"] is prod, group.urn
    assert group.inputs["snapshotRetentionLimit"] == (7 if prod else 0), group.urn
    assert (group.protect, group.retain_on_delete) == (prod, prod), group.urn


def test_the_redis_url_is_a_secret_tls_url_with_the_token_encoded():
    assert redis_url("a/b@c", "host", 6379) == "rediss://:a%2Fb%40c@host:6379/0"
    run = run_component(foundation("dev"), stack="dev")
    assert "redis_url" in run.secret_outputs
    assert run.outputs["redis_url"] == (
        "rediss://:redis-token-0123456789%2Babc%25@"
        "master.emg-dev-redis.abcdef.euw1.cache.amazonaws.com:6379/0"
    )


@pytest.mark.parametrize(
    "token", ["short", "x" * 129, "has space in it 0123", "slash/0123456789abc"]
)
def test_a_token_elasticache_would_refuse_is_refused_without_echoing_it(token):
    with pytest.raises(ValueError) as caught:
        checked_token(token)
    assert token not in str(caught.value)
    assert str(caught.value).startswith("emg-analyzer:redisAuthToken must be 16-128 printable")


def test_member_cluster_ids_follow_elasticache_naming():
    assert member_cluster_ids("prod", 2) == ["emg-prod-redis-001", "emg-prod-redis-002"]


# -- A15, A16: secrets ---------------------------------------------------------------------------


def test_secrets_use_the_stack_key_a_description_and_the_recovery_window(env_run):
    env, run = env_run
    for secret in run.of_type(SECRET):
        assert secret.inputs["kmsKeyId"].endswith("/t-key-key"), secret.urn
        assert secret.inputs["description"], secret.urn
        assert secret.inputs["recoveryWindowInDays"] == (30 if env == "prod" else 0), secret.urn
        assert (secret.protect, secret.retain_on_delete) == ((env == "prod"),) * 2, secret.urn
    names = sorted(s.inputs["name"] for s in run.of_type(SECRET))
    assert names == [f"emg-{env}/jwt-secret", f"emg-{env}/redis-url"]


def test_secret_values_go_in_write_only_and_versions_follow_the_value(env_run):
    _, run = env_run
    versions = run.of_type(VERSION)
    assert len(versions) == 2
    for version in versions:
        assert "secretString" not in version.inputs, version.urn
        assert SECRET_SIG in version.inputs["secretStringWo"], version.urn
        assert SECRET_SIG in version.inputs["secretStringWoVersion"], version.urn


def test_secret_arns_are_what_the_task_definition_references(runs):
    outputs = runs["dev"].outputs
    assert outputs["arn_JWT_SECRET"] == (
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:t-secrets-jwt-secret"
    )
    assert secret_name("dev", "SUPABASE_SERVICE_KEY") == "emg-dev/supabase-service-key"


def test_no_secret_value_appears_in_any_plain_input(env_run):
    _, run = env_run

    def plain_strings(value: Any) -> list[str]:
        if isinstance(value, dict):
            return (
                [] if SECRET_SIG in value else [s for v in value.values() for s in plain_strings(v)]
            )
        if isinstance(value, list):
            return [s for v in value for s in plain_strings(v)]
        return [value] if isinstance(value, str) else []

    for resource in run.resources:
        for text in plain_strings(resource.inputs):
            for secret in SECRET_VALUES:
                assert secret not in text, f"{resource.urn} holds a secret value in plain text"


# -- X1 and bad arguments ----------------------------------------------------------------------

UNTAGGED = {
    "aws:ecr/lifecyclePolicy:LifecyclePolicy",
    "aws:kms/alias:Alias",
    "aws:ec2/routeTableAssociation:RouteTableAssociation",
    VERSION,
}


def test_every_taggable_resource_carries_env_service_owner(env_run):
    env, run = env_run
    for resource in run.resources:
        if not resource.custom or resource.type in UNTAGGED or resource.type.startswith("pulumi:"):
            continue
        tags = resource.inputs.get("tags", {})
        assert {k: tags.get(k) for k in ("env", "service", "owner")} == standard_labels(env), (
            resource.urn
        )


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: SecretsArgs(
                environment="prod",
                tags=standard_labels("prod"),
                values={"JWT_SECRET": "x"},
                kms_key_arn=KEY_ARN,
                recovery_window_days=0,
            ),
            "recovery_window_days (0) must be 7-30 in prod",
        ),
        (
            lambda: SecretsArgs(
                environment="dev",
                tags=standard_labels("dev"),
                values={"jwt": "x"},
                kms_key_arn=KEY_ARN,
                recovery_window_days=0,
            ),
            "environment variable name 'jwt' must match [A-Z][A-Z0-9_]* (like JWT_SECRET)",
        ),
        (
            lambda: CacheArgs(
                environment="dev",
                tags=standard_labels("dev"),
                subnet_ids=[],
                security_group_id="sg-1",
                auth_token=TOKEN,
                kms_key_arn=KEY_ARN,
                node_type="cache.t4g.micro",
                replicas=0,
            ),
            "replicas (0) must be 1-6 (one primary, up to 5)",
        ),
        (
            lambda: StackKeyArgs(
                environment="dev",
                region="eu-west-1",
                tags=standard_labels("dev"),
                deletion_window_days=3,
            ),
            "deletion_window_days (3) must be 7-30 (KMS limits)",
        ),
        (
            lambda: RegistryArgs(
                environment="dev",
                tags=standard_labels("dev"),
                kms_key_arn=KEY_ARN,
                protect=False,
                keep_images=0,
            ),
            "keep_images (0) must be 1-1000",
        ),
    ],
)
def test_bad_arguments_are_refused_before_any_resource(build, message):
    with pytest.raises(ValueError) as caught:
        build()
    assert str(caught.value) == message
