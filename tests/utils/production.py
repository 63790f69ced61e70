"""Helpers for end-to-end tests of the production configuration: a PostgreSQL schema per server,
Bearer tokens as the auth provider (Supabase) issues them, signed storage webhooks, Prometheus
text and the server's JSON log lines."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ezc3d
import jwt
from prometheus_client.parser import text_string_to_metric_families

from tests.utils.c3d_factory import bursts, write_c3d

# The PostgreSQL the tests (and bench_load's cold starts) make their schemas in.
PG_URL = os.environ.get("EMG_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
GHOSTLY_LABELS = ["CH1 Raw", "CH2 Raw", "CH1 activated", "CH2 activated"]
FS = 990.0


@contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A URL of ``base_url``'s database whose search_path is a fresh schema, dropped afterwards
    (the module-scoped counterpart of the ``pg_url`` fixture: one schema per server)."""
    from sqlalchemy import text

    from service.db.engine import make_engine

    admin = make_engine(base_url)
    schema = f"test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception:
        admin.dispose()
        raise
    separator = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def access_token(
    secret: str,
    sub: str,
    *,
    audience: str | None = "authenticated",
    expires_in_s: float | None = 600,
    algorithm: str = "HS256",
    **claims: Any,
) -> str:
    """An HS256 access token shaped like Supabase's (``role`` defaults to ``authenticated``);
    ``audience=None`` or ``expires_in_s=None`` leaves that claim out."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": sub,
        "role": "authenticated",
        "iat": now,
        "iss": "https://project.supabase.co/auth/v1",
        "email": f"{sub}@clinic.example",
        "session_id": str(uuid.uuid4()),
    }
    if audience is not None:
        payload["aud"] = audience
    if expires_in_s is not None:
        payload["exp"] = now + int(expires_in_s)
    payload.update(claims)
    return jwt.encode(payload, secret if algorithm != "none" else None, algorithm=algorithm)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def storage_insert_event(
    name: str,
    *,
    bucket: str,
    owner_id: str | None,
    size: int,
    event_type: str = "INSERT",
    mimetype: str = "application/octet-stream",
) -> dict[str, Any]:
    """The database webhook Supabase sends when an object lands in ``storage.objects``."""
    now = datetime.now(UTC).isoformat()
    record = {
        "id": str(uuid.uuid4()),
        "name": name,
        "bucket_id": bucket,
        "owner": owner_id,
        "owner_id": owner_id,
        "version": str(uuid.uuid4()),
        "created_at": now,
        "updated_at": now,
        "last_accessed_at": now,
        "path_tokens": name.split("/"),
        "user_metadata": None,
        "metadata": {
            "eTag": f'"{uuid.uuid4().hex}"',
            "size": size,
            "mimetype": mimetype,
            "cacheControl": "max-age=3600",
            "lastModified": now,
            "contentLength": size,
            "httpStatusCode": 200,
        },
    }
    return {
        "type": event_type,
        "table": "objects",
        "schema": "storage",
        "record": record,
        "old_record": None,
    }


def webhook_signature(body: bytes, secret: str) -> str:
    """``x-supabase-signature``: hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def metric_value(exposition: str, sample_name: str, **labels: str) -> float:
    """The value of one sample of Prometheus text (0.0 when that label set has none yet)."""
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == sample_name and all(
                sample.labels.get(k) == v for k, v in labels.items()
            ):
                return sample.value
    return 0.0


def metric_type(exposition: str, family_name: str) -> str | None:
    for family in text_string_to_metric_families(exposition):
        if family.name == family_name:
            return family.type
    return None


def json_log_lines(log_text: str) -> list[dict[str, Any]]:
    """Every non-empty line parsed as a JSON object; a line that is not one fails the test."""
    entries = []
    for number, line in enumerate(log_text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"log line {number} is not JSON: {line!r}") from None
        assert isinstance(entry, dict), f"log line {number} is not a JSON object: {line!r}"
        entries.append(entry)
    return entries


def synthetic_recording(path: Path, *, seed: int, player_name: str | None = None) -> Path:
    """A 30 s two-channel GHOSTLY-like recording with four contractions per channel; the seed
    makes its content (and so its hash) its own."""
    raw, activation = bursts(FS, 30.0, [2.0, 8.0, 14.0, 20.0], [2.5] * 4, seed=seed)
    write_c3d(path, [raw, raw, activation, activation], GHOSTLY_LABELS, FS)
    if player_name is not None:
        c3d = ezc3d.c3d(str(path))
        c3d.add_parameter("SUBJECTS", "PLAYER_NAME", [player_name])
        c3d.write(str(path))
    return path
