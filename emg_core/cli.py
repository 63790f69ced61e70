"""The ``emg`` command.

Each package contributes its subcommands through the ``emg.commands`` entry-point group
(pyproject.toml), so this module never imports the service or the infrastructure code.
``emg analyze`` lives here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emg_core.report import SessionReport

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad usage already; keep its message to one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser(
        "analyze",
        help="analyse GHOSTLY C3D recordings and print the clinical report",
        description="Analyse GHOSTLY C3D recordings. Per-channel options take CHANNEL=VALUE "
        "(e.g. --mvc CH1=0.00021); a bare VALUE applies to every channel.",
    )
    cmd.add_argument("files", nargs="+", metavar="FILE", type=Path)
    cmd.add_argument("--json", action="store_true", help="print the report as JSON")
    cmd.add_argument(
        "--plot",
        metavar="OUT.png",
        type=Path,
        help="draw raw signal, envelope, contractions and MVC threshold per channel",
    )
    cmd.add_argument("--mvc", action="append", metavar="[CH=]VOLTS", help="MVC value in volts")
    cmd.add_argument("--mvc-pct", action="append", metavar="[CH=]PCT", help="MVC threshold %% (75)")
    cmd.add_argument(
        "--min-duration-ms", action="append", metavar="[CH=]MS", help="duration target (2000 ms)"
    )
    cmd.add_argument(
        "--expected-contractions", action="append", metavar="[CH=]N", help="per muscle (12)"
    )
    cmd.add_argument("--muscle", action="append", metavar="CH=NAME", help="muscle of a channel")
    cmd.add_argument("--rpe", metavar="0-10", help="post-session RPE (Borg CR-10)")
    cmd.add_argument("--bfr-pressure", metavar="PCT", help="BFR pressure, %% of arterial occlusion")
    cmd.add_argument("--game-max", metavar="SCORE", help="maximum achievable game score")
    cmd.add_argument(
        "--set",
        action="append",
        metavar="FIELD=VALUE",
        help="any analysis parameter, e.g. --set envelope_smoothing_s=0.1 "
        '--set \'score_weights={"compliance":0.6,"symmetry":0.2,"effort":0.2,"game":0}\'',
    )
    cmd.add_argument(
        "--timeout", type=_positive, default=30.0, help="parser time limit per file (s)"
    )
    cmd.set_defaults(run=_run_analyze)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def _plot_problem(out: Path) -> str | None:
    if out.suffix.lower() != ".png":
        return f"--plot {out}: the file name must end in .png"
    if not out.parent.is_dir():
        return f"--plot {out}: folder {out.parent} does not exist"
    return None


def _options(args: argparse.Namespace) -> dict[str, list[str]]:
    from emg_core.parameters import PER_CHANNEL_OPTIONS, SESSION_OPTIONS

    names = [*PER_CHANNEL_OPTIONS, *SESSION_OPTIONS, "set"]
    options: dict[str, list[str]] = {}
    for name in names:
        value = getattr(args, name, None)
        if value is not None:
            options[name] = value if isinstance(value, list) else [value]
    if args.plot:
        options["include_signals"] = ["true"]
        options.setdefault("set", []).append("signal_max_points=20000")
    return options


def _run_analyze(args: argparse.Namespace) -> int:
    # Imported here: `emg serve` and `emg infra` start without the analysis stack.
    from emg_core.analysis import analyze
    from emg_core.errors import InputError
    from emg_core.parameters import parameters_from_options
    from emg_core.parser_pool import ParserPool
    from emg_core.read import read_c3d

    try:
        params = parameters_from_options(_options(args))
    except InputError as exc:
        print(f"emg analyze: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.plot and (problem := _plot_problem(args.plot)):
        print(f"emg analyze: error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    failed = False
    reports: list[SessionReport] = []
    with ParserPool(workers=1, timeout_s=args.timeout) as pool:
        for path in args.files:
            try:
                report = analyze(read_c3d(path, pool), params)
            except InputError as exc:
                print(f"emg analyze: error: {path}: {exc}", file=sys.stderr)
                failed = True
                continue
            reports.append(report)
            if args.plot:
                from emg_core.plot import plot_report

                out = _plot_path(args.plot, path, len(args.files))
                try:
                    plot_report(report, out)
                except OSError as exc:
                    print(f"emg analyze: error: --plot {out}: {exc.strerror}", file=sys.stderr)
                    return EXIT_BAD_INPUT
                print(f"plot written to {out}", file=sys.stderr)
            if not args.json:
                print(format_report(report))
    if args.json and reports:
        documents = [json.loads(r.model_dump_json(exclude={"signals"})) for r in reports]
        print(json.dumps(documents[0] if len(args.files) == 1 else documents, indent=2))
    return EXIT_BAD_INPUT if failed else 0


def _plot_path(out: Path, source: Path, n_files: int) -> Path:
    return out if n_files == 1 else out.with_name(f"{out.stem}_{source.stem}{out.suffix}")


def _fmt(value: float | None, scale: float = 1.0, spec: str = ".1f") -> str:
    return "—" if value is None else format(value * scale, spec)


def _text(value: object) -> str:
    return "—" if value is None else str(value)


def format_report(report: SessionReport) -> str:
    """A readable summary: recording, one row per channel, then the scores and warnings."""
    rec = report.recording
    when = rec.recorded_at.strftime("%Y-%m-%d %H:%M:%S") if rec.recorded_at else "unknown time"
    game = rec.game
    lines = [
        f"{report.source.filename}: {rec.duration_s:.2f} s at {rec.sampling_rate_hz:g} Hz, "
        f"recorded {when}, game {game.name or '—'} level {_text(game.level)} "
        f"score {_fmt(game.score, spec='g')}",
        "",
        f"{'channel':<8} {'muscle':<18} {'contr':>5} {'good':>4}  {'MVC threshold':<24}"
        f"{'RMS µV':>8} {'MPF Hz':>7} {'MDF Hz':>7} {'FI slope/min':>13}",
    ]
    for ch in report.channels:
        if ch.contractions is None or ch.mvc is None:
            lines.append(f"{ch.name:<8} {ch.muscle or '—':<18} not analysed")
            continue
        threshold = f"{_fmt(ch.mvc.threshold_v, 1e6, '.2f')} µV ({ch.mvc.method})"
        fi_slope = ch.temporal.fi_nsm5.slope_per_min if ch.temporal else None
        lines.append(
            f"{ch.name:<8} {(ch.muscle or '—')[:18]:<18} {ch.contractions.count:>5} "
            f"{ch.contractions.good:>4}  {threshold:<24}"
            f"{_fmt(ch.amplitude.rms_v if ch.amplitude else None, 1e6, '.2f'):>8} "
            f"{_fmt(ch.spectrum.mpf_hz if ch.spectrum else None):>7} "
            f"{_fmt(ch.spectrum.mdf_hz if ch.spectrum else None):>7} "
            f"{_fmt(fi_slope, spec='.3g'):>13}"
        )
    s = report.scores
    lines += [
        "",
        f"scores: compliance {_fmt(s.compliance, spec='.2f')}"
        f"  symmetry {_fmt(s.symmetry, spec='.2f')}"
        f"  effort {_fmt(s.effort, spec='.0f')}  game {_fmt(s.game, spec='.1f')}"
        f"  overall {_fmt(s.overall, spec='.2f')}",
    ]
    lines += [f"warning: {w}" for w in report.warnings]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="emg", description="EMG Analyzer: GHOSTLY recordings to clinical reports")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    for entry in sorted(entry_points(group="emg.commands"), key=lambda e: e.name):
        try:
            register = entry.load()
        except ImportError:
            continue  # that part is not installed here (the service image has no infra/)
        register(commands)
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return args.run(args)
    except BrokenPipeError:  # e.g. `emg analyze --json ... | head`: the reader left, fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
