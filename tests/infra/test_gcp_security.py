"""The whole GCP program against the security rule table of INFRA_NOTES.md (rows G1-G21, X1-X3).

Each stack is planned once (``plan_stack``: the real program under Pulumi's mocks with the
committed ``Pulumi.<stack>.yaml``) and every row is checked, for dev and for prod, on what the
program registered: inputs in wire form (camelCase keys, numbers as floats, secrets wrapped).
Component tests (test_gcp_*.py) check each component with chosen arguments; these check what the
composition produces, so references are followed the way the cloud would follow them: a value
that points at another resource must be the id, self link, name or secret id of a resource this
program registered.

Scope: a row scoped to prod asserts its prod part in prod only; in dev the same test checks the
part of the row that applies everywhere or its dev complement (G7, G15: destroyable; G21: the
check and its alert exist, recipients optional), so no case passes vacuously or is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from pulumi.runtime.rpc import UNKNOWN

from infra.mocks import RegisteredResource
from infra.plan import Plan, plan_stack
from stacks.config import SECRETS
from stacks.loader import load_stack_config
from stacks.outputs import ENV_NAMES, StackOutputs, secret_sign
from tests.infra.tokens import (
    ACCOUNT,
    ALERT,
    ARMOR,
    BACKEND,
    CERTIFICATE,
    CHANNEL,
    FORWARDING_RULE,
    HTTP_PROXY,
    HTTPS_PROXY,
    IMAGE,
    INVOKER,
    NEG,
    PEERING,
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
from tests.infra.wire import (
    is_secret,
    leaves,
    one,
    prop,
    provider_secret_outputs,
    resources,
    sdk_args,
    some,
    stack_urn,
    unwrap,
)

STACKS = ("dev", "prod")
PLACEHOLDER = "plan-placeholder-"  # what plan_stack feeds the program as each app secret
MOCK_REDIS_AUTH = "mock-redis-auth-string"  # infra.mocks: the Redis instance's authString


LB_ONLY_INGRESS = {"INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER", "INGRESS_TRAFFIC_INTERNAL_ONLY"}
PUBLIC_MEMBERS = {"allUsers", "allAuthenticatedUsers"}
DEFAULT_COMPUTE_SA = re.compile(r".*-compute@developer\.gserviceaccount\.com")
G5_SECRET_NAME = re.compile(r"(?i)pass|secret|token|key|auth")
DIGEST = re.compile(r"[^\s@]+@sha256:[0-9a-f]{64}")
ACCESSOR_ROLE = "roles/secretmanager.secretAccessor"
PROJECT_WIDE_FORBIDDEN = {ACCESSOR_ROLE, "roles/editor", "roles/owner"}
REQUIRED_LABELS = ("env", "service", "owner")
PROTECTED_IN_PROD = {REDIS, SECRET, REPOSITORY}  # X2: protect + retain_on_delete
PREVENTING_POLICIES = {"PREVENT", "ABANDON"}  # deletionPolicy values that stop a destroy


@pytest.fixture(scope="module")
def plans() -> dict[str, Plan]:
    """Each committed stack planned once for the whole module."""
    return {stack: plan_stack(stack) for stack in STACKS}


@pytest.fixture(params=STACKS)
def plan(request: pytest.FixtureRequest, plans: dict[str, Plan]) -> Plan:
    return plans[request.param]


# --- helpers ---------------------------------------------------------------------------------


def handles(resource: RegisteredResource) -> set[str]:
    """What another resource may use to point at ``resource``."""
    keys = ("id", "selfLink", "name", "secretId", "email")
    return {value for key in keys if isinstance(value := resource.outputs.get(key), str)}


def referenced(
    plan: Plan, type_token: str, ref: Any, by: RegisteredResource, field: str
) -> RegisteredResource:
    """The one ``type_token`` resource of this program that ``by``'s ``field`` (``ref``) points
    at; fails naming ``by`` when it points at nothing the program created."""
    found = [r for r in resources(plan, type_token) if unwrap(ref) in handles(r)]
    assert len(found) == 1, (
        f"{by.urn}: {field} = {unwrap(ref)!r} is not a {type_token} this program created "
        f"(matches {[r.urn for r in found]})"
    )
    return found[0]


def containers(service: RegisteredResource) -> list[dict[str, Any]]:
    found = prop(service, "template.containers", [])
    assert found, f"{service.urn}: template.containers is empty"
    return found


def envs(service: RegisteredResource) -> list[dict[str, Any]]:
    return [env for container in containers(service) for env in container.get("envs", [])]


# --- G1-G9: the Cloud Run service ------------------------------------------------------------


def test_g1_ingress_is_load_balancer_only_and_the_load_balancer_fronts_it(plan: Plan) -> None:
    for service in some(plan, SERVICE):
        ingress = prop(service, "ingress")
        assert ingress in LB_ONLY_INGRESS, f"{service.urn}: ingress {ingress!r} is not LB-only"
        negs = [n for n in resources(plan, NEG) if prop(n, "cloudRun.service") in handles(service)]
        assert negs, f"{service.urn}: no serverless NEG points at it (not fronted by the LB)"
        for neg in negs:
            assert prop(neg, "networkEndpointType") == "SERVERLESS", neg.urn
            assert prop(neg, "region") == prop(service, "location"), (
                f"{neg.urn}: region {prop(neg, 'region')!r} is not the service's location"
            )
            users = [
                backend
                for backend in resources(plan, BACKEND)
                for entry in prop(backend, "backends", [])
                if entry.get("group") in handles(neg)
            ]
            assert users, f"{neg.urn}: no backend service uses this NEG"


def test_g2_no_run_app_bypass_and_default_url_disabled_in_prod(plan: Plan) -> None:
    for service in some(plan, SERVICE):
        disabled = prop(service, "defaultUriDisabled")
        if plan.stack == "prod":
            assert disabled is True, f"{service.urn}: defaultUriDisabled is {disabled!r} in prod"
        if disabled is not True:  # the *.run.app URL exists: only LB-only ingress closes it
            assert prop(service, "ingress") in LB_ONLY_INGRESS, (
                f"{service.urn}: its run.app URL bypasses the load balancer"
            )


def test_g3_public_invoker_only_with_load_balancer_only_ingress(plan: Plan) -> None:
    for service in some(plan, SERVICE):
        if prop(service, "invokerIamDisabled") is True:
            assert prop(service, "ingress") in LB_ONLY_INGRESS, (
                f"{service.urn}: invokerIamDisabled with ingress {prop(service, 'ingress')!r}"
            )
    for member in resources(plan, INVOKER):
        service = referenced(plan, SERVICE, prop(member, "name"), member, "name")
        if prop(member, "member") in PUBLIC_MEMBERS:
            assert prop(service, "ingress") in LB_ONLY_INGRESS, (
                f"{member.urn}: {prop(member, 'member')} may invoke {service.name}, whose "
                f"ingress is {prop(service, 'ingress')!r}"
            )


def test_g4_service_runs_as_its_own_dedicated_account(plan: Plan) -> None:
    for service in some(plan, SERVICE):
        email = prop(service, "template.serviceAccount")
        assert email, f"{service.urn}: template.serviceAccount is not set (default compute SA)"
        assert not DEFAULT_COMPUTE_SA.fullmatch(email), f"{service.urn}: runs as {email}"
        referenced(plan, ACCOUNT, email, service, "template.serviceAccount")
        sharing = [
            other.urn
            for other in resources(plan, SERVICE)
            if other is not service and prop(other, "template.serviceAccount") == email
        ]
        assert not sharing, f"{service.urn}: shares {email} with {sharing}"


def test_g5_secrets_reach_the_service_only_as_secret_manager_references(plan: Plan) -> None:
    must_be_secret = {s.env_var for s in SECRETS} | {"REDIS_URL"}
    for service in some(plan, SERVICE):
        seen: set[str] = set()
        for env in envs(service):
            name = env.get("name", "")
            if "value" in env:
                assert not G5_SECRET_NAME.search(name), (
                    f"{service.urn}: env {name} is a plain value with a secret-looking name"
                )
                assert name not in must_be_secret, f"{service.urn}: secret env {name} is plain"
                continue
            ref = (env.get("valueSource") or {}).get("secretKeyRef") or {}
            assert ref.get("secret"), f"{service.urn}: env {name} has no valueSource.secretKeyRef"
            secret = referenced(plan, SECRET, ref["secret"], service, f"env {name} secretKeyRef")
            versions = [
                v for v in resources(plan, SECRET_VERSION) if prop(v, "secret") in handles(secret)
            ]
            assert versions, f"{service.urn}: env {name} reads {secret.name}, which has no version"
            seen.add(name)
        assert must_be_secret <= seen, (
            f"{service.urn}: secrets {sorted(must_be_secret - seen)} are not secret references"
        )


def test_g6_instance_cap_always_and_warm_instance_in_prod(plan: Plan) -> None:
    for service in some(plan, SERVICE):
        low = prop(service, "template.scaling.minInstanceCount", 0)
        high = prop(service, "template.scaling.maxInstanceCount")
        assert high is not None and high >= 1, f"{service.urn}: maxInstanceCount is {high!r}"
        assert 0 <= low <= high, f"{service.urn}: minInstanceCount {low} outside 0..{high}"
        if plan.stack == "prod":
            assert low >= 1, f"{service.urn}: minInstanceCount {low} scales prod to zero"


def test_g7_deletion_protection_true_in_prod_false_in_dev(plan: Plan) -> None:
    for service in some(plan, SERVICE):
        value = prop(service, "deletionProtection")  # unset means true (provider default)
        assert value is (plan.stack == "prod"), f"{service.urn}: deletionProtection is {value!r}"


def test_g8_image_comes_from_the_stack_registry_and_by_digest_in_prod(plan: Plan) -> None:
    image = one(plan, IMAGE)
    registry = one(plan, REPOSITORY)
    assert str(prop(image, "imageName")).startswith(f"{registry.outputs['registryUri']}/"), (
        f"{image.urn}: pushes {prop(image, 'imageName')!r} outside {registry.urn}"
    )
    for service in some(plan, SERVICE):
        for container in containers(service):
            ref = container.get("image", "")
            last = ref.rsplit("/", 1)[-1]
            pinned = "@sha256:" in last or (":" in last and not last.endswith(":latest"))
            assert pinned, f"{service.urn}: image {ref!r} is untagged or :latest"
            assert ref.startswith(f"{registry.outputs['registryUri']}/"), (
                f"{service.urn}: image {ref!r} is not from {registry.urn}"
            )
            if plan.stack == "prod":
                assert DIGEST.fullmatch(ref), f"{service.urn}: image {ref!r} is not by digest"
                assert ref == image.outputs.get("repoDigest"), (
                    f"{service.urn}: image {ref!r} is not {image.urn}'s pushed digest"
                )


def test_g9_probes_and_resource_limits(plan: Plan) -> None:
    for service in some(plan, SERVICE):
        for container in containers(service):
            for probe in ("startupProbe", "livenessProbe"):
                path = (container.get(probe) or {}).get("httpGet", {}).get("path")
                assert path, f"{service.urn}: {probe} has no HTTP path"
            assert container["startupProbe"]["httpGet"]["path"] == "/health/readiness", service.urn
            assert container["livenessProbe"]["httpGet"]["path"] == "/health/liveness", service.urn
            limits = (container.get("resources") or {}).get("limits") or {}
            assert limits.get("cpu") and limits.get("memory"), (
                f"{service.urn}: resources.limits {limits!r} lack cpu or memory"
            )


# --- G10-G11: the registry -------------------------------------------------------------------


def test_g10_docker_registry_with_immutable_tags_in_prod(plan: Plan) -> None:
    for repository in some(plan, REPOSITORY):
        assert prop(repository, "format") == "DOCKER", f"{repository.urn}: format is not DOCKER"
        if plan.stack == "prod":
            assert prop(repository, "dockerConfig.immutableTags") is True, (
                f"{repository.urn}: tags are mutable in prod"
            )


def test_g11_scanning_on_and_cleanup_policies_active(plan: Plan) -> None:
    for repository in some(plan, REPOSITORY):
        scanning = prop(repository, "vulnerabilityScanningConfig.enablementConfig")
        assert scanning is not None and scanning != "DISABLED", (
            f"{repository.urn}: vulnerability scanning is {scanning!r}"
        )
        assert prop(repository, "cleanupPolicies"), f"{repository.urn}: no cleanup policies"
        assert prop(repository, "cleanupPolicyDryRun") is not True, (
            f"{repository.urn}: cleanup policies only run dry"
        )


# --- G12-G15: Memorystore --------------------------------------------------------------------


def _secret_value_of_env(plan: Plan, service: RegisteredResource, env_name: str) -> str:
    """The value the program stores in the secret the service reads as ``env_name``."""
    found = [e for e in envs(service) if e.get("name") == env_name]
    assert len(found) == 1, f"{service.urn}: {len(found)} env vars named {env_name}"
    ref = (found[0].get("valueSource") or {}).get("secretKeyRef", {}).get("secret")
    secret = referenced(plan, SECRET, ref, service, f"env {env_name}")
    versions = [v for v in resources(plan, SECRET_VERSION) if prop(v, "secret") in handles(secret)]
    assert len(versions) == 1, f"{secret.urn}: {len(versions)} versions, expected one"
    return str(prop(versions[0], "secretDataWo"))


def test_g12_redis_auth_enabled(plan: Plan) -> None:
    for redis in some(plan, REDIS):
        assert prop(redis, "authEnabled") is True, f"{redis.urn}: AUTH is off"


def test_g13_redis_tls_and_the_service_connects_with_tls_and_the_ca(plan: Plan) -> None:
    redis = one(plan, REDIS)
    mode = prop(redis, "transitEncryptionMode")
    assert mode == "SERVER_AUTHENTICATION", f"{redis.urn}: transitEncryptionMode is {mode!r}"
    service = one(plan, SERVICE)
    url = urlsplit(_secret_value_of_env(plan, service, "REDIS_URL"))
    assert url.scheme == "rediss", f"{service.urn}: REDIS_URL to {redis.urn} is not TLS"
    assert (url.hostname, url.port) == (redis.outputs["host"], redis.outputs["port"]), (
        f"{service.urn}: REDIS_URL points at {url.hostname}:{url.port}, not {redis.urn}"
    )
    assert url.password, f"{service.urn}: REDIS_URL carries no AUTH string for {redis.urn}"
    ca = _secret_value_of_env(plan, service, "REDIS_CA_CERT")
    assert ca == redis.outputs["serverCaCerts"][0]["cert"], (
        f"{service.urn}: REDIS_CA_CERT is not {redis.urn}'s server CA"
    )


def test_g14_redis_private_and_ha_with_persistence_in_prod(plan: Plan) -> None:
    for redis in some(plan, REDIS):
        assert prop(redis, "connectMode") == "PRIVATE_SERVICE_ACCESS", (
            f"{redis.urn}: connectMode is {prop(redis, 'connectMode')!r}"
        )
        network = prop(redis, "authorizedNetwork")
        peerings = [p for p in resources(plan, PEERING) if prop(p, "network") == network]
        assert peerings, f"{redis.urn}: no private service access on {network!r}"
        if plan.stack == "prod":
            assert prop(redis, "tier") == "STANDARD_HA", f"{redis.urn}: tier is not STANDARD_HA"
            assert prop(redis, "persistenceConfig.persistenceMode") not in (None, "DISABLED"), (
                f"{redis.urn}: no persistence in prod"
            )


def test_g15_redis_deletion_protected_in_prod_destroyable_in_dev(plan: Plan) -> None:
    for redis in some(plan, REDIS):
        value = prop(redis, "deletionProtection")  # unset means true (provider default)
        assert value is (plan.stack == "prod"), f"{redis.urn}: deletionProtection is {value!r}"


# --- G16-G17: Secret Manager -----------------------------------------------------------------


def test_g16_secret_values_are_write_only_and_secret(plan: Plan) -> None:
    for secret in some(plan, SECRET):
        versions = [
            v for v in resources(plan, SECRET_VERSION) if prop(v, "secret") in handles(secret)
        ]
        assert len(versions) == 1, f"{secret.urn}: {len(versions)} versions, expected one"
    for version in some(plan, SECRET_VERSION):
        referenced(plan, SECRET, prop(version, "secret"), version, "secret")
        assert "secretData" not in version.inputs, f"{version.urn}: plaintext secretData in state"
        assert is_secret(version.inputs.get("secretDataWo")), (
            f"{version.urn}: secretDataWo is missing or not a secret"
        )
        assert version.inputs.get("secretDataWoVersion") is not None, (
            f"{version.urn}: secretDataWoVersion missing (a new value would not roll a version)"
        )


def test_g17_secret_access_per_secret_to_the_service_account_only(plan: Plan) -> None:
    service = one(plan, SERVICE)
    account = f"serviceAccount:{prop(service, 'template.serviceAccount')}"
    for grant in some(plan, SECRET_IAM):
        assert prop(grant, "role") == ACCESSOR_ROLE, f"{grant.urn}: role {prop(grant, 'role')!r}"
        assert prop(grant, "member") == account, (
            f"{grant.urn}: grants {prop(grant, 'member')!r}, not the service's {account}"
        )
        referenced(plan, SECRET, prop(grant, "secretId"), grant, "secretId")
    for secret in some(plan, SECRET):
        grants = [g for g in resources(plan, SECRET_IAM) if prop(g, "secretId") in handles(secret)]
        assert len(grants) == 1, f"{secret.urn}: {len(grants)} accessor grants, expected one"
    project_iam = [r for r in plan.run.resources if r.type.startswith("gcp:projects/iAM")]
    for grant in project_iam:
        roles = {prop(grant, "role")} | set(re.findall(r"roles/[\w.]+", str(grant.inputs)))
        assert not roles & PROJECT_WIDE_FORBIDDEN, (
            f"{grant.urn}: project-wide {sorted(roles & PROJECT_WIDE_FORBIDDEN)}"
        )
    other_secret_iam = [
        r.urn
        for r in plan.run.resources
        if r.type.startswith("gcp:secretmanager/secretIam") and r.type != SECRET_IAM
    ]
    assert not other_secret_iam, f"{other_secret_iam}: bindings/policies replace member grants"


# --- G18-G20: the load balancer --------------------------------------------------------------


def _ports(rule: RegisteredResource) -> set[int]:
    low, _, high = str(prop(rule, "portRange", "")).partition("-")
    return set(range(int(low), int(high or low) + 1)) if low else set()


def test_g18_https_uses_tls12_modern_policy_and_the_domain_certificate(plan: Plan) -> None:
    domain = urlsplit(plan.run.outputs["apiUrl"]).hostname
    https_proxies = {h for proxy in some(plan, HTTPS_PROXY) for h in handles(proxy)}
    http_proxies = {h for proxy in resources(plan, HTTP_PROXY) for h in handles(proxy)}
    https_rules = []
    for rule in some(plan, FORWARDING_RULE):
        target = prop(rule, "target")
        assert target in https_proxies | http_proxies, (
            f"{rule.urn}: target {target!r} is no HTTP(S) proxy this program created"
        )
        if target in https_proxies:
            assert _ports(rule) == {443}, f"{rule.urn}: HTTPS on ports {sorted(_ports(rule))}"
            https_rules.append(rule)
    assert https_rules, f"{stack_urn(plan)}: no forwarding rule serves HTTPS"
    for proxy in some(plan, HTTPS_PROXY):
        policy = referenced(plan, SSL_POLICY, prop(proxy, "sslPolicy"), proxy, "sslPolicy")
        assert prop(policy, "minTlsVersion") in ("TLS_1_2", "TLS_1_3"), (
            f"{policy.urn}: minTlsVersion {prop(policy, 'minTlsVersion')!r}"
        )
        assert prop(policy, "profile") in ("MODERN", "RESTRICTED"), (
            f"{policy.urn}: profile {prop(policy, 'profile')!r}"
        )
        domains = set()
        for ref in prop(proxy, "sslCertificates", []):
            cert = referenced(plan, CERTIFICATE, ref, proxy, "sslCertificates")
            domains |= set(prop(cert, "managed.domains", []))
        assert domain in domains, f"{proxy.urn}: no certificate for {domain} (has {domains})"


def test_g19_port_80_only_redirects_to_https(plan: Plan) -> None:
    http_rules = [r for r in resources(plan, FORWARDING_RULE) if 80 in _ports(r)]
    assert http_rules, f"{stack_urn(plan)}: no port-80 forwarding rule (no redirect)"
    for rule in http_rules:
        assert _ports(rule) == {80}, f"{rule.urn}: port range {prop(rule, 'portRange')!r}"
        proxy = referenced(plan, HTTP_PROXY, prop(rule, "target"), rule, "target")
        url_map = referenced(plan, URL_MAP, prop(proxy, "urlMap"), proxy, "urlMap")
        assert prop(url_map, "defaultUrlRedirect.httpsRedirect") is True, (
            f"{url_map.urn}: port 80 does not redirect to HTTPS"
        )
        routes = [
            k
            for k in ("defaultService", "defaultRouteAction", "hostRules", "pathMatchers")
            if k in url_map.inputs
        ]
        assert not routes, f"{url_map.urn}: port 80 also routes to backends via {routes}"
    for proxy in resources(plan, HTTP_PROXY):
        url_map = referenced(plan, URL_MAP, prop(proxy, "urlMap"), proxy, "urlMap")
        assert "defaultService" not in url_map.inputs, f"{proxy.urn}: plain HTTP reaches a backend"


def test_g20_backend_logged_rate_limited_and_one_explicit_scheme(plan: Plan) -> None:
    rules = resources(plan, FORWARDING_RULE)
    assert len(rules) == 2, f"{stack_urn(plan)}: forwarding rules {[r.urn for r in rules]}"
    for backend in some(plan, BACKEND):
        armor = referenced(plan, ARMOR, prop(backend, "securityPolicy"), backend, "securityPolicy")
        limits = [
            rule
            for rule in prop(armor, "rules", [])
            if rule.get("action") in ("throttle", "rate_based_ban") and rule.get("rateLimitOptions")
        ]
        assert limits, f"{armor.urn}: no rate-limit rule"
        assert prop(backend, "logConfig.enable") is True, f"{backend.urn}: request logging off"
        scheme = prop(backend, "loadBalancingScheme")
        assert scheme, f"{backend.urn}: loadBalancingScheme not set (provider default changed)"
        for rule in rules:
            assert prop(rule, "loadBalancingScheme") == scheme, (
                f"{rule.urn}: loadBalancingScheme {prop(rule, 'loadBalancingScheme')!r} "
                f"differs from {backend.urn}'s {scheme!r}"
            )
    # The HTTPS path ends at the guarded backend.
    for proxy in some(plan, HTTPS_PROXY):
        url_map = referenced(plan, URL_MAP, prop(proxy, "urlMap"), proxy, "urlMap")
        referenced(plan, BACKEND, prop(url_map, "defaultService"), url_map, "defaultService")


# --- G21: monitoring -------------------------------------------------------------------------


def test_g21_public_url_has_a_tls_uptime_check_with_an_alert_that_notifies(plan: Plan) -> None:
    health = urlsplit(plan.run.outputs["healthUrl"])
    checks = [
        c
        for c in resources(plan, UPTIME)
        if prop(c, "monitoredResource.labels", {}).get("host") == health.hostname
        and prop(c, "httpCheck.path") == health.path
    ]
    assert checks, f"{stack_urn(plan)}: no uptime check on {plan.run.outputs['healthUrl']}"
    for check in checks:
        assert prop(check, "httpCheck.useSsl") is True, f"{check.urn}: not over TLS"
        assert prop(check, "httpCheck.validateSsl") is True, f"{check.urn}: TLS not validated"
        check_id = check.outputs["uptimeCheckId"]
        policies = [
            p
            for p in resources(plan, ALERT)
            if any(
                f'check_id="{check_id}"' in str((c.get("conditionThreshold") or {}).get("filter"))
                for c in prop(p, "conditions", [])
            )
        ]
        assert policies, f"{check.urn}: no alert policy watches this check"
        if plan.stack == "prod":
            notifying = [p for p in policies if prop(p, "notificationChannels")]
            assert notifying, f"{check.urn}: its alert policies notify nobody"
            for policy in notifying:
                for ref in prop(policy, "notificationChannels"):
                    referenced(plan, CHANNEL, ref, policy, "notificationChannels")


# --- X1-X3: labels, destroyability, outputs --------------------------------------------------


def test_x1_required_labels_on_every_labelable_resource(plan: Plan) -> None:
    checked = 0
    for resource in plan.run.resources:
        if not resource.custom:
            continue
        accepted = sdk_args(resource.type)
        field = "userLabels" if "user_labels" in accepted else "labels"
        if "user_labels" not in accepted and "labels" not in accepted:
            continue
        labels = prop(resource, field) or {}
        missing = [key for key in REQUIRED_LABELS if not labels.get(key)]
        assert not missing, f"{resource.urn}: {field} lack {missing}"
        assert labels["env"] == plan.stack, f"{resource.urn}: env label {labels['env']!r}"
        checked += 1
    assert checked, f"{stack_urn(plan)}: no labelable resource found"


def test_x2_dev_destroyable_and_prod_state_protected(plan: Plan) -> None:
    for resource in plan.run.resources:
        if plan.stack == "dev":
            assert not resource.protect, f"{resource.urn}: protect in dev"
            assert not resource.retain_on_delete, f"{resource.urn}: retainOnDelete in dev"
            if "deletion_protection" in sdk_args(resource.type):  # unset means protected
                value = prop(resource, "deletionProtection")
                assert value is False, f"{resource.urn}: deletionProtection is {value!r}"
            assert prop(resource, "deletionPolicy") not in PREVENTING_POLICIES, (
                f"{resource.urn}: deletionPolicy {prop(resource, 'deletionPolicy')!r} in dev"
            )
        elif resource.type in PROTECTED_IN_PROD:
            assert resource.protect and resource.retain_on_delete, (
                f"{resource.urn}: prod needs protect and retainOnDelete"
            )
    for type_token in PROTECTED_IN_PROD:
        some(plan, type_token)


def test_x3_frontend_outputs_present_and_none_secret(plan: Plan) -> None:
    where = stack_urn(plan)
    outputs = plan.run.outputs
    assert set(ENV_NAMES) <= set(outputs), (
        f"{where}: missing {sorted(set(ENV_NAMES) - set(outputs))}"
    )
    assert not plan.run.secret_outputs, f"{where}: secret outputs {sorted(plan.run.secret_outputs)}"
    contract = StackOutputs.from_stack(outputs)
    assert contract.environment == plan.stack, f"{where}: environment {contract.environment!r}"
    for key in ENV_NAMES:
        for _, value, secret in leaves(outputs[key]):
            assert not secret, f"{where}: output {key} is secret"
            assert not (isinstance(value, str) and secret_sign(value)), (
                f"{where}: output {key} {secret_sign(value)}"
            )


def test_no_secret_value_in_any_plain_input_or_output(plan: Plan) -> None:
    """The placeholders plan_stack feeds as app secrets, and the mocked Redis AUTH string, appear
    only inside secret-wrapped values (and in outputs the provider itself marks secret)."""
    redis = one(plan, REDIS)
    assert redis.outputs.get("authString") == MOCK_REDIS_AUTH, (
        f"{redis.urn}: the mocked authString changed; update MOCK_REDIS_AUTH"
    )
    where = stack_urn(plan)
    assert not plan.run.secret_outputs, f"{where}: secret outputs {sorted(plan.run.secret_outputs)}"
    wrapped: set[str] = set()

    def scan(urn: str, kind: str, values: dict[str, Any], secret_keys: frozenset[str]) -> None:
        for key, value in values.items():
            for path, leaf, secret in leaves(value, key, key in secret_keys):
                if not isinstance(leaf, str):
                    continue
                found = [m for m in (PLACEHOLDER, MOCK_REDIS_AUTH) if m in leaf]
                if secret:
                    wrapped.update(found)
                    continue
                assert not found, f"{urn}: plain {kind} {path} holds a secret ({found})"

    for resource in plan.run.resources:
        scan(resource.urn, "input", resource.inputs, frozenset())
        scan(resource.urn, "output", resource.outputs, provider_secret_outputs(resource.type))
    scan(where, "stack output", plan.run.outputs, frozenset())
    # Not vacuous: both kinds of secret were seen, wrapped.
    assert wrapped == {PLACEHOLDER, MOCK_REDIS_AUTH}, f"{where}: secrets seen wrapped: {wrapped}"


def test_every_checked_input_is_known(plan: Plan) -> None:
    """Under a non-preview mock run nothing may be unknown: a rule would pass on it silently."""
    for resource in plan.run.resources:
        for path, value, _ in leaves(resource.inputs):
            assert value != UNKNOWN, f"{resource.urn}: input {path} is unknown"


# --- dev differs from prod -------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    type_token: str
    value: Callable[[RegisteredResource], Any]
    dev: Any
    prod: Any


DIFFERENCES = {
    "cloud-run-scales-to-zero": Difference(
        SERVICE, lambda r: prop(r, "template.scaling.minInstanceCount", 0) == 0, True, False
    ),
    "cloud-run-deletion-protection": Difference(
        SERVICE, lambda r: prop(r, "deletionProtection"), False, True
    ),
    "cloud-run-default-uri-disabled": Difference(
        SERVICE, lambda r: prop(r, "defaultUriDisabled"), False, True
    ),
    "redis-deletion-protection": Difference(
        REDIS, lambda r: prop(r, "deletionProtection"), False, True
    ),
    "redis-tier": Difference(REDIS, lambda r: prop(r, "tier"), "BASIC", "STANDARD_HA"),
    "redis-persistence": Difference(
        REDIS, lambda r: prop(r, "persistenceConfig.persistenceMode"), None, "RDB"
    ),
    "registry-protect": Difference(
        REPOSITORY, lambda r: (r.protect, r.retain_on_delete), (False, False), (True, True)
    ),
    "redis-protect": Difference(
        REDIS, lambda r: (r.protect, r.retain_on_delete), (False, False), (True, True)
    ),
    "secrets-protect": Difference(
        SECRET, lambda r: (r.protect, r.retain_on_delete), (False, False), (True, True)
    ),
    "alert-policies-notify": Difference(
        ALERT, lambda r: bool(prop(r, "notificationChannels")), False, True
    ),
}


@pytest.mark.parametrize("aspect", sorted(DIFFERENCES))
def test_dev_differs_from_prod(plans: dict[str, Plan], aspect: str) -> None:
    difference = DIFFERENCES[aspect]
    for stack, expected in (("dev", difference.dev), ("prod", difference.prod)):
        for resource in some(plans[stack], difference.type_token):
            actual = difference.value(resource)
            assert actual == expected, f"{resource.urn}: {aspect} is {actual!r}, not {expected!r}"


def test_alert_channels_none_in_dev_one_per_address_in_prod(plans: dict[str, Plan]) -> None:
    """Dev's committed config alerts nobody; prod's reaches every configured address."""
    dev = resources(plans["dev"], CHANNEL)
    assert not dev, f"{stack_urn(plans['dev'])}: alert channels {[r.urn for r in dev]}"
    emails = sorted(load_stack_config("prod").alert_emails)
    assert emails, f"{stack_urn(plans['prod'])}: prod config lists no alert address"
    channels = some(plans["prod"], CHANNEL)
    for channel in channels:
        assert prop(channel, "type") == "email", f"{channel.urn}: type {prop(channel, 'type')!r}"
    found = sorted(prop(c, "labels.email_address") for c in channels)
    assert found == emails, f"{[c.urn for c in channels]}: notify {found}, config has {emails}"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_gcp_resource_uses_the_stack_provider(stack: str, plans) -> None:
    """Resources go through the explicit provider built from gcpProject/region, never the
    ambient default one (which would deploy to whatever project the shell points at)."""
    run = plans[stack].run
    (provider,) = [r for r in run.resources if r.type == "pulumi:providers:gcp"]
    for r in run.resources:
        if r.custom and r.type.startswith("gcp:"):
            assert r.provider and r.provider.startswith(provider.urn), (
                f"{r.urn} does not use {provider.urn} (provider {r.provider})"
            )
