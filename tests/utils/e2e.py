"""End-to-end helpers: run the real ``emg`` command (one at a time or several ahead of time),
start ``emg serve`` on a free port, and edit C3D bytes in ways ezc3d would refuse to write (a
patched parameter; a malformed file made to reach the parser)."""

from __future__ import annotations

import math
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest


def emg_command() -> list[str]:
    """The installed ``emg`` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "emg"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "emg_core.cli"]


def run_emg(*args: str | os.PathLike[str], timeout_s: float = 120.0) -> subprocess.CompletedProcess:
    """Run ``emg ARGS...`` to completion and capture its output as text."""
    return subprocess.run(
        [*emg_command(), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Server:
    """A running ``emg serve`` process."""

    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


@contextmanager
def running_server(
    log_path: Path, env: Mapping[str, str] | None = None, startup_timeout_s: float = 20.0
) -> Iterator[Server]:
    """Start ``emg serve --port <free port>`` in ``log_path``'s folder with ``env`` added to an
    environment free of service settings, wait until GET /health answers, yield it, then stop it
    (SIGTERM, then SIGKILL if it does not exit)."""
    from service.settings import Settings

    # Settings come from the environment: drop the inherited ones so a developer's shell cannot
    # change what a test server does, and run in the log's folder so relative paths land there.
    port = free_port()
    fields = {name.lower() for name in Settings.model_fields}
    environment = {k: v for k, v in os.environ.items() if k.lower() not in fields}
    environment.update(env or {})
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*emg_command(), "serve", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=log_path.parent,
        )
    server = Server(url=url, process=process, log_path=log_path)
    try:
        _wait_until_healthy(server, startup_timeout_s)
        yield server
    finally:
        _stop(process)


def _wait_until_healthy(server: Server, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not server.alive:
            pytest.fail(
                f"emg serve exited with status {server.process.returncode} before answering "
                f"/health:\n{server.log()}"
            )
        try:
            if httpx.get(f"{server.url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"emg serve did not answer /health within {timeout_s:g} s:\n{server.log()}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


@dataclass(frozen=True)
class _Record:
    """One record of a C3D parameter section: a group (``rec_id`` < 0) or a parameter."""

    rec_id: int
    name: str
    name_span: tuple[int, int]
    body: int  # first byte after the record's offset word


def _records(data: bytes) -> Iterator[_Record]:
    """The parameter records of a well-formed C3D file, in file order (C3D User Guide)."""
    start = (data[0] - 1) * 512
    end = start + data[start + 2] * 512
    pos = start + 4
    while pos < end:
        name_len = abs(struct.unpack_from("<b", data, pos)[0])
        if name_len == 0:
            return
        rec_id = struct.unpack_from("<b", data, pos + 1)[0]
        name = data[pos + 2 : pos + 2 + name_len].decode("latin-1").upper()
        (offset,) = struct.unpack_from("<H", data, pos + 2 + name_len)
        yield _Record(rec_id, name, (pos + 2, pos + 2 + name_len), pos + 4 + name_len)
        if offset == 0:
            return
        pos = pos + 2 + name_len + offset


def with_int_parameter(data: bytes, group: str, name: str, value: int) -> bytes:
    """A copy of C3D ``data`` with the 16-bit integer parameter ``GROUP:NAME`` set to ``value``;
    every other byte stays as it was."""
    records = list(_records(data))
    group_ids = {-r.rec_id for r in records if r.rec_id < 0 and r.name == group.upper()}
    where = []
    for r in records:
        if r.rec_id in group_ids and r.name == name.upper():
            type_code = struct.unpack_from("<b", data, r.body)[0]
            n_dims = data[r.body + 1]
            if type_code == 2 and math.prod(data[r.body + 2 : r.body + 2 + n_dims]) == 1:
                where.append(r.body + 2 + n_dims)
    if len(where) != 1:
        raise ValueError(f"no single 16-bit integer parameter {group}:{name} in this file")
    patched = bytearray(data)
    struct.pack_into("<h", patched, where[0], value)
    return bytes(patched)


def past_validation(malformed: bytes, original: bytes) -> bytes:
    """A shared malformed file made to pass the structural validation, so it reaches the parser.

    The malformed files are corrupted, truncated copies of a sample recording. This lays their
    bytes over the complete ``original`` (so the data section is whole again) and restores the
    group names, which only name things; the corruption that makes the parser crash or hang
    stays.
    """
    patched = bytearray(original)
    patched[: len(malformed)] = malformed
    for record in _records(original):
        if record.rec_id < 0:
            first, last = record.name_span
            patched[first:last] = original[first:last]
    return bytes(patched)


class EmgRuns:
    """``emg`` invocations started ahead of time on a few threads, read back by name.

    Each run spends most of its time importing scipy; starting the independent ones together keeps
    an end-to-end module fast without changing what each test runs.
    """

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="emg-run")
        self._runs: dict[str, Future[subprocess.CompletedProcess]] = {}

    def start(self, name: str, *args: str | os.PathLike[str]) -> None:
        if name in self._runs:
            raise ValueError(f"run {name!r} started twice")
        self._runs[name] = self._pool.submit(run_emg, *args)

    def __getitem__(self, name: str) -> subprocess.CompletedProcess:
        return self._runs[name].result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
