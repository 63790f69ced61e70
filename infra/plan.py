"""The offline plan: the real program, run under mocks with a stack's committed configuration.

It shows, without cloud credentials or the Pulumi CLI, every resource the program registers
(type, name, parent, the inputs that matter, protection) and the stack outputs, with every
secret masked. `snapshot` is the normalised, deterministic JSON form: golden files in the tests
and the input of plan diffs in pull requests.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.mocks import ProgramRun, RegisteredResource, run_program
from infra.policy.engine import SECRET_SIG
from stacks.config import secrets_for
from stacks.errors import NAMESPACE
from stacks.loader import PROJECT_ROOT, load_stack_config, pulumi_text, read_stack_file, stack_file

MASK = "[secret]"
PLAN_IMAGE_TAG = "plan"
SNAPSHOT_VERSION = 1


@dataclass(frozen=True)
class Plan:
    stack: str
    cloud: str
    environment: str
    run: ProgramRun
    seconds: float


def _config_for_runtime(stack: str, root: Path, cloud: str) -> tuple[dict[str, str], list[str]]:
    """The stack file's plain settings as Pulumi hands them to a program (text; JSON for lists),
    on ``cloud``, plus a placeholder for every secret of that cloud (the plan never sees real
    ones)."""
    config: dict[str, str] = {}
    for key, value in read_stack_file(stack_file(stack, root)).items():
        full = key if ":" in str(key) else f"{NAMESPACE}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            continue
        text = pulumi_text(value)
        config[full] = text if isinstance(text, str) else json.dumps(text)
    config[f"{NAMESPACE}:cloud"] = cloud
    secret_keys = [f"{NAMESPACE}:{s.key}" for s in secrets_for(cloud)]
    for key in secret_keys:
        config[key] = f"plan-placeholder-{key.rpartition(':')[2]}"
    return config, secret_keys


def plan_stack(stack: str, root: Path = PROJECT_ROOT, cloud: str | None = None) -> Plan:
    """Run the program for ``stack`` under mocks, on ``cloud`` if given (else the stack's own).
    Bad configuration raises StackConfigError (naming key, value and rule) before anything
    runs."""
    from infra.program import main

    # Refuse bad configuration with the offline loader's words.
    stack_config = load_stack_config(stack, root, cloud)
    config, secret_keys = _config_for_runtime(stack, root, stack_config.cloud)
    started = time.perf_counter()
    run = run_program(
        lambda: main(image_tag=PLAN_IMAGE_TAG), stack=stack, config=config, secret_keys=secret_keys
    )
    return Plan(
        stack=stack,
        cloud=stack_config.cloud,
        environment=stack_config.environment,
        run=run,
        seconds=time.perf_counter() - started,
    )


def masked(value: Any) -> Any:
    """``value`` with every secret replaced by ``[secret]`` and the checkout's own path by
    ``<repo>`` (the image build context), so a snapshot is the same on every machine."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return MASK
        return {k: masked(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [masked(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # wire form turns every number into a float
    if isinstance(value, str) and value.startswith(str(PROJECT_ROOT)):
        return "<repo>" + value.removeprefix(str(PROJECT_ROOT))
    return value


def _parent_name(urn: str | None) -> str | None:
    """The parent's name, or None for resources at the top of the stack."""
    if urn is None or urn.split("::")[2].endswith("pulumi:pulumi:Stack"):
        return None
    return urn.split("::")[-1]


def _resource(r: RegisteredResource) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": r.type, "name": r.name, "parent": _parent_name(r.parent)}
    if r.protect:
        entry["protect"] = True
    if r.retain_on_delete:
        entry["retainOnDelete"] = True
    if r.custom:
        entry["inputs"] = masked(r.inputs)
    return entry


def snapshot(plan: Plan) -> dict[str, Any]:
    """Normalised, deterministic JSON form of a plan (sorted, secrets masked, no timings)."""
    run = plan.run
    resources = sorted((_resource(r) for r in run.resources), key=lambda e: (e["type"], e["name"]))
    outputs = {
        k: MASK if k in run.secret_outputs else masked(v) for k, v in sorted(run.outputs.items())
    }
    return {
        "version": SNAPSHOT_VERSION,
        "stack": plan.stack,
        "resources": resources,
        "outputs": outputs,
    }


def snapshot_json(plan: Plan) -> str:
    return json.dumps(snapshot(plan), indent=2, sort_keys=True) + "\n"


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves by dotted path; lists of objects by index, lists of plain values whole."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        out = {}
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def render_tree(plan: Plan, max_value: int = 90) -> str:
    """The resource tree as text: components with their children, each custom resource with its
    inputs (flattened, secrets masked), then the outputs."""
    data = snapshot(plan)
    children: dict[str | None, list[dict[str, Any]]] = {}
    for entry in data["resources"]:
        children.setdefault(entry["parent"], []).append(entry)
    lines = [f"Plan of stack {plan.stack} on {plan.cloud}: {len(data['resources'])} resources"]

    def walk(parent: str | None, depth: int) -> None:
        for entry in children.get(parent, []):
            flags = " [protect]" if entry.get("protect") else ""
            lines.append(f"{'  ' * depth}+ {entry['type']}  {entry['name']}{flags}")
            for key, value in flatten(entry["inputs"]).items() if entry.get("inputs") else []:
                text = json.dumps(value) if not isinstance(value, str) else value
                text = text if len(text) <= max_value else text[: max_value - 1] + "…"
                lines.append(f"{'  ' * (depth + 2)}{key} = {text}")
            walk(entry["name"], depth + 1)

    walk(None, 1)
    lines.append("Outputs:")
    lines += [f"  {k} = {json.dumps(v)}" for k, v in data["outputs"].items()]
    return "\n".join(lines) + "\n"
