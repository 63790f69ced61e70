"""Structured logs: JsonFormatter on a real logger writing into a buffer, one JSON object per line;
and ``size_text``, the limit as people read it in 413 answers."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from service.logs import JsonFormatter, request_id
from service.sizes import size_text


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.service.logs")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, buffer
    finally:
        logger.handlers[:] = []
        logger.propagate = True


def entries(buffer: io.StringIO) -> list[dict[str, Any]]:
    lines = buffer.getvalue().splitlines()
    return [json.loads(line) for line in lines]


def test_format_writes_one_json_object_per_line(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = captured

    logger.info("first")
    logger.warning("second\nwith a newline")
    logger.error("third %s", "argument")

    assert buffer.getvalue().count("\n") == 3
    assert [e["message"] for e in entries(buffer)] == [
        "first",
        "second\nwith a newline",
        "third argument",
    ]


def test_format_carries_time_level_logger_and_message(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = captured
    before = datetime.now(UTC)

    logger.warning("request %s done in %.1f ms", "GET /health", 1.5)

    after = datetime.now(UTC)
    (entry,) = entries(buffer)
    assert set(entry) == {"time", "level", "logger", "message"}
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "tests.service.logs"
    assert entry["message"] == "request GET /health done in 1.5 ms"
    assert entry["time"].endswith("+00:00")
    assert len(entry["time"]) == len("2024-05-02T10:15:30.123+00:00")  # milliseconds
    logged = datetime.fromisoformat(entry["time"])
    assert before - timedelta(milliseconds=1) <= logged <= after


def test_format_adds_request_id_while_contextvar_is_set(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = captured

    token = request_id.set("3f2a9c1e7b")
    try:
        logger.info("inside request")
    finally:
        request_id.reset(token)
    logger.info("outside request")

    inside, outside = entries(buffer)
    assert inside["request_id"] == "3f2a9c1e7b"
    assert "request_id" not in outside


def test_format_includes_extra_fields_and_stringifies_unserialisable_ones(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = captured

    logger.info(
        "request",
        extra={"route": "/sessions/{id}", "status": 200, "duration_ms": 12.5, "dir": Path("/x")},
    )

    (entry,) = entries(buffer)
    assert entry["route"] == "/sessions/{id}"
    assert entry["status"] == 200
    assert entry["duration_ms"] == 12.5
    assert entry["dir"] == "/x"
    assert set(entry) == {
        "time",
        "level",
        "logger",
        "message",
        "route",
        "status",
        "duration_ms",
        "dir",
    }


def test_format_adds_exception_text_of_logged_exception(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = captured

    try:
        raise ValueError("parser exploded")
    except ValueError:
        logger.exception("analysis failed")

    (entry,) = entries(buffer)
    assert entry["level"] == "ERROR"
    assert entry["message"] == "analysis failed"
    assert entry["exception"].startswith("Traceback (most recent call last):")
    assert entry["exception"].endswith("ValueError: parser exploded")
    assert buffer.getvalue().count("\n") == 1  # the multi-line traceback stays on one line


def test_format_without_exception_has_no_exception_field(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = captured

    logger.error("plain error")

    assert "exception" not in entries(buffer)[0]


@pytest.mark.parametrize(
    ("n_bytes", "text"),
    [
        (0, "0 bytes"),
        (512, "512 bytes"),
        (1023, "1023 bytes"),
        (1024, "1 KiB"),
        (1536, "1.5 KiB"),
        (1_000_000, "976.6 KiB"),
        (1 << 20, "1 MiB"),
        (100 * (1 << 20), "100 MiB"),
        (104_857_600, "100 MiB"),
        (250_000_000, "238.4 MiB"),
        (1 << 30, "1 GiB"),
        (3 * (1 << 30) // 2, "1.5 GiB"),
        (5 * (1 << 40), "5120 GiB"),
    ],
)
def test_size_text_formats_limit_in_largest_binary_unit(n_bytes: int, text: str) -> None:
    assert size_text(n_bytes) == text
