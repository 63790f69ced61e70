"""Every tunable number of the analysis, with the defaults of EMG_SPEC.md.

One validated model so the CLI, the API and the report's ``parameters`` section agree on names,
units and limits. Per-channel overrides (``channels``) take precedence over session values.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from emg_core.errors import ParameterError

# Shown to clinicians in reports: no control characters, no bidirectional overrides.
_HIDDEN_CHARACTERS = re.compile("[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
DEFAULT_MUSCLES = {"CH1": "left quadriceps", "CH2": "right quadriceps"}
_WEIGHT_TOLERANCE = 1e-6


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ChannelOverrides(_Strict):
    """Values that apply to one channel only; ``None`` means "use the session value"."""

    muscle: str | None = Field(None, max_length=100)
    mvc_value_v: float | None = Field(None, gt=0, lt=1)
    mvc_pct: float | None = Field(None, gt=0, le=100)
    min_duration_ms: float | None = Field(None, ge=0, le=60_000)
    expected_contractions: int | None = Field(None, ge=1, le=1000)

    @field_validator("muscle")
    @classmethod
    def _plain_text(cls, value: str | None) -> str | None:
        if value is not None and _HIDDEN_CHARACTERS.search(value):
            raise ValueError("must not contain control or text-direction characters")
        return value


class ScoreWeights(_Strict):
    """Weights of the overall score; renormalised over the components that exist."""

    compliance: float = Field(0.50, ge=0, le=1)
    symmetry: float = Field(0.25, ge=0, le=1)
    effort: float = Field(0.25, ge=0, le=1)
    game: float = Field(0.00, ge=0, le=1)

    @model_validator(mode="after")
    def _sums_to_one(self) -> ScoreWeights:
        total = self.compliance + self.symmetry + self.effort + self.game
        if not math.isclose(total, 1.0, abs_tol=_WEIGHT_TOLERANCE):
            raise ValueError(f"overall score weights must sum to 1 (they sum to {total:g})")
        return self


class ComplianceWeights(_Strict):
    """Weights of a muscle's compliance score."""

    completion: float = Field(0.333, ge=0, le=1)
    intensity: float = Field(0.333, ge=0, le=1)
    duration: float = Field(0.334, ge=0, le=1)

    @model_validator(mode="after")
    def _sums_to_one(self) -> ComplianceWeights:
        total = self.completion + self.intensity + self.duration
        if not math.isclose(total, 1.0, abs_tol=_WEIGHT_TOLERANCE):
            raise ValueError(f"compliance weights must sum to 1 (they sum to {total:g})")
        return self


