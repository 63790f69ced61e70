"""The Pulumi policy pack's adapter: the rules of the stack's cloud as policy specs, judging what
Pulumi hands a pack as `emg infra plan --policy` judges the offline plan. No pulumi_policy here.

Why it is separate from the pack: pulumi-policy 1.21 pins protobuf 5, the program's ``.venv`` has
protobuf 6 (pulumi 3.272), so the pack runs in its own virtualenv (``infra/policy/venv``, named in
``PulumiPolicy.yaml``) where our distribution is not installed. ``__main__.py`` only turns these
specs into pulumi_policy objects; everything else is here, tested in ``.venv``. This module and
the rule modules import only the standard library and ``infra`` modules that do likewise.

How a pack's view becomes the engine's:
- The stack comes from what the CLI passes the pack process: PULUMI_STACK, PULUMI_PROJECT and
  the stack's settings (PULUMI_CONFIG). ``<project>:cloud`` (default gcp, as in `stacks.config`)
  picks the rule set, `rules_for`: one policy per rule, named by its id, so the pack and the
  offline check run the same rules. (The union of both clouds would not do: both define X1 and
  X2, and GCP's X2 would repeat AWS's protect findings on an AWS stack.) ``<project>:environment``,
  else the environment the stack name implies (``dev``, ``prod``, ``dev-*``, ``prod-*``, the rule
  of `stacks.config`, which needs pydantic, absent from the pack's virtualenv), scopes the rules;
  with neither, validation fails rather than guess.
- Resource policies see one resource's inputs, stack policies every resource's outputs (during a
  preview: the inputs plus values still unknown). pulumi_policy wraps dicts and lists in proxies
  that raise on an unknown value; unwrapped here, an unknown becomes `UNKNOWN_VALUE`, so the rule
  reports "cannot judge" at its own level instead of passing.
- Stack rules see custom resources only, like the offline plan: components, providers and the
  stack itself have no provider reference.
- Suppressions are policy config: ``{"G8": {"suppressions": [{"urn": ..., "reason": ...}]}}`` in
  the file given to ``--policy-pack-config`` (Pulumi keys policy config by policy name). A
  suppressed finding is not reported; one without a reason stops the run.

Differences from the offline check: pulumi_policy unwraps secrets before a policy sees them, so a
rule asking whether a value is secret (G16 on ``secretData``) sees it as plain; a pack is not told
``retainOnDelete``, so X2 reads it as unset (a dev resource kept by it alone goes unreported, a
prod one kept by it alone, without ``protect``, is reported); X3 judges stack outputs and stays
offline-only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from infra.policy.common import X3_ID
from infra.policy.engine import (
    UNKNOWN_VALUE,
    Cloud,
    Context,
    Level,
    Report,
    Resource,
    ResourceRule,
    Rule,
    Severity,
    Suppression,
    evaluate,
)
from infra.policy.rules import rules_for

PACK_NAME = "emg-analyzer-policy"
DEFAULT_CLOUD: Cloud = "gcp"  # StackConfig's default
# pulumi_policy's EnforcementLevel and Severity members for the engine's levels and severities.
ENFORCEMENT: dict[Level, str] = {"mandatory": "MANDATORY", "advisory": "ADVISORY"}
SEVERITY: dict[Severity, str] = {
    "critical": "CRITICAL",
    "high": "HIGH",
    "medium": "MEDIUM",
    "low": "LOW",
}
# What the engine sends for a value unknown before apply (pulumi_policy.proxy: boolean, number,
# string, array, asset, archive, object).
UNKNOWN_SENTINELS = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
        "030794c1-ac77-496b-92df-f27374a8bd58",
        "e48ece36-62e2-4504-bad9-02848725956a",
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
    }
)
ENVIRONMENTS = ("dev", "prod")
# Each policy's config schema: the CLI checks a --policy-pack-config file against it.
SUPPRESSION_SCHEMA: dict[str, Any] = {
    "suppressions": {
        "type": "array",
        "description": "Findings of this policy to silence, each with the reason why.",
        "items": {
            "type": "object",
            "properties": {
                "urn": {"type": "string", "pattern": r"\S", "description": "fnmatch pattern"},
                "reason": {"type": "string", "pattern": r"\S"},
            },
            "required": ["urn", "reason"],
            "additionalProperties": False,
        },
    }
}

ReportViolation = Callable[[str, str | None], None]
Validation = Callable[[Any, ReportViolation], None]


@dataclass(frozen=True)
class PolicySpec:
    """One pulumi_policy policy: a ResourceValidationPolicy (``kind`` "resource") or a
    StackValidationPolicy ("stack"), named by the rule id."""

    kind: Literal["resource", "stack"]
    name: str
    description: str
    enforcement_level: str  # an EnforcementLevel member name
    severity: str  # a Severity member name
    remediation: str
    validate: Validation
    config_schema: Mapping[str, Any]


def _unproxied(value: Any) -> Any:
    """The container a pulumi_policy proxy wraps (its ``["__target"]``, what pulumi_policy's own
    serializer reads); any other value as it is."""
    if isinstance(value, Mapping | Sequence) and not isinstance(
        value, dict | list | str | bytes | tuple
    ):
        return value["__target"]
    return value


def engine_value(value: Any) -> Any:
    """A property value as the engine reads it: plain dicts and lists, unknowns as
    `UNKNOWN_VALUE`."""
    value = _unproxied(value)
    if isinstance(value, str):
        return UNKNOWN_VALUE if value in UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        return {key: engine_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [engine_value(item) for item in value]
    return value


def engine_resource(resource: Any) -> Resource:
    """A pulumi_policy ResourceValidationArgs or PolicyResource as the engine's `Resource`."""
    return Resource(
        resource.urn,
        resource.resource_type,
        resource.name,
        engine_value(resource.props),
        protect=bool(resource.opts.protect),
    )


