"""`AwsPlatform`: the whole deployment on AWS, composed from one component per job.

Takes the same `PlatformArgs` as `GcpPlatform` and offers the same outputs (infra.platform),
so a stack moves between clouds by its ``cloud`` setting alone. Order matters only through
data: the stack's key exists before what it encrypts; the network's security groups before the
cache, load balancer and tasks that use them; Redis's URL becomes a secret of its own; the ECS
service is created once the HTTPS listener has attached its target group; monitoring watches
the load balancer, the service and each Redis node.

Per environment: prod gets a NAT gateway per zone, a Redis replica with failover and a week
of snapshots, a protected registry, secrets and cache, ALB deletion protection, year-long
encrypted logs, and no ECS Exec. dev is cheaper and destroyable. Fargate cannot scale to zero
on requests, so a dev stack with ``minInstances: 0`` still runs one task.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.aws.cache import Cache, CacheArgs
from infra.aws.encryption import StackKey, StackKeyArgs
from infra.aws.load_balancer import LoadBalancer, LoadBalancerArgs
from infra.aws.monitoring import Monitoring, MonitoringArgs
from infra.aws.network import ExistingNetwork, Network, NetworkArgs
from infra.aws.registry import Registry, RegistryArgs
from infra.aws.secrets import Secrets, SecretsArgs
from infra.aws.service import FargateService, ServiceArgs
from infra.image import ImageArgs, ServiceImage
from infra.labels import standard_labels
from infra.platform import PlatformArgs, offer_outputs, service_env
from stacks.config import SECRETS, StackConfig, memory_mib


def existing_network(config: StackConfig) -> ExistingNetwork | None:
    if config.aws_vpc_id is None:
        return None
    return ExistingNetwork(
        vpc_id=config.aws_vpc_id,
        public_subnet_ids=config.aws_public_subnet_ids,
        task_subnet_ids=config.aws_task_subnet_ids,
    )


class AwsPlatform(pulumi.ComponentResource):
    api_url: pulumi.Output[str]
    health_url: pulumi.Output[str]
    image_ref: pulumi.Output[str]
    dashboard_url: pulumi.Output[str]

    def __init__(
        self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("emg:aws:Platform", name, None, opts)
        config = args.config
        if config.cloud != "aws":
            raise ValueError(f"AwsPlatform needs a stack with cloud aws, not {config.cloud}")
        environment, region = config.environment, config.region
        prod = environment == "prod"
        tags = standard_labels(environment)
        provider = aws.Provider(
            f"{name}-aws", region=region, opts=pulumi.ResourceOptions(parent=self)
        )
        child = pulumi.ResourceOptions(parent=self, providers={"aws": provider})

        key = StackKey(
            f"{name}-key",
            StackKeyArgs(
                environment=environment,
                region=region,
                tags=tags,
                deletion_window_days=30 if prod else 7,
            ),
            child,
        )
        registry = Registry(
            f"{name}-registry",
            RegistryArgs(environment=environment, tags=tags, kms_key_arn=key.key_arn, protect=prod),
            child,
        )
        image = ServiceImage(
            f"{name}-image",
            ImageArgs(
                repository_url=registry.repository_url,
                context=args.image_context,
                dockerfile="service/Dockerfile",
                tag=args.image_tag,
                registry=registry.registry,
            ),
            pulumi.ResourceOptions(parent=self),
        )
        network = Network(
            f"{name}-network",
            NetworkArgs(
                environment=environment,
                region=region,
                tags=tags,
                nat_per_zone=prod,
                existing=existing_network(config),
            ),
            child,
        )
        cache = Cache(
            f"{name}-cache",
            CacheArgs(
                environment=environment,
                tags=tags,
                subnet_ids=network.task_subnet_ids,
                security_group_id=network.redis_security_group_id,
                auth_token=args.secrets["redisAuthToken"],
                kms_key_arn=key.key_arn,
                node_type=config.aws_redis_node_type,
                replicas=2 if config.redis_tier == "STANDARD_HA" else 1,
                snapshot_retention_days=7 if prod else 0,
                protect=prod,
            ),
            child,
        )
        secret_values = {s.env_var: args.secrets[s.key] for s in SECRETS}
        secrets = Secrets(
            f"{name}-secrets",
            SecretsArgs(
                environment=environment,
                tags=tags,
                values={**secret_values, "REDIS_URL": cache.redis_url},
                kms_key_arn=key.key_arn,
                recovery_window_days=30 if prod else 0,
                protect=prod,
            ),
            child,
        )
        edge = LoadBalancer(
            f"{name}-lb",
            LoadBalancerArgs(
                environment=environment,
                tags=tags,
                domain=config.domain,
                hosted_zone_id=config.aws_hosted_zone_id or "",
                vpc_id=network.vpc_id,
                public_subnet_ids=network.public_subnet_ids,
                security_group_id=network.alb_security_group_id,
                deletion_protection=config.deletion_protection,
                rate_limit_per_minute=config.rate_limit_per_minute,
                access_log_retention_days=365 if prod else 30,
            ),
            child,
        )
        service = FargateService(
            f"{name}-service",
            ServiceArgs(
                environment=environment,
                region=region,
                tags=tags,
                image_ref=image.image_ref,
                env=service_env(config),
                secret_arns=secrets.secret_arns,
                kms_key_arn=key.key_arn,
                private_subnet_ids=network.task_subnet_ids,
                task_security_group_id=network.task_security_group_id,
                target_group_arn=edge.target_group_arn,
                cpu=config.cpu,
                memory_mib=memory_mib(config.memory),
                min_tasks=max(config.min_instances, 1),
                max_tasks=max(config.max_instances, 1),
                exec_enabled=not prod,
                log_retention_days=365 if prod else 30,
                encrypt_logs=prod,
                depends_on=[edge.https_listener],
            ),
            child,
        )
        monitoring = Monitoring(
            f"{name}-monitoring",
            MonitoringArgs(
                environment=environment,
                region=region,
                tags=tags,
                alert_emails=config.alert_emails,
                load_balancer_arn_suffix=edge.load_balancer_arn_suffix,
                target_group_arn_suffix=edge.target_group_arn_suffix,
                cluster_name=service.cluster_name,
                service_name=service.service_name,
                redis_cluster_ids=cache.member_cluster_ids,
                latency_p95_ms=config.alert_latency_p95_ms,
                error_ratio=config.alert_error_ratio,
                redis_memory_percent=config.alert_redis_memory_percent,
                kms_key_arn=key.key_arn,
            ),
            child,
        )
        offer_outputs(self, edge.https_url, image.image_ref, monitoring.dashboard_url)
