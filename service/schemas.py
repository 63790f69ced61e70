"""What the API says about therapy sessions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

# Text we store or search for: no control characters (NUL breaks PostgreSQL and file paths).
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"


class SessionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: str
    failure_reason: str | None
    patient_id: str | None
    file_name: str
    file_size: int | None
    file_hash: str | None
    recording: dict[str, Any] | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    processing_ms: float | None


class SessionPage(BaseModel):
    items: list[SessionPublic]
    total: int
    limit: int
    offset: int


class WebhookAnswer(BaseModel):
    status: str
    reason: str | None = None
    session_id: uuid.UUID | None = None
    created: bool | None = None
