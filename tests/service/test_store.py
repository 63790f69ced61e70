"""The session store against real databases: PostgreSQL (production) and SQLite (embedded).

A session row is also its background job, so claiming is tested as the job queue it is: oldest
first, leases that expire, a bounded number of attempts, and (PostgreSQL) no row claimed twice by
concurrent workers (``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text, update

from service.db.engine import make_engine
from service.db.migrate import upgrade
from service.db.models import SessionStatus, TherapySession
from service.store import NewSession, SessionStore

BUCKET = "c3d-examples"
HASH_A = "a" * 64
HASH_B = "b" * 64
REPORT = {"scores": {"compliance": 65.21}, "channels": [{"name": "CH1", "count": 15}]}
RECORDING = {"sampling_rate_hz": 990.0, "n_samples": 74280}


def gave_up(attempts: int) -> str:
    return (
        f"gave up after {attempts} attempts (processing never finished; the instance may have "
        "been stopped)"
    )


def new_session(
    name: str, *, owner_id: str | None = "therapist-1", patient_id: str | None = "patient-1"
) -> NewSession:
    return NewSession(
        bucket=BUCKET,
        object_name=f"{patient_id}/{name}",
        file_name=name,
        file_size=1234,
        owner_id=owner_id,
        patient_id=patient_id,
    )


def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "postgresql":
        return request.getfixturevalue("pg_url")
    return f"sqlite:///{tmp_path}/s.sqlite3"


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(database_url(request.param, request, tmp_path))
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def store(engine: Engine) -> SessionStore:
    return SessionStore(engine)


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[SessionStore]:
    engine = make_engine(pg_url)
    upgrade(engine)
    try:
        yield SessionStore(engine)
    finally:
        engine.dispose()


def schema_revisions(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.scalars(text("SELECT version_num FROM alembic_version")))


# --- migrations ---------------------------------------------------------------------------------


def test_upgrade_creates_the_sessions_table(engine: Engine) -> None:
    assert "therapy_sessions" in inspect(engine).get_table_names()
    assert schema_revisions(engine) == ["0001"]


def test_upgrade_twice_is_a_no_op_and_keeps_the_data(store: SessionStore) -> None:
    row, _ = store.create_pending(new_session("kept.c3d"))

    upgrade(store.engine)

    assert schema_revisions(store.engine) == ["0001"]
    kept = store.get(row.id)
    assert kept is not None and kept.file_name == "kept.c3d"


def test_instances_upgrading_a_fresh_postgresql_schema_at_once_all_succeed(pg_url: str) -> None:
    """Several instances starting together take turns on the advisory lock."""
    instances = 4
    engines = [make_engine(pg_url) for _ in range(instances)]
    barrier = threading.Barrier(instances)
    errors: list[BaseException] = []

    def start(engine: Engine) -> None:
        try:
            barrier.wait(timeout=10)
            upgrade(engine)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not any(t.is_alive() for t in threads), "an upgrade did not finish within 30 s"
        assert errors == []
        assert schema_revisions(engines[0]) == ["0001"]
        assert "therapy_sessions" in inspect(engines[0]).get_table_names()
    finally:
        for engine in engines:
            engine.dispose()


# --- creating -----------------------------------------------------------------------------------


def test_create_pending_then_the_same_object_again_returns_the_existing_row(
    store: SessionStore,
) -> None:
    first, created = store.create_pending(new_session("0409.c3d"))

    assert created is True
    assert first.status == SessionStatus.PENDING
    assert first.attempts == 0
    assert (first.bucket, first.object_name, first.file_name) == (
        BUCKET,
        "patient-1/0409.c3d",
        "0409.c3d",
    )
    assert (first.owner_id, first.patient_id, first.file_size) == ("therapist-1", "patient-1", 1234)

    again, created_again = store.create_pending(new_session("0409.c3d"))

    assert created_again is False
    assert again.id == first.id
    assert store.list()[1] == 1


def test_the_same_object_name_in_another_bucket_is_another_session(store: SessionStore) -> None:
    first, _ = store.create_pending(new_session("0409.c3d"))
    other = NewSession(
        bucket="other-bucket",
        object_name=first.object_name,
        file_name=first.file_name,
        file_size=None,
        owner_id=None,
        patient_id=None,
    )

    second, created = store.create_pending(other)

    assert created is True
    assert second.id != first.id


# --- claiming -----------------------------------------------------------------------------------


def test_claim_next_takes_pending_rows_oldest_first(store: SessionStore) -> None:
    created = [store.create_pending(new_session(f"{i}.c3d"))[0] for i in range(3)]

    claimed = [store.claim_next(lease_s=60, max_attempts=3) for _ in range(3)]

    assert [c.id for c in claimed if c is not None] == [c.id for c in created]
    for row in claimed:
        assert row is not None
        assert row.status == SessionStatus.PROCESSING
        assert row.attempts == 1
        assert (row.lease_expires_at - row.started_at).total_seconds() == pytest.approx(60)
        stored = store.get(row.id)
        assert stored is not None
        assert (stored.status, stored.attempts) == (SessionStatus.PROCESSING, 1)
        assert stored.lease_expires_at is not None and stored.started_at is not None
        assert (stored.lease_expires_at - stored.started_at).total_seconds() == pytest.approx(60)
    assert store.claim_next(lease_s=60, max_attempts=3) is None


def test_a_row_whose_lease_is_live_is_not_claimed_again(store: SessionStore) -> None:
    store.create_pending(new_session("0409.c3d"))
    assert store.claim_next(lease_s=60, max_attempts=3) is not None

    assert store.claim_next(lease_s=60, max_attempts=3) is None


def test_a_row_whose_lease_expired_is_claimed_again(store: SessionStore) -> None:
    row, _ = store.create_pending(new_session("0409.c3d"))
    first = store.claim_next(lease_s=0.05, max_attempts=3)
    assert first is not None and first.id == row.id
    time.sleep(0.1)  # the instance holding it "died": its lease runs out

    again = store.claim_next(lease_s=60, max_attempts=3)

    assert again is not None and again.id == row.id
    assert again.status == SessionStatus.PROCESSING
    assert again.attempts == 2
    stored = store.get(row.id)
    assert stored is not None and stored.attempts == 2


def test_rows_abandoned_max_attempts_times_are_failed_not_retried(store: SessionStore) -> None:
    row, _ = store.create_pending(new_session("0409.c3d"))
    for attempt in (1, 2):
        claimed = store.claim_next(lease_s=-1, max_attempts=2)  # lease already expired
        assert claimed is not None and claimed.attempts == attempt

    assert store.claim_next(lease_s=-1, max_attempts=2) is None

    stored = store.get(row.id)
    assert stored is not None
    assert stored.status == SessionStatus.FAILED
    assert stored.failure_reason == gave_up(2)
    assert stored.attempts == 2
    assert stored.completed_at is not None
    assert stored.lease_expires_at is None
    assert store.in_flight() == 0


def test_finished_rows_are_never_claimed(store: SessionStore) -> None:
    done, _ = store.create_pending(new_session("done.c3d"))
    failed, _ = store.create_pending(new_session("failed.c3d"))
    store.complete(
        done.id,
        file_hash=HASH_A,
        file_size=10,
        recording=RECORDING,
        report=REPORT,
        processing_ms=1.0,
    )
    store.fail(failed.id, "the recording cannot be analysed: file is empty")

    assert store.claim_next(lease_s=-1, max_attempts=3) is None


# --- finishing ----------------------------------------------------------------------------------


def test_complete_stores_the_report_hash_and_recording(store: SessionStore) -> None:
    row, _ = store.create_pending(new_session("0409.c3d"))
    assert store.claim_next(lease_s=60, max_attempts=3) is not None

    done = store.complete(
        row.id,
        file_hash=HASH_A,
        file_size=1229632,
        recording=RECORDING,
        report=REPORT,
        processing_ms=812.5,
    )

    assert done is not None and done.id == row.id
    stored = store.get(row.id)
    assert stored is not None
    assert stored.status == SessionStatus.COMPLETED
    assert stored.failure_reason is None
    assert (stored.file_hash, stored.file_size) == (HASH_A, 1229632)
    assert stored.recording == RECORDING
    assert stored.report == REPORT
    assert stored.processing_ms == 812.5
    assert stored.completed_at is not None
    assert stored.lease_expires_at is None
    assert store.find_by_hash(HASH_A).id == row.id
    assert store.find_by_hash(HASH_B) is None


def test_a_second_session_with_the_same_content_is_discarded(store: SessionStore) -> None:
    """One file, one session: the same bytes under another object name do not make two."""
    first, _ = store.create_pending(new_session("0409.c3d"))
    second, _ = store.create_pending(new_session("0409-copy.c3d"))
    kwargs = {"file_size": 10, "recording": RECORDING, "report": REPORT, "processing_ms": 5.0}
    assert store.complete(first.id, file_hash=HASH_A, **kwargs) is not None

    assert store.complete(second.id, file_hash=HASH_A, **kwargs) is None

    assert store.get(second.id) is None
    kept = store.get(first.id)
    assert kept is not None and kept.status == SessionStatus.COMPLETED
    assert kept.file_hash == HASH_A
    rows, total = store.list()
    assert total == 1 and [r.id for r in rows] == [first.id]


def test_complete_of_a_session_that_is_gone_returns_none(store: SessionStore) -> None:
    assert (
        store.complete(
            uuid.uuid4(),
            file_hash=HASH_A,
            file_size=10,
            recording=RECORDING,
            report=REPORT,
            processing_ms=1.0,
        )
        is None
    )
    assert store.find_by_hash(HASH_A) is None


def test_fail_records_the_reason(store: SessionStore) -> None:
    row, _ = store.create_pending(new_session("0409.c3d"))
    assert store.claim_next(lease_s=60, max_attempts=3) is not None
    reason = "cannot fetch the recording: object c3d-examples/patient-1/0409.c3d not found"

    store.fail(row.id, reason)

    stored = store.get(row.id)
    assert stored is not None
    assert stored.status == SessionStatus.FAILED
    assert stored.failure_reason == reason
    assert stored.completed_at is not None
    assert stored.lease_expires_at is None
    assert stored.report is None and stored.file_hash is None


# --- reading ------------------------------------------------------------------------------------


def test_list_paginates_newest_first_and_counts_the_total(store: SessionStore) -> None:
    created = [store.create_pending(new_session(f"{i}.c3d"))[0] for i in range(5)]
    newest_first = [r.id for r in reversed(created)]

    page1, total1 = store.list(limit=2, offset=0)
    page2, total2 = store.list(limit=2, offset=2)
    page3, total3 = store.list(limit=2, offset=4)
    beyond, total4 = store.list(limit=2, offset=10)

    assert (total1, total2, total3, total4) == (5, 5, 5, 5)
    assert [r.id for r in page1 + page2 + page3] == newest_first
    assert [len(page1), len(page2), len(page3), len(beyond)] == [2, 2, 1, 0]


def test_list_filters_by_owner_and_patient(store: SessionStore) -> None:
    a1, _ = store.create_pending(new_session("a1.c3d", owner_id="t-a", patient_id="p-1"))
    a2, _ = store.create_pending(new_session("a2.c3d", owner_id="t-a", patient_id="p-2"))
    b1, _ = store.create_pending(new_session("b1.c3d", owner_id="t-b", patient_id="p-1"))
    store.create_pending(new_session("none.c3d", owner_id=None, patient_id=None))

    def ids(**filters: str) -> tuple[list[uuid.UUID], int]:
        rows, total = store.list(**filters)
        return [r.id for r in rows], total

    assert ids(owner_id="t-a") == ([a2.id, a1.id], 2)
    assert ids(patient_id="p-1") == ([b1.id, a1.id], 2)
    assert ids(owner_id="t-a", patient_id="p-1") == ([a1.id], 1)
    assert ids(owner_id="t-b", patient_id="p-2") == ([], 0)
    assert ids(owner_id="nobody") == ([], 0)
    assert ids()[1] == 4


def test_in_flight_counts_pending_and_processing(store: SessionStore) -> None:
    assert store.in_flight() == 0
    rows = [store.create_pending(new_session(f"{i}.c3d"))[0] for i in range(4)]
    assert store.in_flight() == 4

    assert store.claim_next(lease_s=60, max_attempts=3) is not None  # rows[0]: processing
    store.complete(
        rows[1].id,
        file_hash=HASH_A,
        file_size=1,
        recording=RECORDING,
        report=REPORT,
        processing_ms=1.0,
    )
    store.fail(rows[2].id, "the recording cannot be analysed: file is empty")

    assert store.in_flight() == 2  # rows[0] processing, rows[3] pending


def test_ping_reaches_the_database(store: SessionStore) -> None:
    store.ping()


# --- concurrency --------------------------------------------------------------------------------


def claim_concurrently(store: SessionStore, workers: int, max_attempts: int = 3) -> list[uuid.UUID]:
    """``workers`` threads each claiming until nothing is left; every claim, in no order."""
    barrier = threading.Barrier(workers)
    claims: list[list[uuid.UUID]] = [[] for _ in range(workers)]
    errors: list[BaseException] = []

    def work(mine: list[uuid.UUID]) -> None:
        try:
            barrier.wait(timeout=10)
            while (row := store.claim_next(lease_s=60, max_attempts=max_attempts)) is not None:
                mine.append(row.id)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(claims[i],)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(t.is_alive() for t in threads), "a worker did not finish within 30 s"
    assert errors == []
    return [session_id for mine in claims for session_id in mine]


def test_concurrent_workers_claim_every_row_exactly_once(pg_store: SessionStore) -> None:
    """PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets 8 workers share 20 rows without overlap."""
    rows = 20
    created = {pg_store.create_pending(new_session(f"{i}.c3d"))[0].id for i in range(rows)}

    claimed = claim_concurrently(pg_store, workers=8)

    assert len(claimed) == rows
    assert set(claimed) == created
    listed, total = pg_store.list(limit=rows)
    assert total == rows
    assert {(r.status, r.attempts) for r in listed} == {(SessionStatus.PROCESSING, 1)}
    assert pg_store.in_flight() == rows


def test_concurrent_workers_on_sqlite_claim_every_row_exactly_once(
    tmp_path: Path,
) -> None:
    """SQLite has no row locks: the claim's write transaction serialises the workers instead."""
    engine = make_engine(f"sqlite:///{tmp_path}/s.sqlite3")
    upgrade(engine)
    try:
        store = SessionStore(engine)
        created = {store.create_pending(new_session(f"{i}.c3d"))[0].id for i in range(20)}

        claimed = claim_concurrently(store, workers=8)

        assert sorted(claimed) == sorted(created)
        assert {r.attempts for r in store.list(limit=20)[0]} == {1}
    finally:
        engine.dispose()


