"""What the policy tests of both clouds build their cases from: wire-form values (secrets,
URNs), edits of a resource list by dotted path, violation cases and plan mutations, and the
findings of a report as (urn, message)."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

from infra.policy.engine import SECRET_SIG, Report, Resource

DELETE = object()  # put(): remove the key
REMOVE = {"remove": True}  # a case or mutation that drops the resource


@dataclass(frozen=True)
class Case:
    rule: str
    resource: str  # the resource edited (or removed)
    changes: dict[str, Any]  # edited(...) keyword arguments, or REMOVE
    message: str
    at: str | None = None  # resource the finding names; default ``resource``
    env: str = "prod"
    more: tuple[tuple[str, str], ...] = ()  # further expected findings: (resource, message)


@dataclass(frozen=True)
class Mutation:
    rule: str
    resource: str  # logical name in the plan
    changes: dict[str, Any]
    stack: str = "prod"


def secret(value: Any) -> dict[str, Any]:
    return {SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "value": value}


def urn(env: str, type_token: str, name: str) -> str:
    return f"urn:pulumi:{env}::emg::{type_token}::{name}"


def _path(path: str) -> list[str | int]:
    parts = path.replace("]", "").replace("[", ".").split(".")
    return [int(p) if p.isdigit() else p for p in parts]


def put(props: dict[str, Any], path: str, value: Any) -> None:
    """Set (or with DELETE remove) the property at a dotted/indexed path, creating dicts."""
    *parents, last = _path(path)
    node: Any = props
    for part in parents:
        if isinstance(part, str) and part not in node:
            node[part] = {}
        node = node[part]
    if value is DELETE:
        node.pop(last, None)
    else:
        node[last] = value


def edited(resources: list[Resource], name: str, **changes: Any) -> list[Resource]:
    """A copy of ``resources`` with the one named ``name`` changed: ``props={path: value}``,
    or resource fields (``protect=False``)."""
    assert name in {r.name for r in resources}, f"no resource named {name}"
    result = []
    for resource in resources:
        if resource.name == name:
            props = copy.deepcopy(dict(resource.props))
            for path, value in changes.pop("props", {}).items():
                put(props, path, value)
            resource = dataclasses.replace(resource, props=props, **changes)
        result.append(resource)
    return result


def found(report: Report) -> list[tuple[str | None, str]]:
    return [(f.urn, f.message) for f in report.findings]


def props(**paths: Any) -> dict[str, Any]:
    return {"props": {k.replace("__", "."): v for k, v in paths.items()}}


def case_id(case: Case) -> str:
    changed = "-".join(case.changes.get("props", case.changes))
    return f"{case.rule}-{case.env}-{case.resource}-{changed}"
