"""Contraction detection and the MVC threshold the contractions are judged against.

Timing comes from the game's activation signal when the channel has one, else from the envelope;
amplitudes always come from the envelope.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emg_core._validate import validate_fs, validate_signal
from emg_core.condition import moving_average

MIN_TIMING_PEAK = 1e-9


@dataclass(frozen=True)
class Contraction:
    """One contraction: sample indices [start, end] and its envelope amplitude."""

    start: int
    end: int
    duration_s: float
    mean_amplitude_v: float
    max_amplitude_v: float


@dataclass(frozen=True)
class MvcThreshold:
    value_v: float | None
    threshold_v: float
    threshold_pct: float
    method: str  # "channel", "session" or "estimated"


def active_segments(
    timing: np.ndarray,
    fs: float,
    threshold_pct: float,
    smoothing_samples: int = 100,
    min_duration_s: float = 0.100,
    merge_gap_s: float = 0.200,
    max_duration_s: float = 10.0,
) -> np.ndarray:
    """Segments where the smoothed, rectified timing signal is above ``threshold_pct`` of its peak.

    Returns an ``(n, 2)`` array of [start, end] sample indices: start is the first active sample,
    end the first inactive sample after it (or the last index). Segments shorter than
    ``int(min_duration_s·fs)`` samples are dropped, then neighbours separated by at most
    ``int(merge_gap_s·fs)`` samples are merged, then anything longer than
    ``int(max_duration_s·fs)`` samples is cut into pieces of that length.
    """
    fs = validate_fs(fs)
    timing = validate_signal(timing)
    smooth = moving_average(np.abs(timing), smoothing_samples)
    peak = float(smooth.max())
    if not np.isfinite(peak) or peak < MIN_TIMING_PEAK:
        return np.empty((0, 2), dtype=np.int64)
    active = (smooth > peak * threshold_pct / 100.0).astype(np.int8)
    edges = np.diff(active, prepend=0, append=0)
    starts = np.flatnonzero(edges == 1)
    ends = np.minimum(np.flatnonzero(edges == -1), len(timing) - 1)
    keep = ends - starts >= int(min_duration_s * fs)
    starts, ends = starts[keep], ends[keep]
    if len(starts):
        new_group = np.concatenate([[True], starts[1:] - ends[:-1] > int(merge_gap_s * fs)])
        starts = starts[new_group]
        ends = ends[np.concatenate([np.flatnonzero(new_group)[1:] - 1, [len(new_group) - 1]])]
    return _split_long(starts, ends, max(1, int(max_duration_s * fs)))


def _split_long(starts: np.ndarray, ends: np.ndarray, max_len: int) -> np.ndarray:
    pieces = [
        (s, min(s + max_len, end))
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True)
        for s in range(start, end, max_len)
    ]
    return np.array(pieces, dtype=np.int64).reshape(-1, 2)


def measure_contractions(
    segments: np.ndarray, envelope: np.ndarray, fs: float
) -> list[Contraction]:
    """Duration and envelope mean/max over each segment's samples [start, end] inclusive."""
    fs = validate_fs(fs)
    return [
        Contraction(
            start=start,
            end=end,
            duration_s=(end - start) / fs,
            mean_amplitude_v=float(envelope[start : end + 1].mean()),
            max_amplitude_v=float(envelope[start : end + 1].max()),
        )
        for start, end in segments.tolist()
    ]


def mvc_threshold(
    envelope: np.ndarray,
    pct: float,
    *,
    channel_mvc_v: float | None = None,
    session_mvc_v: float | None = None,
    estimate_percentile: float = 95.0,
) -> MvcThreshold:
    """MVC value × ``pct``: the channel's MVC, else the session's, else estimated from the envelope.

    Examples
    --------
    >>> mvc_threshold(np.ones(10), 75.0, session_mvc_v=0.0002)
    MvcThreshold(value_v=0.0002, threshold_v=0.00015, threshold_pct=75.0, method='session')
    """
    if channel_mvc_v is not None:
        value, method = channel_mvc_v, "channel"
    elif session_mvc_v is not None:
        value, method = session_mvc_v, "session"
    else:
        value = float(np.percentile(validate_signal(envelope), estimate_percentile))
        method = "estimated"
    return MvcThreshold(
        value_v=value, threshold_v=value * pct / 100.0, threshold_pct=pct, method=method
    )
