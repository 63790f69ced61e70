"""Shared fixtures: where the sample recordings are, and synthetic C3D files written with ezc3d.

Sample data stays in ../shared (beside the repository) or wherever EMG_SHARED_DIR points; tests
that need it skip with a visible reason when it is absent, except under CI=true where they fail.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from emg_core.parser_pool import ParserPool
from tests.utils.production import PG_URL

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EMG_SHARED_DIR", REPO.parent / "shared"))
SAMPLES = SHARED / "samples"
MALFORMED = SHARED / "malformed"
IN_CI = os.environ.get("CI", "").lower() == "true"


def shared_files(folder: Path, pattern: str) -> list[Path]:
    files = sorted(folder.glob(pattern))
    if not files:
        message = f"no {pattern} in {folder} (set EMG_SHARED_DIR to the shared folder)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return files


def sample(key: str) -> Path:
    """A sample recording by the last four digits of its name, e.g. ``sample("0409")``."""
    matches = [p for p in shared_files(SAMPLES, "*.c3d") if p.stem.endswith(key)]
    assert len(matches) == 1, f"expected one sample ending in {key}, found {matches}"
    return matches[0]


@pytest.fixture(scope="session")
def parser_pool() -> Iterator[ParserPool]:
    with ParserPool(workers=1, timeout_s=10) as pool:
        yield pool


REDIS_URL = os.environ.get("EMG_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} unavailable ({type(exc).__name__}: {exc})"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    from tests.utils.production import postgres_schema

    with contextlib.ExitStack() as cleanup:
        try:
            url = cleanup.enter_context(postgres_schema(PG_URL))
        except Exception as exc:
            _unavailable(f"PostgreSQL at {PG_URL}", exc)
        yield url


@pytest.fixture
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=1)
    try:
        client.ping()
    except Exception as exc:
        _unavailable(f"Redis at {REDIS_URL}", exc)
    finally:
        client.close()
    return REDIS_URL


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-snapshots",
        action="store_true",
        help="rewrite the golden plan snapshots under tests/infra/snapshots/ (review the diff)",
    )
