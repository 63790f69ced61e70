"""Amplitude of the conditioned signal, in the signal's own unit (volts)."""

from __future__ import annotations

import numpy as np

from emg_core._validate import validate_signal


def rms(x: np.ndarray) -> np.ndarray | float:
    """Root mean square along the last axis.

    Examples
    --------
    >>> float(rms(np.array([3.0, -3.0, 3.0, -3.0])))
    3.0
    """
    x = validate_signal(x)
    return np.sqrt(np.mean(np.square(x), axis=-1))


def mav(x: np.ndarray) -> np.ndarray | float:
    """Mean absolute value along the last axis.

    Examples
    --------
    >>> float(mav(np.array([1.0, -3.0])))
    2.0
    """
    x = validate_signal(x)
    return np.mean(np.abs(x), axis=-1)
