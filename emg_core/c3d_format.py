"""Validate the structure of a C3D file in pure Python before the parser library sees it.

ezc3d crashes or hangs on some corrupted files (../shared/malformed/), so every structural fact the
parser relies on is checked here with bounds on every read: header, parameter section, and the
size of the data section the header declares. The parse itself still runs in a supervised worker
(``emg_core.parser_pool``) in case something gets past these checks.

Format reference: the C3D User Guide (c3d.org), header words and parameter records.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

from emg_core.errors import C3DFormatError

BLOCK = 512
_PROCESSORS = {84: "Intel", 85: "DEC (VAX)", 86: "MIPS (SGI)"}
_SUPPORTED_PROCESSORS = {84}
_MAX_ANALOG_CHANNELS = 256

ParamValue = list[str] | list[float]


@dataclass(frozen=True)
class C3DLayout:
    """What the header and parameter section say the file holds (all checked against its size)."""

    size_bytes: int
    processor: str
    analog_rate_hz: float
    analog_labels: tuple[str, ...]
    analog_samples: int
    frames: int
    parameters: dict[str, dict[str, ParamValue]] = field(repr=False)

    def param(self, group: str, name: str) -> ParamValue | None:
        return self.parameters.get(group, {}).get(name)


def _fail(message: str) -> C3DFormatError:
    return C3DFormatError(message)


class _Reader:
    """Little-endian reads that never go past ``end``."""

    def __init__(self, data: bytes, end: int) -> None:
        self.data = data
        self.end = end

    def take(self, pos: int, n: int, what: str) -> bytes:
        if n < 0 or pos < 0 or pos + n > self.end:
            raise _fail(f"parameter section is corrupted: {what} runs past the end of the section")
        return self.data[pos : pos + n]


def _printable(raw: bytes, limit: int = 32) -> str:
    """Decode a name for messages and lookups; corrupted bytes become '?'. Names are short in a
    sound file: a long one is corruption, and only its start is worth showing."""
    text = "".join(c if c.isprintable() else "?" for c in raw.decode("latin-1")).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _decode_values(raw: bytes, type_code: int, dims: list[int]) -> ParamValue:
    if type_code == -1:
        if not dims:
            return [raw.decode("latin-1").strip()]
        width = dims[0]
        if width == 0:
            return []
        return [raw[i : i + width].decode("latin-1").strip() for i in range(0, len(raw), width)]
    fmt = {1: "b", 2: "h", 4: "f"}[type_code]
    count = len(raw) // type_code
    return [float(v) for v in struct.unpack(f"<{count}{fmt}", raw)]


def _parse_parameters(data: bytes, start: int) -> dict[str, dict[str, ParamValue]]:
    head = data[start : start + 4]
    if len(head) < 4:
        raise _fail("file is truncated: the parameter section is missing")
    n_blocks, processor = head[2], head[3]
    if processor not in _PROCESSORS:
        raise _fail(f"parameter section has an unknown processor type ({processor})")
    if processor not in _SUPPORTED_PROCESSORS:
        raise _fail(
            f"processor format {_PROCESSORS[processor]} is not supported; "
            "export the recording with the Intel (PC) processor format"
        )
    end = start + n_blocks * BLOCK
    if n_blocks == 0 or end > len(data):
        raise _fail(
            f"file is truncated: the parameter section declares {n_blocks} blocks "
            f"but the file ends {max(0, len(data) - start)} bytes after its start"
        )
    reader = _Reader(data, end)
    group_names: dict[int, str] = {}
    pending: list[tuple[int, str, ParamValue]] = []
    pos = start + 4
    while pos < end:
        name_len = abs(struct.unpack("<b", reader.take(pos, 1, "a record"))[0])
        if name_len == 0:
            break
        rec_id = struct.unpack("<b", reader.take(pos + 1, 1, "a record id"))[0]
        name = _printable(reader.take(pos + 2, name_len, "a name")).upper()
        offset_pos = pos + 2 + name_len
        (offset,) = struct.unpack("<H", reader.take(offset_pos, 2, "a record offset"))
        body = offset_pos + 2
        if rec_id < 0:
            group_names[-rec_id] = name
        elif rec_id > 0:
            type_code = struct.unpack("<b", reader.take(body, 1, f"{name} type"))[0]
            if type_code not in (-1, 1, 2, 4):
                raise _fail(f"parameter {name} has an invalid data type ({type_code})")
            n_dims = reader.take(body + 1, 1, f"{name} dimensions")[0]
            dims = list(reader.take(body + 2, n_dims, f"{name} dimensions"))
            n_bytes = abs(type_code) * math.prod(dims)
            raw = reader.take(body + 2 + n_dims, n_bytes, f"the value of {name}")
            pending.append((rec_id, name, _decode_values(raw, type_code, dims)))
        if offset == 0:
            break
        nxt = offset_pos + offset
        if nxt <= offset_pos or nxt > end:
            raise _fail(
                f"parameter section is corrupted: record {name!r} points outside the section"
            )
        pos = nxt
    params: dict[str, dict[str, ParamValue]] = {g: {} for g in group_names.values()}
    for group_id, name, value in pending:
        group = group_names.get(group_id)
        if group is None:
            raise _fail(f"parameter section is corrupted: {name} belongs to no group")
        params[group][name] = value
    return params


def _number(params: dict[str, dict[str, ParamValue]], group: str, name: str) -> float | None:
    value = params.get(group, {}).get(name)
    if not value or isinstance(value[0], str):
        return None
    return float(value[0])


def validate_c3d(data: bytes) -> C3DLayout:
    """Check that ``data`` is a complete, Intel-format C3D file with analog channels.

    Raises
    ------
    C3DFormatError
        With a message naming the first structural problem found.
    """
    size = len(data)
    if size == 0:
        raise _fail("file is empty")
    if size < BLOCK or data[1] != 0x50:
        raise _fail("not a C3D file (no C3D header signature)")
    param_block = data[0]
    if param_block == 0 or (param_block - 1) * BLOCK >= size:
        raise _fail("file is truncated or corrupted: the header points to no parameter section")
    n_points, analog_per_frame, first, last = struct.unpack("<4H", data[2:10])
    (scale,) = struct.unpack("<f", data[12:16])
    (data_block,) = struct.unpack("<H", data[16:18])
    params = _parse_parameters(data, (param_block - 1) * BLOCK)

    used = _number(params, "ANALOG", "USED")
    if not used:
        raise _fail("file has no analog channels (ANALOG:USED is 0 or missing)")
    n_analog = int(used)
    if not 0 < n_analog <= _MAX_ANALOG_CHANNELS:
        raise _fail(f"ANALOG:USED ({n_analog}) is out of range 1..{_MAX_ANALOG_CHANNELS}")
    labels = [str(v) for v in params["ANALOG"].get("LABELS", [])]
    for extra in ("LABELS2", "LABELS3"):
        labels += [str(v) for v in params["ANALOG"].get(extra, [])]
    labels = (labels + [f"Channel {i + 1}" for i in range(len(labels), n_analog)])[:n_analog]
    rate = _number(params, "ANALOG", "RATE")
    if rate is None or not math.isfinite(rate) or rate <= 0:
        raise _fail(f"ANALOG:RATE ({rate}) must be a positive number of samples per second")
    if analog_per_frame == 0 or analog_per_frame % n_analog:
        raise _fail(
            f"header declares {analog_per_frame} analog values per frame, "
            f"which is not a multiple of ANALOG:USED ({n_analog})"
        )
    frames = last - first + 1
    declared = _number(params, "POINT", "FRAMES")
    if declared is not None and declared < 0:
        declared += 65536  # stored as a signed 16-bit integer
    if last == 0xFFFF or (declared is not None and declared > frames):
        frames = int(declared or frames)
    if first == 0 or frames <= 0:
        raise _fail(f"header declares no frames (first {first}, last {last})")
    if data_block == 0:
        raise _fail("header points to no data section")
    value_bytes = 4 if scale < 0 else 2
    frame_bytes = value_bytes * (4 * n_points + analog_per_frame)
    expected = (data_block - 1) * BLOCK + frames * frame_bytes
    if size < expected:
        raise _fail(
            f"file is truncated: the header declares {frames} frames "
            f"({expected} bytes) but the file has {size} bytes"
        )
    return C3DLayout(
        size_bytes=size,
        processor=_PROCESSORS[84],
        analog_rate_hz=rate,
        analog_labels=tuple(labels),
        analog_samples=frames * (analog_per_frame // n_analog),
        frames=frames,
        parameters=params,
    )
