"""`Registry`: the Artifact Registry Docker repository the service image is pushed to.

Why these settings (security table G10, G11, X2):
- immutable tags: a tag (the commit) always names the same image, so what was reviewed is what
  runs; a re-push of a tag fails instead of silently replacing it.
- cleanup policies: keep the newest versions, delete untagged leftovers, so storage stays
  bounded without ever deleting what a recent deploy may roll back to.
- vulnerability scanning "INHERITED" (follows the project's Container Scanning setting) rather
  than "DISABLED".
- prod: ``protect`` and ``retain_on_delete``, so neither a stray ``pulumi destroy`` nor a
  refactor deletes the images prod runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.labels import validate_labels

_REPOSITORY_ID = re.compile(r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?")
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class RegistryArgs:
    project: str
    location: str
    repository_id: str
    labels: dict[str, str]
    immutable_tags: bool = True
    keep_recent_versions: int = 10
    untagged_max_age_days: int = 14
    protect: bool = False  # prod: protect=True and retain_on_delete

    def __post_init__(self) -> None:
        if not _REPOSITORY_ID.fullmatch(self.repository_id):
            raise ValueError(
                f"repository_id {self.repository_id!r} must be 1-63 lowercase letters, digits "
                "or '-', starting with a letter and not ending with '-'"
            )
        if self.keep_recent_versions < 1:
            raise ValueError(f"keep_recent_versions ({self.keep_recent_versions}) must be >= 1")
        if self.untagged_max_age_days < 1:
            raise ValueError(f"untagged_max_age_days ({self.untagged_max_age_days}) must be >= 1")
        validate_labels(self.labels)


def cleanup_policies(args: RegistryArgs) -> list[gcp.artifactregistry.RepositoryCleanupPolicyArgs]:
    """Keep the newest ``keep_recent_versions``; delete untagged versions older than
    ``untagged_max_age_days`` (KEEP wins over DELETE in Artifact Registry)."""
    return [
        gcp.artifactregistry.RepositoryCleanupPolicyArgs(
            id="keep-recent",
            action="KEEP",
            most_recent_versions=gcp.artifactregistry.RepositoryCleanupPolicyMostRecentVersionsArgs(
                keep_count=args.keep_recent_versions
            ),
        ),
        gcp.artifactregistry.RepositoryCleanupPolicyArgs(
            id="delete-untagged",
            action="DELETE",
            condition=gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs(
                tag_state="UNTAGGED",
                older_than=f"{args.untagged_max_age_days * SECONDS_PER_DAY}s",
            ),
        ),
    ]


class Registry(pulumi.ComponentResource):
    """A Docker repository; ``repository_url`` is ``<location>-docker.pkg.dev/<project>/<repo>``,
    the prefix every image name pushed to it must start with."""

    repository_url: pulumi.Output[str]

    def __init__(
        self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("emg:gcp:Registry", name, None, opts)
        repository = gcp.artifactregistry.Repository(
            f"{name}-repository",
            project=args.project,
            location=args.location,
            repository_id=args.repository_id,
            format="DOCKER",
            description="EMG Analyzer service images",
            labels=args.labels,
            docker_config=gcp.artifactregistry.RepositoryDockerConfigArgs(
                immutable_tags=args.immutable_tags
            ),
            cleanup_policy_dry_run=False,
            cleanup_policies=cleanup_policies(args),
            vulnerability_scanning_config=(
                gcp.artifactregistry.RepositoryVulnerabilityScanningConfigArgs(
                    enablement_config="INHERITED"
                )
            ),
            opts=pulumi.ResourceOptions(
                parent=self, protect=args.protect, retain_on_delete=args.protect
            ),
        )
        self.repository_url = repository.registry_uri
        self.register_outputs({"repository_url": self.repository_url})
