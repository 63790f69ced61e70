"""`Cache`: the Memorystore for Redis instance that caches the service's analysis reports.

Why these settings (security table G12-G15, X2): Memorystore has AUTH, TLS and HA off by
default. Here AUTH is on, traffic is TLS with the server's own CA
(``SERVER_AUTHENTICATION``, port 6378), the instance is reachable only over private service
access, and prod gets the STANDARD_HA tier (a replica in another zone) with RDB snapshots.
The client therefore needs a ``rediss://`` URL with the AUTH string and the CA certificate:
both are offered as Pulumi secrets (``redis_url``, ``ca_cert``) for Secret Manager, never as
plain values.

Deletion: the provider's ``deletion_protection`` is on when unset, so dev sets it to false
explicitly (otherwise ``pulumi destroy`` fails); prod sets it and Pulumi's ``protect`` and
``retain_on_delete``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import pulumi
import pulumi_gcp as gcp

from infra.labels import validate_labels

TIERS = ("BASIC", "STANDARD_HA")
MEMORY_GB_RANGE = (1, 300)
REDIS_VERSION = "REDIS_7_2"
# Instance ids: a letter, then up to 39 lowercase letters, digits or '-'. Pulumi appends an
# 8-character suffix ("-1a2b3c4") to f"{name}-redis".
_INSTANCE_NAME = re.compile(r"[a-z][a-z0-9-]{0,25}")


@dataclass(frozen=True)
class CacheArgs:
    project: str
    region: str
    labels: dict[str, str]
    network_id: pulumi.Input[str]
    tier: Literal["BASIC", "STANDARD_HA"]
    memory_gb: int
    protect: bool = False
    depends_on: list[pulumi.Resource] = field(default_factory=list)  # the peering connection

    def __post_init__(self) -> None:
        if self.tier not in TIERS:
            raise ValueError(f"tier {self.tier!r} must be one of {TIERS}")
        low, high = MEMORY_GB_RANGE
        if not low <= self.memory_gb <= high:
            raise ValueError(f"memory_gb ({self.memory_gb}) must be from {low} to {high}")
        validate_labels(self.labels)


def redis_url(auth_string: str, host: str, port: int | float) -> str:
    """The TLS URL with AUTH that the service's Redis client takes."""
    return f"rediss://:{quote(auth_string, safe='')}@{host}:{int(port)}/0"


def first_ca_cert(certs: Sequence[Any]) -> str:
    """The PEM of the server CA (the first of ``server_ca_certs``)."""
    if not certs:
        raise ValueError("the Redis instance reports no server_ca_certs: is TLS enabled?")
    return certs[0].cert


class Cache(pulumi.ComponentResource):
    """A private, authenticated, TLS-only Redis; HA with persistence in the STANDARD_HA tier."""

    redis_url: pulumi.Output[str]  # secret
    ca_cert: pulumi.Output[str]  # secret
    instance_id: pulumi.Output[str]  # projects/<p>/locations/<region>/instances/<name>
    instance_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        if not _INSTANCE_NAME.fullmatch(name):
            raise ValueError(
                f"Cache name {name!r} must be a lowercase letter then at most 25 lowercase "
                "letters, digits or '-' (Redis instance ids are at most 40 characters)"
            )
        super().__init__("emg:gcp:Cache", name, None, opts)
        ha = args.tier == "STANDARD_HA"
        instance = gcp.redis.Instance(
            f"{name}-redis",
            project=args.project,
            region=args.region,
            display_name=f"{name} (EMG Analyzer)",
            labels=args.labels,
            tier=args.tier,
            memory_size_gb=args.memory_gb,
            redis_version=REDIS_VERSION,
            authorized_network=args.network_id,
            connect_mode="PRIVATE_SERVICE_ACCESS",
            auth_enabled=True,
            transit_encryption_mode="SERVER_AUTHENTICATION",
            # STANDARD_HA without read replicas: exactly one failover replica.
            replica_count=1 if ha else None,
            read_replicas_mode="READ_REPLICAS_DISABLED" if ha else None,
            persistence_config=(
                gcp.redis.InstancePersistenceConfigArgs(
                    persistence_mode="RDB", rdb_snapshot_period="TWELVE_HOURS"
                )
                if ha
                else None
            ),
            deletion_protection=args.protect,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=list(args.depends_on),
                protect=args.protect,
                retain_on_delete=args.protect,
            ),
        )
        self.redis_url = pulumi.Output.secret(
            pulumi.Output.all(instance.auth_string, instance.host, instance.port).apply(
                lambda parts: redis_url(*parts)
            )
        )
        self.ca_cert = pulumi.Output.secret(instance.server_ca_certs.apply(first_ca_cert))
        self.instance_id = instance.id
        self.instance_name = instance.name
        self.register_outputs(
            {
                "redis_url": self.redis_url,
                "ca_cert": self.ca_cert,
                "instance_id": self.instance_id,
                "instance_name": self.instance_name,
            }
        )