class AnalysisParameters(_Strict):
    """All analysis parameters. Units are in the names."""

    # Conditioning
    bandpass_low_hz: float = Field(20.0, gt=0)
    bandpass_high_hz: float = Field(450.0, gt=0, description="capped at 0.45·fs")
    filter_order: int = Field(4, ge=1, le=8)
    envelope_highpass_hz: float = Field(20.0, gt=0)
    envelope_lowpass_hz: float = Field(10.0, gt=0)
    envelope_smoothing_s: float = Field(0.050, ge=0, le=5)
    min_sampling_rate_hz: float = Field(100.0, gt=0)
    min_channel_duration_s: float = Field(10.0, ge=0)
    max_channel_duration_s: float = Field(600.0, gt=0)
    # Spectrum
    welch_nperseg: int = Field(256, ge=16, le=65536)
    window_s: float = Field(1.0, gt=0, le=60)
    window_overlap: float = Field(0.5, ge=0, lt=1)
    min_windows: int = Field(3, ge=2)
    # Contractions
    timing_smoothing_samples: int = Field(100, ge=1, le=100_000)
    activation_threshold_pct: float = Field(5.0, gt=0, lt=100)
    envelope_threshold_pct: float = Field(10.0, gt=0, lt=100)
    min_contraction_s: float = Field(0.100, ge=0, le=60)
    merge_gap_s: float = Field(0.200, ge=0, le=60)
    max_contraction_s: float = Field(10.0, ge=0.5, le=600)
    # MVC and targets (session values; see `channels` for per-channel ones)
    mvc_value_v: float | None = Field(None, gt=0, lt=1)
    mvc_pct: float = Field(75.0, gt=0, le=100)
    mvc_estimate_percentile: float = Field(95.0, gt=0, le=100)
    min_duration_ms: float = Field(2000.0, ge=0, le=60_000)
    expected_contractions: int = Field(12, ge=1, le=1000)
    channels: dict[str, ChannelOverrides] = Field(default_factory=dict, max_length=256)
    # Session context
    rpe: int | None = Field(None, ge=0, le=10, strict=True, description="post-session Borg CR-10")
    bfr_pressure_pct_aop: float | None = Field(
        None, ge=0, le=200, description="blood-flow-restriction pressure, % of arterial occlusion"
    )
    bfr_range_pct_aop: tuple[float, float] = (45.0, 55.0)
    game_score_max: float | None = Field(None, gt=0)
    score_weights: ScoreWeights = Field(default_factory=ScoreWeights)
    compliance_weights: ComplianceWeights = Field(default_factory=ComplianceWeights)
    # Output
    include_signals: bool = False
    signal_max_points: int = Field(2000, ge=10, le=200_000)

    @field_validator("channels")
    @classmethod
    def _channel_names(cls, value: dict[str, ChannelOverrides]) -> dict[str, ChannelOverrides]:
        return {name.strip().upper(): v for name, v in value.items()}

    @model_validator(mode="after")
    def _consistent(self) -> AnalysisParameters:
        if self.bandpass_low_hz >= self.bandpass_high_hz:
            raise ValueError(
                f"bandpass_low_hz ({self.bandpass_low_hz:g}) must be below "
                f"bandpass_high_hz ({self.bandpass_high_hz:g})"
            )
        if self.min_channel_duration_s >= self.max_channel_duration_s:
            raise ValueError("min_channel_duration_s must be below max_channel_duration_s")
        if self.min_contraction_s >= self.max_contraction_s:
            raise ValueError(
                f"min_contraction_s ({self.min_contraction_s:g}) must be below "
                f"max_contraction_s ({self.max_contraction_s:g})"
            )
        low, high = self.bfr_range_pct_aop
        if not 0 <= low <= high:
            raise ValueError(f"bfr_range_pct_aop ({low:g}, {high:g}) must be an ordered range")
        return self

    def for_channel(self, name: str) -> ResolvedChannel:
        """Session values with this channel's overrides applied."""
        own = self.channels.get(name.upper(), ChannelOverrides())
        return ResolvedChannel(
            muscle=own.muscle or DEFAULT_MUSCLES.get(name.upper()),
            channel_mvc_v=own.mvc_value_v,
            mvc_pct=own.mvc_pct if own.mvc_pct is not None else self.mvc_pct,
            min_duration_ms=(
                own.min_duration_ms if own.min_duration_ms is not None else self.min_duration_ms
            ),
            expected_contractions=own.expected_contractions or self.expected_contractions,
        )


class ResolvedChannel(_Strict):
    """The parameters that differ per channel, after overrides."""

    muscle: str | None
    channel_mvc_v: float | None
    mvc_pct: float
    min_duration_ms: float
    expected_contractions: int


