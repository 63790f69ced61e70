"""AWS LoadBalancer and Monitoring under Pulumi's mocks: rows A4-A7, A18, A19 and X1 of
INFRA_NOTES.md for dev-like and prod-like arguments, the pure helpers (WAF rules, bucket and key
policies, dashboard), and argument validation before any resource exists.

Both components run in one program per stack, wired as the platform wires them (monitoring
watches the load balancer's target group). Inputs are checked in wire form (camelCase keys,
numbers as floats), as a policy pack sees them; references are compared with the referenced
resource's mocked ARN or id.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from infra.aws.load_balancer import (
    LoadBalancer,
    LoadBalancerArgs,
    access_log_bucket_policy,
    waf_rules,
)
from infra.aws.monitoring import (
    Monitoring,
    MonitoringArgs,
    dashboard_body,
)
from infra.labels import standard_labels
from infra.mocks import AWS_ACCOUNT, ProgramRun, RecordingMonitor, RegisteredResource
from tests.infra.conftest import refused, run_component

ALB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
CERTIFICATE = "aws:acm/certificate:Certificate"
VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
RECORD = "aws:route53/record:Record"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
WEB_ACL_ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
KEY = "aws:kms/key:Key"
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/stack-key"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"

DOMAIN = {"dev": "api.dev.emg.example.org", "prod": "api.emg.example.org"}
ZONE = {"dev": "Z0DEV1234567890", "prod": "Z0PROD123456789"}
ELB_ACCOUNT = "arn:aws:iam::156460612806:root"  # what the mock's getServiceAccount answers
TLS13_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
EMAILS = {"dev": (), "prod": ("oncall@example.org", "lead@example.org")}
REDIS_IDS = {"dev": ("emg-dev-redis-001",), "prod": ("emg-prod-redis-001", "emg-prod-redis-002")}
# A18: every metric that needs an alarm.
A18_METRICS = (
    "HTTPCode_Target_5XX_Count",
    "TargetResponseTime",
    "UnHealthyHostCount",
    "CPUUtilization",
    "MemoryUtilization",
    "DatabaseMemoryUsagePercentage",
    "EngineCPUUtilization",
)


def lb_args(stack: str, **changes: Any) -> LoadBalancerArgs:
    prod = stack == "prod"
    args = LoadBalancerArgs(
        environment=stack,
        tags=standard_labels(stack),
        domain=DOMAIN[stack],
        hosted_zone_id=ZONE[stack],
        vpc_id=f"vpc-{stack}",
        public_subnet_ids=[f"subnet-{stack}-a", f"subnet-{stack}-b"],
        security_group_id=f"sg-{stack}-alb",
        deletion_protection=prod,
        rate_limit_per_minute=600 if prod else 300,
        access_log_retention_days=365 if prod else 30,
    )
    return dataclasses.replace(args, **changes)


def monitoring_args(stack: str, **changes: Any) -> MonitoringArgs:
    prod = stack == "prod"
    args = MonitoringArgs(
        environment=stack,
        region="eu-west-1",
        tags=standard_labels(stack),
        alert_emails=EMAILS[stack],
        load_balancer_arn_suffix=f"app/emg-{stack}/0123456789abcdef",
        target_group_arn_suffix=f"targetgroup/emg-{stack}/fedcba9876543210",
        cluster_name=f"emg-{stack}",
        service_name=f"emg-{stack}-api",
        redis_cluster_ids=REDIS_IDS[stack],
        latency_p95_ms=1500,
        error_ratio=0.02,
        redis_memory_percent=75,
        kms_key_arn=KEY_ARN,
        **({"cpu_percent": 70, "memory_percent": 75} if prod else {}),
    )
    return dataclasses.replace(args, **changes)


def _stack_of(resource: RegisteredResource) -> str:
    """The stack of a run (``urn:pulumi:<stack>::<project>::...``)."""
    return resource.urn.split("::")[0].rsplit(":", 1)[-1]


def _by_output(run: ProgramRun, type_token: str, key: str, value: Any) -> RegisteredResource:
    found = [r for r in run.of_type(type_token) if r.outputs.get(key) == value]
    assert len(found) == 1, f"no single {type_token} with {key} {value}: {[r.urn for r in found]}"
    return found[0]


# urn -> property name (or "" for depends_on) -> URNs it depends on, for the fixture's runs.
_DEPENDENCIES: dict[str, dict[str, list[str]]] = {}


def _dependencies(resource: RegisteredResource, prop: str = "") -> list[str]:
    return _DEPENDENCIES[resource.urn].get(prop, [])


def _recording_dependencies(original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``RecordingMonitor.RegisterResource`` to note each resource's dependencies."""

    def register(monitor: RecordingMonitor, request: Any) -> Any:
        response = original(monitor, request)
        properties = {k: list(v.urns) for k, v in request.propertyDependencies.items()}
        _DEPENDENCIES[response.urn] = {"": list(request.dependencies), **properties}
        return response

    return register


