"""`Network`: where the tasks, the cache and the load balancer live, and who may talk to whom.

Either a new VPC over two availability zones, or the VPC and subnets a stack names
(``awsVpcId``, ``awsPublicSubnetIds``, ``awsTaskSubnetIds``, e.g. a landing zone's shared VPC).
The security groups are always the stack's own.

New VPC: public subnets hold only the load balancer and the NAT gateways; tasks and Redis sit
in private subnets without public addresses (security table A10). Tasks need the internet for
Supabase (database and storage) and AWS APIs, so the private subnets route through NAT: one
gateway per zone in prod (a zone outage does not cut the other zone off), one shared in dev
(cheaper). An S3 gateway endpoint keeps image layer downloads off NAT.

Security groups (A14), each rule its own resource so a change shows as one added or removed
rule in a plan:
- load balancer: 443 and 80 from anywhere (80 only redirects), out only to the tasks' port;
- tasks: the container port only from the load balancer; out to HTTPS, PostgreSQL (5432 and
  Supabase's pooler 6543) and the cache;
- cache: 6379 only from the tasks; nothing out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.labels import stack_name, validate_labels

ZONES = 2
REDIS_PORT = 6379
ANYWHERE = "0.0.0.0/0"
# (port, why) the tasks may reach anywhere: Supabase and AWS APIs, Supabase's PostgreSQL.
TASK_EGRESS = ((443, "HTTPS: Supabase, AWS APIs"), (5432, "PostgreSQL"), (6543, "Supabase pooler"))


@dataclass(frozen=True)
class ExistingNetwork:
    vpc_id: str
    public_subnet_ids: tuple[str, ...]
    task_subnet_ids: tuple[str, ...]  # private, with a route to NAT


@dataclass(frozen=True)
class NetworkArgs:
    environment: str
    region: str
    tags: dict[str, str]
    container_port: int = 8080
    cidr: str = "10.40.0.0/16"
    nat_per_zone: bool = False  # prod: one NAT gateway per zone
    existing: ExistingNetwork | None = None

    def __post_init__(self) -> None:
        plan_subnets(self.cidr)
        if not 1024 <= self.container_port <= 65535:
            raise ValueError(f"container_port ({self.container_port}) must be 1024-65535")
        validate_labels(self.tags)


@dataclass(frozen=True)
class SubnetPlan:
    public: tuple[str, ...]
    private: tuple[str, ...]


def plan_subnets(cidr: str) -> SubnetPlan:
    """Two public and two private /20s per zone pair, from a /16: public ones first, private
    ones from the upper half, so either side can grow without renumbering the other."""
    try:
        network = ipaddress.ip_network(cidr)
    except ValueError:
        raise ValueError(f"cidr {cidr!r} must be an IPv4 network like 10.40.0.0/16") from None
    if network.version != 4 or network.prefixlen != 16 or not network.is_private:
        raise ValueError(f"cidr {cidr!r} must be a private IPv4 /16 like 10.40.0.0/16")
    blocks = [str(block) for block in network.subnets(new_prefix=20)]
    return SubnetPlan(public=tuple(blocks[:ZONES]), private=tuple(blocks[8 : 8 + ZONES]))


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    public_subnet_ids: pulumi.Output[Sequence[str]]
    task_subnet_ids: pulumi.Output[Sequence[str]]
    alb_security_group_id: pulumi.Output[str]
    task_security_group_id: pulumi.Output[str]
    redis_security_group_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("emg:aws:Network", name, None, opts)
        self._name, self._args = name, args
        if args.existing:
            vpc_id = pulumi.Output.from_input(args.existing.vpc_id)
            public = pulumi.Output.from_input(list(args.existing.public_subnet_ids))
            private = pulumi.Output.from_input(list(args.existing.task_subnet_ids))
        else:
            vpc_id, public, private = self._vpc()
        self.vpc_id, self.public_subnet_ids, self.task_subnet_ids = vpc_id, public, private
        self._security_groups(vpc_id)
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "public_subnet_ids": self.public_subnet_ids,
                "task_subnet_ids": self.task_subnet_ids,
                "alb_security_group_id": self.alb_security_group_id,
                "task_security_group_id": self.task_security_group_id,
                "redis_security_group_id": self.redis_security_group_id,
            }
        )

    def _opts(self, **kwargs) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _tags(self, role: str) -> dict[str, str]:
        return {**self._args.tags, "Name": f"emg-{stack_name()}-{role}"}

    def _vpc(self) -> tuple[pulumi.Output[str], pulumi.Output[list], pulumi.Output[list]]:
        name, args = self._name, self._args
        plan = plan_subnets(args.cidr)
        zones = aws.get_availability_zones_output(
            state="available", opts=pulumi.InvokeOutputOptions(parent=self)
        ).names
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags=self._tags("vpc"),
            opts=self._opts(),
        )
        gateway = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=vpc.id, tags=self._tags("igw"), opts=self._opts()
        )
        public_routes = aws.ec2.RouteTable(
            f"{name}-public-routes",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block=ANYWHERE, gateway_id=gateway.id)],
            tags=self._tags("public"),
            opts=self._opts(),
        )
        public, private, private_routes, nats = [], [], [], []
        for i in range(ZONES):
            zone = zones.apply(lambda names, i=i: names[i])
            subnet = self._subnet(f"public-{i}", vpc, plan.public[i], zone, public_routes)
            public.append(subnet)
            if i == 0 or args.nat_per_zone:
                address = aws.ec2.Eip(
                    f"{name}-nat-{i}-ip",
                    domain="vpc",
                    tags=self._tags(f"nat-{i}"),
                    opts=self._opts(),
                )
                nats.append(
                    aws.ec2.NatGateway(
                        f"{name}-nat-{i}",
                        allocation_id=address.id,
                        subnet_id=subnet.id,
                        tags=self._tags(f"nat-{i}"),
                        opts=self._opts(depends_on=[gateway]),
                    )
                )
            routes = aws.ec2.RouteTable(
                f"{name}-private-{i}-routes",
                vpc_id=vpc.id,
                routes=[
                    aws.ec2.RouteTableRouteArgs(cidr_block=ANYWHERE, nat_gateway_id=nats[-1].id)
                ],
                tags=self._tags(f"private-{i}"),
                opts=self._opts(),
            )
            private.append(self._subnet(f"private-{i}", vpc, plan.private[i], zone, routes))
            private_routes.append(routes)
        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[routes.id for routes in private_routes],
            tags=self._tags("s3"),
            opts=self._opts(),
        )
        return (
            vpc.id,
            pulumi.Output.all(*[s.id for s in public]),
            pulumi.Output.all(*[s.id for s in private]),
        )

    def _subnet(
        self,
        role: str,
        vpc: aws.ec2.Vpc,
        cidr: str,
        zone: pulumi.Output[str],
        routes: aws.ec2.RouteTable,
    ) -> aws.ec2.Subnet:
        """A subnet of ``zone`` routed by ``routes``; nothing in it gets a public address
        unless asked (the load balancer and NAT gateways bring their own)."""
        subnet = aws.ec2.Subnet(
            f"{self._name}-{role}",
            vpc_id=vpc.id,
            cidr_block=cidr,
            availability_zone=zone,
            map_public_ip_on_launch=False,
            tags=self._tags(role),
            opts=self._opts(),
        )
        aws.ec2.RouteTableAssociation(
            f"{self._name}-{role}-routes",
            subnet_id=subnet.id,
            route_table_id=routes.id,
            opts=self._opts(),
        )
        return subnet

    def _security_groups(self, vpc_id: pulumi.Output[str]) -> None:
        name, args = self._name, self._args
        groups = {
            role: aws.ec2.SecurityGroup(
                f"{name}-{role}",
                vpc_id=vpc_id,
                description=description,
                tags=self._tags(role),
                opts=self._opts(),
            )
            for role, description in (
                ("alb", "EMG Analyzer load balancer: HTTPS from the internet"),
                ("tasks", "EMG Analyzer API tasks: only from the load balancer"),
                ("redis", "EMG Analyzer cache: only from the API tasks"),
            )
        }
        alb, tasks, redis = groups["alb"], groups["tasks"], groups["redis"]
        for port in (443, 80):
            self._rule(f"alb-from-internet-{port}", alb, port, inbound=True, cidr=ANYWHERE)
        self._rule("alb-to-tasks", alb, args.container_port, inbound=False, peer=tasks)
        self._rule("tasks-from-alb", tasks, args.container_port, inbound=True, peer=alb)
        for port, why in TASK_EGRESS:
            self._rule(
                f"tasks-to-internet-{port}", tasks, port, inbound=False, cidr=ANYWHERE, why=why
            )
        self._rule("tasks-to-redis", tasks, REDIS_PORT, inbound=False, peer=redis)
        self._rule("redis-from-tasks", redis, REDIS_PORT, inbound=True, peer=tasks)
        self.alb_security_group_id = alb.id
        self.task_security_group_id = tasks.id
        self.redis_security_group_id = redis.id

    def _rule(
        self,
        role: str,
        group: aws.ec2.SecurityGroup,
        port: int,
        *,
        inbound: bool,
        cidr: str | None = None,
        peer: aws.ec2.SecurityGroup | None = None,
        why: str | None = None,
    ) -> None:
        """One TCP port, to or from exactly one of a CIDR block or another group."""
        rule = aws.vpc.SecurityGroupIngressRule if inbound else aws.vpc.SecurityGroupEgressRule
        rule(
            f"{self._name}-{role}",
            security_group_id=group.id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            cidr_ipv4=cidr,
            referenced_security_group_id=peer.id if peer else None,
            description=why or role.replace("-", " "),
            tags=self._args.tags,
            opts=self._opts(),
        )
