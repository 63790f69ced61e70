"""Fetching webhook-announced objects: LocalStorage on a real directory tree, and SupabaseStorage
against a real HTTP server on loopback that speaks the Storage REST path and checks the service
key like Supabase does."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest

from service.storage import LocalStorage, StorageError, SupabaseStorage

MiB = 1 << 20
BUCKET = "c3d-examples"
SERVICE_KEY = "service-role-key-" + "k" * 40
WRONG_KEY = "anon-key-" + "a" * 40
PREFIX = "/storage/v1/object/authenticated/"
RECORDING = b"C3D-bytes\x00\x01\x02" * 100
SECRET_BYTES = b"another bucket's private object"


def free_port() -> int:
    """A port nothing listens on (the kernel just handed it out and it is closed again)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- LocalStorage -----------------------------------------------------------------------------


@pytest.fixture
def local_root(tmp_path: Path) -> Path:
    root = tmp_path / "storage"
    (root / BUCKET / "P0042").mkdir(parents=True)
    (root / BUCKET / "P0042" / "trial.c3d").write_bytes(RECORDING)
    (root / BUCKET / "loose.c3d").write_bytes(b"loose")
    (root / "other-bucket").mkdir()
    (root / "other-bucket" / "secret.c3d").write_bytes(SECRET_BYTES)
    (root / f"{BUCKET}-private").mkdir()
    (root / f"{BUCKET}-private" / "secret.c3d").write_bytes(SECRET_BYTES)
    (tmp_path / "outside.c3d").write_bytes(SECRET_BYTES)
    return root


def test_local_fetch_reads_root_bucket_name(local_root: Path) -> None:
    storage = LocalStorage(local_root)

    assert storage.fetch(BUCKET, "P0042/trial.c3d", MiB) == RECORDING
    assert storage.fetch(BUCKET, "loose.c3d", MiB) == b"loose"


