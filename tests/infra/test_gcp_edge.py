"""LoadBalancer and Monitoring under Pulumi's mocks: rows G18-G21 and X1 of INFRA_NOTES.md for
dev-like and prod-like arguments, and argument validation before any resource exists.

Inputs are checked in wire form (camelCase keys, numbers as floats), as a policy pack sees them.
References between resources are compared with the referenced resource's mocked id or name.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pulumi
import pytest

from infra.gcp.load_balancer import LoadBalancer, LoadBalancerArgs
from infra.gcp.monitoring import Monitoring, MonitoringArgs
from infra.mocks import ProgramRun, RegisteredResource
from tests.infra.conftest import refused, run_component
from tests.infra.tokens import (
    ADDRESS,
    ALERT,
    ARMOR,
    BACKEND,
    CERTIFICATE,
    CHANNEL,
    DASHBOARD,
    FORWARDING_RULE,
    HTTP_PROXY,
    HTTPS_PROXY,
    NEG,
    SSL_POLICY,
    UPTIME,
    URL_MAP,
)

SERVICE_NAME = "emg-api-7f3a2c1"
REDIS_ID = "projects/emg-{stack}-1234/locations/europe-west4/instances/emg-cache"
DOMAIN = {"dev": "api.dev.example.org", "prod": "api.example.org"}


def _labels(stack: str) -> dict[str, str]:
    return {"env": stack, "service": "emg-analyzer", "owner": "platform-team"}


def lb_args(stack: str, **changes: Any) -> LoadBalancerArgs:
    args = LoadBalancerArgs(
        project=f"emg-{stack}-1234",
        region="europe-west4",
        labels=_labels(stack),
        domain=DOMAIN[stack],
        service_name=SERVICE_NAME,
        rate_limit_per_minute=600 if stack == "prod" else 300,
    )
    return dataclasses.replace(args, **changes)


def monitoring_args(stack: str, **changes: Any) -> MonitoringArgs:
    args = MonitoringArgs(
        project=f"emg-{stack}-1234",
        labels=_labels(stack),
        environment=stack,
        host=DOMAIN[stack],
        alert_emails=("oncall@example.org", "lead@example.org") if stack == "prod" else (),
        service_name=SERVICE_NAME,
        redis_instance_id=REDIS_ID.format(stack=stack),
        latency_p95_ms=5000,
        error_ratio=0.05,
        redis_memory_percent=80,
    )
    return dataclasses.replace(args, **changes)


def _stack_of(resource: RegisteredResource) -> str:
    """The stack of a run (``urn:pulumi:<stack>::<project>::...``)."""
    return resource.urn.split("::")[0].rsplit(":", 1)[-1]


def _by_id(run: ProgramRun, type_token: str, resource_id: Any) -> RegisteredResource:
    found = [r for r in run.of_type(type_token) if r.outputs["id"] == resource_id]
    assert len(found) == 1, f"no single {type_token} with id {resource_id}: {found}"
    return found[0]


# === load balancer ===========================================================================


def _lb_run(stack: str, **changes: Any) -> ProgramRun:
    def build() -> None:
        lb = LoadBalancer("edge", lb_args(stack, **changes))
        pulumi.export("ipAddress", lb.ip_address)
        pulumi.export("httpsUrl", lb.https_url)

    return run_component(build, stack=stack)


@pytest.fixture(scope="module", params=["dev", "prod"])
def lb(request: pytest.FixtureRequest) -> ProgramRun:
    return _lb_run(request.param)


def _rule_on_port(run: ProgramRun, port: str) -> RegisteredResource:
    rules = [r for r in run.of_type(FORWARDING_RULE) if r.inputs["portRange"] == port]
    assert len(rules) == 1, f"expected one forwarding rule on {port}: {[r.urn for r in rules]}"
    return rules[0]


def test_lb_children_are_prefixed_and_parented(lb: ProgramRun) -> None:
    component = lb.one("emg:gcp:LoadBalancer")
    for child in lb.resources:
        if child is component:
            continue
        assert child.name.startswith("edge-"), f"{child.urn}: name lacks the component prefix"
        assert child.parent == component.urn, f"{child.urn}: parent is {child.parent}"


def test_lb_outputs(lb: ProgramRun) -> None:
    address = lb.one(ADDRESS)
    stack = _stack_of(address)
    assert lb.outputs["ipAddress"] == address.outputs["address"], address.urn
    assert lb.outputs["httpsUrl"] == f"https://{DOMAIN[stack]}", address.urn
    assert not lb.secret_outputs, f"{address.urn}: secret outputs {lb.secret_outputs}"


def test_serverless_neg_points_at_the_service(lb: ProgramRun) -> None:
    neg = lb.one(NEG)
    assert neg.inputs["networkEndpointType"] == "SERVERLESS", neg.urn
    assert neg.inputs["cloudRun"] == {"service": SERVICE_NAME}, neg.urn
    assert neg.inputs["region"] == "europe-west4", neg.urn


def test_g18_https_proxy_uses_tls12_policy_and_managed_certificate(lb: ProgramRun) -> None:
    proxy = lb.one(HTTPS_PROXY)
    policy = _by_id(lb, SSL_POLICY, proxy.inputs.get("sslPolicy"))
    assert policy.inputs["minTlsVersion"] == "TLS_1_2", f"{policy.urn}: {policy.inputs}"
    assert policy.inputs["profile"] in ("MODERN", "RESTRICTED"), policy.urn
    (certificate_id,) = proxy.inputs["sslCertificates"]
    certificate = _by_id(lb, CERTIFICATE, certificate_id)
    assert certificate.inputs["type"] == "MANAGED", certificate.urn
    domains = certificate.inputs["managed"]["domains"]
    assert domains == [DOMAIN[_stack_of(proxy)]], f"{certificate.urn}: {domains}"


def test_https_path_reaches_the_backend(lb: ProgramRun) -> None:
    rule = _rule_on_port(lb, "443")
    proxy = _by_id(lb, HTTPS_PROXY, rule.inputs["target"])
    url_map = _by_id(lb, URL_MAP, proxy.inputs["urlMap"])
    backend = _by_id(lb, BACKEND, url_map.inputs["defaultService"])
    assert "defaultUrlRedirect" not in url_map.inputs, url_map.urn
    assert rule.inputs["ipAddress"] == lb.one(ADDRESS).outputs["address"], rule.urn
    assert backend.name == "edge-backend", backend.urn


def test_g19_port_80_only_redirects_to_https(lb: ProgramRun) -> None:
    rule = _rule_on_port(lb, "80")
    proxy = _by_id(lb, HTTP_PROXY, rule.inputs["target"])
    url_map = _by_id(lb, URL_MAP, proxy.inputs["urlMap"])
    assert url_map.inputs["defaultUrlRedirect"] == {
        "httpsRedirect": True,
        "redirectResponseCode": "MOVED_PERMANENTLY_DEFAULT",
        "stripQuery": False,
    }, url_map.urn
    for routing in ("defaultService", "pathMatchers", "hostRules", "defaultRouteAction"):
        assert routing not in url_map.inputs, f"{url_map.urn}: {routing} on the port-80 map"
    assert rule.inputs["ipAddress"] == lb.one(ADDRESS).outputs["address"], rule.urn
    assert len(lb.of_type(HTTP_PROXY)) == 1, [r.urn for r in lb.of_type(HTTP_PROXY)]


def test_g20_scheme_explicit_and_identical_on_backend_and_forwarding_rules(
    lb: ProgramRun,
) -> None:
    backend = lb.one(BACKEND)
    scheme = backend.inputs.get("loadBalancingScheme")
    assert scheme == "EXTERNAL_MANAGED", f"{backend.urn}: scheme {scheme}"
    rules = lb.of_type(FORWARDING_RULE)
    assert len(rules) == 2, [r.urn for r in rules]
    for rule in rules:
        assert rule.inputs.get("loadBalancingScheme") == scheme, f"{rule.urn} vs {backend.urn}"


def test_g20_backend_logs_and_has_no_health_check_or_timeout(lb: ProgramRun) -> None:
    backend = lb.one(BACKEND)
    assert backend.inputs["logConfig"] == {"enable": True, "sampleRate": 1.0}, backend.urn
    for key in ("healthChecks", "timeoutSec"):
        assert key not in backend.inputs, f"{backend.urn}: {key} on a serverless NEG backend"
    (only,) = backend.inputs["backends"]
    assert only["group"] == lb.one(NEG).outputs["id"], f"{backend.urn}: {only}"


def test_g20_cloud_armor_rate_limits_each_ip(lb: ProgramRun) -> None:
    backend = lb.one(BACKEND)
    armor = _by_id(lb, ARMOR, backend.inputs.get("securityPolicy"))
    rules = sorted(armor.inputs["rules"], key=lambda r: r["priority"])
    limited = [r for r in rules if r["action"] in ("throttle", "rate_based_ban")]
    assert len(limited) == 1, f"{armor.urn}: rate-limit rules {limited}"
    options = limited[0]["rateLimitOptions"]
    expected = lb_args(_stack_of(armor)).rate_limit_per_minute
    assert options["enforceOnKey"] == "IP", armor.urn
    assert options["rateLimitThreshold"] == {"count": expected, "intervalSec": 60}, armor.urn
    assert options["exceedAction"] == "deny(429)", armor.urn
    assert limited[0]["match"]["config"]["srcIpRanges"] == ["*"], armor.urn
    default = rules[-1]
    assert (default["priority"], default["action"]) == (2147483647, "allow"), armor.urn
    assert limited[0]["priority"] < default["priority"], armor.urn


def test_x1_lb_labels(lb: ProgramRun) -> None:
    labelled = lb.of_type(ADDRESS) + lb.of_type(ARMOR) + lb.of_type(FORWARDING_RULE)
    assert len(labelled) == 4, [r.urn for r in labelled]
    for resource in labelled:
        labels = resource.inputs.get("labels", {})
        assert labels == _labels(_stack_of(resource)), f"{resource.urn}: {labels}"


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"domain": "https://api.example.org"}, "'https://api.example.org'"),
        ({"domain": "API.example.org"}, "'API.example.org'"),
        ({"domain": "api.example.org/v1"}, "'api.example.org/v1'"),
        ({"domain": "localhost"}, "'localhost'"),
        ({"domain": "*.example.org"}, "'*.example.org'"),
        ({"domain": "api.example.org:443"}, "'api.example.org:443'"),
        ({"rate_limit_per_minute": 0}, "rate_limit_per_minute=0"),
        ({"rate_limit_per_minute": -5}, "rate_limit_per_minute=-5"),
        ({"scheme": "EXTERNAL"}, "scheme='EXTERNAL'"),
    ],
)
def test_lb_invalid_arguments_are_refused_naming_the_value(
    changes: dict[str, Any], named: str
) -> None:
    message = refused(lambda: LoadBalancer("edge", lb_args("dev", **changes)))
    assert named in message, message


# === monitoring ==============================================================================


def _monitoring_run(stack: str, **changes: Any) -> ProgramRun:
    def build() -> None:
        monitoring = Monitoring("watch", monitoring_args(stack, **changes))
        pulumi.export("dashboardUrl", monitoring.dashboard_url)

    return run_component(build, stack=stack)


@pytest.fixture(scope="module", params=["dev", "prod"])
def watch(request: pytest.FixtureRequest) -> ProgramRun:
    return _monitoring_run(request.param)


@pytest.fixture(scope="module")
def prod_watch() -> ProgramRun:
    return _monitoring_run("prod")


def _alert(run: ProgramRun, role: str) -> tuple[RegisteredResource, dict[str, Any]]:
    policy = run.named(f"watch-alert-{role}")
    (condition,) = policy.inputs["conditions"]
    return policy, condition["conditionThreshold"]


def test_monitoring_children_are_prefixed_and_parented(watch: ProgramRun) -> None:
    component = watch.one("emg:gcp:Monitoring")
    for child in watch.resources:
        if child is component:
            continue
        assert child.name.startswith("watch-"), f"{child.urn}: name lacks the component prefix"
        assert child.parent == component.urn, f"{child.urn}: parent is {child.parent}"


def test_one_email_channel_per_address(watch: ProgramRun) -> None:
    component = watch.one("emg:gcp:Monitoring")
    expected = monitoring_args(_stack_of(component)).alert_emails
    channels = watch.of_type(CHANNEL)
    addresses = sorted(c.inputs["labels"]["email_address"] for c in channels)
    assert addresses == sorted(expected), f"{component.urn}: channels for {addresses}"
    for channel in channels:
        assert channel.inputs["type"] == "email", channel.urn


def test_g21_uptime_check_validates_tls_on_the_health_url(watch: ProgramRun) -> None:
    uptime = watch.one(UPTIME)
    check = uptime.inputs["httpCheck"]
    assert (check["useSsl"], check["validateSsl"]) == (True, True), f"{uptime.urn}: {check}"
    assert (check["path"], check["port"]) == ("/health", 443), f"{uptime.urn}: {check}"
    resource = uptime.inputs["monitoredResource"]
    stack = _stack_of(uptime)
    assert resource == {
        "type": "uptime_url",
        "labels": {"host": DOMAIN[stack], "project_id": f"emg-{stack}-1234"},
    }, uptime.urn


def test_g21_uptime_alert_references_the_check_and_notifies(prod_watch: ProgramRun) -> None:
    uptime = prod_watch.one(UPTIME)
    policy, condition = _alert(prod_watch, "uptime")
    check_id = uptime.outputs["uptimeCheckId"]
    assert f'metric.label.check_id="{check_id}"' in condition["filter"], policy.urn
    assert "uptime_check/check_passed" in condition["filter"], policy.urn
    assert len(policy.inputs["notificationChannels"]) >= 1, f"{policy.urn}: nobody notified"


def test_every_alert_notifies_every_channel(watch: ProgramRun) -> None:
    channels = sorted(c.outputs["name"] for c in watch.of_type(CHANNEL))
    policies = watch.of_type(ALERT)
    assert len(policies) == 4, [p.urn for p in policies]
    for policy in policies:
        notified = sorted(policy.inputs.get("notificationChannels", []))
        assert notified == channels, f"{policy.urn}: notifies {notified}, channels {channels}"
        assert policy.inputs.get("documentation", {}).get("content"), f"{policy.urn}: no runbook"


def test_error_ratio_alert_divides_5xx_by_all_requests(watch: ProgramRun) -> None:
    policy, condition = _alert(watch, "errors")
    numerator, denominator = condition["filter"], condition["denominatorFilter"]
    for text in (numerator, denominator):
        assert 'metric.type="run.googleapis.com/request_count"' in text, policy.urn
        assert f'resource.label.service_name="{SERVICE_NAME}"' in text, policy.urn
    assert 'metric.label.response_code_class="5xx"' in numerator, policy.urn
    assert "response_code_class" not in denominator, policy.urn
    assert condition["aggregations"] == condition["denominatorAggregations"], policy.urn
    assert condition["thresholdValue"] == 0.05, policy.urn
    assert condition["comparison"] == "COMPARISON_GT", policy.urn


def test_p95_latency_alert(watch: ProgramRun) -> None:
    policy, condition = _alert(watch, "latency")
    assert 'metric.type="run.googleapis.com/request_latencies"' in condition["filter"], policy.urn
    assert f'service_name="{SERVICE_NAME}"' in condition["filter"], policy.urn
    (aggregation,) = condition["aggregations"]
    assert aggregation["perSeriesAligner"] == "ALIGN_PERCENTILE_95", policy.urn
    assert condition["thresholdValue"] == 5000, policy.urn


def test_redis_memory_alert_on_the_instance(watch: ProgramRun) -> None:
    policy, condition = _alert(watch, "redis-memory")
    instance = REDIS_ID.format(stack=_stack_of(policy))
    assert "redis.googleapis.com/stats/memory/usage_ratio" in condition["filter"], policy.urn
    assert f'resource.label.instance_id="{instance}"' in condition["filter"], policy.urn
    assert condition["thresholdValue"] == 0.8, policy.urn


def test_no_redis_alert_or_widget_without_a_cache() -> None:
    run = _monitoring_run("dev", redis_instance_id=None)
    names = [p.name for p in run.of_type(ALERT)]
    assert "watch-alert-redis-memory" not in names, names
    dashboard = run.one(DASHBOARD)
    assert "redis" not in dashboard.inputs["dashboardJson"].lower(), dashboard.urn


def test_dashboard_shows_requests_latency_errors_instances_and_redis(watch: ProgramRun) -> None:
    dashboard = watch.one(DASHBOARD)
    body = json.loads(dashboard.inputs["dashboardJson"])
    widgets = [tile["widget"] for tile in body["mosaicLayout"]["tiles"]]
    text = json.dumps(widgets)
    for metric in (
        "run.googleapis.com/request_count",
        "run.googleapis.com/request_latencies",
        "run.googleapis.com/container/instance_count",
        "redis.googleapis.com/stats/memory/usage_ratio",
    ):
        assert metric in text, f"{dashboard.urn}: no widget for {metric}"
    assert 'response_code_class=\\"5xx\\"' in text, f"{dashboard.urn}: no 5xx widget"
    assert f'service_name=\\"{SERVICE_NAME}\\"' in text, dashboard.urn
    assert len(widgets) == 5, f"{dashboard.urn}: {[w['title'] for w in widgets]}"


def test_dashboard_url_output(watch: ProgramRun) -> None:
    dashboard = watch.one(DASHBOARD)
    dashboard_id = dashboard.outputs["id"].rsplit("/", 1)[-1]
    project = f"emg-{_stack_of(dashboard)}-1234"
    expected = (
        "https://console.cloud.google.com/monitoring/dashboards/builder/"
        f"{dashboard_id}?project={project}"
    )
    assert watch.outputs["dashboardUrl"] == expected, dashboard.urn


def test_x1_monitoring_labels(watch: ProgramRun) -> None:
    labelled = watch.of_type(CHANNEL) + watch.of_type(UPTIME) + watch.of_type(ALERT)
    for resource in labelled:
        labels = resource.inputs.get("userLabels", {})
        assert labels == _labels(_stack_of(resource)), f"{resource.urn}: {labels}"


def test_dev_may_run_without_alert_addresses_prod_may_not() -> None:
    run = _monitoring_run("dev", alert_emails=())
    assert not run.of_type(CHANNEL), [r.urn for r in run.of_type(CHANNEL)]
    message = refused(lambda: Monitoring("watch", monitoring_args("prod", alert_emails=())))
    assert "alert_emails []" in message and "prod" in message, message


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"alert_emails": ("not-an-address",)}, "'not-an-address'"),
        ({"alert_emails": "ops@example.org"}, "'ops@example.org'"),
        ({"alert_emails": ("a@example.org", "A@example.org")}, "A@example.org"),
        ({"environment": "staging"}, "'staging'"),
        ({"host": "https://api.example.org"}, "'https://api.example.org'"),
        ({"health_path": "health"}, "'health'"),
        ({"latency_p95_ms": 0}, "latency_p95_ms=0"),
        ({"error_ratio": 0.0}, "error_ratio=0.0"),
        ({"error_ratio": 1.5}, "error_ratio=1.5"),
        ({"redis_memory_percent": 0}, "redis_memory_percent=0"),
        ({"redis_memory_percent": 120}, "redis_memory_percent=120"),
    ],
)
def test_monitoring_invalid_arguments_are_refused_naming_the_value(
    changes: dict[str, Any], named: str
) -> None:
    message = refused(lambda: Monitoring("watch", monitoring_args("prod", **changes)))
    assert named in message, message
