"""The background worker against real PostgreSQL, real files and the real supervised parser.

Recordings are files under ``<storage root>/<bucket>/<patient>/<file>.c3d`` (LocalStorage), the
sessions are rows created through the store, and every outcome is read back from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from emg_core.errors import ParserFailure
from emg_core.parser_pool import ParserPool
from service.db.engine import make_engine
from service.db.migrate import upgrade
from service.db.models import SessionStatus, TherapySession
from service.metrics import Metrics
from service.settings import Settings
from service.storage import LocalStorage
from service.store import NewSession, SessionStore
from service.worker import SessionWorker
from tests.conftest import MALFORMED, sample, shared_files
from tests.utils.e2e import past_validation

BUCKET = "c3d-examples"
PATIENT = "patient-7"
OWNER = "therapist-3"
PARSER_TIMEOUT_S = 3.0
PROCESSING_TIMEOUT_S = 5.0
COUNTS_0409 = {"CH1": 15, "CH2": 11}
MiB = 1 << 20

# What the shared malformed files are refused for, before the parser library sees them.
MALFORMED_REASONS = {
    "hang_params.c3d": "file has no analog channels (ANALOG:USED is 0 or missing)",
    "segv_header_a.c3d": (
        "file is truncated: the header declares 2476 frames (1229632 bytes) but the file has "
        "4096 bytes"
    ),
    "segv_header_b.c3d": "parameter OFFSET?????????????? has an invalid data type (83)",
}


class Ready:
    """An awaitable that is already done: the parser pool as the app hands it over (a task
    that started it), but usable from several event loops, one per ``asyncio.run``."""

    def __init__(self, pool: ParserPool) -> None:
        self.pool = pool

    def __await__(self) -> Generator[Any, None, ParserPool]:
        return self.pool
        yield  # a generator, so ``await`` works


@pytest.fixture(scope="module")
def pool() -> Iterator[ParserPool]:
    with ParserPool(workers=1, timeout_s=PARSER_TIMEOUT_S) as pool:
        yield pool


@pytest.fixture(scope="module")
def sample_bytes() -> bytes:
    return sample("0409").read_bytes()


@pytest.fixture(scope="module")
def hang_bytes(sample_bytes: bytes) -> bytes:
    """The shared hang file made to pass our validation, so the parser itself hangs on it."""
    malformed = {p.name: p for p in shared_files(MALFORMED, "*.c3d")}
    if "hang_params.c3d" not in malformed:
        pytest.skip(f"hang_params.c3d not in {MALFORMED}")
    return past_validation(malformed["hang_params.c3d"].read_bytes(), sample_bytes)


@dataclass
class Env:
    store: SessionStore
    storage_root: Path
    pool: ParserPool
    pg_url: str

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "environment": "testing",
            "database_url": self.pg_url,
            "processing_timeout": PROCESSING_TIMEOUT_S,
            "parser_timeout": PARSER_TIMEOUT_S,
            "worker_poll_interval": 0.05,
            "max_attempts": 3,
            "max_file_size": 100 * MiB,
            "storage_dir": str(self.storage_root),
        }
        return Settings(**(values | overrides))

    def worker(self, **overrides: Any) -> SessionWorker:
        return SessionWorker(
            self.store,
            LocalStorage(self.storage_root),
            Ready(self.pool),
            self.settings(**overrides),
            Metrics(),
        )

    def put(self, file_name: str, data: bytes | Path) -> str:
        """Store a recording as the bucket would; returns its object name."""
        object_name = f"{PATIENT}/{file_name}"
        path = self.storage_root / BUCKET / object_name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, Path):
            shutil.copyfile(data, path)
        else:
            path.write_bytes(data)
        return object_name

    def pending(self, file_name: str, size: int | None = None) -> TherapySession:
        row, created = self.store.create_pending(
            NewSession(
                bucket=BUCKET,
                object_name=f"{PATIENT}/{file_name}",
                file_name=file_name,
                file_size=size,
                owner_id=OWNER,
                patient_id=PATIENT,
            )
        )
        assert created
        return row

    def claim(self, worker: SessionWorker) -> TherapySession:
        row = self.store.claim_next(worker.lease_s, worker.settings.max_attempts)
        assert row is not None
        return row

    def stored(self, session: TherapySession) -> TherapySession:
        row = self.store.get(session.id)
        assert row is not None, f"session {session.id} is gone"
        return row


@pytest.fixture
def env(pg_url: str, tmp_path: Path, pool: ParserPool) -> Iterator[Env]:
    engine = make_engine(pg_url)
    upgrade(engine)
    try:
        yield Env(SessionStore(engine), tmp_path / "storage", pool, pg_url)
    finally:
        engine.dispose()


def outcomes(worker: SessionWorker) -> dict[str, float]:
    """How many sessions the processing histogram counted, by outcome (source webhook)."""
    counts: dict[str, float] = {}
    for family in worker.metrics.registry.collect():
        if family.name != "emg_processing_duration_seconds":
            continue
        for s in family.samples:
            if s.name.endswith("_count") and s.value:
                assert s.labels["source"] == "webhook", s.labels
                counts[s.labels["outcome"]] = s.value
    return counts


def processing_seconds_sum(worker: SessionWorker, outcome: str) -> float:
    value = worker.metrics.registry.get_sample_value(
        "emg_processing_duration_seconds_sum", {"source": "webhook", "outcome": outcome}
    )
    assert value is not None, f"no {outcome} sample"
    return value


def process(worker: SessionWorker, session: TherapySession) -> float:
    """Run ``worker.process`` on a claimed session; returns the seconds it took."""
    started = time.monotonic()
    asyncio.run(worker.process(session))
    return time.monotonic() - started


async def run_until(
    worker: SessionWorker, done: Callable[[], bool], timeout_s: float, loops: int = 1
) -> float:
    """Run ``loops`` worker loops until ``done()`` holds; returns the seconds that took."""
    tasks = [asyncio.create_task(worker.run()) for _ in range(loops)]
    started = time.monotonic()
    try:
        while not await asyncio.to_thread(done):
            for task in tasks:
                if task.done():
                    task.result()  # raises what stopped the loop
                    pytest.fail("the worker loop returned")
            if time.monotonic() - started > timeout_s:
                pytest.fail(f"not done within {timeout_s:g} s")
            await asyncio.sleep(0.02)
        return time.monotonic() - started
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def finished(env: Env, *sessions: TherapySession) -> Callable[[], bool]:
    def check() -> bool:
        rows = [env.store.get(s.id) for s in sessions]
        return all(
            r is None or r.status in (SessionStatus.COMPLETED, SessionStatus.FAILED) for r in rows
        )

    return check


def assert_report_0409(report: dict[str, Any]) -> None:
    counts = {c["name"]: c["contractions"]["count"] for c in report["channels"]}
    assert counts == COUNTS_0409


# --- one session at a time ----------------------------------------------------------------------


def test_a_sample_recording_becomes_a_completed_session(env: Env, sample_bytes: bytes) -> None:
    env.put("0409.c3d", sample("0409"))
    session = env.pending("0409.c3d", size=len(sample_bytes))
    worker = env.worker()
    claimed = env.claim(worker)
    assert claimed.id == session.id

    process(worker, claimed)

    row = env.stored(session)
    assert row.status == SessionStatus.COMPLETED
    assert row.failure_reason is None
    assert row.file_hash == hashlib.sha256(sample_bytes).hexdigest()
    assert row.file_size == len(sample_bytes)
    assert_report_0409(row.report)
    assert row.recording == row.report["recording"]
    assert row.recording["sampling_rate_hz"] == 990.0
    assert row.recording["n_samples"] == 74280
    assert row.recording["game"]["name"] == "Ghostly"
    assert row.processing_ms is not None and 0 < row.processing_ms < PROCESSING_TIMEOUT_S * 1000
    assert row.completed_at is not None and row.lease_expires_at is None
    assert row.attempts == 1
    assert env.store.in_flight() == 0
    assert outcomes(worker) == {"completed": 1}
    observed_s = processing_seconds_sum(worker, "completed")
    assert row.processing_ms / 1000 <= observed_s < row.processing_ms / 1000 + 0.5


def test_a_missing_object_fails_the_session(env: Env) -> None:
    session = env.pending("gone.c3d")
    worker = env.worker()

    process(worker, env.claim(worker))

    row = env.stored(session)
    assert row.status == SessionStatus.FAILED
    assert row.failure_reason == (
        f"cannot fetch the recording: object {BUCKET}/{PATIENT}/gone.c3d not found"
    )
    assert row.report is None and row.file_hash is None
    assert outcomes(worker) == {"failed": 1}


def test_an_object_over_the_size_limit_fails_the_session(env: Env) -> None:
    env.put("0409.c3d", sample("0409"))
    session = env.pending("0409.c3d")
    worker = env.worker(max_file_size=MiB // 2)

    process(worker, env.claim(worker))

    row = env.stored(session)
    assert row.status == SessionStatus.FAILED
    assert row.failure_reason == "cannot fetch the recording: object exceeds the limit of 512 KiB"
    assert outcomes(worker) == {"failed": 1}


def test_an_object_name_outside_the_bucket_fails_the_session(env: Env) -> None:
    (env.storage_root / "secret.c3d").parent.mkdir(parents=True, exist_ok=True)
    (env.storage_root / "secret.c3d").write_bytes(b"C3D")
    row, _ = env.store.create_pending(
        NewSession(BUCKET, "../secret.c3d", "secret.c3d", None, OWNER, PATIENT)
    )
    worker = env.worker()

    process(worker, env.claim(worker))

    stored = env.stored(row)
    assert stored.status == SessionStatus.FAILED
    assert stored.failure_reason == (
        f"cannot fetch the recording: object name '../secret.c3d' points outside bucket '{BUCKET}'"
    )


def test_a_file_that_is_not_c3d_fails_the_session_with_the_reason(env: Env) -> None:
    env.put("notes.c3d", b"these are my session notes, not a recording")
    session = env.pending("notes.c3d")
    worker = env.worker()

    process(worker, env.claim(worker))

    row = env.stored(session)
    assert row.status == SessionStatus.FAILED
    assert row.failure_reason == (
        "the recording cannot be analysed: not a C3D file (no C3D header signature)"
    )
    assert outcomes(worker) == {"rejected": 1}


@pytest.mark.parametrize("name", sorted(MALFORMED_REASONS))
def test_a_malformed_file_fails_the_session_with_the_reason(env: Env, name: str) -> None:
    path = {p.name: p for p in shared_files(MALFORMED, "*.c3d")}.get(name)
    if path is None:
        pytest.skip(f"{name} not in {MALFORMED}")
    env.put(name, path)
    session = env.pending(name)
    worker = env.worker()

    elapsed = process(worker, env.claim(worker))

    row = env.stored(session)
    assert row.status == SessionStatus.FAILED
    assert row.failure_reason == f"the recording cannot be analysed: {MALFORMED_REASONS[name]}"
    assert elapsed < 2  # refused by validation: the parser never waits on it
    assert outcomes(worker) == {"rejected": 1}


def test_the_same_content_under_two_names_makes_one_session(
    env: Env, sample_bytes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    env.put("0409.c3d", sample_bytes)
    env.put("0409-again.c3d", sample_bytes)
    first = env.pending("0409.c3d")
    second = env.pending("0409-again.c3d")
    worker = env.worker()

    with caplog.at_level(logging.INFO, logger="service.worker"):
        process(worker, env.claim(worker))
        process(worker, env.claim(worker))

    assert caplog.messages == ["duplicate recording"]  # found before analysing it again

    kept = env.stored(first)
    assert kept.status == SessionStatus.COMPLETED
    assert kept.file_hash == hashlib.sha256(sample_bytes).hexdigest()
    assert env.store.get(second.id) is None
    rows, total = env.store.list()
    assert total == 1 and [r.id for r in rows] == [first.id]
    assert outcomes(worker) == {"completed": 1, "duplicate": 1}


def test_the_same_content_processed_at_once_makes_one_session(
    env: Env,
    sample_bytes: bytes,
    hang_bytes: bytes,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Both sessions pass the duplicate check before either stores its report (the only parser
    worker is busy meanwhile); the database's unique file hash still keeps one session."""
    env.put("0409.c3d", sample_bytes)
    env.put("0409-again.c3d", sample_bytes)
    sessions = [env.pending("0409.c3d"), env.pending("0409-again.c3d")]
    worker = env.worker()
    claimed = [env.claim(worker), env.claim(worker)]
    hang_path = tmp_path / "busy.c3d"
    hang_path.write_bytes(hang_bytes)

    async def both() -> None:
        busy = asyncio.create_task(asyncio.to_thread(hold_parser, env.pool, hang_path))
        await asyncio.sleep(0.3)  # the parser's only worker is taken until its timeout
        await asyncio.gather(*(worker.process(s) for s in claimed))
        await busy

    with caplog.at_level(logging.INFO, logger="service.worker"):
        asyncio.run(both())

    assert "duplicate recording" not in caplog.messages  # the early check did not catch it
    rows = [env.store.get(s.id) for s in sessions]
    kept = [r for r in rows if r is not None]
    assert len(kept) == 1
    assert kept[0].status == SessionStatus.COMPLETED
    assert_report_0409(kept[0].report)
    assert env.store.list()[1] == 1
    assert outcomes(worker) == {"completed": 1, "duplicate": 1}


