"""Checks shared by the public functions of each stage (inner helpers assume clean input)."""

from __future__ import annotations

import math
import numbers

import numpy as np


def validate_fs(fs: float) -> float:
    if not (isinstance(fs, numbers.Real) and math.isfinite(fs) and fs > 0):
        raise ValueError(f"{fs=} must be a positive, finite sampling rate in Hz")
    return float(fs)


def validate_signal(x: np.ndarray, min_samples: int = 1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 0 or x.shape[-1] < min_samples:
        raise ValueError(f"signal needs at least {min_samples} samples along its last axis")
    return x