def _setting(environ: Mapping[str, str], key: str) -> Any:
    """``<project>:<key>`` of the stack's settings the CLI passes the pack (PULUMI_CONFIG)."""
    name = f"{environ.get('PULUMI_PROJECT', '')}:{key}"
    try:
        return json.loads(environ.get("PULUMI_CONFIG") or "{}").get(name)
    except (json.JSONDecodeError, AttributeError) as exc:
        raise ValueError(f"PULUMI_CONFIG is not a JSON object of stack settings: {exc}") from exc


def stack_cloud(environ: Mapping[str, str]) -> str:
    """The stack's ``cloud`` setting, which picks the rule set."""
    return _setting(environ, "cloud") or DEFAULT_CLOUD


def stack_context(environ: Mapping[str, str]) -> Context:
    """The stack being checked, from what the Pulumi CLI passes a policy pack."""
    stack = environ.get("PULUMI_STACK", "")
    explicit = _setting(environ, "environment")
    implied = next((e for e in ENVIRONMENTS if stack == e or stack.startswith(f"{e}-")), None)
    environment = explicit or implied
    if environment not in ENVIRONMENTS:
        key = f"{environ.get('PULUMI_PROJECT', '')}:environment"
        raise ValueError(
            f"cannot tell the environment of stack {stack!r} ({key} is {explicit!r}): set it "
            f"with `pulumi config set {key} dev|prod`"
        )
    return Context(stack, environment, stack_cloud(environ))  # type: ignore[arg-type]


def suppressions(rule_id: str, config: Mapping[str, Any]) -> tuple[Suppression, ...]:
    """The ``suppressions`` of one policy's config; an entry without urn or reason is an error."""
    entries = config.get("suppressions", [])
    if not isinstance(entries, list):
        raise ValueError(f"{rule_id}.suppressions must be a list of {{urn, reason}}")
    found = []
    for i, entry in enumerate(entries):
        urn = entry.get("urn") if isinstance(entry, Mapping) else None
        if not isinstance(urn, str) or not urn.strip():
            raise ValueError(f"{rule_id}.suppressions[{i}] needs a urn (an fnmatch pattern)")
        extra = sorted(set(entry) - {"urn", "reason"})
        if extra:  # a misspelt "reason" would otherwise read as a missing one
            raise ValueError(
                f"{rule_id}.suppressions[{i}]: key {extra[0]!r} is not allowed "
                "(a suppression holds urn and reason)"
            )
        reason = entry.get("reason", "")
        if not isinstance(reason, str):  # true or 5 would pass for a written reason
            raise ValueError(f"{rule_id}.suppressions[{i}]: reason must be text, not {reason!r}")
        found.append(Suppression(rule_id, urn, reason))
    return tuple(found)


