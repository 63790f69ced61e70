"""Policy checks of the offline plan: the recorded resources through the rules of the stack's
cloud, plus the stack-outputs rule (X3), which needs the outputs a policy pack's resource view
does not have."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from infra.plan import Plan
from infra.policy.common import (
    X3_ID,
    X3_LEVEL,
    X3_REMEDIATION,
    X3_SEVERITY,
    X3_TITLE,
    check_outputs,
)
from infra.policy.engine import (
    UNKNOWN_VALUE,
    Context,
    Finding,
    Report,
    Resource,
    Suppression,
    evaluate,
)
from infra.policy.rules import rules_for


def policy_resources(plan: Plan) -> list[Any]:
    """The plan's custom resources as the policy engine sees them (wire-form properties)."""
    from pulumi.output import UNKNOWN

    def known(value: Any) -> Any:
        if value is UNKNOWN:
            return UNKNOWN_VALUE
        if isinstance(value, dict):
            return {k: known(v) for k, v in value.items()}
        if isinstance(value, list):
            return [known(v) for v in value]
        return value

    return [
        Resource(r.urn, r.type, r.name, known(r.inputs), r.protect, r.retain_on_delete)
        for r in plan.run.resources
        if r.custom
    ]


def check_plan(plan: Plan, context: Context, suppressions: Sequence[Suppression] = ()) -> Report:
    """Every rule of the plan's cloud in scope on its resources, and X3 on its outputs.

    A context naming another cloud is refused (ValueError) rather than trusted: that cloud's
    rules would find nothing to check and pass the plan."""
    if context.cloud != plan.cloud:
        raise ValueError(
            f"the plan of stack {plan.stack} is on {plan.cloud}, but the policy context says "
            f"{context.cloud}: pass Context(..., cloud={plan.cloud!r})"
        )
    report = evaluate(policy_resources(plan), context, rules_for(plan.cloud), suppressions)
    report.findings += [
        Finding(X3_ID, X3_TITLE, X3_LEVEL, X3_SEVERITY, None, message, X3_REMEDIATION)
        for message in check_outputs(plan.run.outputs, plan.run.secret_outputs)
    ]
    return report
