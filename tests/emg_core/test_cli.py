"""End-to-end tests of ``emg analyze``: the installed console script, run as a subprocess, on the
real sample recordings and on files a user could hand it by mistake."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MALFORMED, sample, shared_files
from tests.utils.e2e import EmgRuns, past_validation

EXIT_BAD_INPUT = 2

# EMG_SPEC.md anchors for sample 0409 at default parameters.
COMPLIANCE_0409 = 65.21
SYMMETRY_0409 = 97.87
COUNTS_0409 = {"CH1": 15, "CH2": 11}
DURATION_0409_S = 75.03

# What each shared malformed file is refused for (all before the parser library sees them).
MALFORMED_REASONS = {
    "hang_params.c3d": "file has no analog channels",
    "segv_header_a.c3d": "file is truncated",
    "segv_header_b.c3d": "has an invalid data type",
}


def _json(result: subprocess.CompletedProcess) -> Any:
    def no_constants(name: str) -> None:
        raise AssertionError(f"report holds {name}, which is not valid JSON")

    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout, parse_constant=no_constants)


def _channel(report: dict[str, Any], name: str) -> dict[str, Any]:
    matches = [c for c in report["channels"] if c["name"] == name]
    assert len(matches) == 1, [c["name"] for c in report["channels"]]
    return matches[0]


def assert_refused(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit 2, exactly one line on stderr naming the problem, no traceback; returns that line."""
    assert result.returncode == EXIT_BAD_INPUT, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("emg analyze: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def sample_0409() -> Path:
    return sample("0409")


@pytest.fixture(scope="module")
def files(sample_0409: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Inputs a user could hand the command by mistake, and where outputs go."""
    folder = tmp_path_factory.mktemp("cli")
    data = sample_0409.read_bytes()
    files = {
        "missing": folder / "nowhere.c3d",
        "empty": folder / "empty.c3d",
        "text": folder / "notes.c3d",
        "truncated": folder / "cut_0409.c3d",
        "plot": folder / "report.png",
        "plot_in_missing_dir": folder / "missing" / "report.png",
    }
    files["empty"].write_bytes(b"")
    files["text"].write_text("time,CH1 Raw\n0.000,0.0001\n" * 100)
    files["truncated"].write_bytes(data[: len(data) // 2])
    # The shared crash and hang files made to pass validation, so the parser itself meets them.
    for kind, name in (("parser_crash", "segv_header_a.c3d"), ("parser_hang", "hang_params.c3d")):
        if (MALFORMED / name).exists():
            files[kind] = folder / f"{kind}.c3d"
            files[kind].write_bytes(past_validation((MALFORMED / name).read_bytes(), data))
    return files


BAD_OPTIONS = {
    "rpe-11": (["--rpe", "11"], ["rpe:", "less than or equal to 10", "got 11"]),
    "mvc-abc": (["--mvc", "CH1=abc"], ["mvc: 'abc' is not a number"]),
    "muscle-without-channel": (["--muscle", "quadriceps"], ["must be CHANNEL=NAME"]),
}


@pytest.fixture(scope="module")
def emg(sample_0409: Path, files: dict[str, Path]) -> Iterator[EmgRuns]:
    """Every invocation of this module, by name, started together (they are independent)."""
    s, f = sample_0409, files
    runs = EmgRuns(workers=os.cpu_count() or 2)
    runs.start("table", "analyze", s, "--plot", f["plot"])
    runs.start("json", "analyze", s, "--json")
    runs.start("mvc_rpe", "analyze", s, "--json", "--mvc", "CH1=0.00021", "--rpe", "5")
    runs.start("mvc_pct_50", "analyze", s, "--json", "--mvc", "CH1=0.00021", "--mvc-pct", "50")
    runs.start("min_duration_500", "analyze", s, "--json", "--min-duration-ms", "500")
    channels = '{"CH1": {"mvc_value_v": 0.0002}}'
    runs.start("set_channels", "analyze", s, "--json", "--set", f"channels={channels}")
    for name in ("missing", "empty", "text", "truncated"):
        runs.start(name, "analyze", f[name])
    for path in sorted(MALFORMED.glob("*.c3d")):
        runs.start(f"malformed:{path.name}", "analyze", path, "--timeout", "5")
    if "parser_crash" in f:
        runs.start("parser_crash", "analyze", f["parser_crash"])
    if "parser_hang" in f:
        runs.start("parser_hang", "analyze", f["parser_hang"], "--timeout", "2")
    for name, (option, _) in BAD_OPTIONS.items():
        runs.start(f"option:{name}", "analyze", s, *option)
    runs.start("several", "analyze", s, f["truncated"], sample("0160"))
    runs.start("several_json", "analyze", f["empty"], s, "--json")
    # Options refused before or after the analysis starts.
    runs.start("timeout_0", "analyze", s, "--timeout", "0")
    runs.start("plot_in_missing_dir", "analyze", s, "--plot", f["plot_in_missing_dir"])
    runs.start("cutoff_above_nyquist", "analyze", s, "--set", "envelope_lowpass_hz=1000")
    yield runs
    runs.close()


@pytest.fixture(scope="module")
def default_report(emg: EmgRuns) -> dict[str, Any]:
    return _json(emg["json"])


# --- the readable table ----------------------------------------------------------------------


def test_analyze_prints_one_row_per_channel_and_the_scores(emg: EmgRuns, sample_0409: Path) -> None:
    result = emg["table"]

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{sample_0409.name}: 75.03 s at 990 Hz, recorded 2023-03-21 17:23")
    header = next(line for line in lines if line.startswith("channel"))
    for column in ("muscle", "contr", "good", "MVC threshold", "RMS µV", "MPF Hz", "MDF Hz"):
        assert column in header, header
    assert "FI slope/min" in header
    number = r"-?\d+(?:\.\d+)?(?:e[-+]\d+)?"
    for name, muscle in (("CH1", "left quadriceps"), ("CH2", "right quadriceps")):
        row = re.compile(
            rf"^{name}\s+{muscle}\s+(?P<count>\d+)\s+(?P<good>\d+)\s+"
            rf"(?P<mvc>{number}) µV \((?P<method>\w+)\)\s+"
            rf"(?P<rms>{number})\s+(?P<mpf>{number})\s+(?P<mdf>{number})\s+(?P<fi>{number})$"
        )
        matches = [m for line in lines if (m := row.match(line))]
        assert len(matches) == 1, f"no single {name} row in:\n{result.stdout}"
        found = matches[0]
        assert int(found["count"]) == COUNTS_0409[name]
        assert int(found["good"]) == 0  # no contraction of 0409 lasts the 2000 ms target
        assert found["method"] == "estimated"
        assert float(found["rms"]) > 0 and float(found["mvc"]) > 0
        assert 20 < float(found["mdf"]) < float(found["mpf"]) < 450
    scores = [line for line in lines if line.startswith("scores:")]
    assert len(scores) == 1, result.stdout
    assert f"compliance {COMPLIANCE_0409:.2f}" in scores[0]
    assert f"symmetry {SYMMETRY_0409:.2f}" in scores[0]
    assert "effort —" in scores[0]  # no RPE given: no effort score, never a silent default
    assert "warning: no RPE given: no effort score" in lines


def test_analyze_table_agrees_with_json(emg: EmgRuns, default_report: dict[str, Any]) -> None:
    rows = {line.split()[0]: line for line in emg["table"].stdout.splitlines() if line.strip()}

    for name in ("CH1", "CH2"):
        ch = _channel(default_report, name)
        threshold = f"{ch['mvc']['threshold_v'] * 1e6:.2f} µV ({ch['mvc']['method']})"
        rms = f"{ch['amplitude']['rms_v'] * 1e6:.2f}"
        mpf = f"{ch['spectrum']['mpf_hz']:.1f}"
        mdf = f"{ch['spectrum']['mdf_hz']:.1f}"
        for text in (threshold, rms, mpf, mdf):
            assert text in rows[name], (text, rows[name])


def test_analyze_plot_writes_a_png(emg: EmgRuns, files: dict[str, Path]) -> None:
    result = emg["table"]  # `emg analyze SAMPLE --plot report.png`

    assert result.returncode == 0, result.stderr
    assert f"plot written to {files['plot']}" in result.stderr
    data = files["plot"].read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000  # a drawn figure, not an empty canvas


# --- the JSON report ---------------------------------------------------------------------------


def test_analyze_json_follows_the_report_contract(
    sample_0409: Path, default_report: dict[str, Any]
) -> None:
    report = default_report

    assert set(report) == {
        "schema_version",
        "source",
        "recording",
        "parameters",
        "channels",
        "scores",
        "warnings",
    }
    assert report["schema_version"] == "1.0"
    assert report["source"]["filename"] == sample_0409.name
    assert report["source"]["size_bytes"] == sample_0409.stat().st_size
    assert re.fullmatch(r"[0-9a-f]{64}", report["source"]["sha256"])
    recording = report["recording"]
    assert recording["duration_s"] == pytest.approx(DURATION_0409_S, abs=0.005)
    assert recording["n_samples"] == 74_280
    assert recording["sampling_rate_hz"] == 990.0
    assert recording["recorded_at"].startswith("2023-03-21T17:23:09")
    assert recording["game"] == {"name": "Ghostly", "level": 2, "score": 24.0}
    assert [c["name"] for c in report["channels"]] == ["CH1", "CH2"]
    for name, count in COUNTS_0409.items():
        ch = _channel(report, name)
        assert ch["contractions"]["count"] == count
        assert len(ch["contractions"]["items"]) == count
        assert ch["activation_label"] == f"{name} activated"
        assert set(ch["temporal"]) >= {"window_s", "n_windows", "rms", "mpf", "mdf", "fi_nsm5"}
        assert ch["mvc"]["method"] == "estimated" and ch["mvc"]["threshold_pct"] == 75.0
    scores = report["scores"]
    assert scores["compliance"] == pytest.approx(COMPLIANCE_0409, abs=0.005)
    assert scores["symmetry"] == pytest.approx(SYMMETRY_0409, abs=0.005)
    assert scores["effort"] is None
    assert set(scores["muscles"]) == {"CH1", "CH2"}
    assert report["parameters"]["mvc_pct"] == 75.0
    assert report["parameters"]["min_duration_ms"] == 2000.0
    assert "no RPE given: no effort score" in report["warnings"]


# --- parameters as options ---------------------------------------------------------------------


def _mvc_compliant(ch: dict[str, Any]) -> int:
    """The channel's mvc_compliant count, checked against its own items and threshold."""
    contractions, threshold = ch["contractions"], ch["mvc"]["threshold_v"]
    expected = sum(i["max_amplitude_v"] >= threshold for i in contractions["items"])
    assert contractions["mvc_compliant"] == expected, ch["name"]
    return expected


def test_analyze_channel_mvc_and_rpe_options_change_the_report(emg: EmgRuns) -> None:
    report = _json(emg["mvc_rpe"])  # --mvc CH1=0.00021 --rpe 5

    ch1, ch2 = _channel(report, "CH1"), _channel(report, "CH2")
    assert ch1["mvc"]["method"] == "channel"
    assert ch1["mvc"]["value_v"] == pytest.approx(0.00021)
    assert ch1["mvc"]["threshold_v"] == pytest.approx(0.00021 * 0.75, rel=1e-12)
    assert ch2["mvc"]["method"] == "estimated"  # the override applies to CH1 only
    assert report["scores"]["effort"] == 100  # Borg CR-10: 5 -> 100
    assert report["parameters"]["rpe"] == 5
    assert report["parameters"]["channels"]["CH1"]["mvc_value_v"] == pytest.approx(0.00021)
    # One CH1 contraction of 0409 peaks near 124 µV, below 157.5 µV.
    assert _mvc_compliant(ch1) == COUNTS_0409["CH1"] - 1


def test_analyze_mvc_pct_option_changes_mvc_compliant_counts(
    emg: EmgRuns, default_report: dict[str, Any]
) -> None:
    at_75 = _json(emg["mvc_rpe"])  # --mvc CH1=0.00021
    at_50 = _json(emg["mvc_pct_50"])  # --mvc CH1=0.00021 --mvc-pct 50

    assert at_50["parameters"]["mvc_pct"] == 50.0
    ch1 = _channel(at_50, "CH1")
    assert ch1["mvc"]["threshold_pct"] == 50.0
    assert ch1["mvc"]["threshold_v"] == pytest.approx(0.00021 * 0.50, rel=1e-12)
    assert _mvc_compliant(_channel(at_75, "CH1")) < _mvc_compliant(ch1) == COUNTS_0409["CH1"]
    ch2, ch2_default = _channel(at_50, "CH2"), _channel(default_report, "CH2")
    assert ch2["mvc"]["threshold_v"] == pytest.approx(
        ch2_default["mvc"]["threshold_v"] * 50 / 75, rel=1e-9
    )
    muscles_75, muscles_50 = at_75["scores"]["muscles"], at_50["scores"]["muscles"]
    assert muscles_50["CH1"]["intensity_rate"] > muscles_75["CH1"]["intensity_rate"]
    assert at_50["scores"]["compliance"] > at_75["scores"]["compliance"]


def test_analyze_min_duration_option_changes_duration_compliant_counts(
    emg: EmgRuns, default_report: dict[str, Any]
) -> None:
    report = _json(emg["min_duration_500"])  # --min-duration-ms 500

    assert report["parameters"]["min_duration_ms"] == 500.0
    for name in ("CH1", "CH2"):
        before = _channel(default_report, name)["contractions"]
        after = _channel(report, name)["contractions"]
        assert before["duration_compliant"] == 0  # none of 0409's contractions lasts 2 s
        expected = sum(i["duration_ms"] >= 500 for i in after["items"])
        assert after["duration_compliant"] == expected > 0
        assert after["good"] == sum(i["good"] for i in after["items"]) > 0
    assert report["scores"]["compliance"] > default_report["scores"]["compliance"]


def test_analyze_set_channels_applies_a_channel_override(emg: EmgRuns) -> None:
    ch1 = _channel(_json(emg["set_channels"]), "CH1")
    assert ch1["mvc"]["method"] == "channel"
    assert ch1["mvc"]["value_v"] == pytest.approx(0.0002)


# --- refusals: exit 2, one line, no traceback ---------------------------------------------------


def test_analyze_refuses_missing_file(emg: EmgRuns, files: dict[str, Path]) -> None:
    assert_refused(emg["missing"], str(files["missing"]), "No such file or directory")


def test_analyze_refuses_empty_file(emg: EmgRuns) -> None:
    assert_refused(emg["empty"], "empty.c3d", "file is empty")


def test_analyze_refuses_text_file(emg: EmgRuns) -> None:
    assert_refused(emg["text"], "notes.c3d", "not a C3D file")


def test_analyze_refuses_truncated_sample(emg: EmgRuns, sample_0409: Path) -> None:
    half = sample_0409.stat().st_size // 2
    line = assert_refused(emg["truncated"], "cut_0409.c3d", "file is truncated")
    assert f"the file has {half} bytes" in line


@pytest.mark.parametrize(
    "malformed",
    sorted(MALFORMED.glob("*.c3d")) or [None],
    ids=lambda p: p.name if p else "none",
)
def test_analyze_refuses_malformed_file(emg: EmgRuns, malformed: Path | None) -> None:
    if malformed is None:
        shared_files(MALFORMED, "*.c3d")  # skips, or fails under CI, naming the folder
        return
    result = emg[f"malformed:{malformed.name}"]

    line = assert_refused(result, str(malformed))
    if malformed.name in MALFORMED_REASONS:
        assert MALFORMED_REASONS[malformed.name] in line
    assert result.stdout == ""


def test_analyze_refuses_file_that_crashes_the_parser(emg: EmgRuns, files: dict[str, Path]) -> None:
    if "parser_crash" not in files:
        shared_files(MALFORMED, "segv_header_a.c3d")
    assert_refused(emg["parser_crash"], "parser_crash.c3d", "the C3D parser crashed on this file")


def test_analyze_refuses_file_that_hangs_the_parser_after_the_timeout(
    emg: EmgRuns, files: dict[str, Path]
) -> None:
    if "parser_hang" not in files:
        shared_files(MALFORMED, "hang_params.c3d")
    assert_refused(emg["parser_hang"], "parser_hang.c3d", "did not finish within 2 s")


@pytest.mark.parametrize("name", BAD_OPTIONS)
def test_analyze_refuses_bad_option_value(emg: EmgRuns, name: str) -> None:
    result = emg[f"option:{name}"]

    assert_refused(result, *BAD_OPTIONS[name][1])
    assert result.stdout == ""


def test_analyze_reports_good_files_and_exits_2_when_one_is_bad(
    emg: EmgRuns, sample_0409: Path, files: dict[str, Path]
) -> None:
    result = emg["several"]  # 0409, a truncated copy, 0160

    assert_refused(result, f"{files['truncated']}:", "file is truncated")
    assert "Traceback" not in result.stdout
    assert result.stdout.count("scores: compliance") == 2, result.stdout
    assert f"{sample_0409.name}: 75.03 s" in result.stdout
    assert f"{sample('0160').name}: 68.48 s" in result.stdout
    assert "scores: compliance 65.21  symmetry 97.87" in result.stdout
    assert "scores: compliance 58.28  symmetry 85.71" in result.stdout
    assert "cut_0409.c3d" not in result.stdout


def test_analyze_json_lists_only_the_good_reports(emg: EmgRuns, sample_0409: Path) -> None:
    result = emg["several_json"]  # empty.c3d, 0409 --json

    assert_refused(result, "empty.c3d", "file is empty")
    documents = json.loads(result.stdout)
    assert [d["source"]["filename"] for d in documents] == [sample_0409.name]


# --- options refused with a clear message ------------------------------------------------------


def test_analyze_refuses_non_positive_timeout(emg: EmgRuns) -> None:
    assert_refused(emg["timeout_0"], "timeout")


def test_analyze_refuses_plot_path_in_missing_directory(
    emg: EmgRuns, files: dict[str, Path]
) -> None:
    assert_refused(emg["plot_in_missing_dir"], str(files["plot_in_missing_dir"].parent))


def test_analyze_refuses_envelope_cutoff_above_nyquist(emg: EmgRuns) -> None:
    assert_refused(emg["cutoff_above_nyquist"], "envelope", "1000")


def test_analyze_reports_an_unwritable_plot_target_without_traceback(tmp_path: Path) -> None:
    emg = str(Path(sys.executable).with_name("emg"))
    target = tmp_path / "a_folder.png"
    target.mkdir()
    result = subprocess.run(
        [emg, "analyze", str(sample("0409")), "--plot", str(target)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert f"emg analyze: error: --plot {target}" in result.stderr
    assert "Traceback" not in result.stderr


def test_analyze_json_into_a_closed_pipe_exits_quietly() -> None:
    emg = str(Path(sys.executable).with_name("emg"))
    files = [str(sample(k)) for k in ("0409", "0160", "0881", "0578")]
    producer = subprocess.Popen(
        [emg, "analyze", "--json", *files], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert producer.stdout is not None
    producer.stdout.read(10)
    producer.stdout.close()  # like `| head -c 10`
    _, stderr = producer.communicate(timeout=120)
    assert b"Traceback" not in stderr
    assert producer.returncode == 0
