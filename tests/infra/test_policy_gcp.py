"""The GCP policy rules (infra.policy.gcp_rules) on synthetic resources and on the committed plans.

- Every rule: a compliant synthetic stack passes; one planted violation is caught with its exact
  message; an unknown property gives an ``unknown`` finding; prod-only rules ignore dev.
- The committed dev and prod plans pass every mandatory rule, and X3 on their outputs.
- Mutation table: switching off one secure setting in the prod (or dev) plan fails the named rule.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from infra.plan import Plan, plan_stack
from infra.policy.common import REQUIRED_OUTPUTS, check_outputs
from infra.policy.engine import (
    UNKNOWN_VALUE,
    Context,
    Report,
    Resource,
    ResourceRule,
    Rule,
    StackRule,
    evaluate,
)
from infra.policy.gcp_rules import GCP_RULES
from stacks.outputs import ENV_NAMES
from tests.infra.policy_cases import (
    DELETE,
    Case,
    Mutation,
    case_id,
    edited,
    found,
    props,
    secret,
    urn,
)
from tests.infra.tokens import (
    ALERT,
    ARMOR,
    BACKEND,
    CERTIFICATE,
    CHANNEL,
    FORWARDING_RULE,
    HTTP_PROXY,
    HTTPS_PROXY,
    INVOKER,
    REDIS,
    REPOSITORY,
    SECRET,
    SECRET_IAM,
    SECRET_VERSION,
    SERVICE,
    SSL_POLICY,
    UPTIME,
    URL_MAP,
)

RULES: dict[str, Rule] = {rule.id: rule for rule in GCP_RULES}
PROJECT_IAM_MEMBER = "gcp:projects/iAMMember:IAMMember"
SA = "run@emg-test.iam.gserviceaccount.com"
DIGEST_IMAGE = "europe-west4-docker.pkg.dev/p/r/app@sha256:" + "a" * 64
P = "projects/emg-test"
COMPUTE_SA = "123-compute@developer.gserviceaccount.com"

# id -> (level, severity, scope): the table's rows with the details decided in gcp_rules.
EXPECTED_RULES = {
    "G1": ("mandatory", "high", "all"),
    "G2": ("advisory", "medium", "prod"),
    "G3": ("mandatory", "critical", "all"),
    "G4": ("mandatory", "high", "all"),
    "G5": ("mandatory", "critical", "all"),
    "G6": ("mandatory", "medium", "all"),
    "G7": ("mandatory", "medium", "all"),
    "G8": ("advisory", "medium", "prod"),
    "G9": ("advisory", "low", "all"),
    "G10": ("mandatory", "high", "prod"),
    "G11": ("advisory", "medium", "all"),
    "G12": ("mandatory", "high", "all"),
    "G13": ("mandatory", "high", "all"),
    "G14": ("advisory", "medium", "prod"),
    "G15": ("mandatory", "medium", "prod"),
    "G16": ("advisory", "medium", "all"),
    "G17": ("mandatory", "high", "all"),
    "G18": ("mandatory", "high", "all"),
    "G19": ("mandatory", "critical", "all"),
    "G20": ("mandatory", "medium", "all"),
    "G21": ("mandatory", "medium", "prod"),
    "X1": ("advisory", "low", "all"),
    "X2": ("advisory", "medium", "all"),
}
STACK_RULES = {"G3", "G17", "G18", "G19", "G20", "G21", "X2"}


# --- helpers -------------------------------------------------------------------------------------


def labels(env: str) -> dict[str, str]:
    return {"env": env, "service": "emg-analyzer", "owner": "team"}


def run(rule_id: str, resources: list[Resource], env: str) -> Report:
    return evaluate(resources, Context(env, env), [RULES[rule_id]])  # type: ignore[arg-type]


# --- a compliant synthetic stack ----------------------------------------------------------------


def good_stack(env: str) -> list[Resource]:
    prod = env == "prod"

    def res(type_token: str, name: str, props: dict[str, Any], kept: bool = False) -> Resource:
        return Resource(urn(env, type_token, name), type_token, name, props, kept, kept)

    container = {
        "image": DIGEST_IMAGE,
        "envs": [
            {"name": "LOG_LEVEL", "value": "INFO"},
            {"name": "JWT_SECRET", "valueSource": {"secretKeyRef": {"secret": "jwt"}}},
        ],
        "startupProbe": {"httpGet": {"path": "/health/readiness"}},
        "livenessProbe": {"httpGet": {"path": "/health/liveness"}},
        "resources": {"limits": {"cpu": "1", "memory": "512Mi"}},
    }
    uptime_filter = (
        'metric.type="monitoring.googleapis.com/uptime_check/check_passed" AND '
        'metric.label.check_id="uptime-0c06163b"'
    )
    return [
        res(
            SERVICE,
            "svc",
            {
                "ingress": "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
                "defaultUriDisabled": prod,
                "deletionProtection": prod,
                "invokerIamDisabled": False,
                "labels": labels(env),
                "template": {
                    "serviceAccount": SA,
                    "scaling": {"minInstanceCount": 1.0 if prod else 0.0, "maxInstanceCount": 4.0},
                    "containers": [container],
                },
            },
        ),
        res(INVOKER, "invoker", {"name": "svc", "member": "allUsers", "role": "roles/run.invoker"}),
        res(
            REPOSITORY,
            "registry",
            {
                "format": "DOCKER",
                "dockerConfig": {"immutableTags": True},
                "vulnerabilityScanningConfig": {"enablementConfig": "INHERITED"},
                "cleanupPolicies": [{"id": "keep-recent", "action": "KEEP"}],
                "labels": labels(env),
            },
            kept=prod,
        ),
        res(
            REDIS,
            "redis",
            {
                "authEnabled": True,
                "transitEncryptionMode": "SERVER_AUTHENTICATION",
                "tier": "STANDARD_HA",
                "persistenceConfig": {"persistenceMode": "RDB"},
                "connectMode": "PRIVATE_SERVICE_ACCESS",
                "deletionProtection": prod,
                "labels": labels(env),
            },
            kept=prod,
        ),
        res(SECRET, "jwt", {"secretId": "jwt", "labels": labels(env)}, kept=prod),
        res(
            SECRET_VERSION,
            "jwt-version",
            {
                "secret": f"{P}/secrets/jwt",
                "secretDataWo": secret("hunter2"),
                "secretDataWoVersion": secret(1.0),
            },
        ),
        res(
            SECRET_IAM,
            "jwt-accessor",
            {
                "secretId": "jwt",
                "role": "roles/secretmanager.secretAccessor",
                "member": f"serviceAccount:{SA}",
            },
        ),
        res(SSL_POLICY, "tls", {"minTlsVersion": "TLS_1_2", "profile": "MODERN"}),
        res(
            HTTPS_PROXY,
            "https-proxy",
            {"sslPolicy": f"{P}/global/sslPolicies/tls", "urlMap": f"{P}/global/urlMaps/https-map"},
        ),
        res(URL_MAP, "https-map", {"defaultService": f"{P}/global/backendServices/backend"}),
        res(HTTP_PROXY, "http-proxy", {"urlMap": f"{P}/global/urlMaps/redirect"}),
        res(URL_MAP, "redirect", {"defaultUrlRedirect": {"httpsRedirect": True}}),
        res(
            ARMOR,
            "armor",
            {
                "labels": labels(env),
                "rules": [
                    {"action": "throttle", "rateLimitOptions": {"enforceOnKey": "IP"}},
                    {"action": "allow"},
                ],
            },
        ),
        res(
            BACKEND,
            "backend",
            {
                "securityPolicy": f"{P}/global/securityPolicies/armor",
                "logConfig": {"enable": True},
                "loadBalancingScheme": "EXTERNAL_MANAGED",
            },
        ),
        *(
            res(
                FORWARDING_RULE,
                f"{port}-rule",
                {
                    "portRange": port,
                    "loadBalancingScheme": "EXTERNAL_MANAGED",
                    "labels": labels(env),
                },
            )
            for port in ("80", "443")
        ),
        res(CERTIFICATE, "cert", {"managed": {"domains": ["api.example.org"]}}),
        res(
            UPTIME,
            "uptime",
            {
                "monitoredResource": {"labels": {"host": "api.example.org"}},
                "httpCheck": {"path": "/health", "useSsl": True, "validateSsl": True},
                "userLabels": labels(env),
            },
        ),
        res(
            ALERT,
            "alert-uptime",
            {
                "conditions": [{"conditionThreshold": {"filter": uptime_filter}}],
                "notificationChannels": [f"{P}/notificationChannels/1"],
                "userLabels": labels(env),
            },
        ),
        res(CHANNEL, "channel", {"type": "email", "userLabels": labels(env)}),
    ]


# --- per rule: violation, unknown, scope --------------------------------------------------------


CASES = [
    Case(
        "G1",
        "svc",
        props(ingress="INGRESS_TRAFFIC_ALL"),
        "ingress is 'INGRESS_TRAFFIC_ALL', expected 'INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER' "
        "or 'INGRESS_TRAFFIC_INTERNAL_ONLY'",
    ),
    Case(
        "G1",
        "svc",
        props(ingress=DELETE),
        "ingress is not set, expected 'INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER' "
        "or 'INGRESS_TRAFFIC_INTERNAL_ONLY'",
    ),
    Case(
        "G2", "svc", props(defaultUriDisabled=False), "defaultUriDisabled is False, expected True"
    ),
    Case(
        "G3",
        "svc",
        props(ingress="INGRESS_TRAFFIC_ALL"),
        "member allUsers may invoke svc, whose ingress is 'INGRESS_TRAFFIC_ALL'",
        at="invoker",
    ),
    Case(
        "G3",
        "invoker",
        props(name="other"),
        "member allUsers: name 'other' is not a Cloud Run service of this stack, "
        "so it cannot be checked",
    ),
    Case(
        "G4",
        "svc",
        props(template__serviceAccount="1-compute@developer.gserviceaccount.com"),
        "template.serviceAccount is '1-compute@developer.gserviceaccount.com', "
        "the default compute account",
    ),
    Case(
        "G4",
        "svc",
        props(template__serviceAccount=DELETE),
        "template.serviceAccount is not set (runs as the default compute account)",
    ),
    Case(
        "G5",
        "svc",
        props(**{"template.containers[0].envs[1].value": "hunter2"}),
        "template.containers[0].envs[1].value sets JWT_SECRET in plain text "
        "(its value is not shown)",
    ),
    Case(
        "G6",
        "svc",
        props(template__scaling__maxInstanceCount=DELETE),
        "template.scaling.maxInstanceCount is not set, expected >= 1",
    ),
    Case(
        "G6",
        "svc",
        props(template__scaling__minInstanceCount=0.0),
        "template.scaling.minInstanceCount is 0, expected >= 1 in prod",
    ),
    Case(
        "G7", "svc", props(deletionProtection=False), "deletionProtection is False, expected True"
    ),
    Case(
        "G7",
        "svc",
        props(deletionProtection=DELETE),
        "deletionProtection is True, expected False",
        env="dev",
    ),
    Case(
        "G8",
        "svc",
        props(**{"template.containers[0].image": "r/app:latest"}),
        "template.containers[0].image is 'r/app:latest', not pinned by @sha256 digest",
    ),
    Case(
        "G9",
        "svc",
        props(**{"template.containers[0].livenessProbe": DELETE}),
        "template.containers[0].livenessProbe is not set",
    ),
    Case(
        "G10",
        "registry",
        props(dockerConfig__immutableTags=False),
        "dockerConfig.immutableTags is False, expected True",
    ),
    Case(
        "G11",
        "registry",
        props(vulnerabilityScanningConfig__enablementConfig="DISABLED"),
        "vulnerabilityScanningConfig.enablementConfig is 'DISABLED'",
    ),
    Case("G11", "registry", props(cleanupPolicies=DELETE), "cleanupPolicies is not set"),
    Case("G12", "redis", props(authEnabled=False), "authEnabled is False, expected True"),
    Case(
        "G13",
        "redis",
        props(transitEncryptionMode="DISABLED"),
        "transitEncryptionMode is 'DISABLED', expected 'SERVER_AUTHENTICATION'",
    ),
    Case("G14", "redis", props(tier="BASIC"), "tier is 'BASIC', expected 'STANDARD_HA'"),
    Case(
        "G15",
        "redis",
        props(deletionProtection=False),
        "deletionProtection is False, expected True",
    ),
    Case(
        "G16",
        "jwt-version",
        props(secretDataWo=DELETE, secretDataWoVersion=DELETE, secretData="hunter2"),
        "secretData is a plain (non-secret) value stored in state",
    ),
    Case(
        "G16",
        "jwt-version",
        props(secretDataWoVersion=DELETE),
        "secretDataWoVersion is not set (a new secretDataWo would not roll a version)",
    ),
    Case(
        "G17",
        "jwt-accessor",
        props(role="roles/owner"),
        f"role roles/owner is granted to the runtime account serviceAccount:{SA}",
    ),
    Case(
        "G18",
        "tls",
        props(minTlsVersion="TLS_1_0"),
        "minTlsVersion is 'TLS_1_0', expected 'TLS_1_2' or 'TLS_1_3'",
    ),
    Case(
        "G18",
        "https-proxy",
        props(sslPolicy=DELETE),
        "sslPolicy is not set (the default policy allows TLS 1.0)",
    ),
    Case(
        "G19",
        "redirect",
        props(defaultUrlRedirect=DELETE),
        "defaultUrlRedirect.httpsRedirect is not set, expected True (serves plain HTTP)",
    ),
    Case(
        "G19",
        "http-proxy",
        props(urlMap=f"{P}/global/urlMaps/elsewhere"),
        f"urlMap '{P}/global/urlMaps/elsewhere' is not a URL map of this stack, "
        "so it cannot be checked",
    ),
    Case(
        "G20", "backend", props(logConfig__enable=False), "logConfig.enable is False, expected True"
    ),
    Case(
        "G20", "backend", props(securityPolicy=DELETE), "securityPolicy is not set (no Cloud Armor)"
    ),
    Case(
        "G20",
        "armor",
        props(rules=[{"action": "allow"}]),
        "rules have no throttle or rate_based_ban rule with rateLimitOptions",
    ),
    Case(
        "G20",
        "80-rule",
        props(loadBalancingScheme="EXTERNAL"),
        "loadBalancingScheme is 'EXTERNAL', but backend's is 'EXTERNAL_MANAGED'",
    ),
    Case(
        "G21",
        "uptime",
        props(httpCheck__validateSsl=False),
        "httpCheck.validateSsl is False, expected True",
    ),
    Case(
        "G21",
        "alert-uptime",
        props(notificationChannels=[]),
        "the alert policies watching it (alert-uptime) notify nobody",
        at="uptime",
    ),
    Case(
        "G21",
        "uptime",
        props(monitoredResource__labels__host="other.example.org"),
        "managed.domains has 'api.example.org', which no uptime check watches",
        at="cert",
    ),
    Case("X1", "redis", props(labels__owner=DELETE), "labels.owner is not set"),
    Case(
        "X1",
        "alert-uptime",
        props(userLabels__env="dev"),
        "userLabels.env is 'dev', not the stack's environment 'prod'",
    ),
    Case(
        "X2",
        "redis",
        {"protect": False, "retain_on_delete": False},
        "neither protect nor retainOnDelete is set in prod",
    ),
    Case(
        "X2",
        "redis",
        props(deletionProtection=DELETE),
        "deletionProtection is True (provider default) in dev (pulumi destroy would fail or "
        "leave it)",
        env="dev",
    ),
    Case(
        "X2",
        "redis",
        props(deletionProtection=True),
        "deletionProtection is True in dev (pulumi destroy would fail or leave it)",
        env="dev",
    ),
]


@pytest.mark.parametrize("env", ["dev", "prod"])
@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_compliant_synthetic_stack_passes(rule_id: str, env: str) -> None:
    assert found(run(rule_id, good_stack(env), env)) == []


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_planted_violation_is_caught_with_its_message(case: Case) -> None:
    stack = edited(good_stack(case.env), case.resource, **case.changes)
    where = urn(
        case.env,
        next(r.type for r in stack if r.name == (case.at or case.resource)),
        case.at or case.resource,
    )
    report = run(case.rule, stack, case.env)
    assert found(report) == [(where, case.message)]
    assert not any(f.unknown for f in report.findings)


def test_every_rule_has_a_violation_case() -> None:
    assert {c.rule for c in CASES} == set(RULES)


def test_rule_table_ids_levels_and_kinds() -> None:
    assert {r.id: (r.level, r.severity, r.scope) for r in GCP_RULES} == EXPECTED_RULES
    assert {r.id for r in GCP_RULES if isinstance(r, StackRule)} == STACK_RULES
    for rule in GCP_RULES:
        assert rule.title and rule.remediation, rule.id
        assert isinstance(rule, ResourceRule | StackRule)


# (rule, resource, property path made unknown, path the rule reports)
UNKNOWN_CASES = [
    ("G1", "svc", "ingress", "ingress"),
    ("G2", "svc", "defaultUriDisabled", "defaultUriDisabled"),
    ("G3", "invoker", "member", "member"),
    ("G4", "svc", "template", "template.serviceAccount"),
    ("G5", "svc", "template.containers[0].envs[1].name", "template.containers[0].envs[1].name"),
    ("G6", "svc", "template.scaling", "template.scaling.maxInstanceCount"),
    ("G7", "svc", "deletionProtection", "deletionProtection"),
    ("G8", "svc", "template.containers[0].image", "template.containers[0].image"),
    ("G9", "svc", "template.containers", "template.containers"),
    ("G10", "registry", "format", "format"),
    ("G11", "registry", "cleanupPolicies", "cleanupPolicies"),
    ("G12", "redis", "authEnabled", "authEnabled"),
    ("G13", "redis", "transitEncryptionMode", "transitEncryptionMode"),
    ("G14", "redis", "tier", "tier"),
    ("G15", "redis", "deletionProtection", "deletionProtection"),
    ("G16", "jwt-version", "secretDataWoVersion", "secretDataWoVersion"),
    ("G17", "jwt-accessor", "role", "role"),
    ("G18", "https-proxy", "sslPolicy", "sslPolicy"),
    ("G19", "http-proxy", "urlMap", "urlMap"),
    ("G20", "backend", "logConfig", "logConfig.enable"),
    ("G21", "uptime", "httpCheck", "httpCheck.useSsl"),
    ("X1", "secret", "labels", "labels.env"),
    ("X2", "redis", "deletionProtection", "deletionProtection"),
]


@pytest.mark.parametrize(("rule_id", "name", "path", "reported"), UNKNOWN_CASES)
def test_unknown_property_is_reported_not_passed(
    rule_id: str, name: str, path: str, reported: str
) -> None:
    env = "dev" if rule_id == "X2" else "prod"
    name = "jwt" if name == "secret" else name
    report = run(rule_id, edited(good_stack(env), name, props={path: UNKNOWN_VALUE}), env)
    assert [(f.unknown, f.message) for f in report.findings] == [
        (True, f"cannot judge: {reported} is unknown before apply")
    ]
    if RULES[rule_id].level == "mandatory":
        assert report.blocking, f"{rule_id}: an unknown value must block a mandatory rule"


def test_unknown_cases_cover_every_rule() -> None:
    assert {c[0] for c in UNKNOWN_CASES} == set(RULES)


PROD_ONLY = sorted(r for r, (_, _, scope) in EXPECTED_RULES.items() if scope == "prod")


@pytest.mark.parametrize("case", [c for c in CASES if c.rule in PROD_ONLY], ids=case_id)
def test_prod_only_rule_ignores_dev(case: Case) -> None:
    stack = edited(good_stack("dev"), case.resource, **case.changes)
    assert found(run(case.rule, stack, "dev")) == []


def test_dev_may_scale_to_zero_but_keeps_an_instance_cap() -> None:
    assert found(run("G6", good_stack("dev"), "dev")) == []
    capless = edited(good_stack("dev"), "svc", props={"template.scaling.maxInstanceCount": 0.0})
    assert [m for _, m in found(run("G6", capless, "dev"))] == [
        "template.scaling.maxInstanceCount is 0, expected >= 1"
    ]


def test_project_wide_secret_access_is_refused() -> None:
    grant = Resource(
        urn("prod", PROJECT_IAM_MEMBER, "wide"),
        PROJECT_IAM_MEMBER,
        "wide",
        {"role": "roles/secretmanager.secretAccessor", "member": f"serviceAccount:{SA}"},
    )
    assert found(run("G17", [*good_stack("prod"), grant], "prod")) == [
        (
            grant.urn,
            "role roles/secretmanager.secretAccessor is granted project-wide to "
            f"serviceAccount:{SA}",
        )
    ]


def test_messages_never_show_a_secret_value() -> None:
    stack = edited(
        good_stack("prod"),
        "svc",
        props={"template.containers[0].envs[1].value": secret("hunter2")},
    )
    stack = edited(stack, "jwt-version", props={"secretData": "hunter2"})
    report = evaluate(stack, Context("prod", "prod"), GCP_RULES)
    assert {f.rule_id for f in report.findings} == {"G5", "G16"}
    assert all("hunter2" not in f.message for f in report.findings)


# --- X3: outputs ---------------------------------------------------------------------------------

GOOD_OUTPUTS = {key: f"value-{key}" for key in REQUIRED_OUTPUTS}


def test_x3_required_outputs_are_the_frontend_contract() -> None:
    assert set(REQUIRED_OUTPUTS) == set(ENV_NAMES)


def test_x3_complete_plain_outputs_pass() -> None:
    assert check_outputs(GOOD_OUTPUTS, set()) == []


def test_x3_missing_and_secret_outputs_are_reported() -> None:
    outputs = {k: v for k, v in GOOD_OUTPUTS.items() if k != "healthUrl"}
    outputs["corsOrigins"] = [secret("https://x.example.org")]
    assert check_outputs(outputs, {"apiUrl"}) == [
        "output healthUrl is missing",
        "output apiUrl is secret (the frontend reads it in plain text)",
        "output corsOrigins is secret (the frontend reads it in plain text)",
    ]


# --- the committed plans ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plans() -> dict[str, Plan]:
    return {stack: plan_stack(stack) for stack in ("dev", "prod")}


def plan_resources(plan: Plan) -> list[Resource]:
    return [
        Resource(r.urn, r.type, r.name, r.inputs, r.protect, r.retain_on_delete)
        for r in plan.run.resources
    ]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_committed_plan_passes_every_mandatory_rule(plans: dict[str, Plan], stack: str) -> None:
    report = evaluate(plan_resources(plans[stack]), Context(stack, stack), GCP_RULES)
    assert [(f.rule_id, f.urn, f.message) for f in report.blocking] == []
    assert not any(f.unknown for f in report.findings)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_committed_plan_outputs_pass_x3(plans: dict[str, Plan], stack: str) -> None:
    run_ = plans[stack].run
    assert check_outputs(run_.outputs, run_.secret_outputs) == []


SERVICE_NAME, REDIS_NAME, REGISTRY_NAME = (
    "emg-service-service",
    "emg-cache-redis",
    "emg-registry-repository",
)
MUTATIONS: dict[str, Mutation] = {
    "cloud-run-ingress-all": Mutation("G1", SERVICE_NAME, props(ingress="INGRESS_TRAFFIC_ALL")),
    "cloud-run-default-uri-enabled": Mutation("G2", SERVICE_NAME, props(defaultUriDisabled=False)),
    "cloud-run-public-invoker-without-lb-ingress": Mutation(
        "G3", SERVICE_NAME, props(ingress="INGRESS_TRAFFIC_ALL", invokerIamDisabled=True)
    ),
    "cloud-run-default-compute-sa": Mutation(
        "G4", SERVICE_NAME, props(template__serviceAccount=COMPUTE_SA)
    ),
    "cloud-run-plain-secret-env": Mutation(
        "G5", SERVICE_NAME, props(**{"template.containers[0].envs[0].name": "API_TOKEN"})
    ),
    "cloud-run-no-instance-cap": Mutation(
        "G6", SERVICE_NAME, props(template__scaling__maxInstanceCount=DELETE)
    ),
    "cloud-run-prod-scales-to-zero": Mutation(
        "G6", SERVICE_NAME, props(template__scaling__minInstanceCount=0.0)
    ),
    "cloud-run-deletion-protection-off-in-prod": Mutation(
        "G7", SERVICE_NAME, props(deletionProtection=False)
    ),
    "cloud-run-deletion-protection-on-in-dev": Mutation(
        "G7", SERVICE_NAME, props(deletionProtection=True), stack="dev"
    ),
    "cloud-run-image-by-tag": Mutation(
        "G8", SERVICE_NAME, props(**{"template.containers[0].image": "r/emg-service:latest"})
    ),
    "cloud-run-no-startup-probe": Mutation(
        "G9", SERVICE_NAME, props(**{"template.containers[0].startupProbe": DELETE})
    ),
    "registry-mutable-tags": Mutation(
        "G10", REGISTRY_NAME, props(dockerConfig__immutableTags=False)
    ),
    "registry-scanning-disabled": Mutation(
        "G11", REGISTRY_NAME, props(vulnerabilityScanningConfig__enablementConfig="DISABLED")
    ),
    "registry-cleanup-dry-run": Mutation("G11", REGISTRY_NAME, props(cleanupPolicyDryRun=True)),
    "redis-auth-off": Mutation("G12", REDIS_NAME, props(authEnabled=False)),
    "redis-tls-off": Mutation("G13", REDIS_NAME, props(transitEncryptionMode="DISABLED")),
    "redis-basic-tier": Mutation("G14", REDIS_NAME, props(tier="BASIC")),
    "redis-no-persistence": Mutation("G14", REDIS_NAME, props(persistenceConfig=DELETE)),
    "redis-deletion-protection-off-in-prod": Mutation(
        "G15", REDIS_NAME, props(deletionProtection=False)
    ),
    "secret-version-plain-data": Mutation(
        "G16",
        "emg-secrets-jwt-secret-version",
        props(secretDataWo=DELETE, secretDataWoVersion=DELETE, secretData="plain"),
    ),
    "secret-accessor-owner": Mutation(
        "G17", "emg-secrets-jwt-secret-accessor", props(role="roles/owner")
    ),
    "ssl-policy-tls-1-0": Mutation("G18", "emg-lb-ssl-policy", props(minTlsVersion="TLS_1_0")),
    "ssl-policy-compatible-profile": Mutation(
        "G18", "emg-lb-ssl-policy", props(profile="COMPATIBLE")
    ),
    "https-proxy-no-ssl-policy": Mutation("G18", "emg-lb-https-proxy", props(sslPolicy=DELETE)),
    "http-serves-backend": Mutation(
        "G19",
        "emg-lb-http-redirect",
        props(
            defaultUrlRedirect=DELETE, defaultService=f"{P}/global/backendServices/emg-lb-backend"
        ),
    ),
    "backend-logging-off": Mutation("G20", "emg-lb-backend", props(logConfig__enable=False)),
    "backend-no-security-policy": Mutation("G20", "emg-lb-backend", props(securityPolicy=DELETE)),
    "backend-scheme-unset": Mutation("G20", "emg-lb-backend", props(loadBalancingScheme=DELETE)),
    "forwarding-rule-scheme-differs": Mutation(
        "G20", "emg-lb-https", props(loadBalancingScheme="EXTERNAL")
    ),
    "armor-no-rate-limit": Mutation("G20", "emg-lb-armor", props(**{"rules[0].action": "allow"})),
    "uptime-without-tls": Mutation("G21", "emg-monitoring-uptime", props(httpCheck__useSsl=False)),
    "uptime-alert-notifies-nobody": Mutation(
        "G21", "emg-monitoring-alert-uptime", props(notificationChannels=DELETE)
    ),
    "labels-missing-owner": Mutation("X1", REDIS_NAME, props(labels__owner=DELETE)),
    "labels-wrong-env": Mutation("X1", SERVICE_NAME, props(labels__env="dev")),
    "redis-not-kept-in-prod": Mutation(
        "X2", REDIS_NAME, {"protect": False, "retain_on_delete": False}
    ),
    "registry-protected-in-dev": Mutation(
        "X2", "emg-registry-repository", {"protect": True}, stack="dev"
    ),
}


@pytest.mark.parametrize("setting", sorted(MUTATIONS))
def test_switching_off_a_secure_setting_fails_its_rule(
    plans: dict[str, Plan], setting: str
) -> None:
    mutation = MUTATIONS[setting]
    context = Context(mutation.stack, mutation.stack)
    base = plan_resources(plans[mutation.stack])
    assert not [f for f in evaluate(base, context, [RULES[mutation.rule]]).findings]
    mutated = edited(base, mutation.resource, **mutation.changes)
    report = evaluate(mutated, context, GCP_RULES)
    assert mutation.rule in {f.rule_id for f in report.findings}, (
        f"{setting}: no {mutation.rule} finding; got {found(report)}"
    )


def test_mutations_cover_every_rule() -> None:
    assert {m.rule for m in MUTATIONS.values()} == set(RULES)


def test_mutation_leaves_the_plan_untouched(plans: dict[str, Plan]) -> None:
    before = copy.deepcopy([r.inputs for r in plans["prod"].run.resources])
    edited(plan_resources(plans["prod"]), REDIS_NAME, props={"authEnabled": False})
    assert [r.inputs for r in plans["prod"].run.resources] == before