def _edge_run(stack: str) -> ProgramRun:
    def build() -> None:
        lb = LoadBalancer("edge", lb_args(stack))
        args = monitoring_args(
            stack,
            load_balancer_arn_suffix=lb.load_balancer_arn_suffix,
            target_group_arn_suffix=lb.target_group_arn_suffix,
        )
        monitoring = Monitoring("watch", args)
        pulumi.export("httpsUrl", lb.https_url)
        pulumi.export("targetGroupArn", lb.target_group_arn)
        pulumi.export("loadBalancerArn", lb.load_balancer_arn)
        pulumi.export("loadBalancerArnSuffix", lb.load_balancer_arn_suffix)
        pulumi.export("targetGroupArnSuffix", lb.target_group_arn_suffix)
        pulumi.export("httpsListenerArn", lb.https_listener.arn)
        pulumi.export("webAclArn", lb.web_acl_arn)
        pulumi.export("topicArn", monitoring.topic_arn)
        pulumi.export("dashboardUrl", monitoring.dashboard_url)

    with pytest.MonkeyPatch.context() as patch:
        register = _recording_dependencies(RecordingMonitor.RegisterResource)
        patch.setattr(RecordingMonitor, "RegisterResource", register)
        return run_component(build, stack=stack)


@pytest.fixture(scope="module", params=["dev", "prod"])
def edge(request: pytest.FixtureRequest) -> ProgramRun:
    return _edge_run(request.param)


# === load balancer ===========================================================================


def test_children_are_prefixed_and_parented(edge: ProgramRun) -> None:
    for token, prefix in (("emg:aws:LoadBalancer", "edge-"), ("emg:aws:Monitoring", "watch-")):
        component = edge.one(token)
        children = [r for r in edge.resources if r.parent == component.urn]
        assert len(children) >= 8, f"{component.urn}: children {[c.urn for c in children]}"
        for child in children:
            assert child.name.startswith(prefix), f"{child.urn}: name lacks the prefix {prefix}"
    components = {edge.one("emg:aws:LoadBalancer").urn, edge.one("emg:aws:Monitoring").urn}
    for resource in edge.resources:
        if resource.custom:
            assert resource.parent in components, f"{resource.urn}: parent {resource.parent}"


def test_lb_outputs(edge: ProgramRun) -> None:
    alb, target_group = edge.one(ALB), edge.one(TARGET_GROUP)
    https = _by_output(edge, LISTENER, "port", 443)
    stack = _stack_of(alb)
    assert edge.outputs["httpsUrl"] == f"https://{DOMAIN[stack]}", alb.urn
    assert edge.outputs["loadBalancerArn"] == alb.outputs["arn"], alb.urn
    assert edge.outputs["loadBalancerArnSuffix"] == alb.outputs["arnSuffix"], alb.urn
    assert edge.outputs["targetGroupArn"] == target_group.outputs["arn"], target_group.urn
    assert edge.outputs["targetGroupArnSuffix"] == target_group.outputs["arnSuffix"], (
        target_group.urn
    )
    assert edge.outputs["httpsListenerArn"] == https.outputs["arn"], https.urn
    assert edge.outputs["webAclArn"] == edge.one(WEB_ACL).outputs["arn"], alb.urn
    assert not edge.secret_outputs, f"{alb.urn}: secret outputs {edge.secret_outputs}"


