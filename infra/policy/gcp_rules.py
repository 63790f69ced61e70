"""The GCP rows of the security rule table (INFRA_NOTES.md: G1-G21, X1-X2) as engine rules.

Every rule reads Pulumi wire-form properties (camelCase) through `Resource.get`, so an unknown
value raises `Unknown` and the engine reports "cannot judge" instead of passing. Messages name
the property and the offending value, never a secret's value.

Decisions where the table leaves room:
- G6: ``maxInstanceCount >= 1`` everywhere, ``minInstanceCount >= 1`` in prod only (scope all).
- G7 and G15: unset ``deletionProtection`` counts as true (the provider default); G7 wants true
  in prod and false in dev, G15 (prod) wants true or ``deletionPolicy: PREVENT``.
- G17: project-wide ``secretAccessor``, ``editor`` or ``owner`` is refused for any member;
  per-secret ``editor``/``owner`` for a Cloud Run runtime account too.
- G20: every part (Cloud Armor with a rate limit, request logs, one explicit scheme) applies
  to dev and prod alike.
- Cross-resource references (``sslPolicy``, ``urlMap``, ``securityPolicy``, an invoker's
  service) resolve by the last path segment against the logical name (or ``name``) of a
  resource of this stack; a reference to nothing in the stack cannot be checked and is reported.
- X3 needs the stack outputs, which StackRule cannot see: it is `check_outputs` in
  `infra.policy.common`, shared with the AWS rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from infra.policy.common import (
    SECRET_LOOKING_NAME,
    StackViolations,
    expect,
    is_wire_secret,
    items,
    missing_labels,
    names,
    not_in_stack,
    of_type,
    options_blocking_destroy,
    referenced,
    resource_rule,
    show,
    stack_rule,
    x2_violations,
)
from infra.policy.engine import Context, Resource, Rule

ALERT = "gcp:monitoring/alertPolicy:AlertPolicy"
ARMOR = "gcp:compute/securityPolicy:SecurityPolicy"
BACKEND = "gcp:compute/backendService:BackendService"
CERTIFICATE = "gcp:compute/managedSslCertificate:ManagedSslCertificate"
CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"
FORWARDING_RULE = "gcp:compute/globalForwardingRule:GlobalForwardingRule"
GLOBAL_ADDRESS = "gcp:compute/globalAddress:GlobalAddress"
HTTP_PROXY = "gcp:compute/targetHttpProxy:TargetHttpProxy"
HTTPS_PROXY = "gcp:compute/targetHttpsProxy:TargetHttpsProxy"
INVOKER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
PROJECT_IAM = ("gcp:projects/iAMMember:IAMMember", "gcp:projects/iAMBinding:IAMBinding")
REDIS = "gcp:redis/instance:Instance"
REPOSITORY = "gcp:artifactregistry/repository:Repository"
SECRET = "gcp:secretmanager/secret:Secret"
SECRET_IAM = "gcp:secretmanager/secretIamMember:SecretIamMember"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
SERVICE = "gcp:cloudrunv2/service:Service"
SSL_POLICY = "gcp:compute/sSLPolicy:SSLPolicy"
UPTIME = "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig"
URL_MAP = "gcp:compute/uRLMap:URLMap"

LB_ONLY_INGRESS = ("INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER", "INGRESS_TRAFFIC_INTERNAL_ONLY")
PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})
DEFAULT_COMPUTE_SA = re.compile(r".*-compute@developer\.gserviceaccount\.com")
DIGEST = re.compile(r"[^\s@]+@sha256:[0-9a-f]{64}")
ACCESSOR_ROLE = "roles/secretmanager.secretAccessor"
BROAD_ROLES = frozenset({"roles/editor", "roles/owner"})
RATE_LIMIT_ACTIONS = frozenset({"throttle", "rate_based_ban"})
UPTIME_CHECK_ID = re.compile(r'check_id\s*=\s*"([^"]+)"')
# X1: resources that take labels, and the field they use when it is not `labels`.
LABELED = (REPOSITORY, SERVICE, GLOBAL_ADDRESS, FORWARDING_RULE, ARMOR, REDIS, SECRET)
USER_LABELED = (ALERT, CHANNEL, UPTIME)
# X2: unset deletionProtection means protected for these; prod keeps these across a destroy.
PROTECTED_BY_DEFAULT = frozenset({SERVICE, REDIS})
PREVENTING_POLICIES = frozenset({"PREVENT", "ABANDON"})
KEPT_IN_PROD = (REDIS, SECRET, REPOSITORY)


# --- helpers -----------------------------------------------------------------------------------


def containers(service: Resource) -> list[str]:
    return items(service, "template.containers")


# --- G1-G9: Cloud Run ----------------------------------------------------------------------------


@resource_rule(
    "G1",
    "Cloud Run accepts traffic only from the load balancer",
    (SERVICE,),
    "mandatory",
    "high",
    "all",
    "Set ingress to INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER so requests must pass the load "
    "balancer (TLS policy, Cloud Armor).",
)
def g1(service: Resource, context: Context) -> list[str]:
    return expect(service, "ingress", LB_ONLY_INGRESS)


@resource_rule(
    "G2",
    "Cloud Run default run.app URL disabled in prod",
    (SERVICE,),
    "advisory",
    "medium",
    "prod",
    "Set default_uri_disabled=True so the *.run.app URL cannot bypass the load balancer.",
)
def g2(service: Resource, context: Context) -> list[str]:
    return expect(service, "defaultUriDisabled", (True,))


@stack_rule(
    "G3",
    "Unauthenticated invocation only with load-balancer-only ingress",
    "mandatory",
    "critical",
    "all",
    "Keep ingress INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER wherever invokerIamDisabled is true or "
    "allUsers/allAuthenticatedUsers hold roles/run.invoker; otherwise grant named members only.",
)
def g3(resources: Sequence[Resource], context: Context) -> StackViolations:
    for service in of_type(resources, SERVICE):
        ingress = service.get("ingress")
        if service.get("invokerIamDisabled") is True and ingress not in LB_ONLY_INGRESS:
            yield service.urn, f"invokerIamDisabled is True while ingress is {show(ingress)}"
    for grant in of_type(resources, INVOKER):
        member = grant.get("member")
        if member not in PUBLIC_MEMBERS:
            continue
        service = referenced(resources, SERVICE, grant.get("name"))
        if service is None:
            yield (
                grant.urn,
                f"member {member}: " + not_in_stack("name", grant.get("name"), "Cloud Run service"),
            )
        elif (ingress := service.get("ingress")) not in LB_ONLY_INGRESS:
            yield (
                grant.urn,
                f"member {member} may invoke {service.name}, whose ingress is {show(ingress)}",
            )


@resource_rule(
    "G4",
    "Cloud Run runs as a dedicated service account",
    (SERVICE,),
    "mandatory",
    "high",
    "all",
    "Create a service account for the service and set template.service_account to its email; "
    "never use the default compute account.",
)
def g4(service: Resource, context: Context) -> list[str]:
    email = service.get("template.serviceAccount")
    if not email:
        return [f"template.serviceAccount is {show(email)} (runs as the default compute account)"]
    if DEFAULT_COMPUTE_SA.fullmatch(str(email)):
        return [f"template.serviceAccount is {show(email)}, the default compute account"]
    return []


@resource_rule(
    "G5",
    "No secret in a plain Cloud Run environment variable",
    (SERVICE,),
    "mandatory",
    "critical",
    "all",
    "Store the value in Secret Manager and pass it as envs[].value_source.secret_key_ref.",
)
def g5(service: Resource, context: Context) -> Iterator[str]:
    for container in containers(service):
        for env in items(service, f"{container}.envs"):
            name = str(service.get(f"{env}.name", ""))
            if SECRET_LOOKING_NAME.search(name) and service.get(f"{env}.value") is not None:
                yield f"{env}.value sets {name} in plain text (its value is not shown)"


@resource_rule(
    "G6",
    "Cloud Run instance cap, and a warm instance in prod",
    (SERVICE,),
    "mandatory",
    "medium",
    "all",
    "Set template.scaling.max_instance_count (cost/DoS cap) and, in prod, "
    "min_instance_count >= 1 (no cold starts).",
)
def g6(service: Resource, context: Context) -> list[str]:
    high = service.get("template.scaling.maxInstanceCount")
    low = service.get("template.scaling.minInstanceCount", 0)
    found = []
    if not isinstance(high, int | float) or high < 1:
        found.append(f"template.scaling.maxInstanceCount is {show(high)}, expected >= 1")
    if context.environment == "prod" and not (isinstance(low, int | float) and low >= 1):
        found.append(f"template.scaling.minInstanceCount is {show(low)}, expected >= 1 in prod")
    return found


@resource_rule(
    "G7",
    "Cloud Run deletion protection on in prod, off in dev",
    (SERVICE,),
    "mandatory",
    "medium",
    "all",
    "Set deletion_protection=True in prod and False in dev (the provider default, true, "
    "makes `pulumi destroy` fail).",
)
def g7(service: Resource, context: Context) -> list[str]:
    return expect(service, "deletionProtection", (context.environment == "prod",), True)


@resource_rule(
    "G8",
    "Cloud Run image pinned by digest in prod",
    (SERVICE,),
    "advisory",
    "medium",
    "prod",
    "Reference the pushed image by its repo digest (image@sha256:...), not a tag.",
)
def g8(service: Resource, context: Context) -> Iterator[str]:
    for container in containers(service):
        image = service.get(f"{container}.image")
        if not DIGEST.fullmatch(str(image)):
            yield f"{container}.image is {show(image)}, not pinned by @sha256 digest"


@resource_rule(
    "G9",
    "Cloud Run probes and resource limits",
    (SERVICE,),
    "advisory",
    "low",
    "all",
    "Give every container a startup_probe and a liveness_probe and set resources.limits "
    "(cpu, memory).",
)
def g9(service: Resource, context: Context) -> Iterator[str]:
    for container in containers(service):
        for part in (
            "startupProbe",
            "livenessProbe",
            "resources.limits.cpu",
            "resources.limits.memory",
        ):
            if not service.get(f"{container}.{part}"):
                yield f"{container}.{part} is not set"


# --- G10-G11: Artifact Registry ------------------------------------------------------------------


@resource_rule(
    "G10",
    "Docker registry with immutable tags in prod",
    (REPOSITORY,),
    "mandatory",
    "high",
    "prod",
    'Use format="DOCKER" with docker_config.immutable_tags=True so a tag cannot be repointed.',
)
def g10(repository: Resource, context: Context) -> list[str]:
    return expect(repository, "format", ("DOCKER",)) + expect(
        repository, "dockerConfig.immutableTags", (True,)
    )


@resource_rule(
    "G11",
    "Registry scanning on and cleanup policies active",
    (REPOSITORY,),
    "advisory",
    "medium",
    "all",
    "Leave vulnerability_scanning_config enabled (not DISABLED) and add cleanup_policies "
    "(without cleanup_policy_dry_run).",
)
def g11(repository: Resource, context: Context) -> list[str]:
    found = []
    scanning = repository.get("vulnerabilityScanningConfig.enablementConfig")
    if scanning == "DISABLED":
        found.append(f"vulnerabilityScanningConfig.enablementConfig is {show(scanning)}")
    if not repository.get("cleanupPolicies"):
        found.append("cleanupPolicies is not set")
    if repository.get("cleanupPolicyDryRun") is True:
        found.append("cleanupPolicyDryRun is True (policies never delete)")
    return found


# --- G12-G15: Memorystore ------------------------------------------------------------------------


@resource_rule(
    "G12",
    "Redis AUTH enabled",
    (REDIS,),
    "mandatory",
    "high",
    "all",
    "Set auth_enabled=True and pass the AUTH string to the service as a secret.",
)
def g12(redis: Resource, context: Context) -> list[str]:
    return expect(redis, "authEnabled", (True,))


@resource_rule(
    "G13",
    "Redis in-transit encryption",
    (REDIS,),
    "mandatory",
    "high",
    "all",
    'Set transit_encryption_mode="SERVER_AUTHENTICATION"; connect with rediss:// on 6378 '
    "trusting server_ca_certs.",
)
def g13(redis: Resource, context: Context) -> list[str]:
    return expect(redis, "transitEncryptionMode", ("SERVER_AUTHENTICATION",))


@resource_rule(
    "G14",
    "Redis highly available, persistent and private in prod",
    (REDIS,),
    "advisory",
    "medium",
    "prod",
    'Use tier="STANDARD_HA", a persistence_config (RDB) and connect_mode="PRIVATE_SERVICE_ACCESS".',
)
def g14(redis: Resource, context: Context) -> list[str]:
    found = expect(redis, "tier", ("STANDARD_HA",))
    mode = redis.get("persistenceConfig.persistenceMode")
    if mode in (None, "DISABLED"):
        found.append(f"persistenceConfig.persistenceMode is {show(mode)}")
    return found + expect(redis, "connectMode", ("PRIVATE_SERVICE_ACCESS",))


@resource_rule(
    "G15",
    "Redis deletion protection in prod",
    (REDIS,),
    "mandatory",
    "medium",
    "prod",
    "Set deletion_protection=True on the prod instance.",
)
def g15(redis: Resource, context: Context) -> list[str]:
    if redis.get("deletionPolicy") == "PREVENT":
        return []
    return expect(redis, "deletionProtection", (True,), True)


# --- G16-G17: Secret Manager ---------------------------------------------------------------------


@resource_rule(
    "G16",
    "Secret values stay out of state",
    (SECRET_VERSION,),
    "advisory",
    "medium",
    "all",
    "Pass the value as secret_data_wo with a secret_data_wo_version (write-only), or at least "
    "from config.require_secret.",
)
def g16(version: Resource, context: Context) -> list[str]:
    found = []
    if version.get("secretData") is not None and not is_wire_secret(version, "secretData"):
        found.append("secretData is a plain (non-secret) value stored in state")
    if version.get("secretDataWo") is not None and version.get("secretDataWoVersion") is None:
        found.append("secretDataWoVersion is not set (a new secretDataWo would not roll a version)")
    return found


def project_grants(grant: Resource) -> Iterator[tuple[str, str]]:
    """(role, member) of a project-level IAM member or binding."""
    role = str(grant.get("role"))
    members = grant.get("members") or [grant.get("member")]
    for member in members:
        yield role, str(member)


@stack_rule(
    "G17",
    "Secret access granted per secret; no broad roles",
    "mandatory",
    "high",
    "all",
    "Grant roles/secretmanager.secretAccessor with a SecretIamMember on each secret the service "
    "reads; never project-wide, and never roles/editor or roles/owner.",
)
def g17(resources: Sequence[Resource], context: Context) -> StackViolations:
    for grant in of_type(resources, *PROJECT_IAM):
        for role, member in project_grants(grant):
            if role == ACCESSOR_ROLE or role in BROAD_ROLES:
                yield grant.urn, f"role {role} is granted project-wide to {member}"
    runtime = {
        f"serviceAccount:{s.get('template.serviceAccount')}" for s in of_type(resources, SERVICE)
    }
    for grant in of_type(resources, SECRET_IAM):
        role, member = grant.get("role"), grant.get("member")
        if role in BROAD_ROLES and member in runtime:
            yield grant.urn, f"role {role} is granted to the runtime account {member}"


# --- G18-G20: the load balancer ------------------------------------------------------------------


@stack_rule(
    "G18",
    "HTTPS proxy uses a TLS 1.2+ MODERN/RESTRICTED SSL policy",
    "mandatory",
    "high",
    "all",
    'Attach an SSLPolicy with min_tls_version="TLS_1_2" and profile "MODERN" (or "RESTRICTED") '
    "to every TargetHttpsProxy.",
)
def g18(resources: Sequence[Resource], context: Context) -> StackViolations:
    for proxy in of_type(resources, HTTPS_PROXY):
        ref = proxy.get("sslPolicy")
        policy = referenced(resources, SSL_POLICY, ref)
        if not ref:
            yield proxy.urn, "sslPolicy is not set (the default policy allows TLS 1.0)"
        elif policy is None:
            yield proxy.urn, not_in_stack("sslPolicy", ref, "SSL policy")
        else:
            for message in expect(policy, "minTlsVersion", ("TLS_1_2", "TLS_1_3")) + expect(
                policy, "profile", ("MODERN", "RESTRICTED")
            ):
                yield policy.urn, message


ROUTING_KEYS = ("defaultService", "defaultRouteAction", "hostRules", "pathMatchers")


@stack_rule(
    "G19",
    "Plain HTTP only redirects to HTTPS",
    "mandatory",
    "critical",
    "all",
    "Point every TargetHttpProxy at a URL map whose only content is "
    "default_url_redirect.https_redirect=True.",
)
def g19(resources: Sequence[Resource], context: Context) -> StackViolations:
    for proxy in of_type(resources, HTTP_PROXY):
        ref = proxy.get("urlMap")
        url_map = referenced(resources, URL_MAP, ref)
        if url_map is None:
            yield proxy.urn, not_in_stack("urlMap", ref, "URL map")
            continue
        for message in expect(url_map, "defaultUrlRedirect.httpsRedirect", (True,)):
            yield url_map.urn, f"{message} (serves plain HTTP)"
        for key in ROUTING_KEYS:
            if url_map.get(key) is not None:
                yield url_map.urn, f"{key} is set: plain HTTP reaches a backend"


def rate_limited(armor: Resource) -> bool:
    return any(
        armor.get(f"{rule}.action") in RATE_LIMIT_ACTIONS and armor.get(f"{rule}.rateLimitOptions")
        for rule in items(armor, "rules")
    )


@stack_rule(
    "G20",
    "Backend behind Cloud Armor with a rate limit, logged, one explicit scheme",
    "mandatory",
    "medium",
    "all",
    "Attach a SecurityPolicy with a throttle/rate_based_ban rule, set log_config.enable=True, "
    "and set load_balancing_scheme explicitly and identically on the backend service and the "
    "forwarding rules.",
)
def g20(resources: Sequence[Resource], context: Context) -> StackViolations:
    forwarding = of_type(resources, FORWARDING_RULE)
    for backend in of_type(resources, BACKEND):
        ref = backend.get("securityPolicy")
        armor = referenced(resources, ARMOR, ref)
        if not ref:
            yield backend.urn, "securityPolicy is not set (no Cloud Armor)"
        elif armor is None:
            yield backend.urn, not_in_stack("securityPolicy", ref, "Cloud Armor policy")
        elif not rate_limited(armor):
            yield armor.urn, "rules have no throttle or rate_based_ban rule with rateLimitOptions"
        for message in expect(backend, "logConfig.enable", (True,)):
            yield backend.urn, message
        scheme = backend.get("loadBalancingScheme")
        if scheme is None:
            yield (
                backend.urn,
                "loadBalancingScheme is not set (the provider default changed in v10)",
            )
            continue
        for rule in forwarding:
            if (other := rule.get("loadBalancingScheme")) != scheme:
                yield (
                    rule.urn,
                    f"loadBalancingScheme is {show(other)}, but {backend.name}'s is {show(scheme)}",
                )


# --- G21: monitoring -----------------------------------------------------------------------------


def watches(policy: Resource, check: Resource) -> bool:
    """Whether an alert policy's condition filters on ``check``'s uptime results (its check id
    is the logical name plus the suffix auto-naming adds)."""
    for condition in items(policy, "conditions"):
        for kind in ("conditionThreshold", "conditionAbsent"):
            text = str(policy.get(f"{condition}.{kind}.filter", ""))
            for check_id in UPTIME_CHECK_ID.findall(text):
                if check_id in names(check) or check_id.startswith(f"{check.name}-"):
                    return True
    return False


def uptime_problems(check: Resource, policies: Sequence[Resource]) -> Iterator[str]:
    for flag in ("httpCheck.useSsl", "httpCheck.validateSsl"):
        yield from expect(check, flag, (True,))
    watching = [p for p in policies if watches(p, check)]
    if not watching:
        yield "no alert policy watches this uptime check"
    elif not any(p.get("notificationChannels") for p in watching):
        listed = ", ".join(p.name for p in watching)
        yield f"the alert policies watching it ({listed}) notify nobody"


@stack_rule(
    "G21",
    "Every public URL has a TLS uptime check whose alert notifies someone",
    "mandatory",
    "medium",
    "prod",
    "Add an UptimeCheckConfig (use_ssl, validate_ssl) on each public host and an AlertPolicy on "
    "its check_passed metric with at least one notification channel.",
)
def g21(resources: Sequence[Resource], context: Context) -> StackViolations:
    checks, policies = of_type(resources, UPTIME), of_type(resources, ALERT)
    for certificate in of_type(resources, CERTIFICATE):
        for host in certificate.get("managed.domains") or []:
            on_host = [c for c in checks if c.get("monitoredResource.labels.host") == host]
            if not on_host:
                yield (
                    certificate.urn,
                    f"managed.domains has {host!r}, which no uptime check watches",
                )
            for check in on_host:
                for message in uptime_problems(check, policies):
                    yield check.urn, message


# --- X1-X3: labels, destroyability, outputs ------------------------------------------------------


@resource_rule(
    "X1",
    "Required labels, env matching the stack",
    LABELED + USER_LABELED,
    "advisory",
    "low",
    "all",
    "Label every resource with env (the stack's environment), service and owner (infra.labels).",
)
def x1(resource: Resource, context: Context) -> Iterator[str]:
    yield from missing_labels(
        resource, "userLabels" if resource.type in USER_LABELED else "labels", context
    )


def blocks_destroy(resource: Resource) -> Iterator[str]:
    yield from options_blocking_destroy(resource)
    default = True if resource.type in PROTECTED_BY_DEFAULT else None
    if (value := resource.get("deletionProtection", default)) is True:
        unset = "deletionProtection" not in resource.props
        yield f"deletionProtection is {show(value)}{' (provider default)' if unset else ''}"
    if (policy := resource.get("deletionPolicy")) in PREVENTING_POLICIES:
        yield f"deletionPolicy is {show(policy)}"


@stack_rule(
    "X2",
    "Dev destroyable; prod state kept",
    "advisory",
    "medium",
    "all",
    "In dev, set no protect/retain_on_delete and deletion_protection=False; in prod, give Redis, "
    "secrets and the registry protect=True (and retain_on_delete=True).",
)
def x2(resources: Sequence[Resource], context: Context) -> StackViolations:
    return x2_violations(resources, context, blocks_destroy, KEPT_IN_PROD)


GCP_RULES: tuple[Rule, ...] = (
    g1, g2, g3, g4, g5, g6, g7, g8, g9, g10, g11, g12, g13, g14, g15, g16, g17, g18, g19, g20,
    g21, x1, x2,
)  # fmt: skip
