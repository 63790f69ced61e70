"""Run the C3D parser library (ezc3d) in supervised worker processes.

ezc3d is C++: on some corrupted files it segfaults or loops forever at 100 % CPU ignoring SIGTERM.
Parsing therefore never happens in the caller's process. Each worker parses one file at a time
under an address-space limit; the caller waits at most ``timeout_s``. A worker that crashes,
hangs or runs out of memory is killed and replaced, and the caller gets a `ParserFailure` for
that file only.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emg_core.errors import ParserFailure

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["numpy", "ezc3d"])


@dataclass(frozen=True)
class ParsedC3D:
    """What the parser library read: analog data (channels × samples, volts) and parameters."""

    analogs: np.ndarray
    parameters: dict[str, dict[str, list[Any]]]


def _plain(value: Any) -> list[Any]:
    if isinstance(value, np.ndarray):
        return value.ravel().tolist()
    return list(value) if isinstance(value, list | tuple) else [value]


def _parse(path: str) -> tuple[np.ndarray, dict[str, dict[str, list[Any]]]]:
    import ezc3d

    c3d = ezc3d.c3d(path)
    analogs = np.ascontiguousarray(c3d["data"]["analogs"][0], dtype=np.float64)
    params = {
        group: {
            name: _plain(entry["value"])
            for name, entry in content.items()
            if not name.startswith("__") and isinstance(entry, dict) and "value" in entry
        }
        for group, content in c3d["parameters"].items()
        if not group.startswith("__")
    }
    return analogs, params


def _worker(conn: multiprocessing.connection.Connection, memory_limit_bytes: int) -> None:
    """Worker loop: parse paths until the pipe closes; report exceptions, never raise them."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))
    while True:
        try:
            path = conn.recv()
        except EOFError:
            return
        if path is None:  # a ping from the supervisor
            conn.send(("pong", None, None))
            continue
        try:
            conn.send(("ok", *_parse(path)))
        except MemoryError:
            conn.send(("memory", None, None))
        except Exception as exc:  # the parser's own complaint about the file
            detail = str(exc).replace(path, "the file").split(". ")[0].strip() or type(exc).__name__
            conn.send(("memory" if "bad_alloc" in detail else "error", detail, None))


class _Worker:
    def __init__(self, memory_limit_bytes: int) -> None:
        self.conn, child = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(
            target=_worker, args=(child, memory_limit_bytes), daemon=True, name="c3d-parser"
        )
        self.process.start()
        child.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()


class ParserPool:
    """A fixed number of supervised parser processes; thread-safe, one file per worker at a time.

    Parameters
    ----------
    workers : int
        Parser processes (each holds at most one file's data at a time).
    timeout_s : float
        Longest a parse may take before its worker is killed.
    memory_limit_bytes : int
        Address-space limit of each worker.

    Examples
    --------
    >>> with ParserPool(workers=1) as pool:               # doctest: +SKIP
    ...     parsed = pool.parse_file("Ghostly_Emg_20230321_17-23-09-0409.c3d")
    """

    def __init__(
        self, workers: int = 1, timeout_s: float = 30.0, memory_limit_bytes: int = 2 << 30
    ) -> None:
        if workers < 1:
            raise ValueError(f"{workers=} must be >= 1")
        if timeout_s <= 0:
            raise ValueError(f"{timeout_s=} must be > 0")
        self.timeout_s = timeout_s
        self.memory_limit_bytes = memory_limit_bytes
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False
        for _ in range(workers):
            self._idle.put(self._spawn())

    def _spawn(self) -> _Worker:
        worker = _Worker(self.memory_limit_bytes)
        with self._lock:
            self._all.append(worker)
        return worker

    def _replace(self, worker: _Worker) -> _Worker:
        worker.kill()
        with self._lock:
            self._all.remove(worker)
        return self._spawn()

    @property
    def alive(self) -> int:
        """Number of worker processes currently running (for readiness checks)."""
        with self._lock:
            return sum(w.process.is_alive() for w in self._all)

    def ping(self, timeout_s: float = 1.0) -> float | None:
        """Round trip to an idle worker in seconds; None when every worker stays busy that long
        or the worker does not answer (it is then replaced)."""
        if self._closed:
            raise RuntimeError("ParserPool is closed")
        try:
            worker = self._idle.get(timeout=timeout_s)
        except queue.Empty:
            return None
        started = time.perf_counter()
        try:
            worker.conn.send(None)
            if worker.conn.poll(timeout_s) and worker.conn.recv()[0] == "pong":
                return time.perf_counter() - started
            worker = self._replace(worker)
            return None
        except (EOFError, OSError):
            worker = self._replace(worker)
            return None
        finally:
            self._idle.put(worker)

    def parse_file(self, path: str | Path) -> ParsedC3D:
        """Parse one C3D file in a worker; raise `ParserFailure` if the parser fails on it."""
        if self._closed:
            raise RuntimeError("ParserPool is closed")
        worker = self._idle.get()
        try:
            worker.conn.send(str(path))
            if not worker.conn.poll(self.timeout_s):
                worker = self._replace(worker)
                raise ParserFailure(
                    f"the C3D parser did not finish within {self.timeout_s:g} s; "
                    "the file is probably corrupted"
                )
            try:
                status, payload, params = worker.conn.recv()
            except (EOFError, OSError):
                worker = self._replace(worker)
                raise ParserFailure(
                    "the C3D parser crashed on this file; the file is corrupted"
                ) from None
        except BrokenPipeError:
            worker = self._replace(worker)
            raise ParserFailure("the C3D parser was not available; try again") from None
        finally:
            self._idle.put(worker)
        if status == "memory":
            raise ParserFailure("the C3D parser ran out of memory on this file")
        if status == "error":
            raise ParserFailure(f"the C3D parser refused the file ({payload})")
        return ParsedC3D(analogs=payload, parameters=params)

    def close(self) -> None:
        self._closed = True
        with self._lock:
            workers, self._all = self._all, []
        for worker in workers:
            worker.kill()

    def __enter__(self) -> ParserPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
