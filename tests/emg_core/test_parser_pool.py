"""The supervised parser: crashes, hangs and memory blow-ups of ezc3d cost one file, not the caller.

The shared malformed files are fed to the pool directly (skipping the Python validation that
would refuse them first) so that the library really crashes and hangs here.
"""

from __future__ import annotations

import time

import pytest

from emg_core.errors import ParserFailure
from emg_core.parser_pool import ParserPool
from tests.conftest import MALFORMED, sample, shared_files


def _malformed(prefix: str) -> list:
    return [p for p in shared_files(MALFORMED, "*.c3d") if p.name.startswith(prefix)]


def test_pool_parses_sample_in_worker(parser_pool: ParserPool) -> None:
    parsed = parser_pool.parse_file(sample("0409"))
    assert parsed.analogs.shape == (4, 74_280)
    assert parsed.parameters["ANALOG"]["LABELS"][:2] == ["CH1 Raw", "CH2 Raw"]


def test_pool_survives_segfaulting_files_and_keeps_parsing() -> None:
    crashers = _malformed("segv")
    assert crashers, "expected segv_* files in the malformed folder"
    with ParserPool(workers=1, timeout_s=10) as pool:
        for path in crashers:
            with pytest.raises(ParserFailure, match="the C3D parser crashed on this file"):
                pool.parse_file(path)
            assert pool.alive == 1
        assert pool.parse_file(sample("0160")).analogs.shape == (4, 67_800)


def test_pool_kills_hanging_parse_after_timeout_and_recovers() -> None:
    hangers = _malformed("hang")
    assert hangers, "expected hang_* files in the malformed folder"
    with ParserPool(workers=1, timeout_s=1.5) as pool:
        started = time.monotonic()
        with pytest.raises(ParserFailure, match=r"did not finish within 1.5 s"):
            pool.parse_file(hangers[0])
        assert time.monotonic() - started < 5
        assert pool.alive == 1
        assert pool.parse_file(sample("0409")).analogs.shape[1] == 74_280


def test_pool_reports_memory_limit_as_parser_failure() -> None:
    with ParserPool(workers=1, timeout_s=10, memory_limit_bytes=150 << 20) as pool:
        with pytest.raises(ParserFailure, match="ran out of memory on this file"):
            pool.parse_file(sample("0881"))
        assert pool.alive == 1


def test_pool_reports_parser_refusal_without_temp_paths(tmp_path) -> None:
    path = tmp_path / "not_c3d.c3d"
    path.write_bytes(b"\x02\x50" + b"\x00" * 2000)
    with ParserPool(workers=1, timeout_s=10) as pool, pytest.raises(ParserFailure) as info:
        pool.parse_file(path)
    assert str(tmp_path) not in str(info.value)


def test_pool_rejects_use_after_close() -> None:
    pool = ParserPool(workers=1)
    pool.close()
    with pytest.raises(RuntimeError, match="closed"):
        pool.parse_file(sample("0409"))


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"workers": 0}, "workers=0"), ({"timeout_s": 0}, "timeout_s=0")]
)
def test_pool_validates_its_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ParserPool(**kwargs)


def test_pool_ping_measures_round_trip_and_reports_busy_workers() -> None:
    with ParserPool(workers=1, timeout_s=10) as pool:
        latency = pool.ping(timeout_s=2)
        assert latency is not None and 0 < latency < 2
        worker = pool._idle.get()  # hold the only worker, as a parse in progress would
        try:
            assert pool.ping(timeout_s=0.1) is None
        finally:
            pool._idle.put(worker)
        assert pool.ping(timeout_s=2) is not None