def test_a4_port_80_only_redirects_to_https(edge: ProgramRun) -> None:
    plain = [r for r in edge.of_type(LISTENER) if r.inputs["protocol"] == "HTTP"]
    assert len(plain) == 1, f"HTTP listeners: {[r.urn for r in plain]}"
    (listener,) = plain
    assert listener.inputs["port"] == 80, listener.urn
    assert listener.inputs["defaultActions"] == [
        {
            "type": "redirect",
            "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"},
        }
    ], f"{listener.urn}: {listener.inputs['defaultActions']}"
    assert "certificateArn" not in listener.inputs, listener.urn
    assert listener.inputs["loadBalancerArn"] == edge.one(ALB).outputs["arn"], listener.urn


def test_a5_https_listener_uses_tls13_policy_and_validated_certificate(edge: ProgramRun) -> None:
    listeners = edge.of_type(LISTENER)
    assert len(listeners) == 2, [r.urn for r in listeners]
    https = _by_output(edge, LISTENER, "protocol", "HTTPS")
    validation, certificate = edge.one(VALIDATION), edge.one(CERTIFICATE)
    assert https.inputs["port"] == 443, https.urn
    assert https.inputs["sslPolicy"] == TLS13_POLICY, f"{https.urn}: {https.inputs['sslPolicy']}"
    assert https.inputs["certificateArn"] == validation.outputs["certificateArn"], https.urn
    assert validation.inputs["certificateArn"] == certificate.outputs["arn"], validation.urn
    # The validation echoes the certificate's ARN (as AWS does): only the dependency tells
    # whether the listener waits for the certificate to be issued.
    assert validation.urn in _dependencies(https, "certificateArn"), f"{https.urn}: not validated"
    assert https.inputs["defaultActions"] == [
        {"type": "forward", "targetGroupArn": edge.one(TARGET_GROUP).outputs["arn"]}
    ], f"{https.urn}: {https.inputs['defaultActions']}"
    assert https.inputs["loadBalancerArn"] == edge.one(ALB).outputs["arn"], https.urn


def test_a6_alb_drops_invalid_headers_logs_and_is_protected_in_prod_only(
    edge: ProgramRun,
) -> None:
    alb, bucket = edge.one(ALB), edge.one(BUCKET)
    stack = _stack_of(alb)
    inputs = alb.inputs
    assert inputs["dropInvalidHeaderFields"] is True, alb.urn
    assert inputs["accessLogs"] == {
        "bucket": bucket.outputs["id"],
        "prefix": "alb",
        "enabled": True,
    }, f"{alb.urn}: {inputs['accessLogs']}"
    assert inputs["enableDeletionProtection"] is (stack == "prod"), alb.urn
    assert inputs["internal"] is False, alb.urn
    assert inputs["loadBalancerType"] == "application", alb.urn
    assert inputs["desyncMitigationMode"] in ("defensive", "strictest"), alb.urn
    assert inputs["idleTimeout"] == 360, alb.urn
    assert inputs["subnets"] == [f"subnet-{stack}-a", f"subnet-{stack}-b"], alb.urn
    assert inputs["securityGroups"] == [f"sg-{stack}-alb"], alb.urn
    # The ALB checks that it may write its logs when it is created.
    policy = edge.one(BUCKET_POLICY)
    assert policy.urn in _dependencies(alb), f"{alb.urn} does not wait for {policy.urn}"


