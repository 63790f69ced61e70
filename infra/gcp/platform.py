"""`GcpPlatform`: the whole deployment on Google Cloud, composed from one component per job.

Takes the typed stack configuration and the application secrets (Pulumi secret Outputs) and
offers the outputs of the frontend contract (stacks.outputs). Order matters only through data:
the runtime service account exists before its secrets are granted to it; Redis's URL and CA
become secrets of their own; the load balancer fronts the service; monitoring watches the
load balancer's public URL.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.gcp.cache import Cache, CacheArgs
from infra.gcp.load_balancer import LoadBalancer, LoadBalancerArgs
from infra.gcp.monitoring import Monitoring, MonitoringArgs
from infra.gcp.network import Network, NetworkArgs
from infra.gcp.registry import Registry, RegistryArgs
from infra.gcp.secrets import Secrets, SecretsArgs
from infra.gcp.service import CloudRunService, ServiceArgs
from infra.image import ImageArgs, ServiceImage
from infra.labels import standard_labels
from infra.platform import PlatformArgs, offer_outputs, service_env
from stacks.config import SECRETS


class GcpPlatform(pulumi.ComponentResource):
    api_url: pulumi.Output[str]
    health_url: pulumi.Output[str]
    image_ref: pulumi.Output[str]
    dashboard_url: pulumi.Output[str]

    def __init__(
        self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("emg:gcp:Platform", name, None, opts)
        config = args.config
        assert config.gcp_project is not None  # StackConfig requires it for gcp
        project, region, prod = config.gcp_project, config.region, config.environment == "prod"
        labels = standard_labels(config.environment)
        provider = gcp.Provider(
            f"{name}-gcp", project=project, region=region, opts=pulumi.ResourceOptions(parent=self)
        )
        child = pulumi.ResourceOptions(parent=self, providers={"gcp": provider})

        registry = Registry(
            f"{name}-registry",
            RegistryArgs(
                project=project,
                location=region,
                repository_id=f"emg-{config.environment}",
                labels=labels,
                protect=prod,
            ),
            child,
        )
        image = ServiceImage(
            f"{name}-image",
            ImageArgs(
                repository_url=registry.repository_url,
                context=args.image_context,
                dockerfile="service/Dockerfile",
                tag=args.image_tag,
            ),
            pulumi.ResourceOptions(parent=self),
        )
        network = Network(
            f"{name}-network", NetworkArgs(project=project, region=region, labels=labels), child
        )
        cache = Cache(
            f"{name}-cache",
            CacheArgs(
                project=project,
                region=region,
                labels=labels,
                network_id=network.network_id,
                tier=config.redis_tier,
                memory_gb=config.redis_memory_gb,
                protect=prod,
                depends_on=[network.private_services],
            ),
            child,
        )
        account = gcp.serviceaccount.Account(
            f"{name}-runtime",
            project=project,
            account_id=f"emg-{config.environment}-run",
            display_name=f"EMG Analyzer service ({config.environment})",
            opts=child,
        )
        secret_values = {s.env_var: args.secrets[s.key] for s in SECRETS}
        secret_values |= {"REDIS_URL": cache.redis_url, "REDIS_CA_CERT": cache.ca_cert}
        secrets = Secrets(
            f"{name}-secrets",
            SecretsArgs(
                project=project,
                labels=labels,
                values=secret_values,
                accessor=account.email.apply(lambda email: f"serviceAccount:{email}"),
                protect=prod,
            ),
            child,
        )
        service = CloudRunService(
            f"{name}-service",
            ServiceArgs(
                project=project,
                region=region,
                labels=labels,
                image_ref=image.image_ref,
                service_account_email=account.email,
                env=service_env(config),
                secret_env=secrets.secret_ids,
                min_instances=config.min_instances,
                max_instances=config.max_instances,
                cpu=str(config.cpu),
                memory=config.memory,
                concurrency=config.concurrency,
                cpu_always_allocated=config.cpu_always_allocated,
                deletion_protection=config.deletion_protection,
                default_uri_disabled=prod,
                network=network.network_id,
                subnetwork=network.subnet_id,
            ),
            child,
        )
        edge = LoadBalancer(
            f"{name}-lb",
            LoadBalancerArgs(
                project=project,
                region=region,
                labels=labels,
                domain=config.domain,
                service_name=service.service_name,
                rate_limit_per_minute=config.rate_limit_per_minute,
            ),
            child,
        )
        monitoring = Monitoring(
            f"{name}-monitoring",
            MonitoringArgs(
                project=project,
                labels=labels,
                environment=config.environment,
                host=config.domain,
                alert_emails=config.alert_emails,
                service_name=service.service_name,
                redis_instance_id=cache.instance_id,
                latency_p95_ms=config.alert_latency_p95_ms,
                error_ratio=config.alert_error_ratio,
                redis_memory_percent=config.alert_redis_memory_percent,
            ),
            child,
        )
        offer_outputs(self, edge.https_url, image.image_ref, monitoring.dashboard_url)
