"""Each cloud's rule set, so the offline plan, the CLI's SARIF and the policy pack check a stack
with the same rules. Like the rule modules, it imports only the standard library and ``infra``."""

from __future__ import annotations

from infra.policy.aws_rules import AWS_RULES
from infra.policy.engine import Rule
from infra.policy.gcp_rules import GCP_RULES

_RULES: dict[str, tuple[Rule, ...]] = {"gcp": GCP_RULES, "aws": AWS_RULES}


def rules_for(cloud: str) -> tuple[Rule, ...]:
    """The rules of ``cloud`` ("gcp" or "aws"); ValueError for any other."""
    try:
        return _RULES[cloud]
    except KeyError:
        raise ValueError(f"cloud {cloud!r} has no policy rules: expected 'gcp' or 'aws'") from None