def test_a7_web_acl_rate_limits_applies_managed_rules_and_guards_the_alb(
    edge: ProgramRun,
) -> None:
    acl = edge.one(WEB_ACL)
    inputs = acl.inputs
    assert inputs["scope"] == "REGIONAL", acl.urn
    assert inputs["defaultAction"] == {"allow": {}}, acl.urn
    assert inputs["visibilityConfig"]["cloudwatchMetricsEnabled"] is True, acl.urn
    rules = {rule["name"]: rule for rule in inputs["rules"]}
    rated = [r for r in rules.values() if "rateBasedStatement" in r["statement"]]
    assert len(rated) == 1, f"{acl.urn}: rate-based rules {rated}"
    expected = lb_args(_stack_of(acl)).rate_limit_per_minute
    assert rated[0]["statement"]["rateBasedStatement"] == {
        "aggregateKeyType": "IP",
        "limit": expected,
        "evaluationWindowSec": 60,
    }, acl.urn
    assert "block" in rated[0]["action"], f"{acl.urn}: {rated[0]['action']}"
    for group in ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"):
        statement = rules[group]["statement"]["managedRuleGroupStatement"]
        assert (statement["vendorName"], statement["name"]) == ("AWS", group), acl.urn
        assert rules[group]["overrideAction"] == {"none": {}}, f"{acl.urn}: {group}"
    common = rules["AWSManagedRulesCommonRuleSet"]["statement"]["managedRuleGroupStatement"]
    assert common["ruleActionOverrides"] == [
        {"name": "SizeRestrictions_BODY", "actionToUse": {"count": {}}}
    ], f"{acl.urn}: uploads over 8 KB would be blocked"
    for rule in inputs["rules"]:
        visibility = rule["visibilityConfig"]
        assert visibility["cloudwatchMetricsEnabled"] is True, f"{acl.urn}: {rule['name']}"
        assert visibility["sampledRequestsEnabled"] is True, f"{acl.urn}: {rule['name']}"
    assert len({rule["priority"] for rule in inputs["rules"]}) == len(rules), acl.urn
    association = edge.one(WEB_ACL_ASSOCIATION)
    assert association.inputs == {
        "resourceArn": edge.one(ALB).outputs["arn"],
        "webAclArn": acl.outputs["arn"],
    }, association.urn


def test_a19_certificate_validated_by_dns_in_the_zone_and_alias_record(edge: ProgramRun) -> None:
    certificate = edge.one(CERTIFICATE)
    stack = _stack_of(certificate)
    assert certificate.inputs["validationMethod"] == "DNS", certificate.urn
    assert certificate.inputs["domainName"] == DOMAIN[stack], certificate.urn
    (option,) = certificate.outputs["domainValidationOptions"]
    record = _by_output(edge, RECORD, "name", option["resourceRecordName"])
    assert record.inputs["zoneId"] == ZONE[stack], record.urn
    assert record.inputs["type"] == option["resourceRecordType"], record.urn
    assert record.inputs["records"] == [option["resourceRecordValue"]], record.urn
    assert record.inputs["allowOverwrite"] is True, record.urn
    validation = edge.one(VALIDATION)
    assert validation.inputs["validationRecordFqdns"] == [record.outputs["fqdn"]], validation.urn

    alb = edge.one(ALB)
    alias = _by_output(edge, RECORD, "name", DOMAIN[stack])
    assert (alias.inputs["zoneId"], alias.inputs["type"]) == (ZONE[stack], "A"), alias.urn
    assert alias.inputs["aliases"] == [
        {
            "name": alb.outputs["dnsName"],
            "zoneId": alb.outputs["zoneId"],
            "evaluateTargetHealth": True,
        }
    ], alias.urn
    assert len(edge.of_type(RECORD)) == 2, [r.urn for r in edge.of_type(RECORD)]


def test_target_group_is_ip_and_checks_liveness(edge: ProgramRun) -> None:
    target_group = edge.one(TARGET_GROUP)
    inputs = target_group.inputs
    assert inputs["targetType"] == "ip", target_group.urn
    assert (inputs["protocol"], inputs["port"]) == ("HTTP", 8080), target_group.urn
    assert inputs["vpcId"] == f"vpc-{_stack_of(target_group)}", target_group.urn
    check = inputs["healthCheck"]
    assert (check["path"], check["matcher"]) == ("/health/liveness", "200"), target_group.urn
    assert check["enabled"] is True, target_group.urn