def hold_parser(pool: ParserPool, hanging_file: Path) -> None:
    with contextlib.suppress(ParserFailure):
        pool.parse_file(hanging_file)


def test_a_file_that_hangs_the_parser_fails_within_the_parser_timeout(
    env: Env, hang_bytes: bytes
) -> None:
    env.put("hang.c3d", hang_bytes)
    session = env.pending("hang.c3d")
    worker = env.worker()

    elapsed = process(worker, env.claim(worker))

    row = env.stored(session)
    assert row.status == SessionStatus.FAILED
    assert row.failure_reason == (
        "the recording cannot be analysed: the C3D parser did not finish within "
        f"{PARSER_TIMEOUT_S:g} s; the file is probably corrupted"
    )
    assert PARSER_TIMEOUT_S - 0.5 < elapsed < PARSER_TIMEOUT_S + 3
    assert env.pool.alive == 1  # the hung parser process was replaced
    assert outcomes(worker) == {"rejected": 1}


def test_analysis_past_the_processing_timeout_fails_the_session(
    env: Env, hang_bytes: bytes
) -> None:
    env.put("hang.c3d", hang_bytes)
    session = env.pending("hang.c3d")
    worker = env.worker(processing_timeout=1)

    async def timed() -> float:
        started = time.monotonic()
        await worker.process(env.claim(worker))
        return time.monotonic() - started

    elapsed = asyncio.run(timed())  # measured before asyncio.run waits for the parse thread

    row = env.stored(session)
    assert row.status == SessionStatus.FAILED
    assert row.failure_reason == "analysis took longer than 1 s"
    assert elapsed < PARSER_TIMEOUT_S - 0.5
    assert outcomes(worker) == {"timeout": 1}


