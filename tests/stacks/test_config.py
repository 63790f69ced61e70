"""StackConfig: per-environment defaults, and each broken rule's exact message."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.config import ENVIRONMENT_DEFAULTS, SECRET_KEYS, SECRETS, StackConfig, secrets_for
from stacks.errors import StackConfigError

REQUIRED = {
    "gcpProject": "emg-analyzer-test",
    "gcpRegion": "europe-west4",
    "domain": "api.example.org",
    "supabaseUrl": "https://abcd.supabase.co",
    "corsOrigins": "https://app.example.org",
}
PROD_REQUIRED = {**REQUIRED, "alertEmails": "ops@example.org"}
UNSET = object()
AWS = {"cloud": "aws", "awsRegion": "eu-west-1", "awsHostedZoneId": "Z0123456789ABCDEFGHIJ"}
EXISTING_VPC = {
    "awsVpcId": "vpc-0123456789abcdef0",
    "awsPublicSubnetIds": "subnet-0123456789abcdef0,subnet-0123456789abcdef1",
    "awsTaskSubnetIds": '["subnet-0123456789abcdef2", "subnet-0123456789abcdef3"]',
}


def build(stack: str, **settings: Any) -> StackConfig:
    base = PROD_REQUIRED if stack.startswith("prod") else REQUIRED
    data = {k: v for k, v in {**base, **settings}.items() if v is not UNSET}
    return StackConfig.from_settings(data, stack=stack, source="test")


def problems(stack: str, **settings: Any) -> tuple[str, ...]:
    with pytest.raises(StackConfigError) as caught:
        build(stack, **settings)
    return caught.value.problems


def test_dev_defaults_scale_to_zero_with_basic_redis_and_no_deletion_protection():
    config = build("dev")
    assert config.environment == "dev"
    assert config.min_instances == 0
    assert config.max_instances == 2
    assert config.redis_tier == "BASIC"
    assert config.deletion_protection is False
    assert (config.cpu, config.memory) == (1, "2Gi")


def test_prod_defaults_keep_an_instance_ha_redis_and_deletion_protection():
    config = build("prod")
    assert config.environment == "prod"
    assert config.min_instances == 1
    assert config.max_instances == 10
    assert config.redis_tier == "STANDARD_HA"
    assert config.deletion_protection is True
    assert (config.cpu, config.memory) == (2, "4Gi")


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_defaults_table_is_what_an_unset_key_gets(environment):
    dumped = build(environment).model_dump(by_alias=True)
    assert {k: dumped[k] for k in ENVIRONMENT_DEFAULTS[environment]} == (
        ENVIRONMENT_DEFAULTS[environment]
    )


def test_settings_arrive_as_pulumi_text_and_are_typed():
    config = build(
        "dev",
        minInstances="1",
        maxInstances="3",
        cpuAlwaysAllocated="false",
        alertErrorRatio="0.1",
        corsOrigins='["https://a.example.org", "http://localhost:5173"]',
        alertEmails="a@example.org, b@example.org",
    )
    assert (config.min_instances, config.max_instances) == (1, 3)
    assert config.cpu_always_allocated is False
    assert config.alert_error_ratio == 0.1
    assert config.cors_origins == ("https://a.example.org", "http://localhost:5173")
    assert config.alert_emails == ("a@example.org", "b@example.org")


@pytest.mark.parametrize(
    ("stack", "environment"), [("dev", "dev"), ("dev-alice", "dev"), ("prod-eu", "prod")]
)
def test_environment_comes_from_the_stack_name(stack, environment):
    assert build(stack).environment == environment


def test_other_stack_names_must_say_their_environment():
    assert problems("staging") == (
        "emg-analyzer:environment is required: the stack name (staging) is not dev, prod, "
        "dev-* or prod-*; set it with `pulumi config set emg-analyzer:environment dev|prod`",
    )
    assert build("staging", environment="prod", alertEmails="ops@example.org").min_instances == 1


def test_environment_must_agree_with_the_stack_name():
    assert problems("prod", environment="dev") == (
        "emg-analyzer:environment (dev) must be prod on stack prod",
    )


def test_secrets_are_named_never_fields():
    assert {s.key for cloud in ("gcp", "aws") for s in secrets_for(cloud)} == SECRET_KEYS
    assert {s.env_var for s in SECRETS} == {
        "JWT_SECRET",
        "SUPABASE_WEBHOOK_SECRET",
        "DATABASE_URL",
        "SUPABASE_SERVICE_KEY",
    }
    assert not SECRET_KEYS & StackConfig.setting_keys()


@pytest.mark.parametrize(
    ("stack", "settings", "message"),
    [
        (
            "dev",
            {"gcpRegion": "Europe-West4"},
            "emg-analyzer:gcpRegion (Europe-West4) must be a GCP region like europe-west4",
        ),
        (
            "dev",
            {**AWS, "awsRegion": "europe-west4"},
            "emg-analyzer:awsRegion (europe-west4) must be an AWS region like eu-west-1",
        ),
        (
            "dev",
            {**AWS, "awsHostedZoneId": "zone-1"},
            "emg-analyzer:awsHostedZoneId (zone-1) must be a Route 53 hosted zone id like "
            "Z0123456789ABCDEFGHIJ",
        ),
        (
            "dev",
            {**AWS, "awsHostedZoneId": UNSET},
            "emg-analyzer:awsHostedZoneId is required when cloud is aws: set it with "
            "`pulumi config set emg-analyzer:awsHostedZoneId <route53-zone-id>`",
        ),
        (
            "dev",
            {**AWS, "memory": "1Gi"},
            "emg-analyzer:memory (1Gi) must be 2Gi to 8Gi in steps of 1Gi with cpu 1 "
            "(Fargate sizes)",
        ),
        (
            "prod",
            {**AWS, "cpu": "2", "memory": "3Gi"},
            "emg-analyzer:memory (3Gi) must be 4Gi to 16Gi in steps of 1Gi with cpu 2 "
            "(Fargate sizes)",
        ),
        (
            "dev",
            {**AWS, "awsRedisNodeType": "t4g.small"},
            "emg-analyzer:awsRedisNodeType (t4g.small) must be an ElastiCache node type like "
            "cache.t4g.small",
        ),
        (
            "dev",
            {**AWS, "awsRedisNodeType": "cache.t1.micro"},
            "emg-analyzer:awsRedisNodeType (cache.t1.micro) is a previous-generation node type "
            "ElastiCache no longer creates; use a current one like cache.t4g.small",
        ),
        (
            "dev",
            {**AWS, **EXISTING_VPC, "awsTaskSubnetIds": UNSET},
            "emg-analyzer:awsTaskSubnetIds is required when any of awsVpcId, "
            "awsPublicSubnetIds, awsTaskSubnetIds is set (an existing VPC needs all three)",
        ),
        (
            "dev",
            {**AWS, **EXISTING_VPC, "awsTaskSubnetIds": "subnet-0123456789abcdef2"},
            'emg-analyzer:awsTaskSubnetIds (["subnet-0123456789abcdef2"]) must list at least two '
            "subnets (two availability zones)",
        ),
        (
            "dev",
            {**AWS, **EXISTING_VPC, "awsTaskSubnetIds": "subnet-1, subnet-0123456789abcdef2"},
            "emg-analyzer:awsTaskSubnetIds (subnet-1, subnet-0123456789abcdef2) must be "
            "subnet ids like subnet-0123456789abcdef0, not subnet-1",
        ),
        (
            "dev",
            {"minInstances": "2", "maxInstances": "1"},
            "emg-analyzer:maxInstances (1) must be >= minInstances (2)",
        ),
        (
            "prod",
            {"minInstances": "0"},
            "emg-analyzer:minInstances (0) must be >= 1 in prod (prod never scales to zero)",
        ),
        (
            "prod",
            {"deletionProtection": "false"},
            "emg-analyzer:deletionProtection (false) must be true in prod",
        ),
        (
            "prod",
            {"redisTier": "BASIC"},
            "emg-analyzer:redisTier (BASIC) must be STANDARD_HA in prod "
            "(a replica in another zone)",
        ),
        (
            "dev",
            {"minInstance": "1"},
            "emg-analyzer:minInstance (1) is not a setting of emg-analyzer "
            "(did you mean minInstances?)",
        ),
        (
            "dev",
            {"alertEmails": ["ops@example.org", "ops-at-example.org"]},
            "emg-analyzer:alertEmails[1] (ops-at-example.org) "
            "must be an e-mail address like name@example.org",
        ),
        (
            "dev",
            {"alertEmails": ["ops@example.org", "OPS@example.org"]},
            'emg-analyzer:alertEmails (["ops@example.org", "OPS@example.org"]) '
            "must not repeat ops@example.org",
        ),
        (
            "prod",
            {"alertEmails": []},
            "emg-analyzer:alertEmails ([]) must list at least one address in prod "
            "(alerts need a recipient)",
        ),
        (
            "dev",
            {"corsOrigins": ["https://app.example.org", "*"]},
            "emg-analyzer:corsOrigins[1] (*) must name an origin, not '*' "
            "(the deployed service refuses '*')",
        ),
        (
            "dev",
            {"corsOrigins": ["https://app.example.org:99999"]},
            "emg-analyzer:corsOrigins[0] (https://app.example.org:99999) must have a port from 1 "
            "to 65535",
        ),
        (
            "dev",
            {"corsOrigins": ["https://app.example.org:443"]},
            "emg-analyzer:corsOrigins[0] (https://app.example.org:443) must leave out the default "
            "port 443 (browsers never send it)",
        ),
        ("dev", {"alertErrorRatio": "nan"}, "emg-analyzer:alertErrorRatio (nan) must be a number"),
        (
            "prod",
            {"corsOrigins": []},
            "emg-analyzer:corsOrigins ([]) must list the frontend's origin in prod "
            "(browsers refuse calls from any other)",
        ),
        (
            "prod",
            {"corsOrigins": ["http://app.example.org"]},
            "emg-analyzer:corsOrigins[0] (http://app.example.org) must use https in prod",
        ),
        (
            "dev",
            {"corsOrigins": ["https://app.example.org/"]},
            "emg-analyzer:corsOrigins[0] (https://app.example.org/) must be an origin like "
            "https://app.example.org (lowercase, no path, no '/' at the end)",
        ),
        ("dev", {"cloud": "azure"}, "emg-analyzer:cloud (azure) must be gcp or aws"),
        (
            "dev",
            {"corsOrigins": '["https://app.example.org"'},
            'emg-analyzer:corsOrigins (["https://app.example.org") must be a JSON list or '
            "comma-separated values",
        ),
        (
            "dev",
            {"gcpProject": "My Project"},
            "emg-analyzer:gcpProject (My Project) must be a GCP project id: 6-30 lowercase "
            "letters, digits or hyphens, starting with a letter",
        ),
        (
            "dev",
            {"domain": "https://api.example.org"},
            "emg-analyzer:domain (https://api.example.org) must be a lowercase host name like "
            "api.example.org (no scheme, path or port)",
        ),
        (
            "dev",
            {"supabaseUrl": "http://abcd.supabase.co"},
            "emg-analyzer:supabaseUrl (http://abcd.supabase.co) must be an https:// URL "
            "without a path, like https://abcd.supabase.co",
        ),
        ("dev", {"cpu": "3"}, "emg-analyzer:cpu (3) must be 1, 2, 4 or 8 (whole vCPUs)"),
        (
            "dev",
            {"memory": "2GB"},
            "emg-analyzer:memory (2GB) must be a size from 512Mi to 60Gi, like 512Mi or 2Gi",
        ),
        (
            "dev",
            {"cpu": "4", "memory": "1Gi"},
            "emg-analyzer:memory (1Gi) must be at least 2Gi with cpu 4 (Cloud Run minimum)",
        ),
        (
            "dev",
            {"cpu": "1", "memory": "8Gi"},
            "emg-analyzer:cpu (1) must be at least 2 with memory 8Gi (Cloud Run minimum)",
        ),
        (
            "dev",
            {"cpuAlwaysAllocated": "false"},
            "emg-analyzer:cpuAlwaysAllocated (false) must be true when minInstances is 0 "
            "(webhook analyses run after the response)",
        ),
        (
            "dev",
            {"maxInstances": "many"},
            "emg-analyzer:maxInstances (many) must be a whole number",
        ),
        ("dev", {"minInstances": "-1"}, "emg-analyzer:minInstances (-1) must be >= 0"),
        ("dev", {"redisMemoryGb": "0"}, "emg-analyzer:redisMemoryGb (0) must be >= 1"),
        (
            "dev",
            {"deletionProtection": "maybe"},
            "emg-analyzer:deletionProtection (maybe) must be true or false",
        ),
        (
            "dev",
            {"redisTier": "STANDARD"},
            "emg-analyzer:redisTier (STANDARD) must be BASIC or STANDARD_HA",
        ),
        (
            "dev",
            {"gcpProject": UNSET},
            "emg-analyzer:gcpProject is required when cloud is gcp: set it with "
            "`pulumi config set emg-analyzer:gcpProject <project-id>`",
        ),
    ],
)
def test_each_broken_rule_names_key_value_and_rule(stack, settings, message):
    assert problems(stack, **settings) == (message,)


def test_a_missing_required_key_says_how_to_set_it():
    assert problems("dev", domain=UNSET) == (
        "emg-analyzer:domain is required: set it with `pulumi config set emg-analyzer:domain "
        "<value>`",
    )


def test_region_is_the_region_of_the_stacks_cloud():
    assert build("dev").region == "europe-west4"
    assert build("dev", **AWS).region == "eu-west-1"


def test_memory_follows_the_clouds_limits():
    assert build("dev", **AWS, cpu="8", memory="48Gi").memory == "48Gi"
    assert problems("dev", cpu="8", memory="48Gi") == (
        "emg-analyzer:memory (48Gi) must be at most 32Gi (Cloud Run maximum)",
    )
    assert problems("dev", memory="64Gi") == (
        "emg-analyzer:memory (64Gi) must be a size from 512Mi to 60Gi, like 512Mi or 2Gi",
    )


def test_an_existing_vpc_is_taken_whole():
    config = build("dev", **AWS, **EXISTING_VPC)
    assert config.aws_vpc_id == "vpc-0123456789abcdef0"
    assert config.aws_public_subnet_ids == ("subnet-0123456789abcdef0", "subnet-0123456789abcdef1")
    assert config.aws_task_subnet_ids == ("subnet-0123456789abcdef2", "subnet-0123456789abcdef3")


def test_aws_secrets_add_the_redis_auth_token():
    assert [s.key for s in secrets_for("gcp")] == [s.key for s in SECRETS]
    assert [s.key for s in secrets_for("aws")][-1] == "redisAuthToken"
    assert "redisAuthToken" in SECRET_KEYS


def test_every_problem_is_reported_at_once():
    assert problems("prod", minInstances="0", deletionProtection="false", redisTier="BASIC") == (
        "emg-analyzer:minInstances (0) must be >= 1 in prod (prod never scales to zero)",
        "emg-analyzer:deletionProtection (false) must be true in prod",
        "emg-analyzer:redisTier (BASIC) must be STANDARD_HA in prod (a replica in another zone)",
    )


def test_the_error_text_lists_the_source_and_each_problem():
    with pytest.raises(StackConfigError) as caught:
        StackConfig.from_settings(
            {**REQUIRED, "minInstances": "3"}, stack="dev", source="Pulumi.dev.yaml"
        )
    assert str(caught.value) == (
        "invalid stack configuration in Pulumi.dev.yaml:\n"
        "- emg-analyzer:maxInstances (2) must be >= minInstances (3)"
    )


def test_dev_may_allow_a_local_frontend_over_http():
    origins = ["http://localhost:5173", "https://dev.example.org"]
    assert build("dev", corsOrigins=origins).cors_origins == tuple(origins)


def test_config_is_frozen():
    config = build("dev")
    with pytest.raises(ValueError, match="frozen"):
        config.min_instances = 3  # type: ignore[misc]
