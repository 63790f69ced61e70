"""The session store: every read and write of therapy sessions goes through `SessionStore`.

A session row is also its background job: workers claim pending rows (and rows whose lease
expired because an instance died) with ``FOR UPDATE SKIP LOCKED``, so two instances never take
the same row and a killed instance's work is picked up by another.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from service.db.models import SessionStatus, TherapySession


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class NewSession:
    """What a storage event tells us about a recording before we have fetched it."""

    bucket: str
    object_name: str
    file_name: str
    file_size: int | None
    owner_id: str | None
    patient_id: str | None


class SessionStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def create_pending(self, new: NewSession) -> tuple[TherapySession, bool]:
        """Create a pending session; the same storage object again returns the existing one."""
        row = TherapySession(
            id=uuid.uuid4(),
            status=SessionStatus.PENDING,
            bucket=new.bucket,
            object_name=new.object_name,
            file_name=new.file_name,
            file_size=new.file_size,
            owner_id=new.owner_id,
            patient_id=new.patient_id,
            attempts=0,
            created_at=_now(),
        )
        try:
            with self._sessions.begin() as db:
                db.add(row)
            return row, True
        except IntegrityError:
            with self._sessions() as db:
                existing = db.scalars(
                    select(TherapySession).where(
                        TherapySession.bucket == new.bucket,
                        TherapySession.object_name == new.object_name,
                    )
                ).one()
            return existing, False

    def claim_next(self, lease_s: float, max_attempts: int) -> TherapySession | None:
        """Take one pending (or abandoned) session for processing, or None when there is none.

        Sessions abandoned ``max_attempts`` times are marked failed instead of retried forever.
        """
        now = _now()
        claimable = or_(
            TherapySession.status == SessionStatus.PENDING,
            (TherapySession.status == SessionStatus.PROCESSING)
            & (TherapySession.lease_expires_at < now),
        )
        with self._sessions.begin() as db:
            db.execute(
                update(TherapySession)
                .where(claimable, TherapySession.attempts >= max_attempts)
                .values(
                    status=SessionStatus.FAILED,
                    failure_reason=f"gave up after {max_attempts} attempts (processing never "
                    "finished; the instance may have been stopped)",
                    completed_at=now,
                    lease_expires_at=None,
                )
            )
            row = db.scalars(
                select(TherapySession)
                .where(claimable)
                .order_by(TherapySession.created_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:
                return None
            row.status = SessionStatus.PROCESSING
            row.attempts += 1
            row.started_at = now
            row.lease_expires_at = now + timedelta(seconds=lease_s)
            return row

    def find_by_hash(self, file_hash: str) -> TherapySession | None:
        with self._sessions() as db:
            return db.scalars(
                select(TherapySession).where(TherapySession.file_hash == file_hash)
            ).first()

    def discard(self, session_id: uuid.UUID) -> None:
        """Remove a session that duplicates another (same content): one file, one session."""
        with self._sessions.begin() as db:
            db.execute(delete(TherapySession).where(TherapySession.id == session_id))

    def complete(
        self,
        session_id: uuid.UUID,
        *,
        file_hash: str,
        file_size: int,
        recording: dict[str, Any],
        report: dict[str, Any],
        processing_ms: float,
    ) -> TherapySession | None:
        """Store the report. Returns None if another session already holds this content (this
        one is then discarded)."""
        try:
            with self._sessions.begin() as db:
                row = db.get(TherapySession, session_id)
                if row is None:
                    return None
                row.status = SessionStatus.COMPLETED
                row.failure_reason = None
                row.file_hash = file_hash
                row.file_size = file_size
                row.recording = recording
                row.report = report
                row.processing_ms = processing_ms
                row.completed_at = _now()
                row.lease_expires_at = None
            return row
        except IntegrityError:
            self.discard(session_id)
            return None

    def fail(self, session_id: uuid.UUID, reason: str) -> None:
        with self._sessions.begin() as db:
            values: dict[str, Any] = {
                "status": SessionStatus.FAILED,
                "failure_reason": reason,
                "completed_at": _now(),
                "lease_expires_at": None,
            }
            db.execute(update(TherapySession).where(TherapySession.id == session_id).values(values))

    def get(self, session_id: uuid.UUID) -> TherapySession | None:
        with self._sessions() as db:
            return db.get(TherapySession, session_id)

    def list(
        self,
        *,
        owner_id: str | None = None,
        patient_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[TherapySession], int]:
        """Newest first. ``owner_id`` None means every owner (administrators)."""
        query = select(TherapySession)
        if owner_id is not None:
            query = query.where(TherapySession.owner_id == owner_id)
        if patient_id is not None:
            query = query.where(TherapySession.patient_id == patient_id)
        with self._sessions() as db:
            total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = db.scalars(
                query.order_by(TherapySession.created_at.desc(), TherapySession.id)
                .limit(limit)
                .offset(offset)
            ).all()
        return list(rows), total

    def in_flight(self) -> int:
        with self._sessions() as db:
            return (
                db.scalar(
                    select(func.count()).where(
                        TherapySession.status.in_([SessionStatus.PENDING, SessionStatus.PROCESSING])
                    )
                )
                or 0
            )
