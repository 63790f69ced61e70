"""Spectrum (EMG_SPEC.md, "Amplitude and spectrum"): Welch PSD, MPF/MDF/FInsm5 and their course
over 1 s windows."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
from scipy import signal

from emg_core.spectrum import power_spectrum, spectral_features, temporal_stats

FS = 1000.0
BIN_HZ = FS / 256


def _welch(x: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "nperseg=256 is greater than ..." on short x
        return signal.welch(x, fs, window="hann", nperseg=256, noverlap=128, axis=-1)


# --- power spectrum ---------------------------------------------------------------------------


@pytest.mark.parametrize("length", [256, 257, 300, 384, 1000, 1001, 5000])
def test_power_spectrum_equals_scipy_welch_for_1d_input(length):
    x = np.random.default_rng(length).normal(0.0, 1e-4, length)
    f, p = power_spectrum(x, FS)
    f_ref, p_ref = _welch(x, FS)
    np.testing.assert_allclose(f, f_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(p, p_ref, rtol=1e-9, atol=0)


def test_power_spectrum_equals_scipy_welch_for_2d_input_along_last_axis():
    x = np.random.default_rng(11).normal(0.0, 1e-4, (3, 2500))
    f, p = power_spectrum(x, 990.0)
    f_ref, p_ref = _welch(x, 990.0)
    assert p.shape == (3, 129)
    np.testing.assert_allclose(f, f_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(p, p_ref, rtol=1e-9, atol=0)


@pytest.mark.parametrize("length", [129, 200, 201, 255])
def test_power_spectrum_equals_scipy_welch_for_signals_shorter_than_nperseg(length):
    x = np.random.default_rng(length).normal(size=length)
    f, p = power_spectrum(x, FS)
    f_ref, p_ref = _welch(x, FS)
    assert f.shape == (length // 2 + 1,)
    np.testing.assert_allclose(f, f_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(p, p_ref, rtol=1e-9, atol=0)


def test_power_spectrum_integrates_to_signal_variance():
    # density scaling: Σ P·Δf ≈ variance (white noise, Hann window)
    x = np.random.default_rng(12).normal(0.0, 2.0, 100_000)
    f, p = power_spectrum(x, FS)
    assert np.sum(p) * (f[1] - f[0]) == pytest.approx(4.0, rel=0.02)


@pytest.mark.parametrize("fs", [0, -990.0, math.nan, math.inf])
def test_power_spectrum_rejects_bad_fs_naming_the_value(fs):
    with pytest.raises(ValueError, match=re.escape(f"fs={fs!r} must be")):
        power_spectrum(np.ones(512), fs)


# --- spectral features ------------------------------------------------------------------------


@pytest.mark.parametrize("freq_hz", [60.0, 100.0, 250.0])
def test_mpf_and_mdf_of_pure_sine_lie_within_one_bin_of_its_frequency(freq_hz):
    x = np.sin(2 * np.pi * freq_hz * np.arange(4000) / FS)
    feats = spectral_features(*power_spectrum(x, FS))
    assert abs(float(feats.mpf_hz) - freq_hz) <= BIN_HZ
    assert abs(float(feats.mdf_hz) - freq_hz) <= BIN_HZ


@pytest.mark.parametrize(
    ("psd", "mpf", "mdf"),
    [
        # total 4; MPF = (0 + 10 + 40 + 0)/4; cumulative 1, 2, 4, 4 reaches 2 at 10 Hz
        ([1.0, 1.0, 2.0, 0.0], 12.5, 10.0),
        # MPF = (10 + 20 + 60)/4; cumulative 0, 1, 2, 4: exactly half at 20 Hz counts as reached
        ([0.0, 1.0, 1.0, 2.0], 22.5, 20.0),
        # MPF = (10 + 10 + 75)/4; cumulative 0, 1, 1.5, 4: half first reached at 30 Hz
        ([0.0, 1.0, 0.5, 2.5], 23.75, 30.0),
        ([0.0, 0.0, 0.0, 3.0], 30.0, 30.0),
    ],
)
def test_spectral_features_match_hand_computed_mpf_and_mdf(psd, mpf, mdf):
    feats = spectral_features(np.array([0.0, 10.0, 20.0, 30.0]), np.array(psd))
    assert float(feats.mpf_hz) == pytest.approx(mpf, abs=1e-12)
    assert float(feats.mdf_hz) == mdf


def test_fi_nsm5_matches_hand_computed_ratio_excluding_zero_frequency():
    freqs = np.array([0.0, 1.0, 2.0])
    psd = np.array([5.0, 1.0, 1.0])  # DC power must not enter (f⁻¹ is undefined there)
    # Σ P/f = 1/1 + 1/2 = 1.5; Σ P·f⁵ = 1 + 32 = 33
    assert float(spectral_features(freqs, psd).fi_nsm5) == pytest.approx(1.5 / 33, rel=1e-12)


def test_fi_nsm5_matches_hand_computed_ratio_on_tiny_spectrum():
    freqs = np.array([0.0, 10.0, 20.0, 30.0])
    psd = np.array([1.0, 1.0, 2.0, 0.0])
    # (1/10 + 2/20) / (1·10⁵ + 2·20⁵) = 0.2 / 6.5e6
    assert float(spectral_features(freqs, psd).fi_nsm5) == pytest.approx(0.2 / 6.5e6, rel=1e-12)


def test_spectral_features_are_nan_without_power():
    feats = spectral_features(np.array([0.0, 10.0, 20.0]), np.zeros(3))
    assert np.isnan(feats.mpf_hz)
    assert np.isnan(feats.mdf_hz)
    assert np.isnan(feats.fi_nsm5)


def test_spectral_features_compute_each_row_of_2d_psd():
    freqs = np.array([0.0, 10.0, 20.0, 30.0])
    psd = np.array([[1.0, 1.0, 2.0, 0.0], [0.0, 0.0, 0.0, 3.0]])
    feats = spectral_features(freqs, psd)
    np.testing.assert_allclose(feats.mpf_hz, [12.5, 30.0], atol=1e-12)
    np.testing.assert_array_equal(feats.mdf_hz, [10.0, 30.0])


# --- temporal stats ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fs", "n_samples", "n_windows"),
    [
        (1000.0, 10_000, 19),  # (10000 - 1000)/500 + 1
        (1000.0, 10_499, 19),  # the partial 20th window does not count
        (1000.0, 10_500, 20),
        (990.0, 9_900, 19),  # 990-sample windows, 495-sample step
        (1000.0, 2_000, 3),
    ],
)
def test_temporal_stats_counts_full_1s_windows_with_50_percent_overlap(fs, n_samples, n_windows):
    x = np.random.default_rng(n_samples).normal(size=n_samples)
    stats = temporal_stats(x, fs)
    assert stats is not None
    assert stats.n_windows == n_windows
    assert stats.window_s == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("n_samples", [500, 999, 1000, 1999])
def test_temporal_stats_is_none_with_fewer_than_3_windows(n_samples):
    x = np.random.default_rng(n_samples).normal(size=n_samples)
    assert temporal_stats(x, FS) is None


def test_temporal_stats_rms_slope_per_min_follows_linear_amplitude_ramp():
    # 100 Hz sine (whole cycles per 1 s window) with amplitude 1 + 0.05·t: window RMS is a(t)/√2
    # to within b²/12 ≈ 2e-4 relative, so the slope is 0.05/√2 per s = 60·0.05/√2 per minute.
    t = np.arange(int(20 * FS)) / FS
    x = (1.0 + 0.05 * t) * np.sin(2 * np.pi * 100 * t)
    stats = temporal_stats(x, FS)
    assert stats.rms.slope_per_min == pytest.approx(60 * 0.05 / math.sqrt(2), rel=0.01)
    falling = temporal_stats(x[::-1].copy(), FS)
    assert falling.rms.slope_per_min == pytest.approx(-60 * 0.05 / math.sqrt(2), rel=0.01)


def test_temporal_stats_rms_trend_matches_per_window_values():
    rng = np.random.default_rng(13)
    n = int(12.3 * FS)
    x = rng.normal(size=n) * np.linspace(1.0, 3.0, n)
    stats = temporal_stats(x, FS)
    starts = np.arange(0, n - 1000 + 1, 500)
    values = np.array([np.sqrt(np.mean(x[s : s + 1000] ** 2)) for s in starts])
    centres_min = (starts + 500) / FS / 60
    assert stats.n_windows == len(starts)
    assert stats.rms.mean == pytest.approx(values.mean(), rel=1e-12)
    assert stats.rms.std == pytest.approx(values.std(ddof=1), rel=1e-9)  # sample std
    assert stats.rms.cv == pytest.approx(values.std(ddof=1) / values.mean(), rel=1e-9)
    assert stats.rms.slope_per_min == pytest.approx(np.polyfit(centres_min, values, 1)[0], rel=1e-9)


def test_temporal_stats_cv_equals_std_over_mean_for_every_metric():
    x = np.random.default_rng(14).normal(size=int(15 * FS))
    stats = temporal_stats(x, FS)
    for trend in (stats.rms, stats.mpf, stats.mdf, stats.fi_nsm5):
        assert trend.cv == pytest.approx(trend.std / trend.mean, rel=1e-12)


def test_temporal_stats_mdf_falls_and_fi_nsm5_rises_when_frequency_falls():
    # linear chirp 150 → 90 Hz over 20 s: the median frequency falls 3 Hz/s = 180 Hz/min
    t = np.arange(int(20 * FS)) / FS
    x = signal.chirp(t, f0=150.0, t1=20.0, f1=90.0, method="linear")
    stats = temporal_stats(x, FS)
    assert stats.mdf.slope_per_min == pytest.approx(-180.0, rel=0.10)
    assert stats.mpf.slope_per_min == pytest.approx(-180.0, rel=0.10)
    assert stats.fi_nsm5.slope_per_min > 0