# Options as people type them (CLI flags, API form fields): "VALUE" for the session or
# "CHANNEL=VALUE" for one channel. Both front ends go through `parameters_from_options`.
def _flag(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
        raise ValueError
    return lowered in {"1", "true", "yes", "on"}


PER_CHANNEL_OPTIONS = {
    "mvc": ("mvc_value_v", float),
    "mvc_pct": ("mvc_pct", float),
    "min_duration_ms": ("min_duration_ms", float),
    "expected_contractions": ("expected_contractions", int),
    "muscle": ("muscle", str),
}
SESSION_OPTIONS = {
    "rpe": ("rpe", int),
    "bfr_pressure": ("bfr_pressure_pct_aop", float),
    "game_max": ("game_score_max", float),
    "include_signals": ("include_signals", _flag),
}
_KIND_NAMES = {float: "number", int: "whole number", str: "text", _flag: "true/false"}


_ASCII_NUMBER = {
    int: re.compile(r"[+-]?[0-9]+"),
    float: re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?"),
}


def _convert(option: str, kind: Callable[[str], object], text: str) -> object:
    try:
        number = _ASCII_NUMBER.get(kind)  # type: ignore[call-overload]
        if number is not None and not number.fullmatch(text.strip()):
            raise ValueError  # int()/float() also take '1_0', '٥' and 'inf'
        return kind(text.strip())
    except ValueError:
        raise ValueError(f"{option}: {text!r} is not a {_KIND_NAMES[kind]}") from None


def parameters_from_options(
    options: dict[str, list[str]], base: dict[str, object] | None = None
) -> AnalysisParameters:
    """Build parameters from typed options.

    ``options`` maps an option name (keys of `PER_CHANNEL_OPTIONS`, `SESSION_OPTIONS`, or
    ``set`` for ``FIELD=JSON_VALUE`` on any field) to the values given. ``base`` holds complete
    field values (e.g. a JSON document) that the options then override.

    Raises
    ------
    ParameterError
        Naming the option and the value that is wrong.

    Examples
    --------
    >>> p = parameters_from_options({"mvc": ["CH1=0.0002", "0.0003"], "rpe": ["5"]})
    >>> p.channels["CH1"].mvc_value_v, p.mvc_value_v, p.rpe
    (0.0002, 0.0003, 5)
    """
    fields: dict[str, object] = dict(base or {})
    channels: dict[str, dict[str, object]] = {}
    try:
        _merge_channels(channels, fields.pop("channels", None) or {})
        for option, values in options.items():
            for value in values:
                _apply_option(option, value, fields, channels)
        return AnalysisParameters(**fields, channels=channels)
    except ValidationError as exc:
        raise ParameterError(_describe(exc)) from None
    except (ValueError, TypeError) as exc:
        raise ParameterError(str(exc)) from None


def _apply_option(
    option: str, value: str, fields: dict[str, object], channels: dict[str, dict[str, object]]
) -> None:
    if option in PER_CHANNEL_OPTIONS:
        field, kind = PER_CHANNEL_OPTIONS[option]
        channel, sep, text = value.rpartition("=")
        if sep and channel.strip():
            channels.setdefault(channel.strip().upper(), {})[field] = _convert(option, kind, text)
        elif option == "muscle":
            raise ValueError(f"muscle: {value!r} must be CHANNEL=NAME")
        else:
            fields[field] = _convert(option, kind, value)
    elif option in SESSION_OPTIONS:
        field, kind = SESSION_OPTIONS[option]
        fields[field] = _convert(option, kind, value)
    elif option == "set":
        name, sep, text = value.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"set: {value!r} must be FIELD=VALUE")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        if name.strip() == "channels":
            _merge_channels(channels, value)
        else:
            fields[name.strip()] = value
    else:
        raise ValueError(f"unknown option {option!r}")


def _merge_channels(channels: dict[str, dict[str, object]], value: object) -> None:
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise ValueError(
            'channels: must map channel names to overrides, e.g. {"CH1": {"mvc_pct": 60}}'
        )
    for channel, overrides in value.items():
        channels.setdefault(str(channel).strip().upper(), {}).update(overrides)


def check_for_rate(p: AnalysisParameters, fs: float) -> None:
    """Cut-offs a recording at ``fs`` cannot hold (judged once the file's rate is known).

    Raises
    ------
    ParameterError
        Naming the parameter, its value and the limit at this rate.
    """
    nyquist = fs / 2
    problems = [
        f"{name} ({value:g} Hz) must be below half the sampling rate ({nyquist:g} Hz)"
        for name, value in (
            ("envelope_highpass_hz", p.envelope_highpass_hz),
            ("envelope_lowpass_hz", p.envelope_lowpass_hz),
        )
        if value >= nyquist
    ]
    high = min(p.bandpass_high_hz, 0.45 * fs)
    if p.bandpass_low_hz >= high:
        problems.append(
            f"bandpass_low_hz ({p.bandpass_low_hz:g} Hz) must be below the upper band edge "
            f"used at {fs:g} Hz ({high:g} Hz)"
        )
    if problems:
        raise ParameterError("; ".join(problems))


def _describe(exc: ValidationError) -> str:
    """One clause per problem: ``field.path: message (got value)``."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        got = f" (got {err['input']!r})" if where and "input" in err else ""
        parts.append(f"{where or 'parameters'}: {message}{got}")
    return "; ".join(parts)