# --- the claim loop -----------------------------------------------------------------------------


def test_the_worker_carries_on_after_a_file_that_hangs_the_parser(
    env: Env, hang_bytes: bytes, sample_bytes: bytes
) -> None:
    env.put("hang.c3d", hang_bytes)
    env.put("0409.c3d", sample_bytes)
    hang = env.pending("hang.c3d")  # oldest: claimed first
    good = env.pending("0409.c3d")
    worker = env.worker()

    elapsed = asyncio.run(run_until(worker, finished(env, hang, good), timeout_s=20))

    hung = env.stored(hang)
    assert hung.status == SessionStatus.FAILED
    assert hung.failure_reason == (
        "the recording cannot be analysed: the C3D parser did not finish within "
        f"{PARSER_TIMEOUT_S:g} s; the file is probably corrupted"
    )
    done = env.stored(good)
    assert done.status == SessionStatus.COMPLETED
    assert_report_0409(done.report)
    assert elapsed < PARSER_TIMEOUT_S + 5
    assert outcomes(worker) == {"rejected": 1, "completed": 1}


def test_a_session_left_by_a_dead_instance_is_completed_by_a_new_worker(
    env: Env, sample_bytes: bytes
) -> None:
    env.put("0409.c3d", sample_bytes)
    session = env.pending("0409.c3d")
    # The instance that claimed it died: the row stays "processing" until its lease runs out.
    dead = env.store.claim_next(lease_s=0.2, max_attempts=3)
    assert dead is not None and dead.id == session.id
    time.sleep(0.3)
    assert env.stored(session).status == SessionStatus.PROCESSING
    worker = env.worker()

    asyncio.run(run_until(worker, finished(env, session), timeout_s=15))

    row = env.stored(session)
    assert row.status == SessionStatus.COMPLETED
    assert row.attempts == 2
    assert_report_0409(row.report)
    assert outcomes(worker) == {"completed": 1}