def test_access_log_bucket_is_private_encrypted_and_expires(edge: ProgramRun) -> None:
    bucket = edge.one(BUCKET)
    stack = _stack_of(bucket)
    bucket_id = bucket.outputs["id"]
    assert bucket.inputs["forceDestroy"] is (stack == "dev"), bucket.urn
    block = edge.one(PUBLIC_ACCESS)
    assert block.inputs == {
        "bucket": bucket_id,
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }, block.urn
    encryption = edge.one(ENCRYPTION)
    assert encryption.inputs["bucket"] == bucket_id, encryption.urn
    assert encryption.inputs["rules"] == [
        {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}
    ], encryption.urn
    ownership = edge.one(OWNERSHIP)
    assert ownership.inputs == {
        "bucket": bucket_id,
        "rule": {"objectOwnership": "BucketOwnerEnforced"},
    }, ownership.urn
    lifecycle = edge.one(LIFECYCLE)
    assert lifecycle.inputs["bucket"] == bucket_id, lifecycle.urn
    (rule,) = lifecycle.inputs["rules"]
    assert rule["status"] == "Enabled", lifecycle.urn
    assert rule["expiration"] == {"days": 365 if stack == "prod" else 30}, lifecycle.urn
    assert rule["filter"] == {"prefix": ""}, f"{lifecycle.urn}: not the whole bucket"


def test_access_log_bucket_policy_lets_elb_write_and_requires_tls(edge: ProgramRun) -> None:
    bucket, policy = edge.one(BUCKET), edge.one(BUCKET_POLICY)
    assert policy.inputs["bucket"] == bucket.outputs["id"], policy.urn
    document = json.loads(policy.inputs["policy"])
    expected = access_log_bucket_policy(bucket.outputs["arn"], AWS_ACCOUNT, ELB_ACCOUNT)
    assert document == expected, f"{policy.urn}: {document}"


def test_x1_every_taggable_resource_has_the_standard_tags(edge: ProgramRun) -> None:
    tagged = 0
    for resource in edge.resources:
        if not resource.custom:
            continue
        module, _, kind = resource.type.removeprefix("aws:").partition(":")
        sdk_class = getattr(importlib.import_module(f"pulumi_aws.{module.split('/')[0]}"), kind)
        if "tags" not in inspect.signature(sdk_class._internal_init).parameters:
            continue
        tagged += 1
        tags = resource.inputs.get("tags")
        assert tags == standard_labels(_stack_of(resource)), f"{resource.urn}: tags {tags}"
    # bucket, ALB, target group, certificate, 2 listeners, WebACL, topic, and the alarms
    alarms = len(edge.of_type(ALARM))
    assert alarms >= len(A18_METRICS) and tagged == 8 + alarms, f"{tagged} taggable resources"


# === monitoring ==============================================================================


def _alarms_on(run: ProgramRun, metric: str) -> list[RegisteredResource]:
    """Alarms on ``metric``, directly or inside metric math."""
    found = []
    for alarm in run.of_type(ALARM):
        names = [alarm.inputs.get("metricName")] + [
            query.get("metric", {}).get("metricName")
            for query in alarm.inputs.get("metricQueries", [])
        ]
        if metric in names:
            found.append(alarm)
    return found


def test_a18_every_alarm_exists_and_notifies_the_topic(edge: ProgramRun) -> None:
    topic = edge.one(TOPIC)
    redis_ids = REDIS_IDS[_stack_of(topic)]
    for metric in A18_METRICS:
        alarms = _alarms_on(edge, metric)
        per_cluster = metric in ("DatabaseMemoryUsagePercentage", "EngineCPUUtilization")
        expected = len(redis_ids) if per_cluster else 1
        assert len(alarms) == expected, f"{topic.urn}: alarms on {metric}: {alarms}"
    for alarm in edge.of_type(ALARM):
        assert alarm.inputs["alarmActions"] == [topic.outputs["arn"]], alarm.urn
        assert alarm.inputs["okActions"] == [topic.outputs["arn"]], alarm.urn
        assert alarm.inputs["treatMissingData"] == "notBreaching", alarm.urn
        assert alarm.inputs["comparisonOperator"] == "GreaterThanThreshold", alarm.urn
        assert alarm.inputs["alarmDescription"], f"{alarm.urn}: no description"
    assert edge.outputs["topicArn"] == topic.outputs["arn"], topic.urn


