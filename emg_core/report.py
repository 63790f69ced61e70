"""The report contract (EMG_SPEC.md): the JSON the CLI prints and the API returns.

Numbers that cannot be computed are ``null`` with a warning, never NaN and never 0 by default.
Bump `SCHEMA_VERSION` on any change a consumer could notice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

SCHEMA_VERSION = "1.0"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(_Model):
    filename: str
    sha256: str
    size_bytes: int


class Game(_Model):
    name: str | None
    level: int | None
    score: float | None


class RecordingReport(_Model):
    sampling_rate_hz: float
    n_samples: int
    duration_s: float
    recorded_at: datetime | None
    game: Game
    player_name: str | None
    therapist_id: str | None
    group_id: str | None
    system: str | None
    version: str | None
    reported_duration_s: float | None


class Amplitude(_Model):
    rms_v: float | None
    mav_v: float | None


class Spectrum(_Model):
    mpf_hz: float | None
    mdf_hz: float | None
    fi_nsm5: float | None


class Trend(_Model):
    mean: float | None
    std: float | None
    cv: float | None
    slope_per_min: float | None


class Temporal(_Model):
    window_s: float
    n_windows: int
    rms: Trend
    mpf: Trend
    mdf: Trend
    fi_nsm5: Trend


class Mvc(_Model):
    value_v: float | None
    threshold_v: float | None
    threshold_pct: float
    method: str


class ContractionItem(_Model):
    start_ms: float
    end_ms: float
    duration_ms: float
    mean_amplitude_v: float
    max_amplitude_v: float
    meets_mvc: bool
    meets_duration: bool
    good: bool


class Contractions(_Model):
    count: int
    good: int
    mvc_compliant: int
    duration_compliant: int
    mean_duration_ms: float | None
    min_duration_ms: float | None
    max_duration_ms: float | None
    time_under_tension_ms: float
    items: list[ContractionItem]


class ChannelReport(_Model):
    name: str
    muscle: str | None
    raw_label: str
    activation_label: str | None
    amplitude: Amplitude | None
    spectrum: Spectrum | None
    temporal: Temporal | None
    mvc: Mvc | None
    contractions: Contractions | None
    warnings: list[str]


class MuscleScore(_Model):
    compliance: float
    completion_rate: float
    intensity_rate: float
    duration_rate: float


class Scores(_Model):
    compliance: float | None
    symmetry: float | None
    effort: float | None
    game: float | None
    overall: float | None
    bfr_compliant: bool | None
    weights_used: dict[str, float]
    muscles: dict[str, MuscleScore]


class ChannelSignals(_Model):
    """Downsampled signals for plotting (every ``step``-th sample)."""

    step: int
    time_s: list[float]
    raw_v: list[float]
    envelope_v: list[float] | None
    activation: list[float] | None


class SessionReport(_Model):
    schema_version: str = SCHEMA_VERSION
    source: Source
    recording: RecordingReport
    parameters: dict[str, Any]
    channels: list[ChannelReport]
    scores: Scores
    signals: dict[str, ChannelSignals] | None = None
    warnings: list[str]
