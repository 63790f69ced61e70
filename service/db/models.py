"""Therapy sessions: one row per recording, which is also the background job that analyses it."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Plain JSON (json on PostgreSQL): reports are stored and returned whole, never queried inside;
# this also keeps the PostgreSQL dialect out of the import path of an SQLite instance.
JsonDocument = JSON()


class Base(DeclarativeBase):
    pass


class SessionStatus(enum.StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class TherapySession(Base):
    __tablename__ = "therapy_sessions"
    __table_args__ = (
        Index("ix_therapy_sessions_claim", "status", "lease_expires_at"),
        Index("uq_therapy_sessions_object", "bucket", "object_name", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    status: Mapped[str] = mapped_column(String(16), default=SessionStatus.PENDING)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    patient_id: Mapped[str | None] = mapped_column(String(128), index=True)
    owner_id: Mapped[str | None] = mapped_column(String(64), index=True)
    bucket: Mapped[str] = mapped_column(String(128))
    object_name: Mapped[str] = mapped_column(String(1024))
    file_name: Mapped[str] = mapped_column(String(255))
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    file_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    recording: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    report: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    processing_ms: Mapped[float | None]
