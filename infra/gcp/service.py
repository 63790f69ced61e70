"""`CloudRunService`: the API on Cloud Run (v2), reachable only through the load balancer.

Security properties (rows of the table in INFRA_NOTES.md) this component holds by construction:

- G1 ingress is ``INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER``: the internet reaches the service
  only through the HTTPS load balancer (Cloud Armor, TLS policy, logging).
- G2 ``default_uri_disabled`` per argument (prod: no ``*.run.app`` URL at all).
- G3 ``roles/run.invoker`` for ``allUsers``, and only because ingress is LB-only: the external
  load balancer forwards a client's request through the serverless NEG *without* credentials
  (there is no IAP), so Cloud Run would answer 403 to every request otherwise. The ingress check
  runs before IAM, so the ``*.run.app`` URL (when enabled, in dev) still refuses internet
  traffic. ``invoker_iam_disabled`` stays false so the grant is visible and reviewable.
- G4 the revision runs as the dedicated service account it is given; the default compute
  account is refused.
- G5 plain env vars never carry a secret-looking name; secrets are Secret Manager references
  (``value_source.secret_key_ref``, version ``latest``), never values.
- G6 ``scaling.max_instance_count`` always set; min per environment (the stack config requires
  >= 1 in prod).
- G7 ``deletion_protection`` per argument (the provider's default is true, which would make a
  dev stack impossible to destroy).
- G8 the image is referenced by digest (refused otherwise when the reference is a plain string).
- G9 startup probe on /health/readiness, liveness probe on /health/liveness, resource limits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.policy.gcp_rules import DEFAULT_COMPUTE_SA
from infra.secret_values import check_container_env

PORT = 8080
READINESS_PATH = "/health/readiness"
LIVENESS_PATH = "/health/liveness"
INGRESS = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
# Analyses may take the service's PROCESSING_TIMEOUT (300 s) plus upload and parse time.
REQUEST_TIMEOUT = "360s"
# Names Cloud Run sets itself: a service that sets them is rejected at deploy time.
_RESERVED_ENV = frozenset({"PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"})
_CPU = re.compile(r"[0-9]+(\.[0-9]+)?|[0-9]+m")
_MEMORY = re.compile(r"[0-9]+(Mi|Gi)")


@dataclass(frozen=True)
class ServiceArgs:
    """What the Cloud Run service needs; the platform component builds it from StackConfig."""

    project: str
    region: str
    labels: dict[str, str]
    image_ref: pulumi.Input[str]
    """Image by digest (``...@sha256:...``), so a new build rolls a new revision."""
    service_account_email: pulumi.Input[str]
    """The dedicated runtime account (never the default compute account)."""
    env: Mapping[str, str]
    """Plain settings (ENVIRONMENT, CORS_ORIGINS, STORAGE_BACKEND, ...); no secret-looking names."""
    secret_env: Mapping[str, pulumi.Input[str]]
    """ENV_VAR -> Secret Manager secret id; the revision reads version ``latest``."""
    min_instances: int
    max_instances: int
    cpu: str
    memory: str
    concurrency: int
    cpu_always_allocated: bool
    deletion_protection: bool
    default_uri_disabled: bool
    network: pulumi.Input[str]
    subnetwork: pulumi.Input[str]


def _validate(args: ServiceArgs) -> None:
    """Refuse unusable or unsafe arguments, naming the value, before any resource exists."""
    if not args.project or not args.region:
        raise ValueError(f"{args.project=} and {args.region=} must not be empty")
    check_container_env(
        args.env, args.secret_env, "in secret_env as a Secret Manager reference (G5)"
    )
    for name in [*args.env, *args.secret_env]:
        if name in _RESERVED_ENV:
            raise ValueError(f"env var {name!r} is set by Cloud Run itself and cannot be set")
    if args.min_instances < 0:
        raise ValueError(f"{args.min_instances=} must be >= 0")
    if args.max_instances < max(1, args.min_instances):
        raise ValueError(f"{args.max_instances=} must be >= 1 and >= {args.min_instances=}")
    if not 1 <= args.concurrency <= 1000:
        raise ValueError(f"{args.concurrency=} must be from 1 to 1000")
    if not _CPU.fullmatch(args.cpu):
        raise ValueError(f"{args.cpu=} must be a CPU count like '1', '2' or '1000m'")
    if not _MEMORY.fullmatch(args.memory):
        raise ValueError(f"{args.memory=} must be a size like '512Mi' or '2Gi'")
    if isinstance(args.service_account_email, str) and DEFAULT_COMPUTE_SA.fullmatch(
        args.service_account_email
    ):
        raise ValueError(
            f"{args.service_account_email=} is the default compute account: "
            "use the service's dedicated account (G4)"
        )
    if isinstance(args.image_ref, str) and "@sha256:" not in args.image_ref:
        raise ValueError(f"{args.image_ref=} must reference the image by digest (@sha256:...)")


def _envs(args: ServiceArgs) -> list[gcp.cloudrunv2.ServiceTemplateContainerEnvArgs]:
    plain = [
        gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(name=name, value=value)
        for name, value in sorted(args.env.items())
    ]
    secret = [
        gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(
            name=name,
            value_source=gcp.cloudrunv2.ServiceTemplateContainerEnvValueSourceArgs(
                secret_key_ref=gcp.cloudrunv2.ServiceTemplateContainerEnvValueSourceSecretKeyRefArgs(
                    secret=secret_id, version="latest"
                )
            ),
        )
        for name, secret_id in sorted(args.secret_env.items())
    ]
    return plain + secret


class CloudRunService(pulumi.ComponentResource):
    """The API's Cloud Run service and the invoker grant the load balancer path needs."""

    service_name: pulumi.Output[str]
    """Name of the Cloud Run service (for the serverless NEG and the metrics filters)."""
    uri: pulumi.Output[str]
    """The service's own ``*.run.app`` URL (refuses internet traffic: ingress is LB-only)."""

    def __init__(
        self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        _validate(args)
        super().__init__("emg:gcp:Service", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        service = gcp.cloudrunv2.Service(
            f"{name}-service",
            project=args.project,
            location=args.region,
            labels=args.labels,
            ingress=INGRESS,
            invoker_iam_disabled=False,
            default_uri_disabled=args.default_uri_disabled,
            deletion_protection=args.deletion_protection,
            template=gcp.cloudrunv2.ServiceTemplateArgs(
                service_account=args.service_account_email,
                timeout=REQUEST_TIMEOUT,
                max_instance_request_concurrency=args.concurrency,
                scaling=gcp.cloudrunv2.ServiceTemplateScalingArgs(
                    min_instance_count=args.min_instances,
                    max_instance_count=args.max_instances,
                ),
                # Direct VPC egress (the one way to the VPC: no connector); only private ranges
                # (Redis) go through it, the internet (Supabase) goes out directly.
                vpc_access=gcp.cloudrunv2.ServiceTemplateVpcAccessArgs(
                    network_interfaces=[
                        gcp.cloudrunv2.ServiceTemplateVpcAccessNetworkInterfaceArgs(
                            network=args.network, subnetwork=args.subnetwork
                        )
                    ],
                    egress="PRIVATE_RANGES_ONLY",
                ),
                containers=[
                    gcp.cloudrunv2.ServiceTemplateContainerArgs(
                        image=args.image_ref,
                        ports=gcp.cloudrunv2.ServiceTemplateContainerPortsArgs(
                            name="http1", container_port=PORT
                        ),
                        envs=_envs(args),
                        resources=gcp.cloudrunv2.ServiceTemplateContainerResourcesArgs(
                            limits={"cpu": args.cpu, "memory": args.memory},
                            cpu_idle=not args.cpu_always_allocated,
                            startup_cpu_boost=True,
                        ),
                        # Ready: database reachable and migrated, parser workers up. Up to 2 min.
                        startup_probe=gcp.cloudrunv2.ServiceTemplateContainerStartupProbeArgs(
                            http_get=gcp.cloudrunv2.ServiceTemplateContainerStartupProbeHttpGetArgs(
                                path=READINESS_PATH, port=PORT
                            ),
                            period_seconds=5,
                            timeout_seconds=4,
                            failure_threshold=24,
                        ),
                        # Alive: cheap, never depends on the database (an outage must not kill
                        # every instance).
                        liveness_probe=gcp.cloudrunv2.ServiceTemplateContainerLivenessProbeArgs(
                            http_get=gcp.cloudrunv2.ServiceTemplateContainerLivenessProbeHttpGetArgs(
                                path=LIVENESS_PATH, port=PORT
                            ),
                            period_seconds=30,
                            timeout_seconds=5,
                            failure_threshold=3,
                        ),
                    )
                ],
            ),
            opts=child,
        )

        # G3: see the module docstring. Allowed only because ingress is LB-only.
        gcp.cloudrunv2.ServiceIamMember(
            f"{name}-lb-invoker",
            project=args.project,
            location=args.region,
            name=service.name,
            role="roles/run.invoker",
            member="allUsers",
            opts=child,
        )

        self.service_name = service.name
        self.uri = service.uri
        self.register_outputs({"service_name": self.service_name, "uri": self.uri})
