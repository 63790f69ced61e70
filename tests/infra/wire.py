"""Reading a recorded plan, for the whole-program security tests of both clouds: resources by
type (never vacuously none), wire-form inputs with secrets unwrapped or found, every leaf with
its path, and which arguments and secret outputs the provider SDK declares for a type."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

from infra.mocks import RegisteredResource
from infra.plan import Plan
from infra.policy.engine import SECRET_SIG

PLATFORMS = ("emg:gcp:Platform", "emg:aws:Platform")


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and SECRET_SIG in value


def unwrap(value: Any) -> Any:
    """The plain value of a secret-wrapped wire value; any other value unchanged."""
    return value.get("value") if is_secret(value) else value


def prop(resource: RegisteredResource, path: str, default: Any = None) -> Any:
    """The input at dotted ``path`` (``template.scaling.maxInstanceCount``), secrets unwrapped;
    ``default`` when any part of the path is missing."""
    value: Any = resource.inputs
    for key in path.split("."):
        value = unwrap(value)
        if not isinstance(value, dict) or key not in value:
            return default
        value = value[key]
    return unwrap(value)


def leaves(value: Any, path: str = "", secret: bool = False) -> Iterator[tuple[str, Any, bool]]:
    """Every scalar in ``value`` as (path, value, inside a secret)."""
    if is_secret(value):
        yield from leaves(value.get("value"), f"{path}<secret>", True)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, f"{path}.{key}" if path else str(key), secret)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from leaves(item, f"{path}[{i}]", secret)
    else:
        yield path, value, secret


@cache
def sdk_class(type_token: str) -> type | None:
    """The SDK class registering ``type_token`` (``gcp:compute/uRLMap:URLMap`` ->
    ``pulumi_gcp.compute.URLMap``); None for providers and this project's components."""
    package, module, name = type_token.split(":")
    if package == "pulumi" or importlib.util.find_spec(f"pulumi_{package}") is None:
        return None
    top = module.split("/")[0]
    path = f"pulumi_{package}" if top == "index" else f"pulumi_{package}.{top}"
    return getattr(importlib.import_module(path), name)


@cache
def sdk_args(type_token: str) -> frozenset[str]:
    """The arguments (snake_case) the SDK accepts for ``type_token``."""
    cls = sdk_class(type_token)
    if cls is None:
        return frozenset()
    return frozenset(inspect.signature(cls._internal_init).parameters)


@cache
def provider_secret_outputs(type_token: str) -> frozenset[str]:
    """Outputs the SDK registers as ``additional_secret_outputs``: the engine stores them as
    secrets, but the mock monitor records raw state, so they show there unwrapped."""
    cls = sdk_class(type_token)
    if cls is None:
        return frozenset()
    match = re.search(r"additional_secret_outputs=\[([^\]]*)\]", inspect.getsource(cls))
    return frozenset(re.findall(r'"([^"]+)"', match.group(1))) if match else frozenset()


def resources(plan: Plan, type_token: str) -> list[RegisteredResource]:
    return plan.run.of_type(type_token)


def some(plan: Plan, type_token: str) -> list[RegisteredResource]:
    """The resources of ``type_token``; at least one, or the row's check would be vacuous."""
    found = resources(plan, type_token)
    assert found, f"{stack_urn(plan)}: the program registers no {type_token}"
    return found


def one(plan: Plan, type_token: str) -> RegisteredResource:
    found = resources(plan, type_token)
    assert len(found) == 1, (
        f"{stack_urn(plan)}: expected one {type_token}, found {[r.urn for r in found]}"
    )
    return found[0]


def stack_urn(plan: Plan) -> str:
    """The root stack's URN (the Platform component's parent): names stack-level findings."""
    platforms = [r for r in plan.run.resources if r.type in PLATFORMS]
    return (platforms[0].parent if platforms else None) or f"stack {plan.stack}"
