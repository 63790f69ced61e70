"""CloudRunService under Pulumi's mocks: the GCP rows G1-G9 and X1 of INFRA_NOTES.md, for dev-like
and prod-like arguments, and argument validation before any resource exists.

Inputs are checked in wire form (camelCase keys, numbers as floats), as a policy pack sees them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from infra.gcp.service import LIVENESS_PATH, PORT, READINESS_PATH, CloudRunService, ServiceArgs
from infra.mocks import ProgramRun, RegisteredResource
from stacks.config import SECRETS
from tests.infra.conftest import refused, run_component
from tests.infra.tokens import IAM_MEMBER, SERVICE

G5_SECRET_NAME = re.compile(r"(?i)pass|secret|token|key|auth")
DIGEST = "europe-west4-docker.pkg.dev/emg-{stack}-1234/emg/api@sha256:" + "ab" * 32


def service_args(stack: str, **changes: Any) -> ServiceArgs:
    """Arguments as the platform passes them on ``stack`` (dev: scale to zero, destroyable)."""
    prod = stack == "prod"
    project = f"emg-{stack}-1234"
    args = ServiceArgs(
        project=project,
        region="europe-west4",
        labels={"env": stack, "service": "emg-analyzer", "owner": "platform-team"},
        image_ref=DIGEST.format(stack=stack),
        service_account_email=f"emg-api-{stack}@{project}.iam.gserviceaccount.com",
        env={
            "ENVIRONMENT": "production" if prod else "development",
            "CORS_ORIGINS": "https://app.example.org",
            "STORAGE_BACKEND": "supabase",
            "SUPABASE_URL": "https://abcd.supabase.co",
        },
        secret_env={s.env_var: f"emg-{stack}-{s.key.lower()}" for s in SECRETS}
        | {"REDIS_URL": f"emg-{stack}-redis-url"},
        min_instances=1 if prod else 0,
        max_instances=10 if prod else 2,
        cpu="2" if prod else "1",
        memory="4Gi" if prod else "2Gi",
        concurrency=10,
        cpu_always_allocated=True,
        deletion_protection=prod,
        default_uri_disabled=prod,
        network=f"projects/{project}/global/networks/emg",
        subnetwork=f"projects/{project}/regions/europe-west4/subnetworks/emg-run",
    )
    return dataclasses.replace(args, **changes)


def _run(env: str, **changes: Any) -> ProgramRun:
    def build() -> None:
        component = CloudRunService("api", service_args(env, **changes))
        pulumi.export("serviceName", component.service_name)
        pulumi.export("uri", component.uri)

    return run_component(build, stack=env)


@pytest.fixture(scope="module", params=["dev", "prod"])
def run(request: pytest.FixtureRequest) -> ProgramRun:
    return _run(request.param)


@pytest.fixture(scope="module")
def runs() -> dict[str, ProgramRun]:
    return {env: _run(env) for env in ("dev", "prod")}


def _service(run: ProgramRun) -> RegisteredResource:
    return run.one(SERVICE)


def _container(run: ProgramRun) -> tuple[str, dict[str, Any]]:
    service = _service(run)
    containers = service.inputs["template"]["containers"]
    assert len(containers) == 1, f"{service.urn}: expected one container, got {len(containers)}"
    return service.urn, containers[0]


def _stack(run: ProgramRun) -> str:
    """The stack the run used (``urn:pulumi:<stack>::<project>::...``)."""
    return _service(run).urn.split("::")[0].rsplit(":", 1)[-1]


# --- component shape -------------------------------------------------------------------------


def test_children_are_prefixed_and_parented_to_the_component(run: ProgramRun) -> None:
    component = run.one("emg:gcp:Service")
    children = [r for r in run.resources if r is not component]
    assert {r.type for r in children} == {SERVICE, IAM_MEMBER}, [r.urn for r in children]
    for child in children:
        assert child.name.startswith("api-"), f"{child.urn}: name lacks the component prefix"
        assert child.parent == component.urn, f"{child.urn}: parent is {child.parent}"


def test_outputs_are_the_service_name_and_uri(run: ProgramRun) -> None:
    service = _service(run)
    assert run.outputs["serviceName"] == service.outputs["name"], service.urn
    assert run.outputs["uri"].startswith("https://"), f"{service.urn}: uri {run.outputs['uri']}"
    assert not run.secret_outputs, f"{service.urn}: secret outputs {run.secret_outputs}"


# --- G1 ingress, G2 default URL, G3 invoker ---------------------------------------------------


def test_g1_ingress_is_load_balancer_only(run: ProgramRun) -> None:
    service = _service(run)
    assert service.inputs["ingress"] == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER", service.urn


def test_g2_default_uri_disabled_in_prod_only(runs: dict[str, ProgramRun]) -> None:
    dev, prod = _service(runs["dev"]), _service(runs["prod"])
    assert prod.inputs["defaultUriDisabled"] is True, f"{prod.urn}: *.run.app bypasses the LB"
    assert dev.inputs["defaultUriDisabled"] is False, f"{dev.urn}: dev keeps its run.app URL"


def test_g3_public_invoker_only_with_load_balancer_only_ingress(run: ProgramRun) -> None:
    service = _service(run)
    assert service.inputs.get("invokerIamDisabled") is not True, service.urn
    members = run.of_type(IAM_MEMBER)
    assert len(members) == 1, f"expected one invoker grant, got {[m.urn for m in members]}"
    member = members[0]
    assert member.inputs["role"] == "roles/run.invoker", member.urn
    assert member.inputs["member"] == "allUsers", member.urn
    assert member.inputs["name"] == service.outputs["name"], f"{member.urn}: grants another service"
    assert member.inputs["location"] == service.inputs["location"], member.urn
    # The rule G3 itself: allUsers is allowed only because ingress is LB-only.
    assert service.inputs["ingress"] in (
        "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
        "INGRESS_TRAFFIC_INTERNAL_ONLY",
    ), f"{member.urn}: allUsers invoker on {service.urn} with ingress {service.inputs['ingress']}"


# --- G4 service account ----------------------------------------------------------------------


def test_g4_runs_as_the_dedicated_service_account(run: ProgramRun) -> None:
    service = _service(run)
    account = service.inputs["template"]["serviceAccount"]
    env = _stack(run)
    assert account == service_args(env).service_account_email, f"{service.urn}: {account}"
    assert not account.endswith("-compute@developer.gserviceaccount.com"), service.urn


# --- G5 secrets ------------------------------------------------------------------------------


def test_g5_no_plain_env_value_with_a_secret_looking_name(run: ProgramRun) -> None:
    urn, container = _container(run)
    for env in container["envs"]:
        if "value" in env:
            assert not G5_SECRET_NAME.search(env["name"]), f"{urn}: plain {env['name']}"


def test_g5_secrets_only_as_secret_manager_references(run: ProgramRun) -> None:
    urn, container = _container(run)
    by_name = {e["name"]: e for e in container["envs"]}
    expected = service_args(_stack(run)).secret_env
    for name, secret_id in expected.items():
        env = by_name.get(name)
        assert env is not None, f"{urn}: {name} missing"
        assert "value" not in env, f"{urn}: {name} has a plain value"
        ref = env["valueSource"]["secretKeyRef"]
        assert ref == {"secret": secret_id, "version": "latest"}, f"{urn}: {name} -> {ref}"


def test_g5_plain_settings_are_passed_as_values(run: ProgramRun) -> None:
    urn, container = _container(run)
    plain = {e["name"]: e["value"] for e in container["envs"] if "value" in e}
    assert plain == dict(service_args(_stack(run)).env), urn


@pytest.mark.parametrize(
    "name",
    [
        *("JWT_SECRET", "DB_PASSWORD", "GITHUB_TOKEN", "SUPABASE_SERVICE_KEY", "AUTH_HEADER"),
        # Secret whatever the name says: a password inside the URL, the Redis AUTH string.
        *("DATABASE_URL", "REDIS_URL", "DB_PASSPHRASE"),
    ],
)
def test_g5_secret_looking_plain_env_isrefused_args(name: str) -> None:
    message = refused_args(lambda: service_args("dev", env={"ENVIRONMENT": "x", name: "hunter2"}))
    assert repr(name) in message and "secret_env" in message, message
    assert "hunter2" not in message, f"the refusal leaks the value: {message}"


# --- G6 scaling, G7 deletion protection ------------------------------------------------------


def test_g6_instances_capped_and_prod_never_scales_to_zero(runs: dict[str, ProgramRun]) -> None:
    for env, run in runs.items():
        service = _service(run)
        scaling = service.inputs["template"]["scaling"]
        assert scaling["maxInstanceCount"] >= 1, f"{service.urn}: no instance cap"
        assert scaling["minInstanceCount"] <= scaling["maxInstanceCount"], service.urn
        minimum = scaling["minInstanceCount"]
        assert minimum == (1 if env == "prod" else 0), f"{service.urn}: min {minimum}"


def test_g7_deletion_protection_per_environment(runs: dict[str, ProgramRun]) -> None:
    dev, prod = _service(runs["dev"]), _service(runs["prod"])
    assert prod.inputs["deletionProtection"] is True, prod.urn
    assert dev.inputs["deletionProtection"] is False, f"{dev.urn}: dev could not be destroyed"


# --- G8 image, G9 probes and limits ----------------------------------------------------------


def test_g8_image_by_digest(run: ProgramRun) -> None:
    urn, container = _container(run)
    assert "@sha256:" in container["image"], f"{urn}: {container['image']}"


def test_g9_probes_hit_the_service_health_routes(run: ProgramRun) -> None:
    urn, container = _container(run)
    startup, liveness = container["startupProbe"], container["livenessProbe"]
    assert startup["httpGet"] == {"path": READINESS_PATH, "port": PORT}, f"{urn}: {startup}"
    assert liveness["httpGet"] == {"path": LIVENESS_PATH, "port": PORT}, f"{urn}: {liveness}"
    for probe in (startup, liveness):
        assert probe["timeoutSeconds"] < probe["periodSeconds"], f"{urn}: {probe}"
    assert container["ports"]["containerPort"] == PORT, urn


def test_g9_probe_paths_exist_in_the_service() -> None:
    from service.api.routes.health import router

    paths = {route.path for route in router.routes}
    assert {READINESS_PATH, LIVENESS_PATH} <= paths, f"probes {READINESS_PATH}, {LIVENESS_PATH}"


def test_g9_resource_limits_and_cpu_allocation(run: ProgramRun) -> None:
    urn, container = _container(run)
    args = service_args(_stack(run))
    resources = container["resources"]
    assert resources["limits"] == {"cpu": args.cpu, "memory": args.memory}, urn
    assert resources["cpuIdle"] is (not args.cpu_always_allocated), urn
    assert resources["startupCpuBoost"] is True, urn


def test_cpu_idle_follows_cpu_always_allocated() -> None:
    run = _run("prod", cpu_always_allocated=False)
    urn, container = _container(run)
    assert container["resources"]["cpuIdle"] is True, urn


def test_concurrency_and_request_timeout(run: ProgramRun) -> None:
    service = _service(run)
    template = service.inputs["template"]
    assert template["maxInstanceRequestConcurrency"] == 10, service.urn
    seconds = int(template["timeout"].removesuffix("s"))
    assert seconds >= 300, f"{service.urn}: timeout {template['timeout']} below the analysis"


# --- network ---------------------------------------------------------------------------------


def test_direct_vpc_egress_only_for_private_ranges(run: ProgramRun) -> None:
    service = _service(run)
    vpc = service.inputs["template"]["vpcAccess"]
    args = service_args(_stack(run))
    assert "connector" not in vpc, f"{service.urn}: connector and direct egress both set"
    assert vpc["networkInterfaces"] == [{"network": args.network, "subnetwork": args.subnetwork}], (
        service.urn
    )
    assert vpc["egress"] == "PRIVATE_RANGES_ONLY", service.urn


# --- X1 labels -------------------------------------------------------------------------------


def test_x1_labels(run: ProgramRun) -> None:
    service = _service(run)
    labels = service.inputs["labels"]
    assert {"env", "service", "owner"} <= labels.keys(), f"{service.urn}: {labels}"
    assert labels["env"] == _stack(run), f"{service.urn}: env label {labels['env']}"


def test_dev_and_prod_differ_where_they_should(runs: dict[str, ProgramRun]) -> None:
    dev, prod = _service(runs["dev"]), _service(runs["prod"])
    differing = {
        "deletionProtection": (False, True),
        "defaultUriDisabled": (False, True),
    }
    for key, (in_dev, in_prod) in differing.items():
        assert (dev.inputs[key], prod.inputs[key]) == (in_dev, in_prod), f"{dev.urn}: {key}"
    dev_min = dev.inputs["template"]["scaling"]["minInstanceCount"]
    prod_min = prod.inputs["template"]["scaling"]["minInstanceCount"]
    assert (dev_min, prod_min >= 1) == (0, True), f"{prod.urn}: min {dev_min} vs {prod_min}"
    for key in ("ingress", "invokerIamDisabled"):
        assert dev.inputs[key] == prod.inputs[key], f"{prod.urn}: {key} differs from dev"


# --- validation ------------------------------------------------------------------------------


def refused_args(make_args: Callable[[], ServiceArgs]) -> str:
    return refused(lambda: CloudRunService("api", make_args()))


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"service_account_email": "123-compute@developer.gserviceaccount.com"}, "123-compute@"),
        ({"image_ref": "europe-west4-docker.pkg.dev/p/emg/api:latest"}, "api:latest"),
        ({"min_instances": -1}, "-1"),
        ({"min_instances": 3, "max_instances": 2}, "max_instances=2"),
        ({"max_instances": 0}, "max_instances=0"),
        ({"concurrency": 0}, "concurrency=0"),
        ({"cpu": "two"}, "'two'"),
        ({"memory": "2GB"}, "'2GB'"),
        ({"env": {"PORT": "9000"}}, "'PORT'"),
        ({"env": {"lower_case": "x"}}, "'lower_case'"),
        ({"env": {"ENVIRONMENT": "x"}, "secret_env": {"ENVIRONMENT": "s"}}, "ENVIRONMENT"),
        ({"project": ""}, "project=''"),
    ],
)
def test_invalid_arguments_are_refused_naming_the_value(
    changes: dict[str, Any], named: str
) -> None:
    message = refused_args(lambda: service_args("dev", **changes))
    assert named in message, message


def test_accepts_outputs_from_other_components() -> None:
    """The platform passes the image digest, account e-mail and secret ids as Outputs."""
    args = service_args("prod")

    def build() -> None:
        CloudRunService(
            "api",
            dataclasses.replace(
                args,
                image_ref=pulumi.Output.from_input(args.image_ref),
                service_account_email=pulumi.Output.from_input(args.service_account_email),
                secret_env={k: pulumi.Output.from_input(v) for k, v in args.secret_env.items()},
            ),
        )

    run = run_component(build, stack="prod")
    urn, container = _container(run)
    assert container["image"] == args.image_ref, urn
    refs = {
        e["name"]: e["valueSource"]["secretKeyRef"]["secret"]
        for e in container["envs"]
        if "valueSource" in e
    }
    assert refs == dict(args.secret_env), urn
