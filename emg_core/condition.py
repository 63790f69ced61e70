"""Signal conditioning: band-pass for spectral and amplitude metrics, the linear envelope, and
the moving average they share. All filters are Butterworth, second-order sections, zero-phase.

References
----------
EMG_SPEC.md, "Signal conditioning"; scipy.signal.sosfiltfilt.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import signal

from emg_core._validate import validate_fs, validate_signal

NYQUIST_SHARE = 0.45


def bandpass_edges(fs: float, low_hz: float, high_hz: float) -> tuple[float, float]:
    """Band edges actually used: the upper edge is capped at 0.45·fs to stay below Nyquist.

    Examples
    --------
    >>> bandpass_edges(990.0, 20.0, 450.0)
    (20.0, 445.5)
    """
    fs = validate_fs(fs)
    high = min(high_hz, NYQUIST_SHARE * fs)
    if not 0 < low_hz < high:
        raise ValueError(f"band-pass {low_hz=} must be in (0, {high:g}) Hz at {fs=}")
    return float(low_hz), float(high)


@functools.lru_cache(maxsize=64)
def _butter(order: int, cutoff: float | tuple[float, float], btype: str, fs: float) -> np.ndarray:
    """Filter design is pure and costs more than filtering a short signal: cache it (callers
    never write to the result)."""
    sos = signal.butter(order, cutoff, btype=btype, fs=fs, output="sos")
    return sos


def _zero_phase(x: np.ndarray, sos: np.ndarray) -> np.ndarray:
    return signal.sosfiltfilt(sos, x, axis=-1)


def bandpass(x: np.ndarray, fs: float, low_hz: float, high_hz: float, order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth band-pass of ``x`` along its last axis (edges from `bandpass_edges`).

    Examples
    --------
    >>> t = np.arange(2000) / 1000.0
    >>> y = bandpass(np.sin(2 * np.pi * 100 * t) + 1.0, 1000.0, 20.0, 450.0)
    >>> bool(abs(y.mean()) < 1e-3)   # the DC offset is gone
    True
    """
    fs = validate_fs(fs)
    x = validate_signal(x, min_samples=3 * (2 * order + 1))
    return _zero_phase(x, _butter(order, bandpass_edges(fs, low_hz, high_hz), "bandpass", fs))


def moving_average(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving average of ``n`` samples, same length, zero beyond the edges.

    Identical to ``np.convolve(x, np.ones(n) / n, mode="same")`` but O(len(x)) via a cumulative
    sum, so the window length costs nothing.
    """
    x = validate_signal(x)
    if n < 1:
        raise ValueError(f"{n=} must be >= 1")
    if n == 1:
        return x.copy()
    length = x.shape[-1]
    pad = [(0, 0)] * (x.ndim - 1) + [(n // 2 + 1, n - n // 2)]
    cum = np.cumsum(np.pad(x, pad), axis=-1)  # cum[..., j] = sum of padded x up to j (inclusive)
    return (cum[..., n : n + length] - cum[..., :length]) / n


def envelope(
    x: np.ndarray,
    fs: float,
    highpass_hz: float,
    lowpass_hz: float,
    smoothing_s: float,
    order: int = 4,
) -> np.ndarray:
    """Linear envelope: high-pass → full-wave rectification → low-pass → moving average.

    The moving average spans ``int(smoothing_s·fs)`` samples (at least one).
    """
    fs = validate_fs(fs)
    x = validate_signal(x, min_samples=3 * (2 * order + 1))
    if not 0 < lowpass_hz < fs / 2 or not 0 < highpass_hz < fs / 2:
        raise ValueError(
            f"envelope cut-offs {highpass_hz=}, {lowpass_hz=} must be below {fs / 2:g} Hz"
        )
    rectified = np.abs(_zero_phase(x, _butter(order, highpass_hz, "highpass", fs)))
    smoothed = _zero_phase(rectified, _butter(order, lowpass_hz, "lowpass", fs))
    return moving_average(smoothed, max(1, int(smoothing_s * fs)))