def test_5xx_alarm_divides_target_5xx_by_requests(edge: ProgramRun) -> None:
    (alarm,) = _alarms_on(edge, "HTTPCode_Target_5XX_Count")
    assert alarm.inputs["threshold"] == 0.02, f"{alarm.urn}: a ratio, not a percentage"
    queries = {query["id"]: query for query in alarm.inputs["metricQueries"]}
    dimensions = {
        "LoadBalancer": edge.one(ALB).outputs["arnSuffix"],
        "TargetGroup": edge.one(TARGET_GROUP).outputs["arnSuffix"],
    }
    errors, requests = queries["errors"]["metric"], queries["requests"]["metric"]
    assert errors["metricName"] == "HTTPCode_Target_5XX_Count", alarm.urn
    assert requests["metricName"] == "RequestCount", alarm.urn
    for metric in (errors, requests):
        assert metric["namespace"] == "AWS/ApplicationELB", alarm.urn
        assert metric["dimensions"] == dimensions, alarm.urn
        assert metric["stat"] == "Sum", alarm.urn
    returned = [q for q in queries.values() if q.get("returnData")]
    assert len(returned) == 1, f"{alarm.urn}: {returned}"
    assert returned[0]["expression"] == "FILL(errors, 0) / requests", alarm.urn
    for key in ("metricName", "namespace", "statistic", "period"):
        assert key not in alarm.inputs, f"{alarm.urn}: {key} beside metric queries"


def test_latency_alarm_is_p95_in_seconds(edge: ProgramRun) -> None:
    (alarm,) = _alarms_on(edge, "TargetResponseTime")
    assert alarm.inputs["extendedStatistic"] == "p95", alarm.urn
    assert alarm.inputs["threshold"] == 1.5, f"{alarm.urn}: 1500 ms must be 1.5 s"
    assert alarm.inputs["namespace"] == "AWS/ApplicationELB", alarm.urn
    assert "statistic" not in alarm.inputs, alarm.urn


def test_alb_alarms_watch_the_target_group(edge: ProgramRun) -> None:
    dimensions = {
        "LoadBalancer": edge.one(ALB).outputs["arnSuffix"],
        "TargetGroup": edge.one(TARGET_GROUP).outputs["arnSuffix"],
    }
    for metric in ("TargetResponseTime", "UnHealthyHostCount"):
        (alarm,) = _alarms_on(edge, metric)
        assert alarm.inputs["dimensions"] == dimensions, f"{alarm.urn}: {alarm.inputs}"
    (unhealthy,) = _alarms_on(edge, "UnHealthyHostCount")
    assert (unhealthy.inputs["statistic"], unhealthy.inputs["threshold"]) == ("Maximum", 0), (
        unhealthy.urn
    )


def test_ecs_alarms(edge: ProgramRun) -> None:
    stack = _stack_of(edge.one(TOPIC))
    args = monitoring_args(stack)
    for metric, threshold in (
        ("CPUUtilization", args.cpu_percent),
        ("MemoryUtilization", args.memory_percent),
    ):
        (alarm,) = _alarms_on(edge, metric)
        assert alarm.inputs["namespace"] == "AWS/ECS", alarm.urn
        assert alarm.inputs["dimensions"] == {
            "ClusterName": f"emg-{stack}",
            "ServiceName": f"emg-{stack}-api",
        }, alarm.urn
        assert alarm.inputs["threshold"] == threshold, alarm.urn
    assert (args.cpu_percent, args.memory_percent) == ((70, 75) if stack == "prod" else (80, 85))


def test_redis_alarms_per_member_cluster(edge: ProgramRun) -> None:
    stack = _stack_of(edge.one(TOPIC))
    args = monitoring_args(stack)
    for metric, threshold in (
        ("DatabaseMemoryUsagePercentage", args.redis_memory_percent),
        ("EngineCPUUtilization", args.cpu_percent),
    ):
        alarms = _alarms_on(edge, metric)
        watched = sorted(a.inputs["dimensions"]["CacheClusterId"] for a in alarms)
        assert watched == sorted(REDIS_IDS[stack]), f"{metric}: {[a.urn for a in alarms]}"
        for alarm in alarms:
            assert alarm.inputs["namespace"] == "AWS/ElastiCache", alarm.urn
            assert alarm.inputs["threshold"] == threshold, alarm.urn


