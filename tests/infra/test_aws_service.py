"""FargateService under Pulumi's mocks: the AWS rows A8-A11, A17 and X1 of INFRA_NOTES.md for
dev-like and prod-like arguments, the pure helpers on their own, and argument validation before
any resource exists.

Inputs are checked in wire form (camelCase keys, numbers as floats), as a policy pack sees them;
the container definitions and IAM policies are parsed from their JSON text.
"""

from __future__ import annotations

import dataclasses
import http.server
import inspect
import json
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pulumi
import pulumi_aws as aws
import pytest

from infra.aws.service import (
    EXEC_CHANNEL_ACTIONS,
    EXECUTION_POLICY_ARN,
    LIVENESS_PATH,
    FargateService,
    ServiceArgs,
    container_definitions,
    execution_role_policy,
    fargate_task_size,
)
from infra.labels import REQUIRED_LABELS, standard_labels
from infra.mocks import ProgramRun, RecordingMonitor, RegisteredResource
from stacks.config import SECRET_NAME, SECRETS
from tests.infra.conftest import refused, run_component

COMPONENT = "emg:aws:Service"
CLUSTER = "aws:ecs/cluster:Cluster"
SERVICE = "aws:ecs/service:Service"
TASK = "aws:ecs/taskDefinition:TaskDefinition"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
SCALING_TARGET = "aws:appautoscaling/target:Target"
SCALING_POLICY = "aws:appautoscaling/policy:Policy"
LISTENER = "aws:lb/listener:Listener"

DOCKERFILE = Path(__file__).resolve().parents[2] / "service" / "Dockerfile"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/emg-{{stack}}-api@sha256:" + "ab" * 32
KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{{stack}}-0000-1111-2222-333344445555"
TARGET_GROUP = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/emg-{{stack}}/0123"
SECRET_ENV = (*(s.env_var for s in SECRETS), "REDIS_URL")


def secret_arn(stack: str, env_var: str) -> str:
    slug = env_var.lower().replace("_", "-")
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:emg-{stack}-secrets-{slug}"


def service_args(stack: str, **changes: Any) -> ServiceArgs:
    """Arguments as the AWS platform passes them on ``stack`` (dev: exec on, logs unencrypted)."""
    prod = stack == "prod"
    args = ServiceArgs(
        environment=stack,
        region=REGION,
        tags=standard_labels(stack),
        image_ref=IMAGE.format(stack=stack),
        env={
            "ENVIRONMENT": "production",
            "LOG_LEVEL": "INFO",
            "CORS_ORIGINS": "https://app.example.org",
            "STORAGE_BACKEND": "supabase",
            "SUPABASE_URL": "https://abcd.supabase.co",
            "STORAGE_BUCKET": "c3d-examples",
            "WORKER_CONCURRENCY": "1",
        },
        secret_arns={name: secret_arn(stack, name) for name in SECRET_ENV},
        kms_key_arn=KMS_KEY.format(stack=stack),
        private_subnet_ids=["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"],
        task_security_group_id="sg-0a1b2c3d4e5f60003",
        target_group_arn=TARGET_GROUP.format(stack=stack),
        cpu=2 if prod else 1,
        memory_mib=4096 if prod else 2048,
        min_tasks=2 if prod else 1,
        max_tasks=10 if prod else 2,
        exec_enabled=not prod,
        log_retention_days=365 if prod else 30,
        encrypt_logs=prod,
        cpu_target_percent=50 if prod else 60,
    )
    return dataclasses.replace(args, **changes)


@dataclasses.dataclass
class Built:
    """One run of the component plus the registration options the recorded inputs lack."""

    env: str
    run: ProgramRun
    dependencies: dict[str, set[str]]
    ignore_changes: dict[str, list[str]]


