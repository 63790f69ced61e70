"""`FargateService`: the API on ECS Fargate behind the ALB, with its roles, logs and autoscaling.

Why one component: the task definition, the two IAM roles and the service are only safe
together (which role may read which secret, which user runs in which filesystem), so they are
built, validated and tested as one unit. The pure helpers below (`fargate_task_size`,
`container_definitions`, `execution_role_policy`) hold the decisions and are tested without
Pulumi.

Security properties (rows of the table in INFRA_NOTES.md) this component holds by construction:

- A8 one container: plain env vars never carry a secret-looking name (refused); secrets are
  Secrets Manager ARNs injected by ECS (``secrets[].valueFrom``); read-only root filesystem with
  a writable task volume at /tmp only; non-root user (the image's uid 10001); not privileged;
  ``awslogs`` to the component's log group; the image is referenced by digest.
- A9 distinct execution and task roles. The execution role has only
  ``AmazonECSTaskExecutionRolePolicy`` plus ``secretsmanager:GetSecretValue`` on exactly the
  given secret ARNs and ``kms:Decrypt`` on exactly the stack's key (via Secrets Manager only);
  a ``*`` resource is refused. The task role has no permissions, except the ECS Exec channels
  when exec is enabled (dev only).
- A10 no public IP (private subnets), deployment circuit breaker with rollback, ECS Exec refused
  in prod.
- A11 Container Insights on the cluster.
- A17 log group retention from CloudWatch's accepted values (never 0 = forever); encrypted with
  the stack's key in prod (refused otherwise).
- X1 every resource that takes tags gets the standard labels.

ECS Exec and the read-only root: the exec agent (SSM) writes under /managed-agents and
/var/lib|log/amazon/ssm, which AWS documents as unsupported with ``readonlyRootFilesystem``.
When exec is enabled those paths get writable task volumes (the workaround AWS's own
amazon-ecs-exec-checker describes), so dev keeps both the read-only root and exec.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.labels import stack_name, validate_labels
from infra.secret_values import check_container_env
from stacks.config import FARGATE_MEMORY_MIB

CONTAINER_NAME = "api"
LIVENESS_PATH = "/health/liveness"
# The image's non-root user (service/Dockerfile: USER 10001:10001).
CONTAINER_USER = "10001:10001"
# uvicorn drains for 30 s on SIGTERM (service/cli.py); Fargate allows up to 120 s.
STOP_TIMEOUT_S = 35
# Long enough for migrations and the parser workers to start before the ALB's checks count.
HEALTH_CHECK_GRACE_S = 120
TMP_PATH = "/tmp"
# Task volume name -> container path, writable. /tmp for tempfiles and the parser pool's sockets.
_TMP_VOLUMES = {"tmp": TMP_PATH}
# What the ECS Exec agent writes (see the module docstring).
_EXEC_VOLUMES = {
    "exec-agents": "/managed-agents",
    "exec-ssm-state": "/var/lib/amazon/ssm",
    "exec-ssm-logs": "/var/log/amazon/ssm",
}
EXECUTION_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
EXEC_CHANNEL_ACTIONS = (
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
)
# CloudWatch Logs' accepted retention periods (0, "never expire", is not offered).
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557}
    | {2922, 3288, 3653}
)
_DIGEST_REF = re.compile(r"[^@\s]+@sha256:[0-9a-f]{64}")
_SECRET_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[^*\s]+")
_KMS_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[^*\s]+")
_TRUST_ECS_TASKS = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)
EXEC_CHANNEL_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    # These actions take no resource-level permissions: "*" is the only form IAM accepts.
    "Statement": [{"Effect": "Allow", "Action": list(EXEC_CHANNEL_ACTIONS), "Resource": "*"}],
}


def fargate_task_size(cpu: int, memory_mib: int) -> tuple[str, str]:
    """Task ``cpu`` units and ``memory`` MiB as ECS wants them, for a valid Fargate size.

    >>> fargate_task_size(2, 4096)
    ('2048', '4096')
    """
    if cpu not in FARGATE_MEMORY_MIB:
        raise ValueError(f"{cpu=} must be 1, 2, 4 or 8 whole vCPUs (Fargate sizes)")
    low, high, step = FARGATE_MEMORY_MIB[cpu]
    if not low <= memory_mib <= high or memory_mib % step:
        raise ValueError(
            f"{memory_mib=} must be {low} to {high} in steps of {step} with {cpu=} (Fargate sizes)"
        )
    return str(cpu * 1024), str(memory_mib)


def _check_image_ref(image_ref: str) -> None:
    if not _DIGEST_REF.fullmatch(image_ref):
        raise ValueError(f"{image_ref=} must reference the image by digest (...@sha256:<64 hex>)")


def _writable_volumes(exec_enabled: bool) -> dict[str, str]:
    return _TMP_VOLUMES | (_EXEC_VOLUMES if exec_enabled else {})


def container_definitions(
    *,
    image: str,
    environment: Mapping[str, str],
    secret_arns: Mapping[str, str],
    log_group: str,
    region: str,
    port: int,
    exec_enabled: bool,
) -> list[dict[str, Any]]:
    """The task's one container (ECS ``containerDefinitions``) from resolved values."""
    _check_image_ref(image)
    probe = (
        "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen("
        f"'http://127.0.0.1:{port}{LIVENESS_PATH}', timeout=4).status == 200 else 1)"
    )
    return [
        {
            "name": CONTAINER_NAME,
            "image": image,
            "essential": True,
            "user": CONTAINER_USER,
            "privileged": False,
            "readonlyRootFilesystem": True,
            "portMappings": [{"containerPort": port, "protocol": "tcp"}],
            "environment": [
                {"name": name, "value": value}
                for name, value in sorted({**environment, "TMPDIR": TMP_PATH}.items())
            ],
            "secrets": [
                {"name": name, "valueFrom": arn} for name, arn in sorted(secret_arns.items())
            ],
            "mountPoints": [
                {"sourceVolume": volume, "containerPath": path, "readOnly": False}
                for volume, path in _writable_volumes(exec_enabled).items()
            ],
            # PID 1 reaps the parser pool's helper processes and forwards SIGTERM.
            "linuxParameters": {"initProcessEnabled": True},
            # The image's own HEALTHCHECK form (no curl in slim images), on the liveness route.
            "healthCheck": {
                "command": ["CMD", "python", "-c", probe],
                "interval": 30,
                "timeout": 5,
                "retries": 3,
                "startPeriod": 60,
            },
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": log_group,
                    "awslogs-region": region,
                    "awslogs-stream-prefix": CONTAINER_NAME,
                },
            },
            "stopTimeout": STOP_TIMEOUT_S,
        }
    ]


