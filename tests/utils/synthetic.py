"""Recordings built directly from arrays (no C3D file), and seeded synthetic signals whose
answer is known by construction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from emg_core.recording import Channel, Recording, RecordingInfo


def make_recording(
    channels: Mapping[str, tuple[np.ndarray, np.ndarray | None]],
    fs: float,
    *,
    filename: str = "synthetic.c3d",
    game_score: float | None = None,
) -> Recording:
    """A `Recording` of ``{name: (raw_v, activation or None)}`` sampled at ``fs`` Hz.

    Labels follow GHOSTLY's ``CHn Raw`` / ``CHn activated``.
    """
    n = min(raw.shape[-1] for raw, _ in channels.values())
    info = RecordingInfo(
        sampling_rate_hz=fs,
        n_samples=n,
        duration_s=n / fs,
        recorded_at=None,
        game_name=None,
        game_level=None,
        game_score=game_score,
        player_name=None,
        therapist_id=None,
        group_id=None,
        system=None,
        version=None,
        reported_duration_s=None,
    )
    built = tuple(
        Channel(
            name=name,
            raw_label=f"{name} Raw",
            raw_v=np.asarray(raw, dtype=np.float64),
            activation_label=None if act is None else f"{name} activated",
            activation=None if act is None else np.asarray(act, dtype=np.float64),
        )
        for name, (raw, act) in channels.items()
    )
    return Recording(filename=filename, sha256="0" * 64, size_bytes=0, info=info, channels=built)


def noise_bursts(
    fs: float,
    n_samples: int,
    spans: Sequence[tuple[int, int]],
    *,
    amplitude_v: float = 1e-4,
    noise_v: float = 1e-6,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian-noise bursts over sample ``spans`` [a, b) (clipped to the signal) on a noise floor,
    and the matching activation signal (``amplitude_v`` inside the bursts, exact zeros outside)."""
    rng = np.random.default_rng(seed)
    raw = rng.normal(0.0, noise_v, n_samples)
    activation = np.zeros(n_samples)
    for a, b in spans:
        a, b = max(0, a), min(n_samples, b)
        if b > a:
            raw[a:b] += rng.normal(0.0, amplitude_v, b - a)
            activation[a:b] = amplitude_v
    return raw, activation
