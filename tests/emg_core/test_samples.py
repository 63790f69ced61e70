"""The real GHOSTLY recordings: figures the reference implementation gives (EMG_SPEC.md)."""

from __future__ import annotations

import json
import math
from datetime import datetime

import pytest

from emg_core.analysis import analyze
from emg_core.parameters import AnalysisParameters
from emg_core.parser_pool import ParserPool
from emg_core.read import read_c3d
from emg_core.report import SessionReport
from tests.conftest import sample

ANCHORS = {
    # CH1, CH2 contractions, compliance, symmetry, samples, duration_s, recorded_at, level, score
    "0409": (15, 11, 65.21, 97.87, 74_280, 75.03, "2023-03-21 17:23:09.040900", 2, 24),
    "0160": (17, 6, 58.28, 85.71, 67_800, 68.48, "2023-03-21 17:28:14.016000", 31, 2),
    "0881": (18, 8, 61.05, 90.91, 173_370, 175.12, "2023-03-21 17:50:17.088100", 1, 12),
    "0578": (38, 11, 65.21, 97.87, 66_630, 67.30, "2025-03-10 11:50:16.057800", 61, 15),
}


@pytest.fixture(scope="module")
def reports(parser_pool: ParserPool) -> dict[str, SessionReport]:
    return {key: analyze(read_c3d(sample(key), parser_pool)) for key in ANCHORS}


@pytest.mark.parametrize("key", ANCHORS)
def test_sample_matches_reference_counts_and_scores(reports, key: str) -> None:
    ch1, ch2, compliance, symmetry, *_ = ANCHORS[key]
    report = reports[key]
    counts = [c.contractions.count for c in report.channels]
    assert counts == [ch1, ch2]
    assert report.scores.compliance == pytest.approx(compliance, abs=0.005)
    assert report.scores.symmetry == pytest.approx(symmetry, abs=0.005)


@pytest.mark.parametrize("key", ANCHORS)
def test_sample_metadata(reports, key: str) -> None:
    *_, n_samples, duration, recorded, level, score = ANCHORS[key]
    rec = reports[key].recording
    assert rec.n_samples == n_samples
    assert rec.sampling_rate_hz == 990.0
    assert round(rec.duration_s, 2) == duration
    assert rec.recorded_at == datetime.fromisoformat(recorded)
    assert (rec.game.name, rec.game.level, rec.game.score) == ("Ghostly", level, score)
    assert rec.player_name == "Default"
    assert rec.system == "OpenFeasyo"


def test_sample_channels_are_paired_with_activation(reports) -> None:
    channels = reports["0409"].channels
    assert [(c.name, c.raw_label, c.activation_label, c.muscle) for c in channels] == [
        ("CH1", "CH1 Raw", "CH1 activated", "left quadriceps"),
        ("CH2", "CH2 Raw", "CH2 activated", "right quadriceps"),
    ]


def test_sample_report_is_complete_finite_json(reports) -> None:
    report = reports["0881"]
    document = json.loads(report.model_dump_json(), parse_constant=pytest.fail)
    for ch in document["channels"]:
        assert ch["warnings"] == []
        assert 20 < ch["spectrum"]["mdf_hz"] < ch["spectrum"]["mpf_hz"] < 445.5
        assert ch["temporal"]["n_windows"] == 349  # (175.12 s - 1 s) / 0.5 s + 1, full windows only
        assert ch["mvc"]["method"] == "estimated"
        assert ch["mvc"]["threshold_v"] == pytest.approx(0.75 * ch["mvc"]["value_v"])
        items = ch["contractions"]["items"]
        assert all(0 <= i["start_ms"] < i["end_ms"] <= 175_121.3 for i in items)
    assert document["parameters"]["derived"]["bandpass_used_hz"] == [20.0, 445.5]
    assert len(report.model_dump_json()) < 100_000


def test_sample_parameters_change_scores(parser_pool: ParserPool) -> None:
    recording = read_c3d(sample("0409"), parser_pool)
    params = AnalysisParameters(rpe=5, min_duration_ms=200, game_score_max=48)
    report = analyze(recording, params)
    assert report.scores.effort == 100
    assert report.scores.game == pytest.approx(50.0)
    assert sum(c.contractions.duration_compliant for c in report.channels) > 0
    s = report.scores
    expected = 0.5 * s.compliance + 0.25 * s.symmetry + 0.25 * s.effort
    assert s.overall == pytest.approx(expected)
    assert math.isclose(sum(s.weights_used.values()), 1.0)
