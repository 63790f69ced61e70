"""The Pulumi program: validate the stack's configuration, build the platform of its cloud,
export the outputs the frontend consumes (stacks.outputs). Nothing is created before the
configuration has been checked as a whole."""

from __future__ import annotations

import os
from pathlib import Path

import pulumi

from infra.platform import Platform, PlatformArgs
from stacks.loader import load_pulumi_secrets, load_pulumi_stack_config

REPO_ROOT = Path(__file__).resolve().parents[1]


def default_image_tag() -> str:
    """The image tag: the commit being deployed (CI sets it), else "dev"."""
    return os.environ.get("EMG_IMAGE_TAG") or os.environ.get("GITHUB_SHA", "")[:12] or "dev"


def build_platform(name: str, args: PlatformArgs) -> Platform:
    """The platform component of the stack's cloud (each cloud's SDK is imported only when
    used: a GCP plan never loads pulumi_aws)."""
    if args.config.cloud == "aws":
        from infra.aws.platform import AwsPlatform

        return AwsPlatform(name, args)
    from infra.gcp.platform import GcpPlatform

    return GcpPlatform(name, args)


def main(image_tag: str | None = None) -> None:
    config = load_pulumi_stack_config()
    platform = build_platform(
        "emg",
        PlatformArgs(
            config=config,
            secrets=load_pulumi_secrets(config.cloud),
            image_context=str(REPO_ROOT),
            image_tag=image_tag or default_image_tag(),
        ),
    )
    pulumi.export("apiUrl", platform.api_url)
    pulumi.export("healthUrl", platform.health_url)
    pulumi.export("imageRef", platform.image_ref)
    pulumi.export("cloud", config.cloud)
    pulumi.export("environment", config.environment)
    pulumi.export("region", config.region)
    pulumi.export("dashboardUrl", platform.dashboard_url)
    pulumi.export("corsOrigins", list(config.cors_origins))
