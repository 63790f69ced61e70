"""The rule engine: what a rule sees, what it reports, and how a set of rules is evaluated.

Rules are pure functions over resources in Pulumi's wire form (camelCase properties), so the same
rule runs on the offline plan's recorded resources and on a policy pack's resource arguments.
A rule that meets a value unknown until apply says so (an ``unknown`` finding): it never passes
silently.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Level = Literal["mandatory", "advisory"]
Severity = Literal["critical", "high", "medium", "low"]
Scope = Literal["all", "dev", "prod"]
Cloud = Literal["gcp", "aws"]
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # how Pulumi marks a secret value on the wire


class Unknown(Exception):
    """A property the rule needs has no value before apply."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


@dataclass(frozen=True)
class Resource:
    urn: str
    type: str
    name: str
    props: Mapping[str, Any]
    protect: bool = False
    retain_on_delete: bool = False

    def get(self, path: str, default: Any = None) -> Any:
        """A property by dotted path (``template.scaling.maxInstanceCount``, ``containers[0]``).

        Secret values are unwrapped; an unknown value raises `Unknown`. Missing → ``default``.
        """
        value: Any = self.props
        for part in path.replace("]", "").replace("[", ".").split("."):
            value = _unwrap(value)
            if value is UNKNOWN_VALUE:  # an unknown parent hides the whole path
                raise Unknown(path)
            if isinstance(value, Mapping):
                if part not in value:
                    return default
                value = value[part]
            elif isinstance(value, list) and part.isdigit():
                if int(part) >= len(value):
                    return default
                value = value[int(part)]
            else:
                return default
        value = _unwrap(value)
        if value is UNKNOWN_VALUE:
            raise Unknown(path)
        return value


UNKNOWN_VALUE = object()  # what a recorder puts where the engine would see an unknown


def _unwrap(value: Any) -> Any:
    if isinstance(value, Mapping) and SECRET_SIG in value:
        return value.get("value")
    return value


@dataclass(frozen=True)
class Context:
    """The stack being checked: its environment picks the rules' scope, its cloud the rule set."""

    stack: str
    environment: Literal["dev", "prod"]
    cloud: Cloud = "gcp"


Violations = Iterable[str]


@dataclass(frozen=True)
class ResourceRule:
    """Checks each resource of ``types``; ``check`` yields one message per violation."""

    id: str
    title: str
    types: tuple[str, ...]
    level: Level
    severity: Severity
    scope: Scope
    remediation: str
    check: Callable[[Resource, Context], Violations]


@dataclass(frozen=True)
class StackRule:
    """Checks the stack as a whole; ``check`` yields (urn or None, message) per violation."""

    id: str
    title: str
    level: Level
    severity: Severity
    scope: Scope
    remediation: str
    check: Callable[[Sequence[Resource], Context], Iterable[tuple[str | None, str]]]


Rule = ResourceRule | StackRule


@dataclass(frozen=True)
class Suppression:
    """Silences one rule on resources matching ``urn_pattern`` (fnmatch); a reason is required."""

    rule_id: str
    urn_pattern: str
    reason: str

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise ValueError(f"suppression of {self.rule_id} on {self.urn_pattern} needs a reason")

    def covers(self, rule_id: str, urn: str | None) -> bool:
        return rule_id == self.rule_id and fnmatch.fnmatchcase(urn or "", self.urn_pattern)


@dataclass(frozen=True)
class Finding:
    rule_id: str
    title: str
    level: Level
    severity: Severity
    urn: str | None
    message: str
    remediation: str
    unknown: bool = False
    suppressed_because: str | None = None

    @property
    def blocking(self) -> bool:
        """Stops a deployment: a mandatory violation, or a mandatory rule that could not judge."""
        return self.level == "mandatory" and self.suppressed_because is None


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]


def _applies(rule: Rule, context: Context) -> bool:
    return rule.scope == "all" or rule.scope == context.environment


def evaluate(
    resources: Sequence[Resource],
    context: Context,
    rules: Sequence[Rule],
    suppressions: Sequence[Suppression] = (),
) -> Report:
    """Every rule in scope on every resource it concerns, in rule order."""
    report = Report()

    def add(rule: Rule, urn: str | None, message: str, unknown: bool = False) -> None:
        reason = next((s.reason for s in suppressions if s.covers(rule.id, urn)), None)
        report.findings.append(
            Finding(
                rule.id,
                rule.title,
                rule.level,
                rule.severity,
                urn,
                message,
                rule.remediation,
                unknown,
                reason,
            )
        )

    for rule in rules:
        if not _applies(rule, context):
            continue
        if isinstance(rule, ResourceRule):
            for resource in resources:
                if resource.type not in rule.types:
                    continue
                try:
                    for message in rule.check(resource, context):
                        add(rule, resource.urn, message)
                except Unknown as exc:
                    add(
                        rule,
                        resource.urn,
                        f"cannot judge: {exc.path} is unknown before apply",
                        True,
                    )
        else:
            try:
                for urn, message in rule.check(resources, context):
                    add(rule, urn, message)
            except Unknown as exc:
                add(rule, None, f"cannot judge: {exc.path} is unknown before apply", True)
    return report