def execution_role_policy(
    secret_arns: Sequence[str], kms_key_arn: str, region: str
) -> dict[str, Any]:
    """What the execution role may do beyond pulling images and writing logs: read exactly these
    secrets, and decrypt them with exactly this key (only through Secrets Manager)."""
    resources = [*secret_arns, kms_key_arn]
    if not secret_arns or any("*" in arn for arn in resources):
        raise ValueError(
            f"execution role resources {resources} must name at least one secret and no '*' (A9)"
        )
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadServiceSecrets",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": sorted(set(secret_arns)),
            },
            {
                "Sid": "DecryptServiceSecrets",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": kms_key_arn,
                "Condition": {
                    "StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}
                },
            },
        ],
    }


@dataclass(frozen=True)
class ServiceArgs:
    """What the Fargate service needs; the AWS platform builds it from StackConfig.

    Validated on construction: a bad value raises ValueError naming it, before any resource.
    """

    environment: str
    region: str
    """AWS region of the stack (``awslogs-region``)."""
    tags: dict[str, str]
    """``infra.labels.standard_labels(environment)``."""
    image_ref: pulumi.Input[str]
    """Image by digest (``<repo url>@sha256:<64 hex>``), so a new build rolls the service."""
    env: Mapping[str, str]
    """Plain settings; no secret-looking names."""
    secret_arns: Mapping[str, pulumi.Input[str]]
    """ENV_VAR -> Secrets Manager secret ARN, injected by ECS at task start."""
    kms_key_arn: pulumi.Input[str]
    """The stack's CMK: encrypts the secrets and (prod) the log group."""
    private_subnet_ids: pulumi.Input[Sequence[str]]
    task_security_group_id: pulumi.Input[str]
    target_group_arn: pulumi.Input[str]
    """ALB target group (``target_type="ip"``)."""
    cpu: int
    """Whole vCPUs: 1, 2, 4 or 8."""
    memory_mib: int
    """A Fargate memory size valid for ``cpu``."""
    min_tasks: int
    max_tasks: int
    exec_enabled: bool
    """ECS Exec; dev only."""
    log_retention_days: int
    encrypt_logs: bool
    """Encrypt the log group with ``kms_key_arn`` (required in prod)."""
    cpu_target_percent: int = 60
    """Average CPU the autoscaling keeps the service at."""
    container_port: int = 8080
    depends_on: Sequence[pulumi.Resource] = ()
    """Created before the service (the listener that attaches the target group to the ALB)."""

    def __post_init__(self) -> None:
        if self.environment not in ("dev", "prod"):
            raise ValueError(f"{self.environment=} must be 'dev' or 'prod'")
        if not self.region:
            raise ValueError(f"{self.region=} must name the stack's AWS region")
        validate_labels(self.tags)
        if self.tags["env"] != self.environment:
            raise ValueError(f"{self.tags=}: env must be {self.environment!r} (X1)")
        if isinstance(self.image_ref, str):
            _check_image_ref(self.image_ref)
        self._check_env()
        fargate_task_size(self.cpu, self.memory_mib)
        if self.min_tasks < 1:
            raise ValueError(f"{self.min_tasks=} must be >= 1 (Fargate does not scale to zero)")
        if self.max_tasks < self.min_tasks:
            raise ValueError(f"{self.max_tasks=} must be >= {self.min_tasks=}")
        if self.environment == "prod" and self.exec_enabled:
            raise ValueError(f"{self.exec_enabled=} is refused in prod: no shells into prod (A10)")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise ValueError(
                f"{self.log_retention_days=} must be one of CloudWatch's retention periods "
                f"{sorted(LOG_RETENTION_DAYS)} (A17)"
            )
        if self.environment == "prod" and not self.encrypt_logs:
            raise ValueError(f"{self.encrypt_logs=} is refused in prod: encrypt the logs (A17)")
        if not 1 <= self.cpu_target_percent <= 100:
            raise ValueError(f"{self.cpu_target_percent=} must be from 1 to 100")
        if not 1 <= self.container_port <= 65535:
            raise ValueError(f"{self.container_port=} must be a TCP port (1-65535)")
        if isinstance(self.kms_key_arn, str) and not _KMS_KEY_ARN.fullmatch(self.kms_key_arn):
            raise ValueError(f"{self.kms_key_arn=} must be a KMS key ARN (arn:aws:kms:...:key/...)")

    def _check_env(self) -> None:
        check_container_env(
            self.env, self.secret_arns, "in secret_arns as a Secrets Manager ARN (A8)"
        )
        if "TMPDIR" in self.env:
            raise ValueError(f"env var 'TMPDIR' is set by the component to {TMP_PATH}")
        if not self.secret_arns:
            raise ValueError(f"{self.secret_arns=} must name the service's secrets")
        for name, arn in self.secret_arns.items():
            if isinstance(arn, str) and not _SECRET_ARN.fullmatch(arn):
                raise ValueError(
                    f"secret_arns[{name!r}]={arn!r} must be one Secrets Manager secret ARN "
                    "(arn:aws:secretsmanager:...:secret:..., no '*')"
                )


