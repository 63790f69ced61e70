"""Labels every labelable resource carries (security table rule X1: ``env``, ``service``,
``owner``), and the stack name that prefixes physical names.

Why one helper: cost reports, alert routing and the policy pack all group resources by these
keys, so they must be spelled the same on every resource of every stack. GCP label keys and
values are restricted (lowercase, digits, ``_`` and ``-``, at most 63 characters): a bad value
is refused here, before any resource exists, rather than by the API halfway through a deploy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

SERVICE = "emg-analyzer"
# Stack names that make valid physical names everywhere (ElastiCache ids, ECR, KMS aliases).
_STACK = re.compile(r"[a-z](-?[a-z0-9])*")  # with at most 24 characters
OWNER = "emg-analyzer-team"
REQUIRED_LABELS = ("env", "service", "owner")

_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_VALUE = re.compile(r"[a-z0-9_-]{0,63}")


def standard_labels(environment: str) -> dict[str, str]:
    """The required labels of one environment's resources."""
    labels = {"env": environment, "service": SERVICE, "owner": OWNER}
    validate_labels(labels)
    return labels


def validate_labels(labels: Mapping[str, str]) -> None:
    """Raise ValueError naming the first label that is missing or malformed."""
    missing = [key for key in REQUIRED_LABELS if key not in labels]
    if missing:
        raise ValueError(f"labels {dict(labels)!r} lack the required keys {missing} (rule X1)")
    for key, value in labels.items():
        if not _KEY.fullmatch(key):
            raise ValueError(
                f"label key {key!r} must be 1-63 lowercase letters, digits, '_' or '-', "
                "starting with a letter"
            )
        if not isinstance(value, str) or not _VALUE.fullmatch(value):
            raise ValueError(
                f"label {key}={value!r}: the value must be at most 63 lowercase letters, "
                "digits, '_' or '-'"
            )


def stack_name() -> str:
    """The running stack's name, for the physical names a cloud account shares between stacks
    (``emg-<stack>-redis``, ``alias/emg-<stack>``): two stacks of one environment (``dev``,
    ``dev-alice``) in one AWS account then never collide. Refused when it would not fit them."""
    import pulumi

    stack = pulumi.get_stack()
    if len(stack) > 24 or not _STACK.fullmatch(stack):
        raise ValueError(
            f"stack name {stack!r} must be 1-24 lowercase letters, digits or single '-', "
            "starting with a letter and not ending with '-' (it names resources shared in the "
            "cloud account)"
        )
    return stack
