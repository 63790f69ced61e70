"""``emg infra plan`` (the offline plan) and ``emg stack outputs`` (the frontend's env file)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from infra.plan import Plan
    from infra.policy.engine import Suppression

EXIT_BAD_INPUT = 2


def register_infra(commands: argparse._SubParsersAction) -> None:
    infra = commands.add_parser("infra", help="plan the cloud deployment offline (Pulumi mocks)")
    actions = infra.add_subparsers(title="actions", metavar="ACTION", required=True)
    plan = actions.add_parser(
        "plan",
        help="run the Pulumi program under mocks with a stack's committed configuration",
        description="Print the resource tree and outputs of a stack without cloud credentials "
        "or the Pulumi CLI; secrets are masked.",
    )
    plan.add_argument("--stack", help="stack name (Pulumi.<stack>.yaml); required")
    plan.add_argument(
        "--cloud",
        choices=["gcp", "aws"],
        help="plan the stack on this cloud instead of its own (its settings for that cloud "
        "must be in the stack file)",
    )
    plan.add_argument(
        "--json", metavar="FILE", help="write the normalised snapshot (- for standard output)"
    )
    plan.add_argument("--quiet", action="store_true", help="no tree, only the summary line")
    plan.add_argument(
        "--policy",
        action="store_true",
        help="evaluate the security rules; exit 1 on any blocking (mandatory) finding",
    )
    plan.add_argument(
        "--findings", metavar="FILE", help="with --policy: findings as JSON (- for standard output)"
    )
    plan.add_argument(
        "--sarif",
        metavar="FILE",
        help="with --policy: findings as SARIF 2.1.0 (- for standard output)",
    )
    plan.add_argument(
        "--policy-config",
        metavar="FILE",
        help="with --policy: the policy pack's config file; its suppressions (each with a "
        "reason) apply here too",
    )
    plan.set_defaults(run=_run_plan)
    plan_actions = plan.add_subparsers(title="actions", metavar="ACTION", required=False)
    diff = plan_actions.add_parser(
        "diff",
        help="compare two plan snapshots (--json) as Markdown for a pull-request comment",
        description="Resources added, removed, replaced or changed (with the properties), "
        "output changes, and new and fixed policy findings; one line when nothing changed.",
    )
    diff.add_argument("base", metavar="BASE.json", help="snapshot of the base branch (- stdin)")
    diff.add_argument("head", metavar="HEAD.json", help="snapshot of the pull request (- stdin)")
    diff.add_argument(
        "--stack",
        dest="diff_stack",
        help="the plans' stack, named in the comment (checked against theirs; needed if they "
        "name none)",
    )
    diff.add_argument("--base-findings", metavar="FILE", help="findings JSON of the base")
    diff.add_argument("--head-findings", metavar="FILE", help="findings JSON of the head")
    diff.set_defaults(run=_run_plan_diff)


def register_stack(commands: argparse._SubParsersAction) -> None:
    stack = commands.add_parser("stack", help="stack outputs for the frontend")
    actions = stack.add_subparsers(title="actions", metavar="ACTION", required=True)
    outputs = actions.add_parser(
        "outputs",
        help="render a stack's outputs as the frontend's env file or JSON",
        description="Reads `pulumi stack output --json` from --from FILE (or - for stdin); "
        "without it, runs the offline plan of --stack.",
    )
    outputs.add_argument("--stack", required=True)
    outputs.add_argument(
        "--cloud", choices=["gcp", "aws"], help="without --from: plan the stack on this cloud"
    )
    outputs.add_argument("--format", choices=["env", "json"], default="env")
    outputs.add_argument("--from", dest="source", metavar="FILE", help="pulumi stack output --json")
    outputs.set_defaults(run=_run_outputs)


def _fail(message: str) -> int:
    print(f"emg: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _run_plan(args: argparse.Namespace) -> int:
    from infra.plan import plan_stack, render_tree, snapshot_json
    from stacks.errors import StackConfigError
    from stacks.loader import check_stack_name

    if not args.stack:
        return _fail("infra plan: the following arguments are required: --stack")
    try:
        check_stack_name(args.stack)
    except ValueError as exc:
        return _fail(str(exc))
    if (args.findings or args.sarif or args.policy_config) and not args.policy:
        return _fail("--findings, --sarif and --policy-config need --policy")
    outputs = (("--json", args.json), ("--findings", args.findings), ("--sarif", args.sarif))
    to_stdout = [o for o, v in outputs if v == "-"]
    if len(to_stdout) > 1:
        return _fail(f"only one of {' and '.join(to_stdout)} can write to standard output")
    if clash := _clashing_files(args, [(o, v) for o, v in outputs if v and v != "-"]):
        return _fail(clash)
    try:
        suppressions = _suppressions(args.policy_config) if args.policy_config else ()
    except ValueError as exc:
        return _fail(str(exc))
    try:
        plan = plan_stack(args.stack, cloud=args.cloud)
    except (StackConfigError, FileNotFoundError, ValueError) as exc:
        return _fail(str(exc))
    if not args.quiet and not to_stdout:
        print(render_tree(plan), end="")
    print(
        f"stack {args.stack} on {plan.cloud}: {len(plan.run.resources)} resources, "
        f"{len(plan.run.outputs)} outputs, planned in {plan.seconds:.2f} s",
        file=sys.stderr,
    )
    if args.json == "-":
        print(snapshot_json(plan), end="")
    elif args.json and (problem := _write(args.json, snapshot_json(plan), "--json")):
        return _fail(problem)
    return _run_policy(args, plan, suppressions, bool(to_stdout)) if args.policy else 0


def _clashing_files(args: argparse.Namespace, outputs: list[tuple[str, str]]) -> str | None:
    """Outputs that would overwrite each other or an input (the stack file, the policy config)."""
    from stacks.loader import stack_file

    inputs = [(f"Pulumi.{args.stack}.yaml", str(stack_file(args.stack)))]
    if args.policy_config:
        inputs.append(("--policy-config", args.policy_config))

    def same(a: str, b: str) -> bool:
        if Path(a).exists() and Path(b).exists():
            return os.path.samefile(a, b)  # links too
        return Path(a).resolve() == Path(b).resolve()

    for i, (option, path) in enumerate(outputs):
        for other, other_path in outputs[i + 1 :] + inputs:
            if same(path, other_path):
                return f"{option} and {other} name the same file"
    return None


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A JSON object whose keys are distinct (json keeps the last of a repeated key silently)."""
    from stacks.errors import first_repeat

    if (repeated := first_repeat(key for key, _ in pairs)) is not None:
        raise ValueError(f"key {repeated!r} is given twice")
    return dict(pairs)