def test_one_email_subscription_per_address(edge: ProgramRun) -> None:
    topic = edge.one(TOPIC)
    subscriptions = edge.of_type(SUBSCRIPTION)
    addresses = sorted(s.inputs["endpoint"] for s in subscriptions)
    assert addresses == sorted(EMAILS[_stack_of(topic)]), f"{topic.urn}: {addresses}"
    for subscription in subscriptions:
        assert subscription.inputs["protocol"] == "email", subscription.urn
        assert subscription.inputs["topic"] == topic.outputs["arn"], subscription.urn


def test_topic_is_encrypted_with_the_stack_key(edge: ProgramRun) -> None:
    topic = edge.one(TOPIC)
    assert topic.inputs["kmsMasterKeyId"] == KEY_ARN, topic.urn
    assert edge.of_type(KEY) == [], "the stack key (infra.aws.encryption) serves the topic too"


def test_dashboard_shows_every_signal_and_url(edge: ProgramRun) -> None:
    dashboard = edge.one(DASHBOARD)
    stack = _stack_of(dashboard)
    body = json.loads(dashboard.inputs["dashboardBody"])
    widgets = body["widgets"]
    assert len(widgets) == 5, f"{dashboard.urn}: {[w['properties']['title'] for w in widgets]}"
    lines = [line for w in widgets for line in w["properties"]["metrics"]]
    names = {line[1] for line in lines}
    for metric in (*A18_METRICS, "RequestCount", "HealthyHostCount"):
        assert metric in names, f"{dashboard.urn}: no widget line for {metric}"
    latency = [line[-1]["stat"] for line in lines if line[1] == "TargetResponseTime"]
    assert latency == ["p50", "p95", "p99"], f"{dashboard.urn}: {latency}"
    alb_suffix = edge.one(ALB).outputs["arnSuffix"]
    assert all(alb_suffix in line for line in lines if line[0] == "AWS/ApplicationELB"), (
        dashboard.urn
    )
    redis = {line[3] for line in lines if line[0] == "AWS/ElastiCache"}
    assert redis == set(REDIS_IDS[stack]), f"{dashboard.urn}: {redis}"
    name = dashboard.inputs["dashboardName"]
    assert name == f"emg-analyzer-{stack}", dashboard.urn
    assert edge.outputs["dashboardUrl"] == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        f"#dashboards:name={name}"
    ), dashboard.urn
    assert "tags" not in dashboard.inputs, dashboard.urn


# === pure helpers ============================================================================


def test_waf_rules_rate_limit_first_then_managed_groups() -> None:
    rules = waf_rules("edge", 120)
    assert [r.name for r in rules] == [
        "rate-limit-per-ip",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesCommonRuleSet",
    ], rules
    assert [r.priority for r in rules] == sorted({r.priority for r in rules}), rules
    rated = rules[0].statement.rate_based_statement
    assert (rated.limit, rated.evaluation_window_sec) == (120, 60), rated
    assert rules[0].action.block.custom_response.response_code == 429, rules[0].action
    assert [r.visibility_config.metric_name for r in rules] == [
        "edge-rate-limit-per-ip",
        "edge-AWSManagedRulesKnownBadInputsRuleSet",
        "edge-AWSManagedRulesCommonRuleSet",
    ]
    assert rules[1].statement.managed_rule_group_statement.rule_action_overrides is None


def test_access_log_bucket_policy_document() -> None:
    arn = "arn:aws:s3:::logs"
    document = access_log_bucket_policy(arn, "111122223333", "arn:aws:iam::054676820928:root")
    allow, delivery, deny = document["Statement"]
    path = "arn:aws:s3:::logs/alb/AWSLogs/111122223333/*"
    assert allow == {
        "Sid": "ElbAccountWritesAccessLogs",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::054676820928:root"},
        "Action": "s3:PutObject",
        "Resource": path,
    }, allow
    assert delivery["Principal"] == {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}, (
        delivery
    )
    assert (delivery["Action"], delivery["Resource"]) == ("s3:PutObject", path), delivery
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*", deny
    assert deny["Resource"] == [arn, f"{arn}/*"], deny
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, deny


