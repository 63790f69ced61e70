"""Reading synthetic recordings end to end: ezc3d writes them, the answer is known by design."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pytest

from emg_core.analysis import analyze
from emg_core.errors import C3DFormatError, InputError
from emg_core.parameters import AnalysisParameters
from emg_core.parser_pool import ParserPool
from emg_core.read import read_c3d
from tests.utils.c3d_factory import bursts, write_c3d

FS = 990.0
LABELS = ["CH1 Raw", "CH2 Raw", "CH1 activated", "CH2 activated"]
SMOOTH_LEAD, SMOOTH_LAG = 44, 45  # where a 100-sample moving average crosses 5 % of a step


def _ghostly(
    tmp_path, onsets, lengths, amplitude=1e-4, name="Ghostly_Emg_20240102_03-04-05-1234.c3d"
):
    raw, act = bursts(FS, 40.0, onsets, lengths, amplitude)
    return write_c3d(tmp_path / name, [raw, raw * 0.5, act, act * 0.5], LABELS, FS)


def test_read_from_path_and_bytes_agree(tmp_path, parser_pool: ParserPool) -> None:
    path = _ghostly(tmp_path, [5.0], [3.0])
    from_path = read_c3d(path, parser_pool)
    from_bytes = read_c3d(path.read_bytes(), parser_pool, filename=path.name)
    assert from_path.sha256 == from_bytes.sha256
    assert from_path.info == from_bytes.info
    assert from_path.info.recorded_at == datetime(2024, 1, 2, 3, 4, 5, 123400)
    assert np.array_equal(from_path.channels[0].raw_v, from_bytes.channels[0].raw_v)


def test_contractions_of_known_bursts_are_exact(tmp_path, parser_pool: ParserPool) -> None:
    onsets, lengths = [2.0, 9.0, 16.0, 25.0], [3.0, 1.0, 2.5, 0.5]
    report = analyze(read_c3d(_ghostly(tmp_path, onsets, lengths), parser_pool))
    for ch in report.channels:
        items = ch.contractions.items
        assert len(items) == 4
        for item, onset, length in zip(items, onsets, lengths, strict=True):
            start, end = round(onset * FS) - SMOOTH_LEAD, round((onset + length) * FS) + SMOOTH_LAG
            assert item.start_ms == pytest.approx(start / FS * 1000)
            assert item.end_ms == pytest.approx(end / FS * 1000)
            assert item.duration_ms == pytest.approx((end - start) / FS * 1000)
        assert [i.meets_duration for i in items] == [True, False, True, False]
        assert ch.contractions.duration_compliant == 2


def test_amplitude_of_known_burst_is_measured(tmp_path, parser_pool: ParserPool) -> None:
    report = analyze(read_c3d(_ghostly(tmp_path, [5.0], [20.0], amplitude=2e-4), parser_pool))
    ch1, ch2 = report.channels
    # Gaussian burst: mean |x| = sigma * sqrt(2/pi) inside; the envelope's mean over the burst
    # sits within 15 % of it (edges and the filters' band limits take the rest).
    expected_mav = 2e-4 * np.sqrt(2 / np.pi)
    first = ch1.contractions.items[0]
    assert first.mean_amplitude_v == pytest.approx(expected_mav, rel=0.15)
    assert ch2.contractions.items[0].mean_amplitude_v == pytest.approx(
        first.mean_amplitude_v / 2, rel=1e-6
    )
    assert ch1.amplitude.rms_v == pytest.approx(2 * ch2.amplitude.rms_v, rel=1e-9)


def test_raw_only_file_times_contractions_from_envelope(tmp_path, parser_pool: ParserPool) -> None:
    raw, _ = bursts(FS, 30.0, [5.0, 15.0], [3.0, 3.0], 1e-4)
    path = write_c3d(
        tmp_path / "raw_only.c3d", [raw], ["EMG left"], FS, info_time=["2024", "5", "6", "7", "8"]
    )
    report = analyze(read_c3d(path, parser_pool))
    (ch,) = report.channels
    assert (ch.name, ch.activation_label) == ("EMG left", None)
    assert ch.contractions.count == 2
    assert report.recording.recorded_at == datetime(2024, 5, 6, 7, 8)
    assert report.scores.symmetry is None
    assert any("symmetry needs exactly two analysed muscles" in w for w in report.warnings)


def test_short_recording_is_reported_not_analysed(tmp_path, parser_pool: ParserPool) -> None:
    raw, act = bursts(FS, 5.0, [1.0], [1.0])
    path = write_c3d(tmp_path / "short.c3d", [raw, act], ["CH1 Raw", "CH1 activated"], FS)
    report = analyze(read_c3d(path, parser_pool))
    (ch,) = report.channels
    assert ch.contractions is None and ch.amplitude is None
    assert ch.warnings == ["not analysed: recording is 5.00 s long, shorter than 10 s"]
    assert report.scores.compliance is None and report.scores.overall is None


def test_nan_and_flat_channels_are_reported_not_analysed(tmp_path, parser_pool: ParserPool) -> None:
    raw, _act = bursts(FS, 20.0, [5.0], [3.0])
    with_nan = raw.copy()
    with_nan[100:200] = np.nan
    path = write_c3d(
        tmp_path / "nan.c3d", [with_nan, np.zeros_like(raw)], ["CH1 Raw", "CH2 Raw"], FS
    )
    report = analyze(read_c3d(path, parser_pool))
    assert [c.warnings for c in report.channels] == [
        ["not analysed: signal holds NaN or infinite samples"],
        ["not analysed: signal is flat (no muscle activity recorded)"],
    ]
    json.loads(report.model_dump_json(), parse_constant=pytest.fail)  # no NaN/Infinity values


def test_per_channel_mvc_decides_good_contractions(tmp_path, parser_pool: ParserPool) -> None:
    path = _ghostly(tmp_path, [2.0, 9.0], [3.0, 3.0], amplitude=1e-4)
    recording = read_c3d(path, parser_pool)
    envelope_max = max(i.max_amplitude_v for i in analyze(recording).channels[0].contractions.items)
    params = AnalysisParameters(
        mvc_value_v=1.0e-9,
        channels={"ch1": {"mvc_value_v": envelope_max * 10, "mvc_pct": 50}},
    )
    ch1, ch2 = analyze(recording, params).channels
    assert (ch1.mvc.method, ch1.mvc.threshold_v) == ("channel", pytest.approx(envelope_max * 5))
    assert ch1.contractions.mvc_compliant == 0
    assert (ch2.mvc.method, ch2.contractions.mvc_compliant) == ("session", 2)
    assert ch2.contractions.good == 2


def test_truncated_data_section_is_refused(tmp_path, parser_pool: ParserPool) -> None:
    data = _ghostly(tmp_path, [5.0], [3.0]).read_bytes()
    with pytest.raises(C3DFormatError, match="file is truncated"):
        read_c3d(data[:-4096], parser_pool, filename="cut.c3d")


def test_missing_file_is_an_input_error(tmp_path, parser_pool: ParserPool) -> None:
    with pytest.raises(InputError, match=r"cannot read .*nope\.c3d"):
        read_c3d(tmp_path / "nope.c3d", parser_pool)
