"""`ServiceImage`: builds ``service/Dockerfile`` and pushes it to the stack's registry.

Why by digest: ``image_ref`` is the pushed image's ``repo_digest``
(``<registry>/<repo>/emg-service@sha256:...``), so every build that changes the image changes
what Cloud Run or ECS runs (a new revision or deployment), and a tag can never be re-pointed
under a running service (security table G8).

Why these checks: the image name must begin with the registry host, or Docker pushes to Docker
Hub and fails; Cloud Run runs linux/amd64 images only (and the Fargate task asks for X86_64),
so that is what is built, even on an arm64 laptop. Pulumi-docker (>= 4.1) resolves a relative
``dockerfile`` against the program's working directory (``infra/`` under ``main: infra/``), not
the build context, so the component hands it an absolute path.

Registry authentication: ECR hands the program short-lived push credentials (``registry``,
kept secret by Pulumi). For Artifact Registry none pass through the program or its state:
where ``pulumi up`` runs, Docker needs the credential helper
(``gcloud auth configure-docker <location>-docker.pkg.dev``; in CI, after
``google-github-actions/auth``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_docker as docker

IMAGE = "emg-service"
PLATFORMS = ("linux/amd64",)  # what Cloud Run runs
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# <host>/<path>: a host with a dot (or a port) is a registry; anything else means Docker Hub.
_REPOSITORY_URL = re.compile(r"(?P<host>[a-z0-9.-]+\.[a-z]+(:[0-9]+)?)(/[a-z0-9._-]+)+")


@dataclass(frozen=True)
class ImageArgs:
    repository_url: pulumi.Input[str]  # Registry.repository_url
    context: str  # the repository root, absolute
    dockerfile: str  # relative to context, e.g. "service/Dockerfile"
    tag: str  # the commit being deployed, or "latest" for a plan
    platform: str = "linux/amd64"
    registry: docker.RegistryArgs | None = None  # push credentials, when the registry gives any

    def __post_init__(self) -> None:
        if not _TAG.fullmatch(self.tag):
            raise ValueError(
                f"tag {self.tag!r} must be 1-128 letters, digits, '_', '.' or '-', "
                "not starting with '.' or '-'"
            )
        if self.platform not in PLATFORMS:
            raise ValueError(f"platform {self.platform!r} must be one of {PLATFORMS}")
        context = Path(self.context)
        if not context.is_absolute() or not context.is_dir():
            raise ValueError(f"context {self.context!r} must be an absolute path to a directory")
        if Path(self.dockerfile).is_absolute() or not (context / self.dockerfile).is_file():
            raise ValueError(
                f"dockerfile {self.dockerfile!r} must be a file relative to context {self.context}"
            )
        if isinstance(self.repository_url, str):
            image_name(self.repository_url, self.tag)


def image_name(repository_url: str, tag: str) -> str:
    """``<repository_url>/emg-service:<tag>``, once ``repository_url`` is known to start with a
    registry host (so the push cannot go to Docker Hub)."""
    if not _REPOSITORY_URL.fullmatch(repository_url):
        raise ValueError(
            f"repository_url {repository_url!r} must be <registry host>/<path>, like "
            "europe-west4-docker.pkg.dev/<project>/<repository>"
        )
    return f"{repository_url}/{IMAGE}:{tag}"


class ServiceImage(pulumi.ComponentResource):
    """The service image, built for Cloud Run and pushed; ``image_ref`` pins it by digest."""

    image_ref: pulumi.Output[str]

    def __init__(
        self, name: str, args: ImageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("emg:image:ServiceImage", name, None, opts)
        image = docker.Image(
            f"{name}-build",
            image_name=pulumi.Output.from_input(args.repository_url).apply(
                lambda url: image_name(url, args.tag)
            ),
            build=docker.DockerBuildArgs(
                context=args.context,
                dockerfile=str(Path(args.context) / args.dockerfile),
                platform=args.platform,
            ),
            skip_push=False,
            registry=args.registry,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.image_ref = image.repo_digest
        self.register_outputs({"image_ref": self.image_ref})