class FargateService(pulumi.ComponentResource):
    """The API's ECS cluster, task definition, service, roles, log group and autoscaling."""

    cluster_name: pulumi.Output[str]
    service_name: pulumi.Output[str]
    task_definition_arn: pulumi.Output[str]
    log_group_name: pulumi.Output[str]
    execution_role_arn: pulumi.Output[str]
    task_role_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("emg:aws:Service", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cpu_units, memory = fargate_task_size(args.cpu, args.memory_mib)

        cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value="enabled")],
            tags=args.tags,
            opts=child,
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/emg/{stack_name()}/api",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.kms_key_arn if args.encrypt_logs else None,
            tags=args.tags,
            opts=child,
        )

        execution_role = aws.iam.Role(
            f"{name}-execution-role",
            description="ECS pulls the API image, writes its logs and injects its secrets",
            assume_role_policy=_TRUST_ECS_TASKS,
            tags=args.tags,
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-execution-managed",
            role=execution_role.name,
            policy_arn=EXECUTION_POLICY_ARN,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-execution-secrets",
            role=execution_role.id,
            policy=pulumi.Output.all(
                arns=pulumi.Output.all(*args.secret_arns.values()), key=args.kms_key_arn
            ).apply(lambda v: json.dumps(execution_role_policy(v["arns"], v["key"], args.region))),
            opts=child,
        )
        task_role = aws.iam.Role(
            f"{name}-task-role",
            description="The API's own identity: no AWS permissions"
            + (" except ECS Exec's channels" if args.exec_enabled else ""),
            assume_role_policy=_TRUST_ECS_TASKS,
            tags=args.tags,
            opts=child,
        )
        if args.exec_enabled:
            aws.iam.RolePolicy(
                f"{name}-task-exec",
                role=task_role.id,
                policy=json.dumps(EXEC_CHANNEL_POLICY),
                opts=child,
            )

        task_definition = aws.ecs.TaskDefinition(
            f"{name}-task",
            family=f"emg-{stack_name()}-api",
            requires_compatibilities=["FARGATE"],
            network_mode="awsvpc",
            cpu=cpu_units,
            memory=memory,
            runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
                operating_system_family="LINUX", cpu_architecture="X86_64"
            ),
            execution_role_arn=execution_role.arn,
            task_role_arn=task_role.arn,
            volumes=[
                aws.ecs.TaskDefinitionVolumeArgs(name=volume)
                for volume in _writable_volumes(args.exec_enabled)
            ],
            container_definitions=pulumi.Output.all(
                image=args.image_ref,
                secrets=pulumi.Output.all(**args.secret_arns),
                log_group=log_group.name,
            ).apply(
                lambda v: json.dumps(
                    container_definitions(
                        image=v["image"],
                        environment=args.env,
                        secret_arns=v["secrets"],
                        log_group=v["log_group"],
                        region=args.region,
                        port=args.container_port,
                        exec_enabled=args.exec_enabled,
                    )
                )
            ),
            tags=args.tags,
            opts=child,
        )

        service = aws.ecs.Service(
            f"{name}-service",
            cluster=cluster.arn,
            task_definition=task_definition.arn,
            launch_type="FARGATE",
            desired_count=args.min_tasks,
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=args.private_subnet_ids,
                security_groups=[args.task_security_group_id],
                assign_public_ip=False,
            ),
            load_balancers=[
                aws.ecs.ServiceLoadBalancerArgs(
                    target_group_arn=args.target_group_arn,
                    container_name=CONTAINER_NAME,
                    container_port=args.container_port,
                )
            ],
            health_check_grace_period_seconds=HEALTH_CHECK_GRACE_S,
            deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(
                enable=True, rollback=True
            ),
            enable_execute_command=args.exec_enabled,
            propagate_tags="SERVICE",
            wait_for_steady_state=False,
            tags=args.tags,
            # Autoscaling owns the task count after creation.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=list(args.depends_on), ignore_changes=["desiredCount"]
            ),
        )

        target = aws.appautoscaling.Target(
            f"{name}-scaling-target",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat("service/", cluster.name, "/", service.name),
            min_capacity=args.min_tasks,
            max_capacity=args.max_tasks,
            tags=args.tags,
            opts=child,
        )
        aws.appautoscaling.Policy(
            f"{name}-scaling-cpu",
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            scalable_dimension=target.scalable_dimension,
            resource_id=target.resource_id,
            target_tracking_scaling_policy_configuration={
                "predefined_metric_specification": {
                    "predefined_metric_type": "ECSServiceAverageCPUUtilization"
                },
                "target_value": args.cpu_target_percent,
                "scale_out_cooldown": 60,
                "scale_in_cooldown": 300,
            },
            opts=child,
        )

        self.cluster_name = cluster.name
        self.service_name = service.name
        self.task_definition_arn = task_definition.arn
        self.log_group_name = log_group.name
        self.execution_role_arn = execution_role.arn
        self.task_role_arn = task_role.arn
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "service_name": self.service_name,
                "task_definition_arn": self.task_definition_arn,
                "log_group_name": self.log_group_name,
                "execution_role_arn": self.execution_role_arn,
                "task_role_arn": self.task_role_arn,
            }
        )
