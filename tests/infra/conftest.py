"""Infra tests run the real components under Pulumi's mocks (no cloud, no CLI)."""

from __future__ import annotations

from collections.abc import Callable

from infra.mocks import ProgramRun, run_program


def run_component(build: Callable[[], None], stack: str = "dev") -> ProgramRun:
    """Run ``build`` (which creates components) as a program of ``stack``; return what it
    registered. Components take typed values, so no Pulumi config is needed here."""
    return run_program(build, stack=stack, config={})