def test_a_session_with_a_live_lease_is_left_to_its_instance(env: Env, sample_bytes: bytes) -> None:
    env.put("0409.c3d", sample_bytes)
    busy = env.pending("0409.c3d")
    assert env.store.claim_next(lease_s=60, max_attempts=3) is not None  # another instance's
    env.put("0160.c3d", sample("0160"))
    other = env.pending("0160.c3d")
    worker = env.worker()

    asyncio.run(run_until(worker, finished(env, other), timeout_s=15))

    assert env.stored(other).status == SessionStatus.COMPLETED
    still = env.stored(busy)
    assert (still.status, still.attempts) == (SessionStatus.PROCESSING, 1)
    assert outcomes(worker) == {"completed": 1}


def test_notify_wakes_the_loop_for_a_session_created_after_it_started(
    env: Env, sample_bytes: bytes
) -> None:
    poll_s = 30.0  # far longer than the wait below: only notify() can explain a quick pickup
    worker = env.worker(worker_poll_interval=poll_s)
    env.put("0409.c3d", sample_bytes)
    created: list[TherapySession] = []

    def done() -> bool:
        return bool(created) and finished(env, *created)()

    async def scenario() -> float:
        loop = asyncio.create_task(run_until(worker, done, timeout_s=15))
        await asyncio.sleep(0.5)  # the loop found nothing and is waiting
        assert env.store.in_flight() == 0
        created.append(await asyncio.to_thread(env.pending, "0409.c3d"))
        notified = time.monotonic()
        worker.notify()
        await loop
        return time.monotonic() - notified

    elapsed = asyncio.run(scenario())

    row = env.stored(created[0])
    assert row.status == SessionStatus.COMPLETED
    assert_report_0409(row.report)
    assert elapsed < 10 < poll_s
    assert outcomes(worker) == {"completed": 1}


