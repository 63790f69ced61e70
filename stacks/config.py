"""`StackConfig`: every setting of a stack, typed, with per-environment defaults and rules.

Why a model rather than `pulumi.Config` calls spread over components: components receive typed
values, defaults live in one table (``ENVIRONMENT_DEFAULTS``), and a bad setting fails here,
before any resource exists, with a line naming key, value and rule
("emg-analyzer:maxInstances (1) must be >= minInstances (2)").

Secrets are not fields. The model only names them (``SECRETS``): their values reach the program
as Pulumi secret Outputs (stacks.loader) and never sit in a plain object that could be printed,
exported or snapshotted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from stacks.errors import (
    NAMESPACE,
    Problem,
    ProblemsError,
    RuleError,
    StackConfigError,
    first_repeat,
    problems_from,
)

Environment = Literal["dev", "prod"]
Cloud = Literal["gcp", "aws"]
RedisTier = Literal["BASIC", "STANDARD_HA"]


@dataclass(frozen=True)
class SecretSetting:
    """An application secret: set per stack with `pulumi config set --secret`, never committed."""

    key: str
    env_var: str
    purpose: str


SECRETS: tuple[SecretSetting, ...] = (
    SecretSetting("jwtSecret", "JWT_SECRET", "verifies the JWTs Supabase issues"),
    SecretSetting("supabaseWebhookSecret", "SUPABASE_WEBHOOK_SECRET", "signs the storage webhook"),
    SecretSetting("databaseUrl", "DATABASE_URL", "PostgreSQL URL, password included"),
    SecretSetting(
        "supabaseServiceKey", "SUPABASE_SERVICE_KEY", "reads recordings from Supabase Storage"
    ),
)
# Secrets only one cloud's platform needs (GCP's Memorystore generates its own AUTH string).
CLOUD_SECRETS: dict[str, tuple[SecretSetting, ...]] = {
    "gcp": (),
    "aws": (
        SecretSetting(
            "redisAuthToken",
            "REDIS_AUTH_TOKEN",
            "ElastiCache AUTH token: 16-128 printable characters, no '@', '\"' or '/'",
        ),
    ),
}
SECRET_KEYS = frozenset(s.key for s in SECRETS) | frozenset(
    s.key for extra in CLOUD_SECRETS.values() for s in extra
)


def secrets_for(cloud: str) -> tuple[SecretSetting, ...]:
    """The secrets a stack on ``cloud`` must have set."""
    return SECRETS + CLOUD_SECRETS[cloud]


# Names that hold secrets whatever they are called (the policy rule G5 uses the same words).
SECRET_NAME = re.compile(r"(?i)pass|secret|token|key|auth|credential|private")


def looks_secret(key: str) -> bool:
    """True for a setting that must only ever be stored encrypted."""
    return key in SECRET_KEYS or bool(SECRET_NAME.search(key))


# What differs between environments. A key set in the stack file wins over these.
ENVIRONMENT_DEFAULTS: dict[str, dict[str, object]] = {
    # Scale to zero, single-node cache, destroyable.
    "dev": {
        "minInstances": 0,
        "maxInstances": 2,
        "cpu": 1,
        "memory": "2Gi",
        "redisTier": "BASIC",
        "redisMemoryGb": 1,
        "deletionProtection": False,
        "awsRedisNodeType": "cache.t4g.micro",
    },
    # Always one warm instance, highly available cache, nothing deleted by accident.
    "prod": {
        "minInstances": 1,
        "maxInstances": 10,
        "cpu": 2,
        "memory": "4Gi",
        "redisTier": "STANDARD_HA",
        "redisMemoryGb": 1,
        "deletionProtection": True,
        "awsRedisNodeType": "cache.t4g.small",
    },
}

_GCP_PROJECT = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_GCP_REGION = re.compile(r"[a-z]+-[a-z]+[0-9]{1,2}")
_AWS_REGION = re.compile(r"[a-z]{2}(-gov)?-[a-z]+-[0-9]")
_HOSTED_ZONE = re.compile(r"Z[A-Z0-9]{1,32}")
_VPC_ID = re.compile(r"vpc-[0-9a-f]{8,17}")
_SUBNET_ID = re.compile(r"subnet-[0-9a-f]{8,17}")
_NODE_TYPE = re.compile(r"cache\.([a-z0-9]+)\.[a-z0-9]+")
# Families ElastiCache no longer creates clusters of (previous generation, T2 included).
_RETIRED_NODE_FAMILIES = frozenset({"t1", "t2", "m1", "m2", "m3", "c1", "r3"})
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
HOST_NAME = re.compile(rf"{_LABEL}(\.{_LABEL})+")  # lowercase DNS name, no scheme or port
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@" + HOST_NAME.pattern, re.IGNORECASE)
_ORIGIN = re.compile(rf"(?P<scheme>https?)://{_LABEL}(\.{_LABEL})*(:(?P<port>[0-9]{{1,5}}))?")
_MEMORY = re.compile(r"([0-9]+)(Mi|Gi)")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")
_CLOUD_RUN_CPUS = (1, 2, 4, 8)
# Cloud Run: the least memory each CPU count accepts, and the least CPUs each memory size needs.
_MIN_MEMORY_MIB_FOR_CPU = {1: 512, 2: 512, 4: 2048, 8: 4096}
_MIN_CPU_FOR_MEMORY_MIB = ((16384, 8), (8192, 4), (4096, 2))
# Fargate: the memory range (MiB) each vCPU count accepts, and its step.
FARGATE_MEMORY_MIB = {
    1: (2048, 8192, 1024),
    2: (4096, 16384, 1024),
    4: (8192, 30720, 1024),
    8: (16384, 61440, 4096),
}


def _email(value: str) -> str:
    if not EMAIL.fullmatch(value):
        raise RuleError("must be an e-mail address like name@example.org")
    return value


def _origin(value: str) -> str:
    # '*' is refused in dev too: every stack's container runs the production profile,
    # which refuses it at start (service/settings.py), so the revision would never serve.
    if value == "*":
        raise RuleError("must name an origin, not '*' (the deployed service refuses '*')")
    if not (match := _ORIGIN.fullmatch(value)):
        raise RuleError(
            "must be an origin like https://app.example.org (lowercase, no path, no '/' at the end)"
        )
    port = match["port"]
    if port and not 0 < int(port) < 65536:
        raise RuleError("must have a port from 1 to 65535")
    if port == {"https": "443", "http": "80"}[match["scheme"]]:  # browsers leave it out
        raise RuleError(f"must leave out the default port {port} (browsers never send it)")
    return value


def memory_mib(memory: str) -> int:
    """Cloud Run memory ("512Mi", "2Gi") in MiB."""
    number, unit = _MEMORY.fullmatch(memory).groups()  # type: ignore[union-attr]
    return int(number) * (1024 if unit == "Gi" else 1)


class StackConfig(BaseModel):
    """Validated settings of one stack. Keys are the camelCase names of Pulumi config."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,  # YAML's .nan and .inf are not thresholds
    )

    SECRETS: ClassVar[tuple[SecretSetting, ...]] = SECRETS

    environment: Environment
    cloud: Cloud = "gcp"
    # GCP (required when cloud is gcp)
    gcp_project: str | None = None
    gcp_region: str | None = None
    # AWS (required when cloud is aws, except the VPC: without one, the stack builds its own)
    aws_region: str | None = None
    aws_hosted_zone_id: str | None = Field(
        None, description="Route 53 public zone of `domain`: DNS validation and the alias record"
    )
    aws_vpc_id: str | None = None
    aws_public_subnet_ids: tuple[str, ...] = ()
    aws_task_subnet_ids: tuple[str, ...] = Field((), description="private subnets with NAT")
    aws_redis_node_type: str
    domain: str = Field(description="host name of the API; its certificate is managed")
    supabase_url: str = Field(description="the Supabase project the service reads from")
    storage_bucket: str = "c3d-examples"
    # Service sizing, Cloud Run instances or Fargate tasks (defaults per environment)
    min_instances: int = Field(ge=0, le=100)
    max_instances: int = Field(ge=1, le=1000)
    cpu: int
    memory: str
    concurrency: int = Field(10, ge=1, le=1000, description="requests per instance at once")
    cpu_always_allocated: bool = Field(True, description="CPU between requests (background work)")
    # Memorystore or ElastiCache (STANDARD_HA: a replica in another zone, automatic failover)
    redis_tier: RedisTier
    redis_memory_gb: int = Field(ge=1, le=300)
    deletion_protection: bool
    # Edge and monitoring
    cors_origins: tuple[Annotated[str, AfterValidator(_origin)], ...]
    alert_emails: tuple[Annotated[str, AfterValidator(_email)], ...] = ()
    rate_limit_per_minute: int = Field(600, ge=10, le=100_000, description="per client IP")
    alert_latency_p95_ms: int = Field(5000, ge=100, le=300_000)
    alert_error_ratio: float = Field(0.05, gt=0, lt=1, description="share of 5xx responses")
    alert_redis_memory_percent: int = Field(80, ge=10, le=99)

    @classmethod
    def setting_keys(cls) -> frozenset[str]:
        """Every setting's key as typed in Pulumi config (without the namespace)."""
        return frozenset(f.alias or name for name, f in cls.model_fields.items())

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], *, stack: str, source: str) -> StackConfig:
        """Validate one stack's ``emg-analyzer`` settings (keys without the namespace).

        The environment comes from the stack name (``dev``, ``prod``, ``dev-*``, ``prod-*``) or
        from ``environment``; the two must agree. Raises `StackConfigError` with every problem.
        """
        data = dict(settings)
        environment, problem = _resolve_environment(stack, data.get("environment"))
        if problem:
            raise StackConfigError([problem], source=source)
        data["environment"] = environment
        return cls._validated(data, source)

    @classmethod
    def _validated(cls, data: Mapping[str, Any], source: str) -> StackConfig:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = problems_from(exc, known=cls.setting_keys(), prefix=f"{NAMESPACE}:")
            raise StackConfigError(problems, source=source) from None

    @model_validator(mode="before")
    @classmethod
    def _environment_defaults(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            # An unknown environment is reported by its own field; dev defaults keep the other
            # keys from adding noise to that one message.
            environment = data.get("environment")
            defaults = ENVIRONMENT_DEFAULTS.get(
                environment if isinstance(environment, str) else "", ENVIRONMENT_DEFAULTS["dev"]
            )
            return {**defaults, **data}
        return data

    @property
    def region(self) -> str:
        """The region of the stack's cloud."""
        region = self.gcp_region if self.cloud == "gcp" else self.aws_region
        assert region is not None  # _rules requires it
        return region

    @field_validator(
        "cors_origins",
        "alert_emails",
        "aws_public_subnet_ids",
        "aws_task_subnet_ids",
        mode="before",
    )
    @classmethod
    def _list_from_text(cls, value: Any) -> Any:
        # `pulumi config set` stores a scalar; structured config arrives as JSON text.
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                try:
                    return json.loads(value)
                except json.JSONDecodeError:
                    raise RuleError("must be a JSON list or comma-separated values") from None
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("gcp_project")
    @classmethod
    def _gcp_project(cls, value: str | None) -> str | None:
        if value is not None and not _GCP_PROJECT.fullmatch(value):
            raise RuleError(
                "must be a GCP project id: 6-30 lowercase letters, digits or hyphens, "
                "starting with a letter"
            )
        return value

    @field_validator("gcp_region")
    @classmethod
    def _gcp_region(cls, value: str | None) -> str | None:
        if value is not None and not _GCP_REGION.fullmatch(value):
            raise RuleError("must be a GCP region like europe-west4")
        return value

    @field_validator("aws_region")
    @classmethod
    def _aws_region(cls, value: str | None) -> str | None:
        if value is not None and not _AWS_REGION.fullmatch(value):
            raise RuleError("must be an AWS region like eu-west-1")
        return value

    @field_validator("aws_hosted_zone_id")
    @classmethod
    def _hosted_zone(cls, value: str | None) -> str | None:
        if value is not None and not _HOSTED_ZONE.fullmatch(value):
            raise RuleError("must be a Route 53 hosted zone id like Z0123456789ABCDEFGHIJ")
        return value

    @field_validator("aws_vpc_id")
    @classmethod
    def _vpc(cls, value: str | None) -> str | None:
        if value is not None and not _VPC_ID.fullmatch(value):
            raise RuleError("must be a VPC id like vpc-0123456789abcdef0")
        return value

    @field_validator("aws_public_subnet_ids", "aws_task_subnet_ids")
    @classmethod
    def _subnets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [subnet for subnet in value if not _SUBNET_ID.fullmatch(subnet)]
        if bad:
            raise RuleError(f"must be subnet ids like subnet-0123456789abcdef0, not {bad[0]}")
        if first_repeat(value) is not None:
            raise RuleError("must not repeat a subnet")
        return value

    @field_validator("alert_emails", "cors_origins")
    @classmethod
    def _no_repeats(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # Case-insensitive: one mailbox or host subscribed twice is still one.
        if (repeated := first_repeat(value, fold=str.lower)) is not None:
            raise RuleError(f"must not repeat {repeated}")
        return value

    @field_validator("aws_redis_node_type")
    @classmethod
    def _node_type(cls, value: str) -> str:
        if not (match := _NODE_TYPE.fullmatch(value)):
            raise RuleError("must be an ElastiCache node type like cache.t4g.small")
        if match[1] in _RETIRED_NODE_FAMILIES:
            raise RuleError(
                "is a previous-generation node type ElastiCache no longer creates; "
                "use a current one like cache.t4g.small"
            )
        return value

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if len(value) > 253 or not HOST_NAME.fullmatch(value):
            raise RuleError(
                "must be a lowercase host name like api.example.org (no scheme, path or port)"
            )
        return value

    @field_validator("supabase_url")
    @classmethod
    def _supabase_url(cls, value: str) -> str:
        match = _ORIGIN.fullmatch(value)
        if not match or match["scheme"] != "https":
            raise RuleError("must be an https:// URL without a path, like https://abcd.supabase.co")
        return value

    @field_validator("storage_bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not _BUCKET.fullmatch(value):
            raise RuleError("must be 1-63 lowercase letters, digits, '-', '_' or '.'")
        return value

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, value: int) -> int:
        if value not in _CLOUD_RUN_CPUS:
            raise RuleError("must be 1, 2, 4 or 8 (whole vCPUs)")
        return value

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        if not _MEMORY.fullmatch(value) or not 512 <= memory_mib(value) <= 61440:
            raise RuleError("must be a size from 512Mi to 60Gi, like 512Mi or 2Gi")
        return value

    @model_validator(mode="after")
    def _rules(self) -> StackConfig:
        problems = (
            _cloud_problems(self)
            + _sizing_problems(self)
            + _aws_network_problems(self)
            + _environment_problems(self)
        )
        if problems:
            raise ProblemsError(problems)
        return self


def _key(name: str) -> str:
    return f"{NAMESPACE}:{name}"


_REQUIRED_PER_CLOUD = {
    "gcp": (("gcpProject", "gcp_project", "<project-id>"), ("gcpRegion", "gcp_region", "<region>")),
    "aws": (
        ("awsRegion", "aws_region", "<region>"),
        ("awsHostedZoneId", "aws_hosted_zone_id", "<route53-zone-id>"),
    ),
}


def _cloud_problems(c: StackConfig) -> list[Problem]:
    return [
        Problem(
            _key(key),
            f"is required when cloud is {c.cloud}: set it with "
            f"`pulumi config set {NAMESPACE}:{key} {example}`",
        )
        for key, field, example in _REQUIRED_PER_CLOUD[c.cloud]
        if getattr(c, field) is None
    ]


def _fargate_problems(c: StackConfig) -> list[Problem]:
    low, high, step = FARGATE_MEMORY_MIB[c.cpu]
    mib = memory_mib(c.memory)
    if low <= mib <= high and mib % step == 0:
        return []
    return [
        Problem(
            _key("memory"),
            f"must be {low // 1024}Gi to {high // 1024}Gi in steps of {step // 1024}Gi with "
            f"cpu {c.cpu} (Fargate sizes)",
            c.memory,
        )
    ]


def _aws_network_problems(c: StackConfig) -> list[Problem]:
    given = {
        "awsVpcId": c.aws_vpc_id is not None,
        "awsPublicSubnetIds": bool(c.aws_public_subnet_ids),
        "awsTaskSubnetIds": bool(c.aws_task_subnet_ids),
    }
    if not any(given.values()):
        return []
    problems = [
        Problem(
            _key(key),
            "is required when any of awsVpcId, awsPublicSubnetIds, "
            "awsTaskSubnetIds is set (an existing VPC needs all three)",
        )
        for key, present in given.items()
        if not present
    ]
    for key, subnets in (
        ("awsPublicSubnetIds", c.aws_public_subnet_ids),
        ("awsTaskSubnetIds", c.aws_task_subnet_ids),
    ):
        if 0 < len(subnets) < 2:
            problems.append(
                Problem(
                    _key(key),
                    "must list at least two subnets (two availability zones)",
                    list(subnets),
                )
            )
    if set(c.aws_public_subnet_ids) & set(c.aws_task_subnet_ids):
        problems.append(
            Problem(
                _key("awsTaskSubnetIds"),
                "must not share a subnet with awsPublicSubnetIds "
                "(tasks run without public addresses)",
                list(c.aws_task_subnet_ids),
            )
        )
    return problems


def _sizing_problems(c: StackConfig) -> list[Problem]:
    problems = []
    if c.max_instances < c.min_instances:
        problems.append(
            Problem(
                _key("maxInstances"),
                f"must be >= minInstances ({c.min_instances})",
                c.max_instances,
            )
        )
    return problems + (_cloud_run_problems(c) if c.cloud == "gcp" else _fargate_problems(c))


def _cloud_run_problems(c: StackConfig) -> list[Problem]:
    problems = []
    if memory_mib(c.memory) > 32768:
        problems.append(
            Problem(_key("memory"), "must be at most 32Gi (Cloud Run maximum)", c.memory)
        )
    least_memory = _MIN_MEMORY_MIB_FOR_CPU[c.cpu]
    if memory_mib(c.memory) < least_memory:
        problems.append(
            Problem(
                _key("memory"),
                f"must be at least {least_memory // 1024}Gi with cpu {c.cpu} (Cloud Run minimum)",
                c.memory,
            )
        )
    for mib, least_cpu in _MIN_CPU_FOR_MEMORY_MIB:
        if memory_mib(c.memory) > mib and c.cpu < least_cpu:
            problems.append(
                Problem(
                    _key("cpu"),
                    f"must be at least {least_cpu} with memory {c.memory} (Cloud Run minimum)",
                    c.cpu,
                )
            )
            break
    if not c.cpu_always_allocated and c.min_instances == 0:
        problems.append(
            Problem(
                _key("cpuAlwaysAllocated"),
                "must be true when minInstances is 0 (webhook analyses run after the response)",
                False,
            )
        )
    return problems


def _environment_problems(c: StackConfig) -> list[Problem]:
    if c.environment != "prod":
        return []
    problems = []
    if c.min_instances < 1:
        problems.append(
            Problem(
                _key("minInstances"),
                "must be >= 1 in prod (prod never scales to zero)",
                c.min_instances,
            )
        )
    if not c.deletion_protection:
        problems.append(Problem(_key("deletionProtection"), "must be true in prod", False))
    if c.redis_tier != "STANDARD_HA":
        problems.append(
            Problem(
                _key("redisTier"),
                "must be STANDARD_HA in prod (a replica in another zone)",
                c.redis_tier,
            )
        )
    if not c.alert_emails:
        problems.append(
            Problem(
                _key("alertEmails"),
                "must list at least one address in prod (alerts need a recipient)",
                [],
            )
        )
    if not c.cors_origins:
        problems.append(
            Problem(
                _key("corsOrigins"),
                "must list the frontend's origin in prod (browsers refuse calls from any other)",
                [],
            )
        )
    for i, origin in enumerate(c.cors_origins):
        if origin.startswith("http://"):
            problems.append(Problem(_key(f"corsOrigins[{i}]"), "must use https in prod", origin))
    return problems


def _resolve_environment(stack: str, explicit: object) -> tuple[object, Problem | None]:
    implied = next((e for e in ("dev", "prod") if stack == e or stack.startswith(f"{e}-")), None)
    if explicit is None:
        if implied is None:
            rule = (
                f"is required: the stack name ({stack}) is not dev, prod, dev-* or prod-*; "
                f"set it with `pulumi config set {NAMESPACE}:environment dev|prod`"
            )
            return None, Problem(_key("environment"), rule)
        return implied, None
    if implied is not None and explicit != implied:
        return explicit, Problem(
            _key("environment"), f"must be {implied} on stack {stack}", explicit
        )
    return explicit, None
