"""Write small C3D recordings with ezc3d, shaped like GHOSTLY's, for tests whose answer is known
by construction."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import ezc3d
import numpy as np

POINT_RATE = 33.0


def write_c3d(
    path: Path,
    signals: Sequence[np.ndarray],
    labels: Sequence[str],
    fs: float,
    *,
    info_time: Sequence[str] | None = None,
    game_score: float | None = None,
) -> Path:
    """Write analog ``signals`` (volts) under ``labels`` at ``fs`` Hz, with one dummy point.

    The analog length is trimmed to a whole number of point frames (``fs / 33`` per frame, so
    choose ``fs`` a multiple of 33 for exact lengths, e.g. 990 Hz).
    """
    analogs = np.vstack([np.asarray(s, dtype=np.float64) for s in signals])
    per_frame = round(fs / POINT_RATE)
    frames = analogs.shape[1] // per_frame
    c3d = ezc3d.c3d()
    c3d["parameters"]["POINT"]["RATE"]["value"] = [fs / per_frame]
    c3d["parameters"]["POINT"]["LABELS"]["value"] = ("PlayerPosition",)
    c3d["parameters"]["ANALOG"]["RATE"]["value"] = [fs]
    c3d["parameters"]["ANALOG"]["LABELS"]["value"] = tuple(labels)
    points = np.zeros((4, 1, frames))
    points[3] = 1
    c3d["data"]["points"] = points
    c3d["data"]["analogs"] = analogs[None, :, : frames * per_frame]
    c3d.add_parameter("INFO", "GAME_NAME", ["Ghostly"])
    if info_time is not None:
        c3d.add_parameter("INFO", "TIME", list(info_time))
    if game_score is not None:
        c3d.add_parameter("SUBJECTS", "GAME_SCORE", [game_score])
    c3d.write(str(path))
    return path


def bursts(
    fs: float,
    duration_s: float,
    onsets_s: Sequence[float],
    lengths_s: Sequence[float],
    amplitude_v: float = 1e-4,
    noise_v: float = 1e-6,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Raw sEMG-like signal (noise bursts) and the matching activation signal (exact zeros outside
    the bursts, as GHOSTLY writes it)."""
    rng = np.random.default_rng(seed)
    n = round(duration_s * fs)
    raw = rng.normal(0.0, noise_v, n)
    activation = np.zeros(n)
    for onset, length in zip(onsets_s, lengths_s, strict=True):
        a, b = round(onset * fs), round((onset + length) * fs)
        raw[a:b] += rng.normal(0.0, amplitude_v, b - a)
        activation[a:b] = amplitude_v
    return raw, activation
