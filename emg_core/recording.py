"""The recording model: channels (raw sEMG paired with the game's activation signal) and metadata.

Pure functions over what the parser returned; reading and validating bytes lives in `read`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

_PAIRED_LABEL = re.compile(r"^\s*(?P<base>.+?)\s+(?P<kind>raw|activated)\s*$", re.IGNORECASE)
_FILE_TIME = re.compile(
    r"Ghostly_Emg_(?P<date>\d{8})_(?P<h>\d{2})-(?P<m>\d{2})-(?P<s>\d{2})-(?P<frac>\d{4})",
    re.IGNORECASE,
)
_PLACEHOLDERS = {"", "---", "n/a", "na", "none", "null"}


@dataclass(frozen=True)
class Channel:
    """One muscle's signals: raw sEMG in volts and, when the file has one, the activation signal."""

    name: str
    raw_label: str
    raw_v: np.ndarray
    activation_label: str | None = None
    activation: np.ndarray | None = None


@dataclass(frozen=True)
class RecordingInfo:
    """Facts about the session, read from the file (``None`` where the file does not say)."""

    sampling_rate_hz: float
    n_samples: int
    duration_s: float
    recorded_at: datetime | None
    game_name: str | None
    game_level: int | None
    game_score: float | None
    player_name: str | None
    therapist_id: str | None
    group_id: str | None
    system: str | None
    version: str | None
    reported_duration_s: float | None


@dataclass(frozen=True)
class Recording:
    """A parsed GHOSTLY recording: where it came from, its metadata and its channels."""

    filename: str
    sha256: str
    size_bytes: int
    info: RecordingInfo
    channels: tuple[Channel, ...]


def pair_channels(labels: list[str], analogs: np.ndarray) -> tuple[Channel, ...]:
    """Pair ``CHn Raw`` with ``CHn activated``; any other label is a channel of its own.

    Labels are matched case-insensitively and ignoring padding. A raw channel without an
    activation partner has no activation signal; an unpaired label keeps its own name.
    """
    parsed = [_PAIRED_LABEL.match(label) for label in labels]
    bases = {kind: {} for kind in ("raw", "activated")}
    for i, match in enumerate(parsed):
        if match:
            bases[match["kind"].lower()].setdefault(match["base"].upper(), i)
    channels: list[Channel] = []
    for i, (label, match) in enumerate(zip(labels, parsed, strict=True)):
        kind = match["kind"].lower() if match else None
        if kind == "activated" and match["base"].upper() in bases["raw"]:
            continue  # consumed by its raw partner
        act = bases["activated"].get(match["base"].upper()) if kind == "raw" else None
        channels.append(
            Channel(
                name=match["base"].strip() if kind == "raw" else (label.strip() or f"A{i + 1}"),
                raw_label=label.strip(),
                raw_v=analogs[i],
                activation_label=None if act is None else labels[act].strip(),
                activation=None if act is None else analogs[act],
            )
        )
    return tuple(channels)


def recorded_at(filename: str, info_time: list[Any] | None) -> datetime | None:
    """When the session was recorded.

    From the GHOSTLY file name ``Ghostly_Emg_YYYYMMDD_HH-MM-SS-FFFF`` (FFFF in units of 100 µs),
    else from INFO:TIME (year, month, day, hour, minute), else ``None``; never a partial date.

    Examples
    --------
    >>> recorded_at("Ghostly_Emg_20230321_17-23-09-0409.c3d", None)
    datetime.datetime(2023, 3, 21, 17, 23, 9, 40900)
    """
    match = _FILE_TIME.search(filename)
    if match:
        try:
            return datetime.strptime(
                f"{match['date']} {match['h']}{match['m']}{match['s']}", "%Y%m%d %H%M%S"
            ).replace(microsecond=int(match["frac"]) * 100)
        except ValueError:
            pass
    if info_time and len(info_time) >= 5:
        try:
            year, month, day, hour, minute = (int(float(str(v).strip())) for v in info_time[:5])
            return datetime(year, month, day, hour, minute)
        except (ValueError, OverflowError):
            return None
    return None


def _clean(value: Any) -> str:
    """Text as valid UTF-8: the parser hands over undecodable bytes as lone surrogates."""
    return str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace").strip()


def _text(params: dict[str, dict[str, list[Any]]], group: str, name: str) -> str | None:
    values = params.get(group, {}).get(name) or []
    text = " ".join(c for c in map(_clean, values) if c)
    return None if text.lower() in _PLACEHOLDERS else text


def _number(params: dict[str, dict[str, list[Any]]], group: str, name: str) -> float | None:
    values = params.get(group, {}).get(name) or []
    try:
        value = float(values[0])
    except (IndexError, TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def recording_info(
    filename: str, params: dict[str, dict[str, list[Any]]], rate_hz: float, n_samples: int
) -> RecordingInfo:
    """Metadata; the duration comes from the analog samples, never from POINT frames."""
    level = _number(params, "INFO", "GAME_LEVEL")
    return RecordingInfo(
        sampling_rate_hz=rate_hz,
        n_samples=n_samples,
        duration_s=n_samples / rate_hz,
        recorded_at=recorded_at(filename, params.get("INFO", {}).get("TIME")),
        game_name=_text(params, "INFO", "GAME_NAME"),
        game_level=None if level is None else int(level),
        game_score=_number(params, "SUBJECTS", "GAME_SCORE"),
        player_name=_text(params, "SUBJECTS", "PLAYER_NAME"),
        therapist_id=_text(params, "INFO", "THERAPIST_ID"),
        group_id=_text(params, "INFO", "GROUP_ID"),
        system=_text(params, "INFO", "SYSTEM"),
        version=_text(params, "INFO", "VERSION"),
        reported_duration_s=_number(params, "INFO", "DURATION"),
    )