def _build(env: str) -> Built:
    dependencies: dict[str, set[str]] = {}
    ignore_changes: dict[str, list[str]] = {}
    register = RecordingMonitor.RegisterResource

    def recording(self: RecordingMonitor, request: Any) -> Any:
        response = register(self, request)
        dependencies[response.urn] = set(request.dependencies)
        ignore_changes[response.urn] = list(request.ignoreChanges)
        return response

    def build() -> None:
        # Stands in for the platform's HTTPS listener, which attaches the target group.
        listener = aws.lb.Listener(
            "https",
            load_balancer_arn=f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/x",
            port=443,
            protocol="HTTPS",
            default_actions=[{"type": "forward", "target_group_arn": TARGET_GROUP}],
        )
        component = FargateService("api", service_args(env, depends_on=[listener]))
        for attribute in (
            "cluster_name",
            "service_name",
            "task_definition_arn",
            "log_group_name",
            "execution_role_arn",
            "task_role_arn",
        ):
            pulumi.export(attribute, getattr(component, attribute))

    with mock.patch.object(RecordingMonitor, "RegisterResource", recording):
        run = run_component(build, stack=env)
    return Built(env, run, dependencies, ignore_changes)


@pytest.fixture(scope="module")
def builds() -> dict[str, Built]:
    return {env: _build(env) for env in ("dev", "prod")}


@pytest.fixture(params=["dev", "prod"])
def built(request: pytest.FixtureRequest, builds: dict[str, Built]) -> Built:
    return builds[request.param]


def _named(built: Built, suffix: str) -> RegisteredResource:
    return built.run.named(f"api-{suffix}")


def _container(built: Built) -> tuple[str, dict[str, Any]]:
    task = built.run.one(TASK)
    containers = json.loads(task.inputs["containerDefinitions"])
    assert len(containers) == 1, f"{task.urn}: expected one container, got {len(containers)}"
    return task.urn, containers[0]


def _policy(resource: RegisteredResource, key: str = "policy") -> dict[str, Any]:
    return json.loads(resource.inputs[key])


def _role_policies(built: Built, role: RegisteredResource) -> list[RegisteredResource]:
    return [p for p in built.run.of_type(ROLE_POLICY) if p.inputs["role"] == role.outputs["id"]]


# --- component shape -------------------------------------------------------------------------


def test_children_are_prefixed_and_parented_to_the_component(built: Built) -> None:
    component = built.run.one(COMPONENT)
    children = [r for r in built.run.resources if r.parent == component.urn]
    expected = {
        CLUSTER: 1,
        LOG_GROUP: 1,
        ROLE: 2,
        ATTACHMENT: 1,
        ROLE_POLICY: 2 if built.env == "dev" else 1,
        TASK: 1,
        SERVICE: 1,
        SCALING_TARGET: 1,
        SCALING_POLICY: 1,
    }
    counts = {t: sum(r.type == t for r in children) for t in {r.type for r in children}}
    assert counts == expected, f"{component.urn}: children {[r.urn for r in children]}"
    for child in children:
        assert child.name.startswith("api-"), f"{child.urn}: name lacks the component prefix"
    outside = [r.urn for r in built.run.resources if r is not component and r not in children]
    assert outside == [built.run.one(LISTENER).urn], f"unexpected resources {outside}"


def test_outputs_name_the_resources(built: Built) -> None:
    outputs = built.run.outputs
    expected = {
        "cluster_name": built.run.one(CLUSTER).outputs["name"],
        "service_name": built.run.one(SERVICE).outputs["name"],
        "task_definition_arn": built.run.one(TASK).outputs["arn"],
        "log_group_name": built.run.one(LOG_GROUP).outputs["name"],
        "execution_role_arn": _named(built, "execution-role").outputs["arn"],
        "task_role_arn": _named(built, "task-role").outputs["arn"],
    }
    assert outputs == expected, f"{built.run.one(COMPONENT).urn}: {outputs}"
    assert not built.run.secret_outputs, f"secret outputs {built.run.secret_outputs}"


# --- A8 container definition -----------------------------------------------------------------


def test_a8_no_plain_env_with_a_secret_looking_name(built: Built) -> None:
    urn, container = _container(built)
    for entry in container["environment"]:
        name = entry["name"]
        assert not SECRET_NAME.search(name), f"{urn}: plain env var {name}"
        assert name not in SECRET_ENV, f"{urn}: stack secret {name} passed as a plain value"


def test_a8_plain_settings_sorted_with_tmpdir(built: Built) -> None:
    urn, container = _container(built)
    expected = dict(service_args(built.env).env) | {"TMPDIR": "/tmp"}
    environment = container["environment"]
    assert {e["name"]: e["value"] for e in environment} == expected, urn
    names = [e["name"] for e in environment]
    assert names == sorted(names), f"{urn}: environment not sorted ({names})"


