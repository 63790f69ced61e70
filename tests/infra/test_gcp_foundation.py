"""Registry, network, secrets and cache under Pulumi's mocks: the security rules of the GCP
table (G10-G17, X1, X2) hold for dev-like and prod-like arguments, dev differs from prod where
it should, no secret value is ever plain, and bad arguments fail before any resource exists.

Every assertion names the resource (URN or name) it is about.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pytest

from infra.gcp.cache import Cache, CacheArgs, first_ca_cert, redis_url
from infra.gcp.network import Network, NetworkArgs, plan_ranges
from infra.gcp.registry import Registry, RegistryArgs, cleanup_policies
from infra.gcp.secrets import (
    ACCESSOR_ROLE,
    Secrets,
    SecretsArgs,
    secret_id_for,
)
from infra.labels import standard_labels, validate_labels
from infra.mocks import ProgramRun, RecordingMonitor, RegisteredResource
from infra.secret_values import value_version
from tests.infra.conftest import run_component
from tests.infra.tokens import (
    ACCESS,
    ADDRESS,
    PEERING,
    REDIS,
    REPOSITORY,
    SECRET,
    SUBNET,
    VERSION,
    VPC,
)

ENVIRONMENTS = ("dev", "prod")
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's wire marker of a secret value

# The types of this file that take labels (VPCs, subnets, IAM members and versions do not).
LABELLED = (REPOSITORY, ADDRESS, REDIS, SECRET)
# What prod protects against deletion (rule X2).
PROTECTED = (REPOSITORY, REDIS, SECRET)

ACCESSOR = "serviceAccount:emg-run@emg-analyzer-test.iam.gserviceaccount.com"
JWT = "jwt-value-0123456789abcdef"
DATABASE_URL = "postgresql://emg:db-password-42@db.example.org/emg"
WEBHOOK = "plain-webhook-value"  # passed as a plain str: the component must still hide it
MOCK_AUTH = "mock-redis-auth-string"  # what infra.mocks reports as the instance's AUTH string
SECRET_VALUES = (JWT, DATABASE_URL, WEBHOOK, MOCK_AUTH, "db-password-42")


# -- arguments of a dev-like and a prod-like stack -------------------------------------------


def registry_args(env: str) -> RegistryArgs:
    return RegistryArgs(
        project=f"emg-analyzer-{env}",
        location="europe-west4",
        repository_id=f"emg-{env}",
        labels=standard_labels(env),
        protect=env == "prod",
    )


def network_args(env: str) -> NetworkArgs:
    return NetworkArgs(
        project=f"emg-analyzer-{env}", region="europe-west4", labels=standard_labels(env)
    )


def cache_args(env: str, network: Network | None = None) -> CacheArgs:
    return CacheArgs(
        project=f"emg-analyzer-{env}",
        region="europe-west4",
        labels=standard_labels(env),
        network_id=network.network_id if network else "projects/p/global/networks/n",
        tier="STANDARD_HA" if env == "prod" else "BASIC",
        memory_gb=1,
        protect=env == "prod",
        depends_on=[network.private_services] if network else [],
    )


def secrets_args(env: str, values: dict[str, Any] | None = None) -> SecretsArgs:
    return SecretsArgs(
        project=f"emg-analyzer-{env}",
        labels=standard_labels(env),
        values=values or {"JWT_SECRET": pulumi.Output.secret(JWT)},
        accessor=ACCESSOR,
        protect=env == "prod",
    )


def foundation(env: str) -> Callable[[], None]:
    """The four components wired as the platform wires them, their outputs exported."""

    def build() -> None:
        registry = Registry("t-registry", registry_args(env))
        network = Network("t-network", network_args(env))
        cache = Cache("t-cache", cache_args(env, network))
        values = {
            "JWT_SECRET": pulumi.Output.secret(JWT),
            "DATABASE_URL": pulumi.Output.secret(DATABASE_URL),
            "SUPABASE_WEBHOOK_SECRET": WEBHOOK,
            "REDIS_URL": cache.redis_url,
            "REDIS_CA_CERT": cache.ca_cert,
        }
        secrets = Secrets("t-secrets", secrets_args(env, values))
        pulumi.export("repository_url", registry.repository_url)
        pulumi.export("network_id", network.network_id)
        pulumi.export("network_self_link", network.network_self_link)
        pulumi.export("subnet_id", network.subnet_id)
        pulumi.export("subnet_self_link", network.subnet_self_link)
        pulumi.export("redis_url", cache.redis_url)
        pulumi.export("ca_cert", cache.ca_cert)
        pulumi.export("instance_id", cache.instance_id)
        pulumi.export("instance_name", cache.instance_name)
        for env_var, secret_id in secrets.secret_ids.items():
            pulumi.export(f"secret_id_{env_var}", secret_id)

    return build


@pytest.fixture(scope="module")
def runs() -> dict[str, ProgramRun]:
    return {env: run_component(foundation(env), stack=env) for env in ENVIRONMENTS}


@pytest.fixture(params=ENVIRONMENTS)
def env_run(request, runs) -> tuple[str, ProgramRun]:
    return request.param, runs[request.param]


# -- helpers ----------------------------------------------------------------------------------


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and SECRET_SIG in value


def plain_strings(value: Any) -> Iterator[str]:
    """Every string in ``value`` that is not inside a secret."""
    if is_secret(value):
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from plain_strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from plain_strings(item)
    elif isinstance(value, str):
        yield value


def children(run: ProgramRun, component: RegisteredResource) -> list[RegisteredResource]:
    return [r for r in run.resources if r.parent == component.urn]


# -- X1, X2, naming: every resource of the four components -----------------------------------


def test_components_use_their_type_tokens_and_own_their_resources(env_run) -> None:
    _env, run = env_run
    tokens = {"t-registry": "emg:gcp:Registry", "t-network": "emg:gcp:Network"}
    tokens |= {"t-cache": "emg:gcp:Cache", "t-secrets": "emg:gcp:Secrets"}
    for name, token in tokens.items():
        component = run.named(name)
        assert component.type == token, f"{component.urn}: type {component.type}, not {token}"
        assert not component.custom, f"{component.urn} must be a ComponentResource"
        assert children(run, component), f"{component.urn} has no children"
    components = {r.urn for r in run.resources if not r.custom}
    for resource in (r for r in run.resources if r.custom):
        assert resource.parent in components, f"{resource.urn} is not parented to a component"


def test_child_names_are_prefixed_by_their_component(env_run) -> None:
    _env, run = env_run
    for component in (r for r in run.resources if not r.custom):
        for child in children(run, component):
            assert child.name.startswith(f"{component.name}-"), (
                f"{child.urn}: name {child.name!r} lacks the prefix {component.name}-"
            )


def test_labelled_resources_carry_the_standard_labels(env_run) -> None:
    """X1: env, service, owner on every resource that takes labels."""
    env, run = env_run
    expected = standard_labels(env)
    found = [r for r in run.resources if r.type in LABELLED]
    assert {r.type for r in found} == set(LABELLED), f"{env}: labelled types {found}"
    for resource in found:
        labels = resource.inputs.get("labels")
        assert labels == expected, f"{resource.urn}: labels {labels}, expected {expected}"
        assert labels["env"] == env, f"{resource.urn}: env label {labels['env']} on stack {env}"


def test_prod_protects_registry_cache_and_secrets(runs) -> None:
    """X2, prod: protect and retain_on_delete on the registry, Redis and every secret."""
    run = runs["prod"]
    for resource in (r for r in run.resources if r.type in PROTECTED):
        assert resource.protect, f"{resource.urn} is not protected in prod"
        assert resource.retain_on_delete, f"{resource.urn} has no retain_on_delete in prod"


def test_dev_protects_nothing_so_destroy_works(runs) -> None:
    """X2, dev: no protect, no retain_on_delete, no provider deletion protection anywhere."""
    run = runs["dev"]
    for resource in run.resources:
        assert not resource.protect, f"{resource.urn} is protected in dev"
        assert not resource.retain_on_delete, f"{resource.urn} has retain_on_delete in dev"
        assert resource.inputs.get("deletionProtection") is not True, (
            f"{resource.urn} has deletionProtection in dev"
        )


def test_rotated_versions_are_never_protected(runs) -> None:
    """A rotation replaces a version: protecting it would block the rotation."""
    for resource in runs["prod"].of_type(VERSION) + runs["prod"].of_type(ACCESS):
        assert not resource.protect, f"{resource.urn} is protected: rotation would fail"


# -- G10, G11: registry ------------------------------------------------------------------------


def test_registry_is_docker_with_immutable_tags(env_run) -> None:
    """G10."""
    env, run = env_run
    repo = run.one(REPOSITORY)
    assert repo.inputs["format"] == "DOCKER", f"{repo.urn}: format {repo.inputs['format']}"
    assert repo.inputs["dockerConfig"] == {"immutableTags": True}, f"{repo.urn}: tags mutable"
    assert repo.inputs["repositoryId"] == f"emg-{env}", f"{repo.urn}: repositoryId"


def test_registry_scans_and_cleans_up(env_run) -> None:
    """G11: scanning not DISABLED; keep the newest 10, delete untagged after 14 days."""
    _env, run = env_run
    repo = run.one(REPOSITORY)
    scanning = repo.inputs["vulnerabilityScanningConfig"]
    assert scanning == {"enablementConfig": "INHERITED"}, f"{repo.urn}: scanning {scanning}"
    assert repo.inputs["cleanupPolicyDryRun"] is False, f"{repo.urn}: cleanup is a dry run"
    policies = {p["id"]: p for p in repo.inputs["cleanupPolicies"]}
    assert policies["keep-recent"]["action"] == "KEEP", f"{repo.urn}: {policies}"
    assert policies["keep-recent"]["mostRecentVersions"] == {"keepCount": 10}, f"{repo.urn}"
    delete = policies["delete-untagged"]
    assert delete["action"] == "DELETE", f"{repo.urn}: {delete}"
    assert delete["condition"] == {"tagState": "UNTAGGED", "olderThan": "1209600s"}, (
        f"{repo.urn}: {delete['condition']}"
    )


def test_registry_url_is_the_registry_uri(env_run) -> None:
    env, run = env_run
    url = run.outputs["repository_url"]
    assert url == f"europe-west4-docker.pkg.dev/emg-analyzer-{env}/emg-{env}", (
        f"{run.one(REPOSITORY).urn}: repository_url {url}"
    )


def test_cleanup_policies_follow_the_arguments() -> None:
    args = dataclasses.replace(
        registry_args("dev"), keep_recent_versions=3, untagged_max_age_days=1
    )
    keep, delete = cleanup_policies(args)
    assert keep.most_recent_versions.keep_count == 3
    assert delete.condition.older_than == "86400s"


# -- network ------------------------------------------------------------------------------------


def test_network_has_only_chosen_ranges_and_private_service_access(env_run) -> None:
    _env, run = env_run
    vpc, subnet = run.one(VPC), run.one(SUBNET)
    address, peering = run.one(ADDRESS), run.one(PEERING)
    assert vpc.inputs["autoCreateSubnetworks"] is False, f"{vpc.urn}: auto subnets"
    assert subnet.inputs["ipCidrRange"] == "10.20.0.0/24", f"{subnet.urn}: range"
    assert subnet.inputs["privateIpGoogleAccess"] is True, f"{subnet.urn}: no Google access"
    assert subnet.inputs["network"] == vpc.outputs["id"], f"{subnet.urn}: network"
    assert address.inputs["purpose"] == "VPC_PEERING", f"{address.urn}: purpose"
    assert address.inputs["addressType"] == "INTERNAL", f"{address.urn}: address type"
    assert address.inputs["prefixLength"] == 20, f"{address.urn}: prefix length"
    assert address.inputs["network"] == vpc.outputs["id"], f"{address.urn}: network"
    assert peering.inputs["service"] == "servicenetworking.googleapis.com", f"{peering.urn}"
    assert peering.inputs["reservedPeeringRanges"] == [address.outputs["name"]], (
        f"{peering.urn}: peering ranges {peering.inputs['reservedPeeringRanges']}"
    )
    assert run.outputs["network_id"] == vpc.outputs["id"], f"{vpc.urn}: network_id"
    assert run.outputs["subnet_id"] == subnet.outputs["id"], f"{subnet.urn}: subnet_id"
    assert run.outputs["subnet_self_link"].startswith("https://"), f"{subnet.urn}: self link"


# -- G12-G15: cache -----------------------------------------------------------------------------


def test_cache_has_auth_tls_and_private_access(env_run) -> None:
    """G12, G13, G14 (connect mode), on both environments."""
    _env, run = env_run
    redis = run.one(REDIS)
    expected = {
        "authEnabled": True,
        "transitEncryptionMode": "SERVER_AUTHENTICATION",
        "connectMode": "PRIVATE_SERVICE_ACCESS",
        "redisVersion": "REDIS_7_2",
        "authorizedNetwork": run.one(VPC).outputs["id"],
        "memorySizeGb": 1,
    }
    for key, value in expected.items():
        assert redis.inputs.get(key) == value, f"{redis.urn}: {key}={redis.inputs.get(key)}"


def test_prod_cache_is_highly_available_persistent_and_protected(runs) -> None:
    """G14, G15 in prod."""
    redis = runs["prod"].one(REDIS)
    assert redis.inputs["tier"] == "STANDARD_HA", f"{redis.urn}: tier {redis.inputs['tier']}"
    assert redis.inputs["replicaCount"] == 1, f"{redis.urn}: replicas"
    assert redis.inputs["readReplicasMode"] == "READ_REPLICAS_DISABLED", f"{redis.urn}"
    persistence = redis.inputs["persistenceConfig"]
    assert persistence == {"persistenceMode": "RDB", "rdbSnapshotPeriod": "TWELVE_HOURS"}, (
        f"{redis.urn}: persistence {persistence}"
    )
    assert redis.inputs["deletionProtection"] is True, f"{redis.urn}: deletion protection"


def test_dev_cache_is_basic_and_explicitly_deletable(runs) -> None:
    """The provider treats an unset deletionProtection as on: dev must say false."""
    redis = runs["dev"].one(REDIS)
    assert redis.inputs["tier"] == "BASIC", f"{redis.urn}: tier {redis.inputs['tier']}"
    assert "persistenceConfig" not in redis.inputs, f"{redis.urn}: persistence in dev"
    assert "replicaCount" not in redis.inputs, f"{redis.urn}: replicas in dev"
    assert redis.inputs["deletionProtection"] is False, f"{redis.urn}: deletionProtection unset"


def test_cache_offers_a_tls_url_and_ca_as_secrets(env_run) -> None:
    _env, run = env_run
    redis = run.one(REDIS)
    assert {"redis_url", "ca_cert"} <= run.secret_outputs, f"{redis.urn}: plain URL or CA"
    assert run.outputs["redis_url"] == f"rediss://:{MOCK_AUTH}@10.20.0.3:6378/0", redis.urn
    assert run.outputs["ca_cert"].startswith("-----BEGIN CERTIFICATE-----"), redis.urn
    assert run.outputs["instance_id"] == redis.outputs["id"], f"{redis.urn}: instance_id"
    assert run.outputs["instance_name"] == redis.outputs["name"], f"{redis.urn}: name"


def test_cache_waits_for_private_service_access(monkeypatch) -> None:
    """Redis on PRIVATE_SERVICE_ACCESS fails unless the peering exists first."""
    dependencies = record_dependencies(monkeypatch)
    run = run_component(foundation("dev"))
    redis, peering = run.one(REDIS), run.one(PEERING)
    assert peering.urn in dependencies[redis.urn], f"{redis.urn} does not wait for {peering.urn}"


def test_redis_url_escapes_the_auth_string() -> None:
    assert redis_url("a/b@c:d", "10.0.0.3", 6378.0) == "rediss://:a%2Fb%40c%3Ad@10.0.0.3:6378/0"


def test_missing_ca_certificate_is_an_error() -> None:
    with pytest.raises(ValueError, match="server_ca_certs"):
        first_ca_cert([])


# -- G16, G17: secrets --------------------------------------------------------------------------


def test_one_secret_version_and_accessor_per_value(env_run) -> None:
    env, run = env_run
    secrets = {r.inputs["secretId"]: r for r in run.of_type(SECRET)}
    expected = {
        f"t-secrets-{slug}"
        for slug in (
            "jwt-secret",
            "database-url",
            "supabase-webhook-secret",
            "redis-url",
            "redis-ca-cert",
        )
    }
    assert set(secrets) == expected, f"{env}: secrets {sorted(secrets)}"
    for secret_id, secret in secrets.items():
        assert secret.name == secret_id, f"{secret.urn}: name differs from secret id"
        assert secret.inputs["replication"] == {"auto": {}}, f"{secret.urn}: replication"
        assert run.outputs[f"secret_id_{secret_env_var(secret_id)}"] == secret_id, secret.urn
    versions = {r.inputs["secret"]: r for r in run.of_type(VERSION)}
    assert set(versions) == {s.outputs["id"] for s in secrets.values()}, f"{env}: {versions}"


def secret_env_var(secret_id: str) -> str:
    return secret_id.removeprefix("t-secrets-").replace("-", "_").upper()


def test_secret_values_are_write_only_and_secret(env_run) -> None:
    """G16: secretDataWo (never secretData), marked secret, versioned by a secret digest."""
    _env, run = env_run
    for version in run.of_type(VERSION):
        assert "secretData" not in version.inputs, f"{version.urn}: secretData lands in state"
        assert is_secret(version.inputs["secretDataWo"]), f"{version.urn}: value not secret"
        wo_version = version.inputs["secretDataWoVersion"]
        assert is_secret(wo_version), f"{version.urn}: secretDataWoVersion not secret"
        assert wo_version["value"] != version.inputs["secretDataWo"]["value"], version.urn


def test_version_changes_with_the_value_only() -> None:
    assert value_version("a") == value_version("a") != value_version("b")
    assert JWT not in value_version(JWT)


def test_accessor_is_granted_per_secret_never_project_wide(env_run) -> None:
    """G17."""
    env, run = env_run
    secret_ids = {r.inputs["secretId"] for r in run.of_type(SECRET)}
    members = run.of_type(ACCESS)
    assert len(members) == len(secret_ids), f"{env}: {[m.urn for m in members]}"
    assert {m.inputs["secretId"] for m in members} == secret_ids, f"{env}: bindings"
    for member in members:
        assert member.inputs["role"] == ACCESSOR_ROLE, f"{member.urn}: {member.inputs['role']}"
        assert member.inputs["member"] == ACCESSOR, f"{member.urn}: {member.inputs['member']}"
    project_wide = [r.urn for r in run.resources if r.type.startswith("gcp:projects/")]
    assert not project_wide, f"project-wide IAM: {project_wide}"


def test_prod_secrets_are_deletion_protected_and_versions_kept(runs) -> None:
    for env, run in runs.items():
        prod = env == "prod"
        for secret in run.of_type(SECRET):
            assert secret.inputs["deletionProtection"] is prod, f"{secret.urn}: {env}"
        for version in run.of_type(VERSION):
            policy = version.inputs["deletionPolicy"]
            assert policy == ("DISABLE" if prod else "DELETE"), f"{version.urn}: {policy}"


def test_secret_ids_wait_for_version_and_access(monkeypatch) -> None:
    """A Cloud Run revision given secret_ids is created only once it can read the secret."""
    dependencies = record_dependencies(monkeypatch)

    def build() -> None:
        secrets = Secrets("t-secrets", secrets_args("dev"))
        gcp.compute.Network("t-consumer", description=secrets.secret_ids["JWT_SECRET"])

    run = run_component(build)
    consumer = run.named("t-consumer")
    for needed in (run.one(VERSION), run.one(ACCESS)):
        assert needed.urn in dependencies[consumer.urn], f"{consumer.urn} skips {needed.urn}"


def test_no_secret_value_is_ever_plain(env_run) -> None:
    """No value (nor the Redis AUTH string) in plain inputs, outputs or stack exports."""
    _env, run = env_run
    for resource in run.resources:
        places = [("inputs", resource.inputs)]
        if resource.type != REDIS:  # the AUTH string's source: the real provider marks it secret
            places.append(("outputs", resource.outputs))
        for where, value in places:
            for text in plain_strings(value):
                leaked = [s for s in SECRET_VALUES if s in text]
                assert not leaked, f"{resource.urn}: {where} hold {leaked} in plain text"
    for name, value in run.outputs.items():
        if name not in run.secret_outputs:
            leaked = [s for s in SECRET_VALUES if s in str(value)]
            assert not leaked, f"stack output {name} holds {leaked} in plain text"


# -- dev differs from prod where it should -------------------------------------------------------


def test_dev_and_prod_differ_only_where_they_should(runs) -> None:
    dev, prod = runs["dev"], runs["prod"]
    differences = {
        (REDIS, "tier"): ("BASIC", "STANDARD_HA"),
        (REDIS, "deletionProtection"): (False, True),
        (SECRET, "deletionProtection"): (False, True),
        (VERSION, "deletionPolicy"): ("DELETE", "DISABLE"),
    }
    for (token, key), expected in differences.items():
        seen = (dev.of_type(token)[0].inputs.get(key), prod.of_type(token)[0].inputs.get(key))
        assert seen == expected, f"{prod.of_type(token)[0].urn}: {key} dev/prod {seen}"
    same = {REPOSITORY: ("format", "dockerConfig", "vulnerabilityScanningConfig")}
    same |= {REDIS: ("authEnabled", "transitEncryptionMode", "connectMode")}
    for token, keys in same.items():
        for key in keys:
            seen = (dev.one(token).inputs[key], prod.one(token).inputs[key])
            assert seen[0] == seen[1], f"{prod.one(token).urn}: {key} differs: {seen}"


# -- arguments are refused before any resource exists --------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: dataclasses.replace(network_args("dev"), subnet_cidr="10.20.0.0/33"),
            "10.20.0.0/33",
        ),
        (
            lambda: dataclasses.replace(network_args("dev"), subnet_cidr="10.20.0.1/24"),
            "10.20.0.1/24",
        ),
        (lambda: dataclasses.replace(network_args("dev"), subnet_cidr="8.8.8.0/24"), "8.8.8.0/24"),
        (
            lambda: dataclasses.replace(network_args("dev"), subnet_cidr="10.20.0.0/28"),
            "10.20.0.0/28",
        ),
        (lambda: dataclasses.replace(network_args("dev"), services_cidr_prefix=25), r"\(25\)"),
        (lambda: dataclasses.replace(registry_args("dev"), keep_recent_versions=0), r"\(0\)"),
        (lambda: dataclasses.replace(registry_args("dev"), untagged_max_age_days=0), r"\(0\)"),
        (lambda: dataclasses.replace(registry_args("dev"), repository_id="Emg_Dev"), "'Emg_Dev'"),
        (lambda: secrets_args("dev", {"jwt_secret": "x"}), "'jwt_secret'"),
        (lambda: secrets_args("dev", {"JWT-SECRET": "x"}), "'JWT-SECRET'"),
        (lambda: secrets_args("dev", {"1TOKEN": "x"}), "'1TOKEN'"),
        (lambda: secrets_args("dev", {"JWT_SECRET": ""}), "'JWT_SECRET'"),
        (lambda: dataclasses.replace(secrets_args("dev"), values={}), "values is empty"),
        (lambda: dataclasses.replace(secrets_args("dev"), accessor="allUsers"), "'allUsers'"),
        (lambda: dataclasses.replace(cache_args("dev"), tier="PREMIUM"), "'PREMIUM'"),
        (lambda: dataclasses.replace(cache_args("dev"), memory_gb=0), r"\(0\)"),
        (lambda: dataclasses.replace(cache_args("dev"), labels={"env": "dev"}), "'owner'"),
        (
            lambda: dataclasses.replace(
                registry_args("dev"), labels={**standard_labels("dev"), "env": "Dev"}
            ),
            "'Dev'",
        ),
    ],
)
def test_bad_arguments_fail_before_any_resource(make, message) -> None:
    errors: list[ValueError] = []

    def build() -> None:
        try:
            make()
        except ValueError as exc:
            errors.append(exc)

    run = run_component(build)
    assert errors, f"no ValueError (expected one naming {message})"
    assert re.search(message, str(errors[0])), f"{errors[0]} does not name {message}"
    assert run.resources == [], f"created before failing: {[r.urn for r in run.resources]}"


@pytest.mark.parametrize(
    ("component", "name", "message"),
    [
        (lambda name: Secrets(name, secrets_args("dev")), "t secrets", "'t secrets-jwt-secret'"),
        (
            lambda name: Cache(name, cache_args("dev")),
            "t-cache-with-a-name-far-too-long",
            "'t-cache",
        ),
        (lambda name: Cache(name, cache_args("dev")), "Cache", "'Cache'"),
    ],
)
def test_bad_component_names_fail_before_any_resource(component, name, message) -> None:
    errors: list[ValueError] = []

    def build() -> None:
        try:
            component(name)
        except ValueError as exc:
            errors.append(exc)

    run = run_component(build)
    assert errors, f"{name}: no ValueError"
    assert message in str(errors[0]), f"{name}: {errors[0]}"
    assert run.resources == [], f"{name}: created {[r.urn for r in run.resources]}"


# -- pure planning functions ----------------------------------------------------------------------


def test_plan_ranges_accepts_private_ranges_large_enough() -> None:
    assert str(plan_ranges("10.20.0.0/24", 20)) == "10.20.0.0/24"
    assert str(plan_ranges("192.168.8.0/26", 24)) == "192.168.8.0/26"


def test_secret_ids_derive_from_env_var_names() -> None:
    assert secret_id_for("emg-secrets", "JWT_SECRET") == "emg-secrets-jwt-secret"
    assert secret_id_for("p", "REDIS_CA_CERT") == "p-redis-ca-cert"


def test_standard_labels_meet_rule_x1() -> None:
    labels = standard_labels("prod")
    assert labels == {"env": "prod", "service": "emg-analyzer", "owner": labels["owner"]}
    validate_labels(labels)
    with pytest.raises(ValueError, match="'Prod'"):
        standard_labels("Prod")


# -- a record of each registration's dependencies -------------------------------------------------


def record_dependencies(monkeypatch) -> dict[str, set[str]]:
    """URN -> URNs it depends on, for the runs made while the test lasts."""
    dependencies: dict[str, set[str]] = {}
    register = RecordingMonitor.RegisterResource

    def recording(self, request):
        response = register(self, request)
        dependencies[response.urn] = set(request.dependencies)
        return response

    monkeypatch.setattr(RecordingMonitor, "RegisterResource", recording)
    return dependencies
