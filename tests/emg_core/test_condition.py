"""Signal conditioning (EMG_SPEC.md, "Signal conditioning"): band-pass edges, what the band-pass
keeps and removes, the moving average and the linear envelope.

Zero-phase filtering (sosfiltfilt) leaves edge transients of about 1/low-cut seconds; amplitude
checks therefore look at the interior of the signal, 0.5 s away from either end.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from scipy import signal

from emg_core.analysis import analyze
from emg_core.condition import bandpass, bandpass_edges, envelope, moving_average
from tests.utils.synthetic import make_recording

FS = 1000.0
BAD_FS = [0, -1.0, math.nan, math.inf, "1000"]


def _sine(freq_hz: float, fs: float, n: int, amplitude: float = 1.0) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * freq_hz * np.arange(n) / fs)


def _interior(x: np.ndarray, fs: float, margin_s: float = 0.5) -> np.ndarray:
    m = int(margin_s * fs)
    return x[..., m:-m]


# --- band-pass edges --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fs", "expected_high"),
    [(2000.0, 450.0), (1000.0, 450.0), (990.0, 445.5), (500.0, 225.0), (100.0, 45.0)],
)
def test_bandpass_edges_caps_upper_edge_at_45_percent_of_fs(fs, expected_high):
    low, high = bandpass_edges(fs, 20.0, 450.0)
    assert low == 20.0
    assert high == pytest.approx(expected_high, abs=1e-9)


def test_bandpass_edges_rejects_low_edge_above_capped_upper_edge():
    with pytest.raises(ValueError) as exc:
        bandpass_edges(40.0, 20.0, 450.0)
    assert str(exc.value) == "band-pass low_hz=20.0 must be in (0, 18) Hz at fs=40.0"


def test_bandpass_uses_capped_edge_when_upper_edge_exceeds_45_percent_of_fs():
    x = np.random.default_rng(1).normal(size=5000)
    np.testing.assert_array_equal(bandpass(x, 500.0, 20.0, 450.0), bandpass(x, 500.0, 20.0, 225.0))


@pytest.mark.parametrize(("fs", "expected"), [(500.0, [20.0, 225.0]), (990.0, [20.0, 445.5])])
def test_analyze_records_capped_bandpass_edges_in_parameters(fs, expected):
    raw = np.random.default_rng(2).normal(0.0, 1e-4, int(12 * fs))
    report = analyze(make_recording({"CH1": (raw, None)}, fs))
    assert report.parameters["derived"]["bandpass_used_hz"] == pytest.approx(expected, abs=1e-9)
    assert report.parameters["bandpass_high_hz"] == 450.0  # the requested value stays visible


def test_analyze_below_44hz_reports_channel_not_analysed_instead_of_raising():
    fs = 40.0
    raw = np.random.default_rng(3).normal(0.0, 1e-4, int(20 * fs))
    report = analyze(make_recording({"CH1": (raw, None)}, fs))
    assert report.channels[0].warnings == [
        "not analysed: sampling rate 40 Hz is below 100 Hz",
    ]


def test_analyze_between_44_and_100hz_reports_channel_not_analysed():
    fs = 90.0
    raw = np.random.default_rng(3).normal(0.0, 1e-4, int(20 * fs))
    report = analyze(make_recording({"CH1": (raw, None)}, fs))
    assert report.channels[0].warnings == ["not analysed: sampling rate 90 Hz is below 100 Hz"]
    assert report.channels[0].amplitude is None


# --- band-pass response -----------------------------------------------------------------------


@pytest.mark.parametrize("freq_hz", [50.0, 100.0, 300.0])
def test_bandpass_passes_in_band_sine_with_unchanged_amplitude(freq_hz):
    x = _sine(freq_hz, FS, 4000, amplitude=2e-4)
    y = bandpass(x, FS, 20.0, 450.0)
    rms_in = np.sqrt(np.mean(_interior(x, FS) ** 2))
    rms_out = np.sqrt(np.mean(_interior(y, FS) ** 2))
    assert rms_out == pytest.approx(rms_in, rel=0.01)
    np.testing.assert_allclose(_interior(y, FS), _interior(x, FS), atol=0.01 * 2e-4)


def test_bandpass_removes_5hz_sine():
    x = _sine(5.0, FS, 4000)
    y = bandpass(x, FS, 20.0, 450.0)
    # 4th-order high-pass applied twice: |H(5 Hz)|² ≈ (5/20)^8 ≈ 1.5e-5
    assert np.max(np.abs(_interior(y, FS))) < 1e-4


def test_bandpass_removes_dc_offset_and_keeps_sine():
    sine = _sine(100.0, FS, 4000)
    y = bandpass(sine + 1.0, FS, 20.0, 450.0)
    assert abs(np.mean(_interior(y, FS))) < 1e-6
    np.testing.assert_allclose(_interior(y, FS), _interior(sine, FS), atol=0.01)


def test_bandpass_filters_each_row_of_2d_input_independently():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 2000))
    y = bandpass(x, FS, 20.0, 450.0)
    for row_in, row_out in zip(x, y, strict=True):
        np.testing.assert_allclose(row_out, bandpass(row_in, FS, 20.0, 450.0), atol=1e-12)


@pytest.mark.parametrize("fs", BAD_FS)
def test_bandpass_rejects_bad_fs_naming_the_value(fs):
    with pytest.raises(ValueError, match=re.escape(f"fs={fs!r} must be")):
        bandpass(np.ones(1000), fs, 20.0, 450.0)


@pytest.mark.parametrize("fs", BAD_FS)
def test_envelope_rejects_bad_fs_naming_the_value(fs):
    with pytest.raises(ValueError, match=re.escape(f"fs={fs!r} must be")):
        envelope(np.ones(1000), fs, 20.0, 10.0, 0.05)


@pytest.mark.parametrize("fs", BAD_FS)
def test_bandpass_edges_rejects_bad_fs_naming_the_value(fs):
    with pytest.raises(ValueError, match=re.escape(f"fs={fs!r} must be")):
        bandpass_edges(fs, 20.0, 450.0)


# --- moving average ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 10, 49, 50, 99, 100])
@pytest.mark.parametrize("length", [100, 257])
def test_moving_average_equals_convolution_same_for_odd_and_even_n(n, length):
    x = np.random.default_rng(n * 1000 + length).normal(size=length)
    expected = np.convolve(x, np.ones(n) / n, mode="same")
    np.testing.assert_allclose(moving_average(x, n), expected, rtol=0, atol=1e-12)


def test_moving_average_averages_each_row_of_2d_input():
    x = np.random.default_rng(5).normal(size=(2, 300))
    out = moving_average(x, 10)
    for row_in, row_out in zip(x, out, strict=True):
        np.testing.assert_allclose(
            row_out, np.convolve(row_in, np.ones(10) / 10, mode="same"), atol=1e-12
        )


def test_moving_average_of_constant_tapers_only_within_half_window_of_the_edges():
    out = moving_average(np.ones(50), 10)
    np.testing.assert_allclose(out[5:-5], 1.0, atol=1e-12)
    # even n: the window of sample i is [i - n/2, i + n/2 - 1], as np.convolve(mode="same")
    assert out[0] == pytest.approx(0.5, abs=1e-12)  # window [-5, 4]: 5 of 10 samples inside
    assert out[-1] == pytest.approx(0.6, abs=1e-12)  # window [44, 53]: 6 of 10 samples inside


def test_moving_average_rejects_window_below_one_sample():
    with pytest.raises(ValueError, match=re.escape("n=0 must be >= 1")):
        moving_average(np.ones(10), 0)


# --- envelope ---------------------------------------------------------------------------------


def _zero_phase_noise_gain(sos: np.ndarray, fs: float) -> float:
    """Power gain of white noise through a filter applied forward and backward: mean |H|⁴."""
    _, h = signal.sosfreqz(sos, worN=8192, fs=fs)
    return float(np.mean(np.abs(h) ** 4))


def test_envelope_tracks_amplitude_of_constant_noise_burst():
    fs, sigma = 2000.0, 1e-4
    n = int(10 * fs)
    x = np.zeros(n)
    x[int(2 * fs) : int(8 * fs)] = np.random.default_rng(6).normal(0.0, sigma, int(6 * fs))
    env = envelope(x, fs, 20.0, 10.0, 0.050)
    # mean |N(0, s²)| = s·√(2/π); s is sigma after the 20 Hz high-pass (≈1 % power lost at 2 kHz)
    hp = signal.butter(4, 20.0, btype="highpass", fs=fs, output="sos")
    expected = sigma * math.sqrt(_zero_phase_noise_gain(hp, fs)) * math.sqrt(2 / math.pi)
    burst = env[int(3 * fs) : int(7 * fs)]  # 1 s away from the burst edges
    assert env.shape == x.shape
    assert np.mean(burst) == pytest.approx(expected, rel=0.03)
    # a 10 Hz envelope of noise fluctuates: every sample within ±30 % of the level
    assert np.all(np.abs(burst / expected - 1) < 0.30)
    # silence stays silent: below 1 % of the burst level 1 s away from the burst
    assert np.max(env[int(0.5 * fs) : int(1.0 * fs)]) < 0.01 * expected


def test_envelope_scales_linearly_with_signal():
    x = np.random.default_rng(7).normal(0.0, 1e-4, 5000)
    np.testing.assert_allclose(
        envelope(3.5 * x, FS, 20.0, 10.0, 0.05),
        3.5 * envelope(x, FS, 20.0, 10.0, 0.05),
        rtol=1e-9,
        atol=1e-18,
    )


def test_envelope_rejects_lowpass_at_or_above_nyquist():
    with pytest.raises(ValueError) as exc:
        envelope(np.ones(1000), FS, 20.0, 500.0, 0.05)
    assert str(exc.value) == (
        "envelope cut-offs highpass_hz=20.0, lowpass_hz=500.0 must be below 500 Hz"
    )
