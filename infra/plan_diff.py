"""Plan diff: what a change does to a stack, as the Markdown body of a pull-request comment.

Compares two offline plan snapshots (``infra.plan.snapshot``; base branch vs head) and,
optionally, the policy findings of each (``infra.policy.report.findings_json``). Resources are
keyed by (type, name); the same name with another type or parent is a replacement. Secrets
stay masked: the snapshots never hold them, and the diff shows only what the snapshots show.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from infra.plan import SNAPSHOT_VERSION, flatten

MARKER = "<!-- emg-plan-diff:{stack} -->"
MAX_VALUE = 80  # characters of one value in a table cell
MAX_ROWS = 40  # property rows per changed resource


class PlanDiffError(ValueError):
    """A snapshot or findings file that is not what ``emg infra plan`` writes."""


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()  # the property or output does not exist on that side

Key = tuple[str, str]  # (type, name)
Change = tuple[str, Any, Any]  # (dotted path, before, after)


@dataclass(frozen=True)
class Replacement:
    name: str
    old_type: str
    new_type: str
    old_parent: str | None
    new_parent: str | None


@dataclass
class PlanDiff:
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    replaced: list[Replacement] = field(default_factory=list)
    changed: dict[Key, list[Change]] = field(default_factory=dict)
    outputs: list[Change] = field(default_factory=list)
    new_findings: list[dict[str, Any]] = field(default_factory=list)
    fixed_findings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(
            (
                self.added,
                self.removed,
                self.replaced,
                self.changed,
                self.outputs,
                self.new_findings,
                self.fixed_findings,
            )
        )


def _resources(snapshot: Any, side: str) -> dict[Key, dict[str, Any]]:
    if not isinstance(snapshot, dict) or not isinstance(snapshot.get("resources"), list):
        raise PlanDiffError(f"{side}: not a plan snapshot (no resources list)")
    if type(snapshot.get("version")) is not int or snapshot["version"] != SNAPSHOT_VERSION:
        raise PlanDiffError(
            f"{side}: snapshot version {snapshot.get('version')!r}, expected {SNAPSHOT_VERSION}"
        )
    if not isinstance(snapshot.get("outputs", {}), dict):
        raise PlanDiffError(f"{side}: outputs is not an object")
    if not isinstance(snapshot.get("stack", ""), str):
        raise PlanDiffError(f"{side}: stack is not a name")
    entries: dict[Key, dict[str, Any]] = {}
    for entry in snapshot["resources"]:
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("type"), str)
            and isinstance(entry.get("name"), str)
        ):
            raise PlanDiffError(f"{side}: resource without type and name: {_compact(entry)}")
        if not isinstance(entry.get("inputs") or {}, dict):
            raise PlanDiffError(f"{side}: inputs of {entry['name']} are not an object")
        key = (entry["type"], entry["name"])
        if key in entries:  # resources are told apart by type and name: one would hide the other
            raise PlanDiffError(f"{side}: resource {key[1]} ({key[0]}) is listed twice")
        entries[key] = entry
    return entries


def _properties(entry: dict[str, Any]) -> dict[str, Any]:
    props = flatten(entry.get("inputs") or {}, "")
    props.pop("", None)  # no inputs at all (a component)
    for flag in ("protect", "retainOnDelete"):
        if entry.get(flag):
            props[f"({flag})"] = True
    return props


def _changes(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    return [
        (key, before.get(key, ABSENT), after.get(key, ABSENT))
        for key in sorted(before.keys() | after.keys())
        if before.get(key, ABSENT) != after.get(key, ABSENT)
    ]


def _findings(data: Any, side: str) -> list[dict[str, Any]]:
    if data is None:
        return []
    items = data.get("findings") if isinstance(data, dict) else data
    if not isinstance(items, list) or not all(
        isinstance(f, dict)
        and isinstance(f.get("rule_id"), str)
        and isinstance(f.get("urn") or "", str)
        and isinstance(f.get("message", ""), str)
        and isinstance(f.get("blocking", False), bool)
        for f in items
    ):
        raise PlanDiffError(f"{side}: not a findings file (emg infra plan --policy --findings)")
    return items


def _finding_key(finding: dict[str, Any]) -> tuple[str, str, str]:
    return (finding["rule_id"], finding.get("urn") or "", str(finding.get("message", "")))


def _finding_delta(base: list[dict], head: list[dict]) -> tuple[list[dict], list[dict]]:
    base_keys = {_finding_key(f) for f in base}
    head_keys = {_finding_key(f) for f in head}
    new = {_finding_key(f): f for f in head if _finding_key(f) not in base_keys}
    fixed = {_finding_key(f): f for f in base if _finding_key(f) not in head_keys}
    return [new[k] for k in sorted(new)], [fixed[k] for k in sorted(fixed)]


def diff_snapshots(
    base: dict,
    head: dict,
    base_findings: dict | None = None,
    head_findings: dict | None = None,
) -> PlanDiff:
    """What changes from ``base`` to ``head``. Findings missing on one side count as none."""
    before, after = _resources(base, "base"), _resources(head, "head")
    diff = PlanDiff()
    gone = sorted(before.keys() - after.keys())
    new = sorted(after.keys() - before.keys())
    # Same name, other type: a replacement (pair each vanished name with one that appears).
    new_by_name: dict[str, list[Key]] = {}
    for key in new:
        new_by_name.setdefault(key[1], []).append(key)
    for key in gone:
        if candidates := new_by_name.get(key[1]):
            other = candidates.pop(0)
            new.remove(other)
            old, now = before[key], after[other]
            diff.replaced.append(
                Replacement(key[1], key[0], other[0], old.get("parent"), now.get("parent"))
            )
        else:
            diff.removed.append(before[key])
    diff.added = [after[key] for key in new]
    for key in sorted(before.keys() & after.keys()):
        old, now = before[key], after[key]
        if old.get("parent") != now.get("parent"):
            diff.replaced.append(
                Replacement(key[1], key[0], key[0], old.get("parent"), now.get("parent"))
            )
        elif changes := _changes(_properties(old), _properties(now)):
            diff.changed[key] = changes
    diff.replaced.sort(key=lambda r: (r.name, r.old_type, r.new_type))
    diff.outputs = _changes(base.get("outputs") or {}, head.get("outputs") or {})
    if base_findings is not None or head_findings is not None:
        diff.new_findings, diff.fixed_findings = _finding_delta(
            _findings(base_findings, "base findings"), _findings(head_findings, "head findings")
        )
    return diff


# --- Markdown -------------------------------------------------------------------------------


def _compact(value: Any, limit: int = MAX_VALUE) -> str:
    if value is ABSENT:
        return "—"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cell(value: Any) -> str:
    """A value as a table cell: a code span, pipes escaped, long values truncated."""
    if value is ABSENT:
        return "—"
    text = _compact(value).replace("`", "'").replace("|", "\\|")
    return f"`{text}`"


def _code(text: str | None) -> str:
    return "—" if text is None else f"`{text}`".replace("|", "\\|")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _resource_table(entries: list[dict[str, Any]]) -> list[str]:
    lines = ["| Name | Type | Parent |", "| --- | --- | --- |"]
    lines += [
        f"| {_code(e['name'])} | {_code(e['type'])} | {_code(e.get('parent'))} |" for e in entries
    ]
    return lines


def _arrow(old: Any, new: Any) -> str:
    return _code(old) if old == new else f"{_code(old)} → {_code(new)}"


def _finding_line(finding: dict[str, Any]) -> str:
    urn = finding.get("urn")
    where = urn.split("::")[-1] if urn else "stack"
    if finding.get("suppressed_because"):
        status = "suppressed"
    elif finding.get("unknown"):
        status = "unknown"
    else:
        status = str(finding.get("level", "?"))
    blocking = " **blocking**" if finding.get("blocking") else ""
    line = (
        f"- `{finding['rule_id']}` [{status}]{blocking} {finding.get('title', '')} "
        f"on `{where}`: {finding.get('message', '')}"
    )
    if finding.get("remediation"):
        line += f" (fix: {finding['remediation']})"
    return " ".join(line.split())


def render_markdown(diff: PlanDiff, stack: str) -> str:
    """A pull-request comment body: marker line, heading, one section per kind of change.
    Nothing changed: a single line, ``No infrastructure change in <stack>.``, after the (invisible)
    marker so the workflow can still find and edit the comment."""
    if diff.empty:
        return f"{MARKER.format(stack=stack)} No infrastructure change in {stack}.\n"
    counts = ", ".join(
        f"{len(group)} {word}"
        for group, word in (
            (diff.added, "added"),
            (diff.removed, "removed"),
            (diff.replaced, "replaced"),
            (diff.changed, "changed"),
        )
    )
    summary = f"Resources: {counts}; {_plural(len(diff.outputs), 'output')} changed"
    if diff.new_findings or diff.fixed_findings:
        blocking = sum(1 for f in diff.new_findings if f.get("blocking"))
        summary += (
            f"; policy: {len(diff.new_findings)} new ({blocking} blocking), "
            f"{len(diff.fixed_findings)} fixed"
        )
    lines = [MARKER.format(stack=stack), f"### Plan diff: `{stack}`", "", summary + "."]
    moved = next((c for c in diff.outputs if c[0] == "cloud"), None)
    if moved and ABSENT not in moved[1:]:
        lines += [
            "",
            f"> **The stack moves from {moved[1]} to {moved[2]}**: its cloud resources are all "
            'replaced. Put the other cloud in a new stack instead (README, "Put a stack on AWS").',
        ]

    def section(title: str, body: list[str]) -> None:
        lines.extend(["", f"#### {title}", "", *body])

    if diff.added:
        section(f"Added ({len(diff.added)})", _resource_table(diff.added))
    if diff.removed:
        section(f"Removed ({len(diff.removed)})", _resource_table(diff.removed))
    if diff.replaced:
        rows = ["| Name | Type | Parent |", "| --- | --- | --- |"]
        rows += [
            f"| {_code(r.name)} | {_arrow(r.old_type, r.new_type)} "
            f"| {_arrow(r.old_parent, r.new_parent)} |"
            for r in diff.replaced
        ]
        section(f"Replaced ({len(diff.replaced)})", rows)
    if diff.changed:
        body: list[str] = []
        for (type_, name), changes in diff.changed.items():
            if body:
                body.append("")
            body += [f"**{_code(name)}** ({_code(type_)})", ""]
            body += ["| Property | Before | After |", "| --- | --- | --- |"]
            body += [
                f"| {_code(path)} | {_cell(old)} | {_cell(new)} |"
                for path, old, new in changes[:MAX_ROWS]
            ]
            if len(changes) > MAX_ROWS:
                body += ["", f"… and {len(changes) - MAX_ROWS} more properties"]
        section(f"Changed ({len(diff.changed)})", body)
    if diff.outputs:
        rows = ["| Output | Before | After |", "| --- | --- | --- |"]
        rows += [f"| {_code(k)} | {_cell(old)} | {_cell(new)} |" for k, old, new in diff.outputs]
        section(f"Outputs ({len(diff.outputs)})", rows)
    if diff.new_findings:
        section(
            f"New policy findings ({len(diff.new_findings)})",
            [_finding_line(f) for f in diff.new_findings],
        )
    if diff.fixed_findings:
        section(
            f"Fixed policy findings ({len(diff.fixed_findings)})",
            [_finding_line(f) for f in diff.fixed_findings],
        )
    return "\n".join(lines) + "\n"
