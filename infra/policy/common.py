"""What the GCP and AWS rules share: message formatting, property and reference helpers, the rule
decorators, the cloud-neutral parts of X1 (required labels/tags) and X2 (Pulumi options that stop
a destroy), and X3 (the stack outputs of the frontend contract)."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any

from infra.labels import REQUIRED_LABELS
from infra.policy.engine import SECRET_SIG, Context, Resource, ResourceRule, StackRule

SECRET_LOOKING_NAME = re.compile(r"(?i)pass|secret|token|key|auth")
# X3: the frontend contract (stacks.outputs.ENV_NAMES).
REQUIRED_OUTPUTS = (
    "apiUrl",
    "healthUrl",
    "imageRef",
    "cloud",
    "environment",
    "region",
    "dashboardUrl",
    "corsOrigins",
)

StackViolations = Iterator[tuple[str | None, str]]


def show(value: Any) -> str:
    """A property value for a message: ``not set`` for None, wire floats without ``.0``."""
    if value is None:
        return "not set"
    if isinstance(value, float) and value.is_integer():
        return repr(int(value))
    return repr(value)


def expect(
    resource: Resource, path: str, allowed: Collection[Any], default: Any = None
) -> list[str]:
    """One message when ``path`` (``default`` if unset) is not one of ``allowed``."""
    value = resource.get(path, default)
    if value in allowed:
        return []
    wanted = " or ".join(show(a) for a in allowed)
    return [f"{path} is {show(value)}, expected {wanted}"]


def items(resource: Resource, path: str) -> list[str]:
    """The paths of the elements of the list at ``path`` (``path[0]``, ...); none if unset."""
    value = resource.get(path)
    return [f"{path}[{i}]" for i in range(len(value))] if isinstance(value, list) else []


def of_type(resources: Iterable[Resource], *types: str) -> list[Resource]:
    return [r for r in resources if r.type in types]


def names(resource: Resource) -> set[str]:
    """What a reference's last path segment may be to point at ``resource``."""
    found = {resource.name}
    for key in ("name", "secretId", "repositoryId"):
        value = resource.props.get(key)
        if isinstance(value, str):
            found.add(value)
    return found


def reference_key(ref: str) -> str:
    """The last segment of a reference: after the last ``/`` of a path, self link or ARN, then
    after the last ``:`` (an ARN without a path, such as ``...:secret:<name>``)."""
    return ref.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]


def referenced(
    resources: Sequence[Resource],
    type_token: str,
    ref: Any,
    names_of: Callable[[Resource], set[str]] = names,
) -> Resource | None:
    """The ``type_token`` resource of this stack that ``ref`` (id, self link, ARN, name) names."""
    if not isinstance(ref, str) or not ref:
        return None
    key = reference_key(ref)
    return next((r for r in of_type(resources, type_token) if key in names_of(r)), None)


def not_in_stack(path: str, ref: Any, what: str) -> str:
    return f"{path} {show(ref)} is not a {what} of this stack, so it cannot be checked"


def is_wire_secret(resource: Resource, key: str) -> bool:
    value = resource.props.get(key)
    return isinstance(value, Mapping) and SECRET_SIG in value


def resource_rule(
    id: str, title: str, types: tuple[str, ...], level: str, severity: str, scope: str, fix: str
):
    """Decorator: the function becomes the ``check`` of a ResourceRule registered as ``id``."""

    def register(check) -> ResourceRule:
        return ResourceRule(id, title, types, level, severity, scope, fix, check)  # type: ignore[arg-type]

    return register


def stack_rule(id: str, title: str, level: str, severity: str, scope: str, fix: str):
    """Decorator: the function becomes the ``check`` of a StackRule registered as ``id``."""

    def register(check) -> StackRule:
        return StackRule(id, title, level, severity, scope, fix, check)  # type: ignore[arg-type]

    return register


# --- X1-X3 ---------------------------------------------------------------------------------------


def missing_labels(resource: Resource, field: str, context: Context) -> Iterator[str]:
    """X1: the required keys of the ``field`` map (labels, tags) that are unset, and an ``env``
    other than the stack's environment."""
    for key in REQUIRED_LABELS:
        value = resource.get(f"{field}.{key}")
        if not value:
            yield f"{field}.{key} is not set"
        elif key == "env" and value != context.environment:
            wanted = context.environment
            yield f"{field}.env is {show(value)}, not the stack's environment {wanted!r}"


def options_blocking_destroy(resource: Resource) -> Iterator[str]:
    """X2: the Pulumi resource options that make ``pulumi destroy`` fail or leave the resource."""
    if resource.protect:
        yield "protect is set"
    if resource.retain_on_delete:
        yield "retainOnDelete is set"


def x2_violations(
    resources: Sequence[Resource],
    context: Context,
    blocks_destroy: Callable[[Resource], Iterable[str]],
    kept_in_prod: Collection[str],
) -> StackViolations:
    """X2 on either cloud: in dev nothing may block ``pulumi destroy`` (``blocks_destroy`` adds
    the cloud's own deletion-protection settings); in prod the stateful types ``kept_in_prod``
    need ``protect`` or ``retainOnDelete`` (a policy pack sees only ``protect``)."""
    for resource in resources:
        if context.environment == "dev":
            for reason in blocks_destroy(resource):
                yield resource.urn, f"{reason} in dev (pulumi destroy would fail or leave it)"
        elif resource.type in kept_in_prod and not (resource.protect or resource.retain_on_delete):
            yield resource.urn, "neither protect nor retainOnDelete is set in prod"


X3_ID = "X3"
X3_TITLE = "Frontend stack outputs present and none secret"
X3_LEVEL, X3_SEVERITY, X3_SCOPE = "mandatory", "medium", "all"
X3_REMEDIATION = (
    "Export apiUrl, healthUrl, imageRef, cloud, environment, region, dashboardUrl and "
    "corsOrigins as plain (non-secret) stack outputs."
)
# X3 described like a rule, for reports that list the rules (SARIF); it is judged by
# `check_outputs`, since the engine's rules see resources, not stack outputs.
X3_DESCRIPTION = StackRule(
    X3_ID, X3_TITLE, X3_LEVEL, X3_SEVERITY, X3_SCOPE, X3_REMEDIATION, lambda _r, _c: ()
)


def _holds_secret(value: Any) -> bool:
    if isinstance(value, Mapping):
        return SECRET_SIG in value or any(_holds_secret(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_secret(v) for v in value)
    return False


def check_outputs(outputs: Mapping[str, Any], secret_outputs: set[str]) -> list[str]:
    """X3: one message per required export missing, and per export that is secret."""
    found = [f"output {key} is missing" for key in REQUIRED_OUTPUTS if key not in outputs]
    secret = set(secret_outputs) | {k for k, v in outputs.items() if _holds_secret(v)}
    found += [
        f"output {key} is secret (the frontend reads it in plain text)" for key in sorted(secret)
    ]
    return found
