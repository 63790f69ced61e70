"""`StackKey`: the customer-managed KMS key of one stack.

Why one key per stack, and a customer-managed one (security table A3, A15, A17): the image
registry, the application secrets, the Redis data at rest and (prod) the service's logs are
encrypted with a key the stack owns, rotated yearly, whose use is visible in CloudTrail and
which can be disabled to cut access to all of them at once. One key rather than one per use
keeps the key policy in one place; IAM decides who may use it (the task's execution role may
only decrypt, and only through Secrets Manager).

The key policy keeps the account in control of the key (IAM policies apply), lets CloudWatch
Logs use it for this account's log groups only, and lets this account's CloudWatch alarms
publish to the alert topic it encrypts. Neither service can use a key its policy does not name
(with the AWS-managed ``alias/aws/sns`` key every alarm notification would fail silently).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.labels import stack_name, validate_labels


@dataclass(frozen=True)
class StackKeyArgs:
    environment: str
    region: str
    tags: dict[str, str]
    deletion_window_days: int  # 7-30; how long a scheduled deletion can still be cancelled

    def __post_init__(self) -> None:
        if not 7 <= self.deletion_window_days <= 30:
            raise ValueError(
                f"deletion_window_days ({self.deletion_window_days}) must be 7-30 (KMS limits)"
            )
        validate_labels(self.tags)


def key_policy(account_id: str, region: str) -> str:
    """The account administers the key through IAM; CloudWatch Logs may use it for this
    account's log groups in ``region``; this account's CloudWatch alarms may encrypt messages
    for the alert topic."""
    logs_arn = f"arn:aws:logs:{region}:{account_id}:log-group:*"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountAdministersThroughIam",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "CloudWatchLogsOfThisAccount",
                    "Effect": "Allow",
                    "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                    "Action": [
                        "kms:Encrypt*",
                        "kms:Decrypt*",
                        "kms:ReEncrypt*",
                        "kms:GenerateDataKey*",
                        "kms:Describe*",
                    ],
                    "Resource": "*",
                    "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": logs_arn}},
                },
                {
                    "Sid": "CloudWatchAlarmsOfThisAccount",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                },
            ],
        },
        sort_keys=True,
    )


class StackKey(pulumi.ComponentResource):
    key_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: StackKeyArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("emg:aws:StackKey", name, None, opts)
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        key = aws.kms.Key(
            f"{name}-key",
            description=f"EMG Analyzer {args.environment}: registry, secrets, cache, logs, alerts",
            enable_key_rotation=True,
            deletion_window_in_days=args.deletion_window_days,
            policy=account.account_id.apply(lambda account_id: key_policy(account_id, args.region)),
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.kms.Alias(
            f"{name}-alias",
            name=f"alias/emg-{stack_name()}",
            target_key_id=key.key_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.key_arn = key.arn
        self.register_outputs({"key_arn": self.key_arn})