def config_suppressions(config: Any, rule_ids: Collection[str]) -> tuple[Suppression, ...]:
    """Every suppression in a whole policy config file (``{"G8": {"suppressions": [...]}}``),
    for the offline check, which takes the same file as the pack. Anything else in it is
    refused rather than ignored: an unknown rule id (a typo would suppress nothing), an
    unknown key, or an enforcement level (Pulumi would apply it in the pack, the offline check
    could not: levels come from the rule table, exceptions from suppressions with reasons)."""
    if not isinstance(config, Mapping):
        raise ValueError("must be a JSON object keyed by rule id")
    found: list[Suppression] = []
    for rule_id, rule_config in config.items():
        if rule_id == X3_ID:
            raise ValueError(
                f"{X3_ID} cannot be suppressed: the frontend reads those stack outputs; "
                "fix the output instead"
            )
        if rule_id not in rule_ids:
            listed = ", ".join(sorted(rule_ids, key=lambda r: (r[0], int(r[1:]))))
            raise ValueError(f"{rule_id} is not a rule id (rules: {listed})")
        extra = (
            sorted(set(rule_config) - {"suppressions"}) if isinstance(rule_config, Mapping) else []
        )
        if not isinstance(rule_config, Mapping) or extra:
            what = f"key {extra[0]!r}" if extra else repr(rule_config)
            raise ValueError(
                f'{rule_id}: {what} is not allowed; only {{"suppressions": [{{urn, reason}}]}} '
                "(levels come from the rule table)"
            )
        found += suppressions(rule_id, rule_config)
    return tuple(found)


def violations(report: Report) -> list[tuple[str, str | None]]:
    """(message, urn) for each finding not suppressed; the message ends with the fix."""
    return [
        (f"{f.message}\nfix: {f.remediation}", f.urn)
        for f in report.findings
        if f.suppressed_because is None
    ]


def validation(rule: Rule, environ: Mapping[str, str]) -> Validation:
    """What pulumi_policy calls: ``args`` is a ResourceValidationArgs for a resource rule, a
    StackValidationArgs for a stack rule."""

    def validate(args: Any, report_violation: ReportViolation) -> None:
        if isinstance(rule, ResourceRule):
            resources = [engine_resource(args)]
        else:
            resources = [engine_resource(r) for r in args.resources if r.provider is not None]
        report = evaluate(
            resources, stack_context(environ), [rule], suppressions(rule.id, args.get_config())
        )
        for message, urn in violations(report):
            report_violation(message, urn)

    return validate


def policy_specs(
    environ: Mapping[str, str] = os.environ, rules: Sequence[Rule] | None = None
) -> list[PolicySpec]:
    """One spec per rule (by default the rules of the stack's cloud), in rule order; rule ids
    name the policies and must be unique."""
    rules = rules_for(stack_cloud(environ)) if rules is None else rules
    ids = [rule.id for rule in rules]
    if duplicates := sorted({i for i in ids if ids.count(i) > 1}):
        raise ValueError(f"rule ids name the policies and must be unique: {duplicates} repeat")
    return [
        PolicySpec(
            "resource" if isinstance(rule, ResourceRule) else "stack",
            rule.id,
            rule.title,
            ENFORCEMENT[rule.level],
            SEVERITY[rule.severity],
            rule.remediation,
            validation(rule, environ),
            SUPPRESSION_SCHEMA,
        )
        for rule in rules
    ]