def _read_json(path: str, what: str) -> object:
    """JSON from a file, or from standard input for ``-``."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        return json.loads(text, object_pairs_hook=_unique_keys)
    except OSError as exc:
        raise ValueError(f"{what} {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8 text"
        raise ValueError(f"{what} {path}: not JSON ({reason})") from None
    except ValueError as exc:  # from _unique_keys
        raise ValueError(f"{what} {path}: {exc}") from None


def _run_plan_diff(args: argparse.Namespace) -> int:
    from infra.plan_diff import diff_snapshots, render_markdown
    from stacks.loader import check_stack_name

    read = [args.base, args.head, args.base_findings, args.head_findings]
    if read.count("-") > 1:
        return _fail("only one input can come from standard input (-)")
    try:
        base, head = _read_json(args.base, "base"), _read_json(args.head, "head")
        findings = [
            _read_json(path, option) if path else None
            for path, option in (
                (args.base_findings, "--base-findings"),
                (args.head_findings, "--head-findings"),
            )
        ]
        diff = diff_snapshots(base, head, *findings)  # type: ignore[arg-type]
    except ValueError as exc:
        message = str(exc)
        for label, path in (
            ("base findings", args.base_findings),
            ("head findings", args.head_findings),
            ("base", args.base),
            ("head", args.head),
        ):
            if message.startswith(f"{label}: "):  # name the file the problem is in
                message = f"{label} {path}: {message.removeprefix(f'{label}: ')}"
                break
        return _fail(message)
    # The marker names the pull-request comment to edit: a diff under another stack's name would
    # overwrite that stack's comment.
    base_stack, head_stack = base.get("stack"), head.get("stack")  # type: ignore[union-attr]
    if base_stack and head_stack and base_stack != head_stack:
        return _fail(
            f"base {args.base} is a plan of stack {base_stack}, head {args.head} of stack "
            f"{head_stack}: compare two plans of one stack"
        )
    named = head_stack or base_stack
    if args.diff_stack is not None and named and args.diff_stack != named:
        return _fail(f"--stack {args.diff_stack}: the plans are of stack {named}")
    stack = args.diff_stack if args.diff_stack is not None else named or ""
    try:
        check_stack_name(stack)  # it goes into an HTML comment and a code span
    except ValueError as exc:
        return _fail(f"{exc} (give --stack when the plans name none)")
    print(render_markdown(diff, stack), end="")
    return 0


def _write(path: str, text: str, option: str) -> str | None:
    """Write ``text`` to ``path``; the problem, if any, as a one-line message."""
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        return f"{option} {path}: {exc.strerror}"
    print(f"{option}: written to {path}", file=sys.stderr)
    return None


def _suppressions(path: str) -> tuple[Suppression, ...]:
    from infra.policy.pack import config_suppressions
    from infra.policy.rules import rules_for

    rule_ids = {rule.id for cloud in ("gcp", "aws") for rule in rules_for(cloud)}
    config = _read_json(path, "--policy-config")
    try:
        return config_suppressions(config, rule_ids)
    except ValueError as exc:
        raise ValueError(f"--policy-config {path}: {exc}") from None


def _run_policy(
    args: argparse.Namespace, plan: Plan, suppressions: Sequence[Suppression], quiet: bool
) -> int:
    from infra.policy.common import X3_DESCRIPTION
    from infra.policy.engine import Context
    from infra.policy.offline import check_plan
    from infra.policy.report import findings_json, render_text, sarif
    from infra.policy.rules import rules_for
    from stacks.loader import stack_file

    context = Context(args.stack, plan.environment, plan.cloud)  # type: ignore[arg-type]
    report = check_plan(plan, context, suppressions)
    print(render_text(report), end="", file=sys.stderr if quiet else sys.stdout)
    rules = [*rules_for(context.cloud), X3_DESCRIPTION]
    for path, text, option in (
        (args.findings, findings_json(report), "--findings"),
        (args.sarif, sarif(report, rules, stack_file(args.stack).name), "--sarif"),
    ):
        if path == "-":
            print(text, end="")
        elif path and (problem := _write(path, text, option)):
            return _fail(problem)
    return 1 if report.blocking else 0


def _run_outputs(args: argparse.Namespace) -> int:
    from stacks.loader import load_stack_config
    from stacks.outputs import StackOutputs, StackOutputsError, render_env, render_json

    if args.source and args.cloud:
        return _fail("--cloud plans the stack; outputs read --from a file already name their cloud")
    try:
        environment = load_stack_config(args.stack).environment
        if args.source:
            raw = _read_json(args.source, "--from")
            if not isinstance(raw, dict):
                return _fail(
                    f"--from {args.source}: not `pulumi stack output --json` output "
                    "(a JSON object of outputs)"
                )
        else:
            from infra.plan import plan_stack, snapshot

            raw = snapshot(plan_stack(args.stack, cloud=args.cloud))["outputs"]
        outputs = StackOutputs.from_stack(raw)
    except (StackOutputsError, OSError, ValueError) as exc:
        return _fail(str(exc))
    if outputs.environment != environment:
        return _fail(
            f"these outputs are of a {outputs.environment} stack, "
            f"not of {args.stack} ({environment})"
        )
    print(render_env(outputs) if args.format == "env" else render_json(outputs), end="")
    return 0
