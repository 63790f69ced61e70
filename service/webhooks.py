"""Storage webhooks: signature check over the raw body, and what an INSERT event means for us."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field

from service.schemas import PRINTABLE
from service.store import NewSession

SIGNATURE_HEADER = "x-supabase-signature"


def signature_valid(body: bytes, header: str | None, secret: str) -> bool:
    """``header`` is the hex HMAC-SHA256 of ``body`` (optionally ``sha256=``-prefixed)."""
    if not header:
        return False
    given = header.strip().lower().removeprefix("sha256=")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given.encode(), expected.encode())


class ObjectMetadata(BaseModel):
    model_config = ConfigDict(extra="allow")
    size: int | None = Field(None, ge=0)
    mimetype: str | None = None


class StorageObject(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=1024, pattern=PRINTABLE)
    bucket_id: str = Field(min_length=1, max_length=128, pattern=PRINTABLE)
    owner: str | None = None
    owner_id: str | None = None
    metadata: ObjectMetadata | None = None


class StorageEvent(BaseModel):
    """The database webhook Supabase sends on ``storage.objects`` changes."""

    model_config = ConfigDict(extra="allow")
    type: str
    table: str
    schema_: str | None = Field(None, alias="schema")
    record: StorageObject | None = None


def ignore_reason(event: StorageEvent, bucket: str) -> str | None:
    """Why this event starts no analysis, or None when it should."""
    if event.type != "INSERT" or event.table != "objects":
        return f"only INSERT events on storage objects count (got {event.type} on {event.table})"
    if event.record is None:
        return "the event carries no record"
    if event.record.bucket_id != bucket:
        return f"bucket {event.record.bucket_id!r} is not watched"
    if not event.record.name.lower().endswith(".c3d"):
        return "not a .c3d recording"
    return None


def new_session(record: StorageObject) -> NewSession:
    """Patient: the first folder of the object name (``<patient>/<file>.c3d``), if any."""
    path = PurePosixPath(record.name.lstrip("/"))
    return NewSession(
        bucket=record.bucket_id,
        object_name=record.name,
        file_name=path.name,
        file_size=record.metadata.size if record.metadata else None,
        owner_id=record.owner_id or record.owner,
        patient_id=path.parts[0] if len(path.parts) > 1 else None,
    )
