"""Invariants of the analysis over seeded synthetic recordings (hypothesis).

Recordings are built directly from arrays: CH1 has no activation signal (timing from the
envelope), CH2 has GHOSTLY's activation signal (timing from it).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emg_core import scores
from emg_core.analysis import analyze
from emg_core.parameters import AnalysisParameters
from emg_core.recording import Recording
from tests.utils.synthetic import make_recording, noise_bursts

SETTINGS = settings(max_examples=25, deadline=None, database=None, derandomize=True)
DURATION_S = 12.0
SIGNALS = AnalysisParameters(include_signals=True, signal_max_points=200_000)  # full envelope

# bursts as (onset, length) in seconds: short ones get dropped, close ones merged, long ones
# (> 10 s) split, and some touch the start or the end of the recording
burst = st.tuples(
    st.floats(0.0, DURATION_S - 0.05, allow_nan=False),
    st.floats(0.02, 11.0, allow_nan=False),
)


@st.composite
def recordings(draw: st.DrawFn) -> Recording:
    fs = draw(st.sampled_from([990.0, 1000.0, 2000.0]))
    n = int(DURATION_S * fs)
    channels = {}
    for name, with_activation in (("CH1", False), ("CH2", True)):
        spans = [
            (round(onset * fs), round((onset + length) * fs))
            for onset, length in draw(st.lists(burst, min_size=0, max_size=5))
        ]
        seed = draw(st.integers(0, 2**32 - 1))
        raw, activation = noise_bursts(fs, n, spans, seed=seed)
        channels[name] = (raw, activation if with_activation else None)
    return make_recording(channels, fs)


def _scaled(recording: Recording, k: float) -> Recording:
    fs = recording.info.sampling_rate_hz
    return make_recording({ch.name: (k * ch.raw_v, ch.activation) for ch in recording.channels}, fs)


@SETTINGS
@given(recording=recordings(), k=st.floats(0.01, 100.0, allow_nan=False))
def test_scaling_raw_signal_scales_amplitudes_and_keeps_timing_and_spectrum(recording, k):
    base = analyze(recording, SIGNALS)
    scaled = analyze(_scaled(recording, k), SIGNALS)
    bin_hz = recording.info.sampling_rate_hz / 256
    for b, s in zip(base.channels, scaled.channels, strict=True):
        assert s.amplitude.rms_v == pytest.approx(k * b.amplitude.rms_v, rel=1e-9), b.name
        assert s.amplitude.mav_v == pytest.approx(k * b.amplitude.mav_v, rel=1e-9), b.name
        env_b = np.array(base.signals[b.name].envelope_v)
        env_s = np.array(scaled.signals[b.name].envelope_v)
        np.testing.assert_allclose(env_s, k * env_b, rtol=1e-9, atol=1e-9 * np.max(np.abs(env_s)))
        assert s.mvc.value_v == pytest.approx(k * b.mvc.value_v, rel=1e-9), b.name
        # relative quantities do not move
        assert s.spectrum.mpf_hz == pytest.approx(b.spectrum.mpf_hz, rel=1e-9), b.name
        # MDF is a bin frequency: unchanged, to within one bin should rounding tip a tie
        assert abs(s.spectrum.mdf_hz - b.spectrum.mdf_hz) <= bin_hz, b.name
        assert s.contractions.count == b.contractions.count, b.name
        assert s.contractions.good == b.contractions.good, b.name
        for ib, is_ in zip(b.contractions.items, s.contractions.items, strict=True):
            assert is_.max_amplitude_v == pytest.approx(k * ib.max_amplitude_v, rel=1e-9)
            assert is_.mean_amplitude_v == pytest.approx(k * ib.mean_amplitude_v, rel=1e-9)
    assert scaled.scores.compliance == pytest.approx(base.scores.compliance, abs=1e-9)


@SETTINGS
@given(recording=recordings())
def test_contractions_start_before_end_never_overlap_and_lie_inside_signal(recording):
    report = analyze(recording)
    fs = recording.info.sampling_rate_hz
    last_ms = (recording.info.n_samples - 1) / fs * 1000
    for ch in report.channels:
        items = ch.contractions.items
        for c in items:
            assert 0.0 <= c.start_ms < c.end_ms <= last_ms, (ch.name, c)
            assert c.duration_ms == pytest.approx(c.end_ms - c.start_ms, abs=1e-9)
            assert c.duration_ms <= 10_000 + 1e-9  # split at 10 s
            assert 0.0 <= c.mean_amplitude_v <= c.max_amplitude_v
        for previous, current in itertools.pairwise(items):
            assert current.start_ms >= previous.end_ms, (ch.name, previous, current)


@SETTINGS
@given(
    recording=recordings(),
    rpe=st.none() | st.integers(0, 10),
    bfr=st.none() | st.floats(0.0, 200.0, allow_nan=False),
)
def test_session_scores_stay_within_0_and_100(recording, rpe, bfr):
    report = analyze(recording, AnalysisParameters(rpe=rpe, bfr_pressure_pct_aop=bfr))
    s = report.scores
    for name, muscle in s.muscles.items():
        assert 0.0 <= muscle.compliance <= 100.0, name
        for rate in (muscle.completion_rate, muscle.intensity_rate, muscle.duration_rate):
            assert 0.0 <= rate <= 1.0, name
    for value in (s.compliance, s.symmetry, s.effort, s.overall):
        assert value is None or 0.0 <= value <= 100.0, s
    assert sum(s.weights_used.values()) == pytest.approx(1.0, abs=1e-9)


@SETTINGS
@given(
    n=st.integers(0, 200),
    expected=st.integers(1, 1000),
    data=st.data(),
)
def test_muscle_compliance_stays_within_0_and_100(n, expected, data):
    mvc_ok = data.draw(st.integers(0, n))
    duration_ok = data.draw(st.integers(0, n))
    s = scores.muscle_compliance(n, mvc_ok, duration_ok, expected)
    assert 0.0 <= s.compliance <= 100.0
    assert 0.0 <= s.completion_rate <= 1.0
