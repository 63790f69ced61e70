"""Structure checks that run before the parser library ever sees a file."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from emg_core.c3d_format import BLOCK, validate_c3d
from emg_core.errors import C3DFormatError
from tests.conftest import MALFORMED, sample, shared_files
from tests.utils.c3d_factory import write_c3d


@pytest.fixture(scope="module")
def good_bytes() -> bytes:
    return sample("0409").read_bytes()


def _param_start(data: bytes) -> int:
    return (data[0] - 1) * BLOCK


def test_validate_reads_sample_layout(good_bytes: bytes) -> None:
    layout = validate_c3d(good_bytes)
    assert layout.analog_labels == ("CH1 Raw", "CH2 Raw", "CH1 activated", "CH2 activated")
    assert layout.analog_rate_hz == 990.0
    assert layout.analog_samples == 74_280
    assert layout.processor == "Intel"
    assert layout.param("INFO", "TIME") == ["2023", "3", "21", "17", "23"]
    assert layout.param("SUBJECTS", "GAME_SCORE") == [24.0]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: b"", "file is empty"),
        (lambda d: b"time,emg\n0.0,0.1\n" * 100, "not a C3D file (no C3D header signature)"),
        (lambda d: d[:300], "not a C3D file (no C3D header signature)"),
        (lambda d: b"\x00" + d[1:], "the header points to no parameter section"),
        (lambda d: d[: len(d) - 1000], "file is truncated: the header declares 2476 frames"),
        (lambda d: d[: BLOCK + 100], "file is truncated: the parameter section declares"),
    ],
    ids=["empty", "text", "short", "no-parameter-pointer", "truncated-data", "truncated-params"],
)
def test_validate_rejects_broken_structure(good_bytes: bytes, mutate, message: str) -> None:
    with pytest.raises(C3DFormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_c3d(mutate(good_bytes))


@pytest.mark.parametrize(("code", "name"), [(85, "DEC"), (86, "MIPS")])
def test_validate_refuses_unsupported_processor_by_name(
    good_bytes: bytes, code: int, name: str
) -> None:
    data = bytearray(good_bytes)
    data[_param_start(data) + 3] = code
    with pytest.raises(C3DFormatError, match=f"processor format {name}.* is not supported"):
        validate_c3d(bytes(data))


def test_validate_rejects_record_pointing_outside_section(good_bytes: bytes) -> None:
    data = bytearray(good_bytes)
    first_record = _param_start(data) + 4
    name_len = abs(struct.unpack("<b", data[first_record : first_record + 1])[0])
    offset_at = first_record + 2 + name_len
    data[offset_at : offset_at + 2] = struct.pack("<H", 0xFFF0)
    with pytest.raises(C3DFormatError, match="points outside the section"):
        validate_c3d(bytes(data))


def test_validate_rejects_file_without_analog_channels(tmp_path) -> None:
    path = tmp_path / "no_analog.c3d"
    write_c3d(path, [np.zeros(990)], ["CH1 Raw"], 990.0)
    data = bytearray(path.read_bytes())
    # Zero ANALOG:USED in place: it is the only 'USED' parameter of the ANALOG group.
    layout = validate_c3d(bytes(data))
    assert layout.analog_labels == ("CH1 Raw",)
    analog_group_id = None
    pos = _param_start(data) + 4
    while True:
        name_len = abs(struct.unpack("<b", data[pos : pos + 1])[0])
        rec_id = struct.unpack("<b", data[pos + 1 : pos + 2])[0]
        name = data[pos + 2 : pos + 2 + name_len].decode()
        (offset,) = struct.unpack("<H", data[pos + 2 + name_len : pos + 4 + name_len])
        if rec_id < 0 and name == "ANALOG":
            analog_group_id = -rec_id
        if rec_id == analog_group_id and name == "USED":
            value_at = pos + 4 + name_len + 2 + data[pos + 4 + name_len + 1]
            data[value_at : value_at + 2] = struct.pack("<h", 0)
            break
        pos = pos + 2 + name_len + offset
    with pytest.raises(C3DFormatError, match=r"file has no analog channels \(ANALOG:USED is 0"):
        validate_c3d(bytes(data))


def test_validate_catches_every_shared_malformed_file() -> None:
    for path in shared_files(MALFORMED, "*.c3d"):
        with pytest.raises(C3DFormatError):
            validate_c3d(path.read_bytes())


def test_validate_survives_random_corruption(good_bytes: bytes) -> None:
    """Flipping bytes anywhere in the header or parameters gives a verdict, never a crash."""
    rng = np.random.default_rng(7)
    head = _param_start(good_bytes) + 2 * BLOCK
    for _ in range(300):
        data = bytearray(good_bytes[: head + 4096])
        for pos in rng.integers(0, head, size=8):
            data[pos] = int(rng.integers(0, 256))
        try:
            validate_c3d(bytes(data))
        except C3DFormatError as exc:
            assert str(exc)