def test_a8_secrets_only_by_secrets_manager_arn(built: Built) -> None:
    urn, container = _container(built)
    secrets = container["secrets"]
    assert {s["name"]: s["valueFrom"] for s in secrets} == dict(
        service_args(built.env).secret_arns
    ), urn
    for secret in secrets:
        assert set(secret) == {"name", "valueFrom"}, f"{urn}: {secret}"
        assert secret["valueFrom"].startswith("arn:aws:secretsmanager:"), f"{urn}: {secret}"
    names = [s["name"] for s in secrets]
    assert names == sorted(names), f"{urn}: secrets not sorted ({names})"


def test_a8_read_only_root_with_a_writable_tmp_volume(built: Built) -> None:
    task = built.run.one(TASK)
    urn, container = _container(built)
    assert container["readonlyRootFilesystem"] is True, urn
    volumes = {v["name"] for v in task.inputs["volumes"]}
    mounts = {m["containerPath"]: m for m in container["mountPoints"]}
    tmp = mounts.get("/tmp")
    assert tmp is not None, f"{urn}: no /tmp mount ({container['mountPoints']})"
    assert tmp["readOnly"] is False, f"{urn}: /tmp mounted read-only"
    assert tmp["sourceVolume"] in volumes, f"{urn}: /tmp volume not in the task's {volumes}"
    assert {m["sourceVolume"] for m in mounts.values()} == volumes, f"{urn}: unmounted volumes"


def test_a8_exec_agent_paths_writable_only_when_exec_is_on(builds: dict[str, Built]) -> None:
    agent_paths = {"/managed-agents", "/var/lib/amazon/ssm", "/var/log/amazon/ssm"}
    for env, exec_on in (("dev", True), ("prod", False)):
        urn, container = _container(builds[env])
        paths = {m["containerPath"] for m in container["mountPoints"]}
        assert (agent_paths <= paths) is exec_on, f"{urn}: mounts {paths}"
        assert paths - agent_paths == {"/tmp"}, f"{urn}: mounts {paths}"


def test_a8_runs_as_the_image_user_not_root_not_privileged(built: Built) -> None:
    urn, container = _container(built)
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE.read_text(), flags=re.MULTILINE)
    assert users, f"{DOCKERFILE}: no USER"
    assert container["user"] == users[-1], f"{urn}: user {container['user']} vs image {users[-1]}"
    assert container["user"].split(":")[0] not in ("0", "root"), f"{urn}: runs as root"
    assert container["privileged"] is False, f"{urn}: privileged"


def test_a8_logs_go_to_the_component_log_group(built: Built) -> None:
    urn, container = _container(built)
    log_group = built.run.one(LOG_GROUP)
    logging = container["logConfiguration"]
    assert logging["logDriver"] == "awslogs", f"{urn}: {logging}"
    assert logging["options"] == {
        "awslogs-group": log_group.outputs["name"],
        "awslogs-region": REGION,
        "awslogs-stream-prefix": "api",
    }, f"{urn}: {logging} vs {log_group.urn}"


def test_container_essentials(built: Built) -> None:
    urn, container = _container(built)
    assert container["name"] == "api" and container["essential"] is True, urn
    assert container["image"] == service_args(built.env).image_ref, f"{urn}: {container['image']}"
    assert container["portMappings"] == [{"containerPort": 8080, "protocol": "tcp"}], urn
    assert container["linuxParameters"] == {"initProcessEnabled": True}, urn
    # uvicorn drains for 30 s on SIGTERM; Fargate kills after at most 120 s.
    assert 30 < container["stopTimeout"] <= 120, f"{urn}: stopTimeout {container['stopTimeout']}"


def test_health_check_asks_the_liveness_route(built: Built) -> None:
    urn, container = _container(built)
    check = container["healthCheck"]
    command = check["command"]
    assert command[:3] == ["CMD", "python", "-c"], f"{urn}: {command}"
    assert f"http://127.0.0.1:8080{LIVENESS_PATH}" in command[3], f"{urn}: {command}"
    assert check["timeout"] < check["interval"], f"{urn}: {check}"
    assert check["retries"] >= 1 and check["startPeriod"] > 0, f"{urn}: {check}"


