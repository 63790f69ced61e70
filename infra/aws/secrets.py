"""`Secrets`: one Secrets Manager secret per application secret, for the task to read at start.

Why this shape (security table A8, A9, A15, A16, X2):
- One secret per value; the ECS task definition references each by ARN (``secrets[].valueFrom``)
  and the task's execution role may read exactly these ARNs, nothing else (A9, built by the
  service component from ``secret_arns``).
- Encrypted with the stack's customer-managed key, with a description (A15).
- Values go in through the write-only ``secret_string_wo`` (A16): the provider never reads them
  back, so no plaintext appears in resource outputs; ``secret_string_wo_version`` is a digest of
  the value, so a rotated value (``pulumi config set --secret``) makes a new version on the next
  ``up`` without anyone bumping a counter.
- Deletion: prod keeps a deleted secret recoverable for ``recovery_window_days`` and Pulumi
  protects it; dev deletes at once (a recovery window would block re-creating the same name).
- ``secret_arns`` resolve only once a version exists, so the task definition that references
  them is never registered before they can be read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.labels import stack_name, validate_labels
from infra.secret_values import validate_env_var, value_version


@dataclass(frozen=True)
class SecretsArgs:
    environment: str
    tags: dict[str, str]
    values: Mapping[str, pulumi.Input[str]]  # ENV_VAR_NAME -> value (a secret Output, usually)
    kms_key_arn: pulumi.Input[str]
    recovery_window_days: int  # 7-30 in prod; 0 (delete at once) only in dev
    protect: bool = False

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("values is empty: Secrets needs at least one ENV_VAR_NAME -> value")
        for env_var, value in self.values.items():
            validate_env_var(env_var)
            if value is None or (isinstance(value, str) and not value):
                raise ValueError(f"values[{env_var!r}] is empty: a secret needs a value")
        window = self.recovery_window_days
        allowed = range(7, 31) if self.environment == "prod" else [0, *range(7, 31)]
        if window not in allowed:
            raise ValueError(
                f"recovery_window_days ({window}) must be 7-30"
                + (" in prod" if self.environment == "prod" else " or 0")
            )
        validate_labels(self.tags)


def secret_name(stack: str, env_var: str) -> str:
    """``emg-<stack>/<env var in kebab case>``: JWT_SECRET -> emg-dev/jwt-secret."""
    validate_env_var(env_var)
    return f"emg-{stack}/{env_var.lower().replace('_', '-')}"


class Secrets(pulumi.ComponentResource):
    """``secret_arns`` maps each ENV_VAR_NAME to its secret's ARN (``valueFrom`` in ECS)."""

    secret_arns: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("emg:aws:Secrets", name, None, opts)
        self.secret_arns = {
            env_var: self._secret(name, env_var, args, value)
            for env_var, value in args.values.items()
        }
        self.register_outputs({"secret_arns": self.secret_arns})

    def _secret(
        self, name: str, env_var: str, args: SecretsArgs, value: pulumi.Input[str]
    ) -> pulumi.Output[str]:
        role = env_var.lower().replace("_", "-")
        secret = aws.secretsmanager.Secret(
            f"{name}-{role}",
            name=secret_name(stack_name(), env_var),
            description=f"EMG Analyzer {args.environment}: {env_var} of the API",
            kms_key_id=args.kms_key_arn,
            recovery_window_in_days=args.recovery_window_days,
            tags=args.tags,
            opts=pulumi.ResourceOptions(
                parent=self, protect=args.protect, retain_on_delete=args.protect
            ),
        )
        secret_value = pulumi.Output.secret(value)
        version = aws.secretsmanager.SecretVersion(
            f"{name}-{role}-version",
            secret_id=secret.id,
            secret_string_wo=secret_value,
            secret_string_wo_version=secret_value.apply(lambda v: int(value_version(v))),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return pulumi.Output.all(secret.arn, version.id).apply(lambda resolved: resolved[0])
