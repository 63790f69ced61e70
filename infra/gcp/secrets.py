"""`Secrets`: one Secret Manager secret per application secret, readable only by the service.

Why this shape (security table G16, G17, X2):
- One secret per value, each with its own ``secretAccessor`` binding for the service's own
  service account: a leaked or over-broad binding exposes one value, and no project-wide IAM
  role is ever granted.
- Values go in through the write-only ``secret_data_wo``: the provider never reads them back,
  so no plaintext appears in resource outputs, and Pulumi keeps the input encrypted as a
  secret. ``secret_data_wo_version`` is a digest of the value (itself marked secret), so a
  rotated value (``pulumi config set --secret``) creates a new version on the next ``up``
  without anyone bumping a counter.
- ``secret_ids`` resolve only once the version exists and access is granted, so a Cloud Run
  revision that references them is never created before it can read them.
- prod: the secrets are protected (Pulumi ``protect``, ``retain_on_delete``, and Secret
  Manager's own ``deletion_protection``); a replaced version is disabled, not destroyed, so a
  bad rotation can be undone. Versions themselves are not protected: rotation replaces them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.labels import validate_labels
from infra.secret_values import validate_env_var, value_version

ACCESSOR_ROLE = "roles/secretmanager.secretAccessor"
_SECRET_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")


@dataclass(frozen=True)
class SecretsArgs:
    project: str
    labels: dict[str, str]
    values: Mapping[str, pulumi.Input[str]]  # ENV_VAR_NAME -> value (a secret Output, usually)
    accessor: pulumi.Input[str]  # "serviceAccount:<email>" of the service's own account
    protect: bool = False

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("values is empty: Secrets needs at least one ENV_VAR_NAME -> value")
        for env_var, value in self.values.items():
            validate_env_var(env_var)
            if value is None or (isinstance(value, str) and not value):
                raise ValueError(f"values[{env_var!r}] is empty: a secret needs a value")
        if isinstance(self.accessor, str) and not self.accessor.startswith("serviceAccount:"):
            raise ValueError(
                f"accessor {self.accessor!r} must be 'serviceAccount:<email>' "
                "(the service's own account)"
            )
        validate_labels(self.labels)


def secret_id_for(prefix: str, env_var: str) -> str:
    """The secret's id (and Pulumi name) for ``env_var``: JWT_SECRET -> "<prefix>-jwt-secret"."""
    validate_env_var(env_var)
    secret_id = f"{prefix}-{env_var.lower().replace('_', '-')}"
    if not _SECRET_ID.fullmatch(secret_id):
        raise ValueError(
            f"secret id {secret_id!r} (from prefix {prefix!r}) must be 1-255 letters, digits, "
            "'_' or '-'"
        )
    return secret_id


class Secrets(pulumi.ComponentResource):
    """``secret_ids`` maps each ENV_VAR_NAME to its secret's id (what Cloud Run's
    ``secret_key_ref.secret`` takes); the service reads version ``latest``."""

    secret_ids: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        secret_names = {env_var: secret_id_for(name, env_var) for env_var in args.values}
        super().__init__("emg:gcp:Secrets", name, None, opts)
        self.secret_ids = {
            env_var: self._secret(secret_id, args, args.values[env_var])
            for env_var, secret_id in secret_names.items()
        }
        self.register_outputs({"secret_ids": self.secret_ids})

    def _secret(
        self, secret_id: str, args: SecretsArgs, value: pulumi.Input[str]
    ) -> pulumi.Output[str]:
        secret = gcp.secretmanager.Secret(
            secret_id,
            project=args.project,
            secret_id=secret_id,
            labels=args.labels,
            replication=gcp.secretmanager.SecretReplicationArgs(
                auto=gcp.secretmanager.SecretReplicationAutoArgs()
            ),
            deletion_protection=args.protect,
            opts=pulumi.ResourceOptions(
                parent=self, protect=args.protect, retain_on_delete=args.protect
            ),
        )
        secret_value = pulumi.Output.secret(value)
        version = gcp.secretmanager.SecretVersion(
            f"{secret_id}-version",
            secret=secret.id,
            secret_data_wo=secret_value,
            secret_data_wo_version=secret_value.apply(value_version),
            deletion_policy="DISABLE" if args.protect else "DELETE",
            opts=pulumi.ResourceOptions(parent=self),
        )
        access = gcp.secretmanager.SecretIamMember(
            f"{secret_id}-accessor",
            project=args.project,
            secret_id=secret.secret_id,
            role=ACCESSOR_ROLE,
            member=args.accessor,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return pulumi.Output.all(secret.secret_id, version.id, access.id).apply(
            lambda resolved: resolved[0]
        )
