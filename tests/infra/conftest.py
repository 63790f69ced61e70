"""Infra tests run the real components under Pulumi's mocks (no cloud, no CLI)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from infra.mocks import ProgramRun, run_program


def run_component(build: Callable[[], None], stack: str = "dev") -> ProgramRun:
    """Run ``build`` (which creates components) as a program of ``stack``; return what it
    registered. Components take typed values, so no Pulumi config is needed here."""
    return run_program(build, stack=stack, config={})


def refused(build: Callable[[], object]) -> str:
    """Run ``build`` as a program, expect ValueError, check that nothing was registered before
    the refusal, and return its message."""
    caught: dict[str, str] = {}

    def program() -> None:
        with pytest.raises(ValueError) as info:
            build()
        caught["message"] = str(info.value)

    run = run_component(program)
    assert not run.resources, f"registered before refusing: {[r.urn for r in run.resources]}"
    return caught["message"]