def test_liveness_path_exists_in_the_service() -> None:
    from service.api.routes.health import router

    paths = {route.path for route in router.routes}
    assert LIVENESS_PATH in paths, f"{LIVENESS_PATH} not in {sorted(paths)}"


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_health_check_command_reflects_the_liveness_answer(status: int, healthy: bool) -> None:
    """Run the container's health check command against a local server answering ``status``."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status if self.path == LIVENESS_PATH else 404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        args = service_args("dev")
        [container] = container_definitions(
            image=str(args.image_ref),
            environment=args.env,
            secret_arns={},
            log_group="/emg/dev/api",
            region=REGION,
            port=server.server_port,
            exec_enabled=False,
        )
        command = container["healthCheck"]["command"]
        result = subprocess.run(
            [sys.executable, "-S", *command[2:]], capture_output=True, timeout=10
        )
    finally:
        server.shutdown()
        server.server_close()
    assert (result.returncode == 0) is healthy, f"{command}: exit {result.returncode}"


def test_image_declares_tmp_as_a_volume_so_fargate_keeps_it_writable() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r'^VOLUME\s+(\[.*"/tmp".*\]|.*\s/tmp(\s|$))', text, re.MULTILINE), DOCKERFILE


# --- task definition -------------------------------------------------------------------------


def test_task_definition_is_fargate_sized_and_versioned(built: Built) -> None:
    task = built.run.one(TASK)
    args = service_args(built.env)
    inputs = task.inputs
    assert inputs["family"] == f"emg-{built.env}-api", task.urn
    assert inputs["requiresCompatibilities"] == ["FARGATE"], task.urn
    assert inputs["networkMode"] == "awsvpc", task.urn
    assert inputs["runtimePlatform"] == {
        "operatingSystemFamily": "LINUX",
        "cpuArchitecture": "X86_64",
    }, task.urn
    assert (inputs["cpu"], inputs["memory"]) == (
        str(args.cpu * 1024),
        str(args.memory_mib),
    ), f"{task.urn}: {inputs['cpu']}/{inputs['memory']}"


# --- A9 roles --------------------------------------------------------------------------------


def test_a9_distinct_execution_and_task_roles(built: Built) -> None:
    task = built.run.one(TASK)
    execution, task_role = _named(built, "execution-role"), _named(built, "task-role")
    assert task.inputs["executionRoleArn"] == execution.outputs["arn"], task.urn
    assert task.inputs["taskRoleArn"] == task_role.outputs["arn"], task.urn
    assert task.inputs["executionRoleArn"] != task.inputs["taskRoleArn"], task.urn
    for role in (execution, task_role):
        trust = _policy(role, "assumeRolePolicy")["Statement"]
        assert trust == [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ], f"{role.urn}: {trust}"


def test_a9_execution_role_has_only_the_managed_policy_attached(built: Built) -> None:
    execution = _named(built, "execution-role")
    attachments = built.run.of_type(ATTACHMENT)
    assert [(a.inputs["role"], a.inputs["policyArn"]) for a in attachments] == [
        (execution.outputs["name"], EXECUTION_POLICY_ARN)
    ], f"{execution.urn}: {[a.urn for a in attachments]}"


def test_a9_execution_role_reads_exactly_the_secrets_and_the_key(built: Built) -> None:
    execution = _named(built, "execution-role")
    [inline] = _role_policies(built, execution)
    statements = _policy(inline)["Statement"]
    args = service_args(built.env)
    by_action = {s["Action"]: s for s in statements}
    assert set(by_action) == {"secretsmanager:GetSecretValue", "kms:Decrypt"}, inline.urn
    read = by_action["secretsmanager:GetSecretValue"]
    assert read["Resource"] == sorted(args.secret_arns.values()), f"{inline.urn}: {read}"
    decrypt = by_action["kms:Decrypt"]
    assert decrypt["Resource"] == args.kms_key_arn, f"{inline.urn}: {decrypt}"
    assert decrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}
    }, inline.urn
    for statement in statements:
        assert statement["Effect"] == "Allow", inline.urn
        resources = statement["Resource"]
        resources = resources if isinstance(resources, list) else [resources]
        assert not any("*" in r for r in resources), f"{inline.urn}: wildcard in {resources}"


def test_a9_task_role_has_only_the_exec_channels_in_dev(builds: dict[str, Built]) -> None:
    prod = builds["prod"]
    prod_role = _named(prod, "task-role")
    assert _role_policies(prod, prod_role) == [], f"{prod_role.urn}: has policies in prod"
    dev = builds["dev"]
    dev_role = _named(dev, "task-role")
    [inline] = _role_policies(dev, dev_role)
    [statement] = _policy(inline)["Statement"]
    assert sorted(statement["Action"]) == sorted(EXEC_CHANNEL_ACTIONS), inline.urn
    assert all(a.startswith("ssmmessages:") for a in statement["Action"]), inline.urn
    # ssmmessages takes no resource-level permissions.
    assert statement["Resource"] == "*", inline.urn


# --- A10 service -----------------------------------------------------------------------------


def test_a10_private_tasks_with_circuit_breaker_rollback(built: Built) -> None:
    service = built.run.one(SERVICE)
    args = service_args(built.env)
    network = service.inputs["networkConfiguration"]
    assert network["assignPublicIp"] is False, f"{service.urn}: public IP"
    assert network["subnets"] == args.private_subnet_ids, service.urn
    assert network["securityGroups"] == [args.task_security_group_id], service.urn
    breaker = service.inputs["deploymentCircuitBreaker"]
    assert breaker == {"enable": True, "rollback": True}, f"{service.urn}: {breaker}"


def test_a10_exec_on_in_dev_off_in_prod(builds: dict[str, Built]) -> None:
    for env, expected in (("dev", True), ("prod", False)):
        service = builds[env].run.one(SERVICE)
        assert service.inputs["enableExecuteCommand"] is expected, service.urn


def test_service_runs_the_task_behind_the_target_group(built: Built) -> None:
    service = built.run.one(SERVICE)
    args = service_args(built.env)
    inputs = service.inputs
    assert inputs["cluster"] == built.run.one(CLUSTER).outputs["arn"], service.urn
    assert inputs["taskDefinition"] == built.run.one(TASK).outputs["arn"], service.urn
    assert inputs["launchType"] == "FARGATE", service.urn
    assert inputs["desiredCount"] == args.min_tasks, service.urn
    assert inputs["loadBalancers"] == [
        {"targetGroupArn": args.target_group_arn, "containerName": "api", "containerPort": 8080}
    ], service.urn
    assert inputs["healthCheckGracePeriodSeconds"] > 0, service.urn
    assert inputs["propagateTags"] == "SERVICE", service.urn
    assert inputs["waitForSteadyState"] is False, service.urn


def test_service_follows_the_listener_and_leaves_the_count_to_autoscaling(built: Built) -> None:
    service = built.run.one(SERVICE)
    listener = built.run.one(LISTENER)
    assert listener.urn in built.dependencies[service.urn], f"{service.urn}: not after listener"
    assert built.ignore_changes[service.urn] == ["desiredCount"], service.urn


# --- A11 cluster, A17 logs -------------------------------------------------------------------


def test_a11_container_insights(built: Built) -> None:
    cluster = built.run.one(CLUSTER)
    settings = cluster.inputs["settings"]
    assert {"name": "containerInsights", "value": "enabled"} in settings, f"{cluster.urn}"


def test_a17_log_retention_and_encryption_in_prod_only(builds: dict[str, Built]) -> None:
    for env, retention in (("dev", 30), ("prod", 365)):
        log_group = builds[env].run.one(LOG_GROUP)
        assert log_group.inputs["name"] == f"/emg/{env}/api", log_group.urn
        assert log_group.inputs["retentionInDays"] == retention, log_group.urn
    prod, dev = builds["prod"].run.one(LOG_GROUP), builds["dev"].run.one(LOG_GROUP)
    assert prod.inputs.get("kmsKeyId") == KMS_KEY.format(stack="prod"), f"{prod.urn}: no CMK"
    assert "kmsKeyId" not in dev.inputs, f"{dev.urn}: encrypted in dev"


# --- autoscaling -----------------------------------------------------------------------------


def test_autoscaling_tracks_cpu_between_min_and_max(built: Built) -> None:
    args = service_args(built.env)
    target, policy = built.run.one(SCALING_TARGET), built.run.one(SCALING_POLICY)
    cluster, service = built.run.one(CLUSTER), built.run.one(SERVICE)
    resource_id = f"service/{cluster.outputs['name']}/{service.outputs['name']}"
    assert target.inputs["resourceId"] == resource_id, target.urn
    assert target.inputs["serviceNamespace"] == "ecs", target.urn
    assert target.inputs["scalableDimension"] == "ecs:service:DesiredCount", target.urn
    assert (target.inputs["minCapacity"], target.inputs["maxCapacity"]) == (
        args.min_tasks,
        args.max_tasks,
    ), target.urn
    assert policy.inputs["policyType"] == "TargetTrackingScaling", policy.urn
    assert policy.inputs["resourceId"] == resource_id, policy.urn
    tracking = policy.inputs["targetTrackingScalingPolicyConfiguration"]
    metric = tracking["predefinedMetricSpecification"]["predefinedMetricType"]
    assert metric == "ECSServiceAverageCPUUtilization", policy.urn
    assert tracking["targetValue"] == args.cpu_target_percent, policy.urn


# --- X1 tags ---------------------------------------------------------------------------------


def _takes_tags(type_token: str) -> bool:
    module, kind = type_token.split(":")[1].split("/")[0], type_token.rsplit(":", 1)[-1]
    resource_class = getattr(getattr(aws, module), kind)
    return "tags" in inspect.signature(resource_class._internal_init).parameters


def test_x1_every_taggable_resource_has_the_standard_tags(built: Built) -> None:
    component = built.run.one(COMPONENT)
    children = [r for r in built.run.resources if r.parent == component.urn]
    taggable = [r for r in children if _takes_tags(r.type)]
    assert {r.type for r in taggable} == {
        CLUSTER,
        LOG_GROUP,
        ROLE,
        TASK,
        SERVICE,
        SCALING_TARGET,
    }, [r.urn for r in taggable]
    for resource in taggable:
        tags = resource.inputs.get("tags", {})
        assert set(REQUIRED_LABELS) <= tags.keys(), f"{resource.urn}: tags {tags}"
        assert tags == standard_labels(built.env), f"{resource.urn}: tags {tags}"


# --- pure helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cpu", "memory_mib"),
    [(1, 2048), (1, 8192), (2, 4096), (2, 16384), (4, 8192), (4, 30720), (8, 16384), (8, 61440)],
)
def test_fargate_sizes_accepted(cpu: int, memory_mib: int) -> None:
    assert fargate_task_size(cpu, memory_mib) == (str(cpu * 1024), str(memory_mib))


@pytest.mark.parametrize(
    ("cpu", "memory_mib"),
    [(1, 1024), (1, 9216), (1, 2500), (2, 2048), (4, 31744), (8, 17408), (8, 65536), (3, 4096)],
)
def test_fargate_sizesrefused_args(cpu: int, memory_mib: int) -> None:
    with pytest.raises(ValueError, match=f"{cpu=}" if cpu == 3 else f"{memory_mib=}"):
        fargate_task_size(cpu, memory_mib)


@pytest.mark.parametrize(
    ("secrets", "key"),
    [
        ([f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:*"], KMS_KEY.format(stack="dev")),
        ([secret_arn("dev", "JWT_SECRET")], "*"),
        ([], KMS_KEY.format(stack="dev")),
    ],
    ids=["secret-wildcard", "key-wildcard", "no-secrets"],
)
def test_execution_role_policy_refuses_wildcards_and_nothing(secrets: list[str], key: str) -> None:
    with pytest.raises(ValueError, match="A9"):
        execution_role_policy(secrets, key, REGION)


# --- validation ------------------------------------------------------------------------------


def refused_args(make_args: Callable[[], ServiceArgs]) -> str:
    return refused(lambda: FargateService("api", make_args()))


@pytest.mark.parametrize(
    ("env", "changes", "named"),
    [
        ("prod", {"exec_enabled": True}, "exec_enabled=True"),
        ("dev", {"cpu": 1, "memory_mib": 16384}, "memory_mib=16384"),
        ("dev", {"cpu": 3}, "cpu=3"),
        (
            "dev",
            {"image_ref": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:latest"},
            ":latest",
        ),
        ("dev", {"image_ref": "repo/api@sha256:abc"}, "sha256:abc"),
        ("dev", {"min_tasks": 0}, "min_tasks=0"),
        ("dev", {"min_tasks": 3, "max_tasks": 2}, "max_tasks=2"),
        ("dev", {"log_retention_days": 0}, "log_retention_days=0"),
        ("dev", {"log_retention_days": 31}, "log_retention_days=31"),
        ("prod", {"encrypt_logs": False}, "encrypt_logs=False"),
        ("dev", {"environment": "staging"}, "'staging'"),
        ("dev", {"region": ""}, "region=''"),
        ("dev", {"tags": {"env": "dev"}}, "required keys"),
        ("dev", {"tags": standard_labels("prod")}, "env must be 'dev'"),
        ("dev", {"env": {"TMPDIR": "/var/tmp"}}, "'TMPDIR'"),
        ("dev", {"env": {"lower_case": "x"}}, "'lower_case'"),
        (
            "dev",
            {"env": {"ENVIRONMENT": "x"}, "secret_arns": {"ENVIRONMENT": "arn"}},
            "ENVIRONMENT",
        ),
        ("dev", {"secret_arns": {}}, "secret_arns={}"),
        ("dev", {"secret_arns": {"JWT_SECRET": "jwt-secret"}}, "'jwt-secret'"),
        ("dev", {"secret_arns": {"JWT_SECRET": secret_arn("dev", "*")}}, "no '*'"),
        ("dev", {"kms_key_arn": "*"}, "kms_key_arn='*'"),
        ("dev", {"cpu_target_percent": 0}, "cpu_target_percent=0"),
        ("dev", {"container_port": 0}, "container_port=0"),
    ],
)
def test_invalid_arguments_are_refused_naming_the_value(
    env: str, changes: dict[str, Any], named: str
) -> None:
    message = refused_args(lambda: service_args(env, **changes))
    assert named in message, message


@pytest.mark.parametrize(
    "name",
    [
        *("JWT_SECRET", "DB_PASSWORD", "GITHUB_TOKEN", "SUPABASE_SERVICE_KEY", "AUTH_HEADER"),
        # Secret whatever the name says: a password inside the URL, the Redis AUTH token.
        *("DATABASE_URL", "REDIS_URL", "AWS_CREDENTIALS", "PRIVATE_PEM"),
    ],
)
def test_a8_secret_looking_plain_env_isrefused_args(name: str) -> None:
    args = service_args("dev")
    message = refused_args(lambda: dataclasses.replace(args, env={**args.env, name: "hunter2"}))
    assert repr(name) in message and "secret_arns" in message, message
    assert "hunter2" not in message, f"the refusal leaks the value: {message}"


def test_accepts_outputs_from_other_components() -> None:
    """The platform passes the image digest, secret ARNs and the key as Outputs."""
    args = service_args("prod")

    def build() -> None:
        FargateService(
            "api",
            dataclasses.replace(
                args,
                image_ref=pulumi.Output.from_input(args.image_ref),
                kms_key_arn=pulumi.Output.from_input(args.kms_key_arn),
                secret_arns={k: pulumi.Output.from_input(v) for k, v in args.secret_arns.items()},
            ),
        )

    run = run_component(build, stack="prod")
    task = run.one(TASK)
    [container] = json.loads(task.inputs["containerDefinitions"])
    assert container["image"] == args.image_ref, task.urn
    assert {s["name"]: s["valueFrom"] for s in container["secrets"]} == dict(args.secret_arns)
    [inline] = [p for p in run.of_type(ROLE_POLICY) if p.name == "api-execution-secrets"]
    resources = [s["Resource"] for s in json.loads(inline.inputs["policy"])["Statement"]]
    assert resources == [sorted(args.secret_arns.values()), args.kms_key_arn], inline.urn


def test_an_output_image_not_by_digest_fails_the_run() -> None:
    args = service_args("dev")

    def build() -> None:
        image = pulumi.Output.from_input("123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:latest")
        FargateService("api", dataclasses.replace(args, image_ref=image))

    with pytest.raises(Exception, match="by digest"):
        run_component(build)