def test_dashboard_body_latency_threshold_in_seconds() -> None:
    body = dashboard_body(monitoring_args("dev"), "app/a/1", "targetgroup/t/2", "c", "s")
    latency = next(w for w in body["widgets"] if "response time" in w["properties"]["title"])
    assert latency["properties"]["annotations"]["horizontal"][0]["value"] == 1.5, latency
    json.dumps(body)  # plain JSON values only


# === argument validation =====================================================================


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"domain": "https://api.example.org"}, "'https://api.example.org'"),
        ({"domain": "API.example.org"}, "'API.example.org'"),
        ({"domain": "localhost"}, "'localhost'"),
        ({"domain": "api.example.org:443"}, "'api.example.org:443'"),
        ({"hosted_zone_id": "z0123456789"}, "'z0123456789'"),
        ({"hosted_zone_id": "Z"}, "'Z'"),
        ({"hosted_zone_id": "/hostedzone/Z0123"}, "'/hostedzone/Z0123'"),
        ({"hosted_zone_id": "Z" + "A" * 33}, "'Z" + "A" * 33 + "'"),
        ({"rate_limit_per_minute": 9}, "rate_limit_per_minute (9)"),
        ({"rate_limit_per_minute": 0}, "rate_limit_per_minute (0)"),
        ({"access_log_retention_days": 0}, "access_log_retention_days (0)"),
        ({"access_log_retention_days": -30}, "access_log_retention_days (-30)"),
        ({"access_log_retention_days": 3651}, "access_log_retention_days (3651)"),
        ({"environment": "staging"}, "'staging'"),
        ({"environment": "prod", "tags": standard_labels("prod")}, "deletion_protection (False)"),
        ({"container_port": 0}, "container_port (0)"),
        ({"health_path": "health"}, "'health'"),
    ],
)
def test_lb_invalid_arguments_are_refused_naming_the_value(
    changes: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValueError) as info:
        lb_args("dev", **changes)
    assert named in str(info.value), str(info.value)


def test_lb_name_too_long_for_alb_names_is_refused_before_any_resource() -> None:
    message = refused(lambda: LoadBalancer("emg-analyzer-prod-edge", lb_args("prod")))
    assert "'emg-analyzer-prod-edge'" in message, message


def test_dev_may_run_without_alert_addresses_prod_may_not() -> None:
    assert monitoring_args("dev").alert_emails == ()  # the dev fixture runs without any
    with pytest.raises(ValueError) as info:
        monitoring_args("prod", alert_emails=())
    assert "alert_emails []" in str(info.value) and "prod" in str(info.value), str(info.value)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"alert_emails": ("not-an-address",)}, "'not-an-address'"),
        ({"alert_emails": ("ops@localhost",)}, "'ops@localhost'"),
        ({"alert_emails": "ops@example.org"}, "'ops@example.org'"),
        ({"alert_emails": ("a@example.org", "A@example.org")}, "A@example.org"),
        ({"environment": "staging"}, "'staging'"),
        ({"region": "Ireland"}, "'Ireland'"),
        ({"redis_cluster_ids": ()}, "redis_cluster_ids ()"),
        ({"redis_cluster_ids": "emg-redis-001"}, "'emg-redis-001'"),
        ({"redis_cluster_ids": ("Emg-Redis",)}, "'Emg-Redis'"),
        ({"redis_cluster_ids": ("emg--redis",)}, "'emg--redis'"),
        ({"redis_cluster_ids": ("emg-1", "emg-1")}, "'emg-1'"),
        ({"latency_p95_ms": 0}, "latency_p95_ms (0)"),
        ({"error_ratio": 0.0}, "error_ratio (0.0)"),
        ({"error_ratio": 5}, "error_ratio (5)"),
        ({"redis_memory_percent": 0}, "redis_memory_percent (0)"),
        ({"cpu_percent": 101}, "cpu_percent (101)"),
        ({"memory_percent": -1}, "memory_percent (-1)"),
    ],
)
def test_monitoring_invalid_arguments_are_refused_naming_the_value(
    changes: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValueError) as info:
        monitoring_args("prod", **changes)
    assert named in str(info.value), str(info.value)
