"""What every cloud's platform component takes and offers, so `infra.program` can pick one by
the stack's ``cloud`` and export the same outputs (stacks.outputs) from either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import pulumi

from stacks.config import StackConfig, secrets_for


@dataclass(frozen=True)
class PlatformArgs:
    config: StackConfig
    secrets: Mapping[str, pulumi.Input[str]]  # keyed as stacks.config.secrets_for(cloud)
    image_context: str  # repository root: the Dockerfile builds from there
    image_tag: str

    def __post_init__(self) -> None:
        missing = [s.key for s in secrets_for(self.config.cloud) if s.key not in self.secrets]
        if missing:
            raise ValueError(
                f"the {self.config.cloud} platform needs every secret of that cloud; "
                f"missing {missing}"
            )


class Platform(Protocol):
    """The outputs of the frontend contract, whatever the cloud."""

    api_url: pulumi.Output[str]
    health_url: pulumi.Output[str]
    image_ref: pulumi.Output[str]
    dashboard_url: pulumi.Output[str]


def offer_outputs(
    platform: pulumi.ComponentResource,
    api_url: pulumi.Output[str],
    image_ref: pulumi.Output[str],
    dashboard_url: pulumi.Output[str],
) -> None:
    """Set and register a platform component's outputs (`Platform`); the health URL is always
    the API's ``/health``."""
    outputs = {
        "api_url": api_url,
        "health_url": api_url.apply(lambda url: f"{url}/health"),
        "image_ref": image_ref,
        "dashboard_url": dashboard_url,
    }
    for name, value in outputs.items():
        setattr(platform, name, value)
    platform.register_outputs(outputs)


def service_env(config: StackConfig) -> dict[str, str]:
    """Plain settings of the service (secrets go through the cloud's secret store). Every cloud
    stack runs the production profile: authentication on, docs off, unsafe settings refused."""
    return {
        "ENVIRONMENT": "production",
        "LOG_LEVEL": "INFO",
        "CORS_ORIGINS": ",".join(config.cors_origins),
        "STORAGE_BACKEND": "supabase",
        "SUPABASE_URL": config.supabase_url,
        "STORAGE_BUCKET": config.storage_bucket,
        "WORKER_CONCURRENCY": "1",
    }