def test_concurrent_workers_retry_abandoned_rows_once_and_give_up_on_exhausted_ones(
    pg_store: SessionStore,
) -> None:
    """Rows an instance abandoned once are claimed again exactly once; rows abandoned
    ``max_attempts`` times are failed, never claimed, whichever worker reaches them."""
    retry = [pg_store.create_pending(new_session(f"retry-{i}.c3d"))[0].id for i in range(10)]
    exhausted = [pg_store.create_pending(new_session(f"done-{i}.c3d"))[0].id for i in range(10)]
    abandon(pg_store, retry, attempts=1)
    abandon(pg_store, exhausted, attempts=2)

    claimed = claim_concurrently(pg_store, workers=8, max_attempts=2)

    assert sorted(claimed) == sorted(retry)
    for session_id in retry:
        row = pg_store.get(session_id)
        assert row is not None
        assert (row.status, row.attempts) == (SessionStatus.PROCESSING, 2)
    for session_id in exhausted:
        row = pg_store.get(session_id)
        assert row is not None
        assert (row.status, row.attempts) == (SessionStatus.FAILED, 2)
        assert row.failure_reason == gave_up(2)


def abandon(store: SessionStore, ids: list[uuid.UUID], attempts: int) -> None:
    """Test setup: rows left in processing by instances that died ``attempts`` times."""
    past = datetime.now(UTC) - timedelta(minutes=5)
    with store.engine.begin() as connection:
        connection.execute(
            update(TherapySession)
            .where(TherapySession.id.in_(ids))
            .values(
                status=SessionStatus.PROCESSING,
                attempts=attempts,
                started_at=past,
                lease_expires_at=past + timedelta(seconds=1),
            )
        )
