"""Stack files to break on purpose: copies of the committed ones, written to a temp folder."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.loader import PROJECT_ROOT, read_stack_file, stack_file

WriteStack = Callable[..., Path]


def committed(stack: str) -> dict[str, Any]:
    """The committed ``config:`` of a stack (a deep copy, free to change)."""
    return copy.deepcopy(read_stack_file(stack_file(stack, PROJECT_ROOT)))


@pytest.fixture
def write_stack(tmp_path: Path) -> WriteStack:
    """``write_stack("prod", changes={...}, drop=(...), stack=...)`` -> folder holding the file.

    Starts from the committed file of ``base`` (default: the stack itself); keys in ``changes`` and
    ``drop`` are written without the ``emg-analyzer:`` namespace unless they carry one.
    """

    def write(
        base: str,
        *,
        changes: dict[str, Any] | None = None,
        drop: tuple[str, ...] = (),
        stack: str | None = None,
    ) -> Path:
        config = committed(base)
        full = lambda key: key if ":" in key else f"emg-analyzer:{key}"  # noqa: E731
        for key in drop:
            del config[full(key)]
        for key, value in (changes or {}).items():
            config[full(key)] = value
        path = tmp_path / f"Pulumi.{stack or base}.yaml"
        path.write_text(yaml.safe_dump({"config": config}, sort_keys=False), encoding="utf-8")
        return tmp_path

    return write