def test_several_loops_share_the_work_and_record_every_outcome(
    env: Env, sample_bytes: bytes
) -> None:
    env.put("0409.c3d", sample_bytes)
    env.put("copy.c3d", sample_bytes)
    env.put("notes.c3d", b"not a recording")
    sessions = [
        env.pending("0409.c3d"),
        env.pending("copy.c3d"),
        env.pending("notes.c3d"),
        env.pending("gone.c3d"),
    ]
    worker = env.worker()

    asyncio.run(run_until(worker, finished(env, *sessions), timeout_s=20, loops=3))

    rows = {s.file_name: env.store.get(s.id) for s in sessions}
    statuses = {name: (r.status if r else None) for name, r in rows.items()}
    completed = [n for n in ("0409.c3d", "copy.c3d") if statuses[n] == SessionStatus.COMPLETED]
    assert len(completed) == 1, statuses
    assert sum(statuses[n] is None for n in ("0409.c3d", "copy.c3d")) == 1, statuses
    assert statuses["notes.c3d"] == SessionStatus.FAILED
    assert statuses["gone.c3d"] == SessionStatus.FAILED
    assert env.store.in_flight() == 0
    assert outcomes(worker) == {"completed": 1, "duplicate": 1, "rejected": 1, "failed": 1}


def test_the_loop_survives_a_database_outage_while_processing(
    env: Env, sample_bytes: bytes
) -> None:
    env.put("0409.c3d", sample_bytes)
    slow = env.storage_root / BUCKET / PATIENT / "slow.c3d"
    os.mkfifo(slow)  # fetching it blocks until the test feeds it: the outage starts meanwhile
    stuck = env.pending("slow.c3d")
    worker = env.worker()

    def rename(old: str, new: str) -> None:
        with env.store.engine.begin() as connection:
            connection.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))

    def feed() -> None:
        with slow.open("wb") as pipe:
            pipe.write(sample_bytes)

    async def scenario() -> TherapySession:
        loop = asyncio.create_task(worker.run())
        fed = False
        try:
            deadline = time.monotonic() + 10
            while env.stored(stuck).status != SessionStatus.PROCESSING:
                assert time.monotonic() < deadline, "the stuck session was never claimed"
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.1)  # the fetch is blocked on the pipe
            await asyncio.to_thread(rename, "therapy_sessions", "therapy_sessions_away")
            await asyncio.to_thread(feed)
            fed = True
            await asyncio.sleep(1.0)  # the worker meets the outage
            await asyncio.to_thread(rename, "therapy_sessions_away", "therapy_sessions")
            later = await asyncio.to_thread(env.pending, "0409.c3d")
            worker.notify()
            deadline = time.monotonic() + 10
            while env.stored(later).status != SessionStatus.COMPLETED:
                if loop.done():
                    loop.result()  # what ended the loop
                    pytest.fail("the worker loop returned")
                assert time.monotonic() < deadline, "the later session was never completed"
                await asyncio.sleep(0.05)
            return env.stored(later)
        finally:
            if not fed:  # never leave a thread blocked on the pipe
                with contextlib.suppress(OSError):
                    os.close(os.open(slow, os.O_WRONLY | os.O_NONBLOCK))
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop

    row = asyncio.run(scenario())

    assert_report_0409(row.report)
