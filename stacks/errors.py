"""How a bad stack setting is reported: one line per problem, naming key, value and rule.

Stack configuration is fixed from a terminal with `pulumi config set`, so every line names the
exact key to set, the value it holds now (secrets masked) and the rule it breaks. Problems are
reported together, not one per run: every key's own rules at once, then, when each key is valid
on its own, every rule that relates keys (maxInstances against minInstances, prod's rules).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

NAMESPACE = "emg-analyzer"
"""The Pulumi project name, hence the namespace of every setting of ours."""

HIDDEN = "<hidden>"
"""Stands for a secret value in messages: the message must not leak what it complains about."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()
"""A problem about a key that is not set has no value to show."""


def show(value: object) -> str:
    """A value as the user typed it in a stack file or on the command line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list | tuple | dict):
        return json.dumps(list(value) if isinstance(value, tuple) else value)
    if value == "":
        return "''"
    return str(value)


@dataclass(frozen=True)
class Problem:
    """One broken rule. ``key`` is what the user types: ``emg-analyzer:maxInstances``."""

    key: str
    rule: str
    value: object = MISSING

    def __str__(self) -> str:
        if self.value is MISSING:
            return f"{self.key} {self.rule}"
        return f"{self.key} ({show(self.value)}) {self.rule}"


class RuleError(ValueError):
    """Raised by a field validator: the caller knows key and value, the validator the rule."""

    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


class ProblemsError(ValueError):
    """Raised by a model validator that checks several keys against each other."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(map(str, problems)))
        self.problems = tuple(problems)


class StackConfigError(ValueError):
    """The stack's configuration is unusable; ``problems`` holds one exact line per problem."""

    def __init__(self, problems: Iterable[Problem | str], *, source: str) -> None:
        self.problems = tuple(str(p) for p in problems)
        self.source = source
        lines = "\n".join(f"- {p}" for p in self.problems)
        super().__init__(f"invalid stack configuration in {source}:\n{lines}")


def first_repeat(items: Iterable[str], *, fold: Callable[[str], str] = str) -> str | None:
    """The first item that comes again later (compared after ``fold``), as first written."""
    seen: dict[str, str] = {}
    for item in items:
        if (folded := fold(item)) in seen:
            return seen[folded]
        seen[folded] = item
    return None


def unknown_key_rule(key: str, known: Iterable[str], *, namespace: str = NAMESPACE) -> str:
    """The rule for a key nobody reads, with the nearest known key: typos are the usual cause."""
    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"is not a setting of {namespace}{hint}"


def _key(loc: tuple[int | str, ...], prefix: str) -> str:
    head, *rest = loc or ("",)
    return prefix + str(head) + "".join(f"[{part}]" for part in rest)


def _rule(err: dict, known: Iterable[str], prefix: str, missing_rule: str | None) -> str:
    ctx = err.get("ctx") or {}
    kind = err["type"]
    if isinstance(ctx.get("error"), RuleError):
        return ctx["error"].rule
    if kind == "missing":
        key = _key(err["loc"], prefix)
        return missing_rule or f"is required: set it with `pulumi config set {key} <value>`"
    if kind == "extra_forbidden":
        return unknown_key_rule(str(err["loc"][0]), known)
    if kind == "literal_error":
        return "must be " + str(ctx["expected"]).replace("'", "")
    if kind in {"int_parsing", "int_type", "int_from_float"}:
        return "must be a whole number"
    if kind in {"float_parsing", "float_type", "finite_number"}:
        return "must be a number"
    if kind == "string_type":
        return "must be text (quote it in YAML)"
    if kind in {"bool_parsing", "bool_type"}:
        return "must be true or false"
    if kind in {"list_type", "tuple_type"}:
        return "must be a list"
    bounds = {
        "greater_than_equal": (">=", "ge"),
        "greater_than": (">", "gt"),
        "less_than_equal": ("<=", "le"),
        "less_than": ("<", "lt"),
    }
    if kind in bounds:
        op, name = bounds[kind]
        return f"must be {op} {ctx[name]}"
    return "is invalid: " + err["msg"].removeprefix("Value error, ")


def problems_from(
    exc: ValidationError, *, known: Iterable[str], prefix: str, missing_rule: str | None = None
) -> list[Problem]:
    """pydantic's errors as Problems, keeping the rules our validators wrote word for word.

    A `ProblemsError` whose problem has no key (or only an index, ``[2]``) gets the key of the
    value pydantic was validating: validators of a single value do not know its name.
    """
    problems: list[Problem] = []
    for err in exc.errors():
        key = _key(err["loc"], prefix)
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, ProblemsError):
            for p in cause.problems:
                whole = p.key if p.key and not p.key.startswith("[") else key + p.key
                problems.append(Problem(whole, p.rule, p.value))
            continue
        value = MISSING if err["type"] == "missing" else err["input"]
        problems.append(Problem(key, _rule(err, known, prefix, missing_rule), value))
    return problems
