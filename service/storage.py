"""Where webhook-announced recordings are fetched from: a local directory (development, tests)
or Supabase Storage (cloud). Both stream with a size limit so a huge object cannot fill memory."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from service.sizes import size_text

_CHUNK = 1 << 20


class StorageError(Exception):
    """The object could not be fetched; the message is safe to store on the session."""


class ObjectStorage(Protocol):
    def fetch(self, bucket: str, name: str, max_bytes: int) -> bytes: ...


def _too_large(max_bytes: int) -> StorageError:
    return StorageError(f"object exceeds the limit of {size_text(max_bytes)}")


def check_object_name(bucket: str, name: str) -> None:
    """Names come from webhook events: none may leave its bucket (``..``, ``/x``, ``\\``)."""
    parts = name.split("/")
    control = any(ord(c) < 32 or ord(c) == 127 for c in name)
    if not name or control or name.startswith("/") or "\\" in name or ".." in parts or "" in parts:
        raise StorageError(f"object name {name!r} points outside bucket {bucket!r}")


class LocalStorage:
    """Objects as files under ``root/<bucket>/<name>``; names cannot escape ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def path(self, bucket: str, name: str) -> Path:
        check_object_name(bucket, name)
        path = (self.root / bucket / name).resolve()
        if not path.is_relative_to(self.root / bucket) or path == self.root / bucket:
            raise StorageError(f"object name {name!r} points outside bucket {bucket!r}")
        return path

    def fetch(self, bucket: str, name: str, max_bytes: int) -> bytes:
        path = self.path(bucket, name)
        try:
            with path.open("rb") as handle:
                data = handle.read(max_bytes + 1)
        except FileNotFoundError:
            raise StorageError(f"object {bucket}/{name} not found") from None
        except OSError as exc:
            raise StorageError(f"object {bucket}/{name} cannot be read: {exc.strerror}") from None
        if len(data) > max_bytes:
            raise _too_large(max_bytes)
        return data


class SupabaseStorage:
    """Supabase Storage REST API with the service key (objects in private buckets)."""

    def __init__(self, base_url: str, service_key: str, timeout_s: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {service_key}", "apikey": service_key}
        self.timeout_s = timeout_s

    def fetch(self, bucket: str, name: str, max_bytes: int) -> bytes:
        import httpx  # only cloud instances need it: keep it out of start-up

        check_object_name(bucket, name)
        url = f"{self.base_url}/storage/v1/object/authenticated/{quote(bucket)}/{quote(name)}"
        chunks, size = [], 0
        try:
            with httpx.stream(
                "GET", url, headers=self._headers, timeout=self.timeout_s
            ) as response:
                if response.status_code == 404:
                    raise StorageError(f"object {bucket}/{name} not found")
                if response.status_code != 200:
                    raise StorageError(
                        f"storage answered HTTP {response.status_code} for {bucket}/{name}"
                    )
                for chunk in response.iter_bytes(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise _too_large(max_bytes)
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise StorageError(f"storage unreachable ({type(exc).__name__})") from None
        return b"".join(chunks)
