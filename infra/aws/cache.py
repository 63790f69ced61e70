"""`Cache`: ElastiCache for Redis, the report cache, reachable only from the API tasks.

Security properties (rows of the table in INFRA_NOTES.md) it holds by construction:
- A12 TLS in transit, required (``transit_encryption_mode="required"``: plaintext clients are
  refused), encryption at rest with the stack's key (ElastiCache's default is off), and an AUTH
  token (only accepted with TLS on), passed write-only so the provider never stores it.
- A13 prod (``replicas >= 2``): a replica in another zone with automatic failover and multi-AZ,
  daily snapshots kept ``snapshot_retention_days``; ``engine`` is lowercase ``redis``.
- A14 reachable only through the cache's security group, which admits only the tasks' group
  (the network component).

The service reaches it with ``redis_url``: ``rediss://:<token>@<primary endpoint>:6379/0``, a
secret. ElastiCache's certificates are signed by Amazon's public CA, which the image's CA
bundle already trusts, so unlike Memorystore no CA certificate is passed. The token is
percent-encoded in the URL (redis-py decodes it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

import pulumi
import pulumi_aws as aws

from infra.labels import stack_name, validate_labels
from infra.secret_values import value_version

PORT = 6379
ENGINE_VERSION = "7.1"
# ElastiCache AUTH tokens: 16-128 printable ASCII characters except '@', '"' and '/'.
AUTH_TOKEN = re.compile(r"[!#-.0-?A-~]{16,128}")


@dataclass(frozen=True)
class CacheArgs:
    environment: str
    tags: dict[str, str]
    subnet_ids: pulumi.Input[Sequence[str]]  # private subnets, two zones
    security_group_id: pulumi.Input[str]
    auth_token: pulumi.Input[str]  # a secret Output; checked against AUTH_TOKEN at deploy time
    kms_key_arn: pulumi.Input[str]
    node_type: str
    replicas: int  # nodes in the group: 1 (dev) or >= 2 (failover to another zone)
    snapshot_retention_days: int = 0
    protect: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.replicas <= 6:
            raise ValueError(f"replicas ({self.replicas}) must be 1-6 (one primary, up to 5)")
        if not 0 <= self.snapshot_retention_days <= 35:
            raise ValueError(
                f"snapshot_retention_days ({self.snapshot_retention_days}) must be 0-35"
            )
        validate_labels(self.tags)


def group_id(stack: str) -> str:
    return f"emg-{stack}-redis"


def member_cluster_ids(stack: str, replicas: int) -> list[str]:
    """The node ids ElastiCache gives a group's members (CloudWatch's CacheClusterId)."""
    return [f"{group_id(stack)}-{i:03d}" for i in range(1, replicas + 1)]


def checked_token(token: str) -> str:
    """``token`` if ElastiCache accepts it; else ValueError, without the token in the text."""
    if not AUTH_TOKEN.fullmatch(token):
        raise ValueError(
            "emg-analyzer:redisAuthToken must be 16-128 printable ASCII characters without "
            "spaces, '@', '\"' or '/' (ElastiCache AUTH token rules); set it with "
            "`pulumi config set --secret emg-analyzer:redisAuthToken <value>`"
        )
    return token


def redis_url(token: str, host: str, port: int) -> str:
    return f"rediss://:{quote(token, safe='')}@{host}:{int(port)}/0"


class Cache(pulumi.ComponentResource):
    redis_url: pulumi.Output[str]  # secret
    group_id: str
    member_cluster_ids: list[str]

    def __init__(
        self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("emg:aws:Cache", name, None, opts)
        stack = stack_name()
        token = pulumi.Output.secret(args.auth_token).apply(checked_token)
        subnets = aws.elasticache.SubnetGroup(
            f"{name}-subnets",
            description=f"EMG Analyzer {args.environment} cache: private subnets",
            subnet_ids=args.subnet_ids,
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        failover = args.replicas >= 2
        group = aws.elasticache.ReplicationGroup(
            f"{name}-redis",
            replication_group_id=group_id(stack),
            description=f"EMG Analyzer {args.environment} report cache",
            engine="redis",
            engine_version=ENGINE_VERSION,
            node_type=args.node_type,
            num_cache_clusters=args.replicas,
            port=PORT,
            subnet_group_name=subnets.name,
            security_group_ids=[args.security_group_id],
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            at_rest_encryption_enabled=True,
            kms_key_id=args.kms_key_arn,
            auth_token_wo=token,
            auth_token_wo_version=token.apply(lambda value: int(value_version(value))),
            automatic_failover_enabled=failover,
            multi_az_enabled=failover,
            snapshot_retention_limit=args.snapshot_retention_days,
            auto_minor_version_upgrade=True,
            tags=args.tags,
            opts=pulumi.ResourceOptions(
                parent=self, protect=args.protect, retain_on_delete=args.protect
            ),
        )
        self.group_id = group_id(stack)
        self.member_cluster_ids = member_cluster_ids(stack, args.replicas)
        self.redis_url = pulumi.Output.secret(
            pulumi.Output.all(token, group.primary_endpoint_address, group.port).apply(
                lambda parts: redis_url(*parts)
            )
        )
        self.register_outputs({"redis_url": self.redis_url})
