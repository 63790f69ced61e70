"""`Network`: the private network the service and its cache share.

Why: Memorystore is reachable only on private addresses (connect mode PRIVATE_SERVICE_ACCESS),
so the project needs a VPC with a range peered to Google's service producers, and Cloud Run
reaches it through direct VPC egress into ``subnet`` (no connector VMs to pay for or patch).
The subnet has Private Google Access so egress through it still reaches Google APIs without a
public address. No default subnets: every range here is chosen, none auto-created.

Ranges are checked by `plan_ranges` (pure, no Pulumi) before anything is created.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.labels import validate_labels

# Cloud Run direct VPC egress needs a subnet of at least /26; GCP subnets are at most /8.
SUBNET_PREFIX_RANGE = (8, 26)
# Private service access: Memorystore needs at least a /24 allocated to the peering.
SERVICES_PREFIX_RANGE = (8, 24)
RFC1918 = tuple(
    ipaddress.IPv4Network(block) for block in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)


@dataclass(frozen=True)
class NetworkArgs:
    project: str
    region: str
    labels: dict[str, str]
    subnet_cidr: str = "10.20.0.0/24"
    services_cidr_prefix: int = 20  # size of the private service access range

    def __post_init__(self) -> None:
        plan_ranges(self.subnet_cidr, self.services_cidr_prefix)
        validate_labels(self.labels)


def plan_ranges(subnet_cidr: str, services_cidr_prefix: int) -> ipaddress.IPv4Network:
    """The subnet's network, once ``subnet_cidr`` and ``services_cidr_prefix`` are known to be
    usable; raises ValueError naming the value otherwise."""
    try:
        subnet = ipaddress.ip_network(subnet_cidr, strict=True)
    except ValueError as exc:
        raise ValueError(
            f"subnet_cidr {subnet_cidr!r} is not a network in CIDR form: {exc}"
        ) from None
    if not isinstance(subnet, ipaddress.IPv4Network) or not any(
        subnet.subnet_of(block) for block in RFC1918
    ):
        raise ValueError(f"subnet_cidr {subnet_cidr!r} must be a private IPv4 range (RFC 1918)")
    low, high = SUBNET_PREFIX_RANGE
    if not low <= subnet.prefixlen <= high:
        raise ValueError(
            f"subnet_cidr {subnet_cidr!r} must have a prefix from /{low} to /{high} "
            "(Cloud Run direct VPC egress needs at least a /26)"
        )
    low, high = SERVICES_PREFIX_RANGE
    if not low <= services_cidr_prefix <= high:
        raise ValueError(
            f"services_cidr_prefix ({services_cidr_prefix}) must be from {low} to {high} "
            "(private service access needs at least a /24)"
        )
    return subnet


class Network(pulumi.ComponentResource):
    """A VPC, one regional subnet, and private service access for managed services."""

    network_id: pulumi.Output[str]
    network_self_link: pulumi.Output[str]
    subnet_id: pulumi.Output[str]
    subnet_self_link: pulumi.Output[str]
    private_services: gcp.servicenetworking.Connection  # resources on the peering depend on it

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("emg:gcp:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        vpc = gcp.compute.Network(
            f"{name}-vpc",
            project=args.project,
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            description="EMG Analyzer: Cloud Run egress and Memorystore",
            opts=child,
        )
        subnet = gcp.compute.Subnetwork(
            f"{name}-subnet",
            project=args.project,
            region=args.region,
            network=vpc.id,
            ip_cidr_range=args.subnet_cidr,
            private_ip_google_access=True,
            opts=child,
        )
        services_range = gcp.compute.GlobalAddress(
            f"{name}-services-range",
            project=args.project,
            network=vpc.id,
            purpose="VPC_PEERING",
            address_type="INTERNAL",
            prefix_length=args.services_cidr_prefix,
            labels=args.labels,
            opts=child,
        )
        self.private_services = gcp.servicenetworking.Connection(
            f"{name}-private-services",
            network=vpc.id,
            service="servicenetworking.googleapis.com",
            reserved_peering_ranges=[services_range.name],
            opts=child,
        )
        self.network_id = vpc.id
        self.network_self_link = vpc.self_link
        self.subnet_id = subnet.id
        self.subnet_self_link = subnet.self_link
        self.register_outputs(
            {
                "network_id": self.network_id,
                "network_self_link": self.network_self_link,
                "subnet_id": self.subnet_id,
                "subnet_self_link": self.subnet_self_link,
            }
        )
