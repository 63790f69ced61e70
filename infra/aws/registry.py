"""`Registry`: the ECR repository the service image is pushed to, and the credentials to push.

Security properties (rows of the table in INFRA_NOTES.md) it holds by construction:
- A1 tags are ``IMMUTABLE`` (ECR's default is mutable): a pushed tag can never be re-pointed,
  and the service runs the image by digest anyway.
- A2 every push is scanned (``scan_on_push``).
- A3 encrypted with the stack's customer-managed KMS key; ``force_delete`` only in dev, so a
  prod repository holding images can never be deleted by a destroy (and Pulumi protects it).
- A lifecycle policy keeps storage bounded: untagged layers go after a week, and only the
  newest ``keep_images`` images are kept.

The repository is ``emg-<environment>/emg-service``; ``repository_url`` is its namespace
(``<registry>/emg-<environment>``), which `ServiceImage` completes with the image name, as it
does for Artifact Registry. ``registry`` holds short-lived push credentials from ECR (the
Docker engine where ``pulumi up`` runs needs no credential helper); Pulumi keeps the password
as a secret.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

from infra.image import IMAGE
from infra.labels import stack_name, validate_labels


@dataclass(frozen=True)
class RegistryArgs:
    environment: str
    tags: dict[str, str]
    kms_key_arn: pulumi.Input[str]
    protect: bool  # prod: Pulumi protect and retain, and no force_delete
    keep_images: int = 30

    def __post_init__(self) -> None:
        if not 1 <= self.keep_images <= 1000:
            raise ValueError(f"keep_images ({self.keep_images}) must be 1-1000")
        validate_labels(self.tags)


def lifecycle_policy(keep_images: int) -> str:
    """Untagged images expire after 7 days; beyond the newest ``keep_images``, the oldest go.
    (ECR evaluates the rule on ``any`` last, so it has the highest priority number.)"""
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": "untagged layers after a week",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": 7,
                    },
                    "action": {"type": "expire"},
                },
                {
                    "rulePriority": 2,
                    "description": f"keep the newest {keep_images} images",
                    "selection": {
                        "tagStatus": "any",
                        "countType": "imageCountMoreThan",
                        "countNumber": keep_images,
                    },
                    "action": {"type": "expire"},
                },
            ]
        },
        sort_keys=True,
    )


class Registry(pulumi.ComponentResource):
    repository_url: pulumi.Output[str]  # <registry>/emg-<environment> (ServiceImage adds the name)
    repository_arn: pulumi.Output[str]
    registry: docker.RegistryArgs

    def __init__(
        self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("emg:aws:Registry", name, None, opts)
        repository = aws.ecr.Repository(
            f"{name}-repository",
            name=f"emg-{stack_name()}/{IMAGE}",
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
                scan_on_push=True
            ),
            encryption_configurations=[
                aws.ecr.RepositoryEncryptionConfigurationArgs(
                    encryption_type="KMS", kms_key=args.kms_key_arn
                )
            ],
            force_delete=not args.protect,
            tags=args.tags,
            opts=pulumi.ResourceOptions(
                parent=self, protect=args.protect, retain_on_delete=args.protect
            ),
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-lifecycle",
            repository=repository.name,
            policy=lifecycle_policy(args.keep_images),
            opts=pulumi.ResourceOptions(parent=self),
        )
        token = aws.ecr.get_authorization_token_output(
            registry_id=repository.registry_id, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        self.repository_url = repository.repository_url.apply(
            lambda url: url.removesuffix(f"/{IMAGE}")
        )
        self.repository_arn = repository.arn
        self.registry = docker.RegistryArgs(
            server=token.proxy_endpoint.apply(lambda url: url.removeprefix("https://")),
            username=token.user_name,
            password=pulumi.Output.secret(token.password),
        )
        self.register_outputs(
            {"repository_url": self.repository_url, "repository_arn": self.repository_arn}
        )