def test_local_fetch_with_relative_root_reads_same_object(
    local_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(local_root.parent)

    assert LocalStorage("storage").fetch(BUCKET, "P0042/trial.c3d", MiB) == RECORDING


def test_local_fetch_of_missing_object_names_it(local_root: Path) -> None:
    with pytest.raises(StorageError) as caught:
        LocalStorage(local_root).fetch(BUCKET, "P0042/missing.c3d", MiB)

    assert str(caught.value) == f"object {BUCKET}/P0042/missing.c3d not found"


def test_local_fetch_of_folder_says_it_cannot_be_read(local_root: Path) -> None:
    with pytest.raises(StorageError) as caught:
        LocalStorage(local_root).fetch(BUCKET, "P0042", MiB)

    assert str(caught.value) == f"object {BUCKET}/P0042 cannot be read: Is a directory"


@pytest.mark.parametrize(
    "name",
    [
        "../other-bucket/secret.c3d",
        "P0042/../../other-bucket/secret.c3d",
        f"../{BUCKET}-private/secret.c3d",  # a sibling whose name starts with the bucket's
        "../../outside.c3d",
        "..",
        "",
        ".",
    ],
)
def test_local_fetch_refuses_name_escaping_bucket(local_root: Path, name: str) -> None:
    with pytest.raises(StorageError) as caught:
        LocalStorage(local_root).fetch(BUCKET, name, MiB)

    assert str(caught.value) == f"object name {name!r} points outside bucket {BUCKET!r}"


def test_local_fetch_refuses_absolute_name(local_root: Path) -> None:
    name = str(local_root.parent / "outside.c3d")

    with pytest.raises(StorageError) as caught:
        LocalStorage(local_root).fetch(BUCKET, name, MiB)

    assert str(caught.value) == f"object name {name!r} points outside bucket {BUCKET!r}"


def test_local_fetch_refuses_symlink_leading_out_of_bucket(local_root: Path) -> None:
    os.symlink(local_root / "other-bucket" / "secret.c3d", local_root / BUCKET / "link.c3d")

    with pytest.raises(StorageError) as caught:
        LocalStorage(local_root).fetch(BUCKET, "link.c3d", MiB)

    assert str(caught.value) == f"object name 'link.c3d' points outside bucket {BUCKET!r}"


def test_local_fetch_refuses_dot_dot_even_staying_inside_bucket(local_root: Path) -> None:
    # Storage object names never hold '..': refusing them all is simpler than judging each.
    with pytest.raises(StorageError, match=r"object name 'P0042/\.\./loose\.c3d' points outside"):
        LocalStorage(local_root).fetch(BUCKET, "P0042/../loose.c3d", MiB)


def test_local_fetch_of_object_exactly_at_limit_returns_it(local_root: Path) -> None:
    (local_root / BUCKET / "exact.c3d").write_bytes(b"x" * MiB)

    assert len(LocalStorage(local_root).fetch(BUCKET, "exact.c3d", MiB)) == MiB


def test_local_fetch_of_object_one_byte_over_limit_refuses_it(local_root: Path) -> None:
    (local_root / BUCKET / "big.c3d").write_bytes(b"x" * (MiB + 1))

    with pytest.raises(StorageError) as caught:
        LocalStorage(local_root).fetch(BUCKET, "big.c3d", MiB)

    assert str(caught.value) == "object exceeds the limit of 1 MiB"


# --- SupabaseStorage against a real HTTP server -----------------------------------------------


@dataclass
class StorageServer:
    url: str
    objects: dict[tuple[str, str], bytes]
    paths: list[str] = field(default_factory=list)
    credentials: list[tuple[str | None, str | None]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


def make_handler(state: StorageServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def reply(self, status: int, body: bytes, length: bool = True) -> None:
            self.send_response(status)
            if length:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for start in range(0, len(body), 64 * 1024):
                    self.wfile.write(body[start : start + 64 * 1024])
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading (size limit, timeout)

        def do_GET(self) -> None:
            state.paths.append(self.path)
            state.credentials.append(
                (self.headers.get("Authorization"), self.headers.get("apikey"))
            )
            if (
                self.headers.get("Authorization") != f"Bearer {SERVICE_KEY}"
                or self.headers.get("apikey") != SERVICE_KEY
            ):
                self.reply(400, b'{"statusCode":"403","error":"Unauthorized"}')
                return
            if not self.path.startswith(PREFIX):
                self.reply(404, b'{"error":"not found"}')
                return
            bucket, _, name = unquote(self.path.removeprefix(PREFIX)).partition("/")
            if name == "explode.c3d":
                self.reply(500, b'{"statusCode":"500","error":"internal"}')
            elif name == "slow.c3d":
                state.release.wait(5)
                self.reply(200, RECORDING)
            elif name == "stream.c3d":  # no Content-Length: the size shows only while reading
                self.reply(200, b"s" * (3 * MiB), length=False)
            elif (bucket, name) in state.objects:
                self.reply(200, state.objects[bucket, name])
            else:
                self.reply(404, b'{"statusCode":"404","error":"not_found"}')

    return Handler


@pytest.fixture(scope="module")
def storage_server() -> Iterator[StorageServer]:
    state = StorageServer(
        url="",
        objects={
            (BUCKET, "P0042/trial.c3d"): RECORDING,
            (BUCKET, "patient 7/walk #1 ü.c3d"): b"spaced",
            (BUCKET, "exact.c3d"): b"e" * MiB,
            (BUCKET, "huge.c3d"): b"h" * (2 * MiB),
            ("other-bucket", "secret.c3d"): SECRET_BYTES,
        },
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def supabase(storage_server: StorageServer) -> SupabaseStorage:
    storage_server.paths.clear()
    storage_server.credentials.clear()
    return SupabaseStorage(storage_server.url + "/", SERVICE_KEY, timeout_s=5)


def test_supabase_fetch_sends_service_key_and_returns_object(
    supabase: SupabaseStorage, storage_server: StorageServer
) -> None:
    assert supabase.fetch(BUCKET, "P0042/trial.c3d", MiB) == RECORDING
    assert storage_server.paths == [f"{PREFIX}{BUCKET}/P0042/trial.c3d"]
    assert storage_server.credentials == [(f"Bearer {SERVICE_KEY}", SERVICE_KEY)]


def test_supabase_fetch_quotes_spaces_hashes_and_unicode_in_name(
    supabase: SupabaseStorage, storage_server: StorageServer
) -> None:
    assert supabase.fetch(BUCKET, "patient 7/walk #1 ü.c3d", MiB) == b"spaced"
    assert storage_server.paths == [f"{PREFIX}{BUCKET}/patient%207/walk%20%231%20%C3%BC.c3d"]


def test_supabase_fetch_of_object_exactly_at_limit_returns_it(supabase: SupabaseStorage) -> None:
    assert supabase.fetch(BUCKET, "exact.c3d", MiB) == b"e" * MiB


def test_supabase_fetch_of_missing_object_names_it(supabase: SupabaseStorage) -> None:
    with pytest.raises(StorageError) as caught:
        supabase.fetch(BUCKET, "P0042/missing.c3d", MiB)

    assert str(caught.value) == f"object {BUCKET}/P0042/missing.c3d not found"


def test_supabase_fetch_on_server_error_names_status(supabase: SupabaseStorage) -> None:
    with pytest.raises(StorageError) as caught:
        supabase.fetch(BUCKET, "explode.c3d", MiB)

    assert str(caught.value) == f"storage answered HTTP 500 for {BUCKET}/explode.c3d"


def test_supabase_fetch_with_wrong_key_names_status_not_key(
    storage_server: StorageServer,
) -> None:
    storage = SupabaseStorage(storage_server.url, WRONG_KEY, timeout_s=5)

    with pytest.raises(StorageError) as caught:
        storage.fetch(BUCKET, "P0042/trial.c3d", MiB)

    assert str(caught.value) == f"storage answered HTTP 400 for {BUCKET}/P0042/trial.c3d"
    assert WRONG_KEY not in str(caught.value)


def test_supabase_fetch_of_large_object_stops_at_limit(supabase: SupabaseStorage) -> None:
    with pytest.raises(StorageError) as caught:
        supabase.fetch(BUCKET, "huge.c3d", MiB)

    assert str(caught.value) == "object exceeds the limit of 1 MiB"


def test_supabase_fetch_of_body_without_length_stops_at_limit(supabase: SupabaseStorage) -> None:
    with pytest.raises(StorageError) as caught:
        supabase.fetch(BUCKET, "stream.c3d", MiB)

    assert str(caught.value) == "object exceeds the limit of 1 MiB"


def test_supabase_fetch_from_unreachable_port_says_unreachable() -> None:
    storage = SupabaseStorage(f"http://127.0.0.1:{free_port()}", SERVICE_KEY, timeout_s=2)

    with pytest.raises(StorageError) as caught:
        storage.fetch(BUCKET, "P0042/trial.c3d", MiB)

    assert str(caught.value) == "storage unreachable (ConnectError)"
    assert caught.value.__cause__ is None


def test_supabase_fetch_from_silent_server_times_out_as_unreachable(
    storage_server: StorageServer,
) -> None:
    storage = SupabaseStorage(storage_server.url, SERVICE_KEY, timeout_s=0.2)

    try:
        with pytest.raises(StorageError) as caught:
            storage.fetch(BUCKET, "slow.c3d", MiB)
    finally:
        storage_server.release.set()

    assert str(caught.value) == "storage unreachable (ReadTimeout)"


@pytest.mark.parametrize("name", ["P0042/missing.c3d", "explode.c3d", "huge.c3d", "stream.c3d"])
def test_supabase_fetch_errors_never_show_service_key(supabase: SupabaseStorage, name: str) -> None:
    with pytest.raises(StorageError) as caught:
        supabase.fetch(BUCKET, name, MiB)

    shown = f"{caught.value!s} {caught.value!r} {caught.value.__cause__!r}"
    assert SERVICE_KEY not in shown
    assert SERVICE_KEY not in repr(supabase)


def test_supabase_unreachable_error_never_shows_service_key() -> None:
    storage = SupabaseStorage(f"http://127.0.0.1:{free_port()}", SERVICE_KEY, timeout_s=2)

    with pytest.raises(StorageError) as caught:
        storage.fetch(BUCKET, "x.c3d", MiB)

    assert SERVICE_KEY not in f"{caught.value!s} {caught.value!r} {caught.value.__context__!r}"


def test_supabase_fetch_never_reaches_outside_bucket(
    supabase: SupabaseStorage, storage_server: StorageServer
) -> None:
    try:
        data: bytes | None = supabase.fetch(BUCKET, "../other-bucket/secret.c3d", MiB)
    except StorageError:
        data = None

    assert data != SECRET_BYTES
    assert [p for p in storage_server.paths if not p.startswith(f"{PREFIX}{BUCKET}/")] == []


def test_object_names_with_control_characters_never_reach_storage(local_root: Path) -> None:
    with pytest.raises(StorageError, match="points outside bucket"):
        LocalStorage(local_root).fetch(BUCKET, "P1/a\x00b.c3d", MiB)
