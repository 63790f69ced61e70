"""Bounded load run on loopback against `emg serve --workers 2`: cold start, then concurrent
uploads of sample 0409 (cold, cached, and with malformed files mixed in), with the memory of the
server's worker processes. Figures, not a test: compare with ../../../shared/TARGETS.md.

    .venv/bin/python tests/benchmarks/bench_load.py [--json out.json]

Every server runs in its own temporary folder (SQLite database, storage) in its own process
group, and is stopped at the end whatever happens (SIGTERM, then SIGKILL to the group).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _common import REPO, SHARED, samples

sys.path.insert(0, str(REPO))  # service and tests.utils, imported where first needed

WORKERS = 2
CLIENTS = 4
REQUESTS = 200  # per load scenario, at most
DURATION_S = 30.0  # per load scenario: no new request after this
COLD_STARTS = 3
PARSER_TIMEOUT_S = 3
REQUEST_TIMEOUT_S = 30.0
STARTUP_TIMEOUT_S = 60.0
TERM_WAIT_S = 35.0  # emg serve shuts down gracefully within 30 s
MEMORY_AFTER = 20  # uploads
MALFORMED_EVERY = 10
REDIS_URL = os.environ.get("EMG_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SAMPLE_KEY = "0409"
COMPLIANCE_0409 = 65.21  # EMG_SPEC.md anchor: a good answer, not just a 200

# ../../../shared/TARGETS.md
TARGET_RPS = 20.0
TARGET_P99_S = 0.5
TARGET_WORKER_MIB = 200.0
TARGET_COLD_START_S = 1.0
FLAT_TOLERANCE_MIB = 20.0  # growth from "after 20 uploads" to the end still called flat

MiB = 1 << 20
_servers: list[Server] = []


# --- processes -----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proc_table() -> dict[int, tuple[str, int, int]]:
    """pid -> (state, ppid, process group) of every process, from /proc/<pid>/stat."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()  # the command name may hold spaces
        table[int(entry.name)] = (fields[0], int(fields[1]), int(fields[2]))
    return table


def _machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy (all cores) since boot, from /proc/stat."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait


def _own_cpu_s(pgid: int) -> float:
    """CPU seconds of the server's process group (with reaped children) and of this script."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        if int(fields[2]) == pgid:
            ticks += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    me = os.times()
    return ticks / os.sysconf("SC_CLK_TCK") + me.user + me.system


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kib(pid: int) -> int:
    """Proportional set size (shared pages split between the processes sharing them)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return _status_kib(pid, "VmRSS")


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def worker_memory(server_pid: int) -> dict[str, Any]:
    """VmRSS of the uvicorn worker processes (children of the server started by multiprocessing
    spawn) and, beside each, its parser processes (forkserver and parser workers, PSS)."""
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (state, ppid, _) in table.items():
        if state != "Z":
            children.setdefault(ppid, []).append(pid)
    workers = {}
    for pid in sorted(children.get(server_pid, [])):
        if b"spawn_main" not in _cmdline(pid):
            continue  # multiprocessing's resource tracker
        below, todo = [], list(children.get(pid, []))
        while todo:
            child = todo.pop()
            below.append(child)
            todo.extend(children.get(child, []))
        workers[pid] = {
            "rss_mib": round(_status_kib(pid, "VmRSS") / 1024, 1),
            "hwm_mib": round(_status_kib(pid, "VmHWM") / 1024, 1),
            "parser_processes": len(below),
            "parser_pss_mib": round(sum(_pss_kib(p) for p in below) / 1024, 1),
        }
    return {
        "supervisor_rss_mib": round(_status_kib(server_pid, "VmRSS") / 1024, 1),
        "workers": workers,
        "sum_mib": round(sum(w["rss_mib"] for w in workers.values()), 1),
        "max_mib": max((w["rss_mib"] for w in workers.values()), default=0.0),
    }


class Server:
    """`emg serve` in a temporary folder, in a process group of its own."""

    def __init__(self, name: str, workdir: Path, env: dict[str, str]) -> None:
        self.name = name
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{name}.log"
        self.stopped: dict[str, Any] = {}
        environment = {k: v for k, v in os.environ.items() if k.lower() not in _setting_names()}
        environment.update(
            ENVIRONMENT="development",
            DATABASE_URL=f"sqlite:///{workdir / 'emg.sqlite3'}",
            STORAGE_DIR=str(workdir / "storage"),
            PARSER_TIMEOUT=str(PARSER_TIMEOUT_S),
            MALLOC_ARENA_MAX="2",  # as the image runs it (service/Dockerfile)
        )
        environment.update(env)
        emg = Path(sys.executable).with_name("emg")
        command = [str(emg), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log_path.open("wb") as log:
            self.started = time.perf_counter()
            self.process = subprocess.Popen(
                [*command, "--workers", str(WORKERS)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
                cwd=workdir,
                start_new_session=True,  # its own process group: nothing can outlive stop()
            )
        _servers.append(self)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def wait_for(self, path: str, timeout_s: float = STARTUP_TIMEOUT_S) -> float:
        """Seconds from process start to the first 200 from GET `path`."""
        deadline = time.perf_counter() + timeout_s
        with httpx.Client(base_url=self.url, timeout=2.0) as client:
            while time.perf_counter() < deadline:
                if not self.alive:
                    raise RuntimeError(
                        f"{self.name}: emg serve exited ({self.process.returncode}) before "
                        f"{path} answered:\n{self.log_tail()}"
                    )
                try:
                    if client.get(path).status_code == 200:
                        return time.perf_counter() - self.started
                except httpx.TransportError:
                    pass
                time.sleep(0.01)
        raise RuntimeError(
            f"{self.name}: no 200 from {path} in {timeout_s:g} s:\n{self.log_tail()}"
        )

    def _group(self) -> list[int]:
        return [
            p for p, (state, _, pgrp) in _proc_table().items() if pgrp == self.pid and state != "Z"
        ]

    def stop(self) -> dict[str, Any]:
        """SIGTERM, then SIGKILL to the whole group; how long it took and what was left."""
        if self.stopped:
            return self.stopped
        result: dict[str, Any] = {"shutdown_s": None, "killed": False, "leftover_processes": 0}
        if self.alive:
            t0 = time.perf_counter()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(TERM_WAIT_S)
            except subprocess.TimeoutExpired:
                result["killed"] = True
                _kill_group(self.pid)
                self.process.wait(10)
            result["shutdown_s"] = round(time.perf_counter() - t0, 2)
        result["exit_code"] = self.process.returncode
        deadline = time.perf_counter() + 3.0
        while (left := self._group()) and time.perf_counter() < deadline:
            time.sleep(0.1)
        if left:  # e.g. parser processes orphaned by their worker
            result["leftover_processes"] = len(left)
            _kill_group(self.pid)
        self.stopped = result
        return result


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _setting_names() -> set[str]:
    from service.settings import Settings

    return {name.lower() for name in Settings.model_fields}


def _past_validation(malformed: bytes, original: bytes) -> bytes:
    from tests.utils.e2e import past_validation

    return past_validation(malformed, original)


# --- load ---------------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    requests: int = 0
    wall_s: float = 0.0
    good_latencies_s: list[float] = field(default_factory=list)
    good_errors: Counter[str] = field(default_factory=Counter)
    malformed: dict[str, Counter[str]] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    peak: dict[str, float] = field(default_factory=lambda: {"sum_mib": 0.0, "max_mib": 0.0})
    worker_pids: dict[str, list[int]] = field(default_factory=dict)
    loadavg: dict[str, list[float]] = field(default_factory=dict)
    others_cpu_pct: float | None = None  # of all cores, used by processes not in this run
    server_alive: bool = True

    @property
    def good(self) -> int:
        return len(self.good_latencies_s)

    def quantile(self, q: float) -> float | None:
        """Nearest-rank quantile of the good requests' latencies."""
        ordered = sorted(self.good_latencies_s)
        if not ordered:
            return None
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    def figures(self) -> dict[str, Any]:
        p50, p99 = self.quantile(0.5), self.quantile(0.99)
        return {
            "requests": self.requests,
            "good_ok": self.good,
            "good_errors": sum(self.good_errors.values()),
            "good_error_kinds": dict(self.good_errors),
            "malformed_status": {k: dict(v) for k, v in self.malformed.items()},
            "wall_s": round(self.wall_s, 2),
            "throughput_rps": round(self.requests / self.wall_s, 2) if self.wall_s else None,
            "good_throughput_rps": round(self.good / self.wall_s, 2) if self.wall_s else None,
            "p50_s": round(p50, 4) if p50 is not None else None,
            "p99_s": round(p99, 4) if p99 is not None else None,
            "memory": self.memory,
            "peak_mib": self.peak,
            "worker_pids": self.worker_pids,
            "loadavg": self.loadavg,
            "others_cpu_pct": self.others_cpu_pct,
            "server_alive": self.server_alive,
        }


Request = tuple[str, str, bytes]  # kind ("good" or a malformed kind), file name, content


def _good_report(response: httpx.Response) -> str | None:
    """None for a correct report of 0409, else what was wrong."""
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    try:
        compliance = response.json()["scores"]["compliance"]
    except (ValueError, KeyError, TypeError):
        return "200 without a report"
    return None if abs(compliance - COMPLIANCE_0409) < 0.01 else "wrong report"


def _note_peak(scenario: Scenario, memory: dict[str, Any]) -> None:
    scenario.peak["sum_mib"] = max(scenario.peak["sum_mib"], memory["sum_mib"])
    scenario.peak["max_mib"] = max(scenario.peak["max_mib"], memory["max_mib"])


def _memory_sampler(server: Server, scenario: Scenario, stop: threading.Event) -> None:
    """Every 0.25 s while the load runs: the peak of the workers' RSS."""
    while not stop.wait(0.25):
        _note_peak(scenario, worker_memory(server.pid))


def run_load(
    server: Server, name: str, make_request: Callable[[int], Request], count: int, duration_s: float
) -> Scenario:
    scenario = Scenario(name)
    scenario.loadavg["start"] = [round(x, 2) for x in os.getloadavg()]
    scenario.memory["start"] = worker_memory(server.pid)
    scenario.worker_pids["start"] = sorted(scenario.memory["start"]["workers"])
    lock = threading.Lock()
    state = {"next": 0, "done": 0}
    busy0, own0 = _machine_busy_s(), _own_cpu_s(server.pid)
    started = time.perf_counter()
    deadline = started + duration_s
    stop_sampling = threading.Event()
    sampler = threading.Thread(
        target=_memory_sampler, args=(server, scenario, stop_sampling), daemon=True
    )

    def client_loop() -> None:
        with httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT_S) as client:
            while True:
                with lock:
                    if state["next"] >= count or time.perf_counter() >= deadline:
                        return
                    index = state["next"]
                    state["next"] += 1
                kind, filename, content = make_request(index)
                files = {"file": (filename, content, "application/octet-stream")}
                t0 = time.perf_counter()
                try:
                    response = client.post("/upload", files=files)
                    outcome = (
                        _good_report(response) if kind == "good" else str(response.status_code)
                    )
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                elapsed = time.perf_counter() - t0
                with lock:
                    state["done"] += 1
                    if kind != "good":
                        scenario.malformed.setdefault(kind, Counter())[outcome] += 1
                    elif outcome is None:
                        scenario.good_latencies_s.append(elapsed)
                    else:
                        scenario.good_errors[outcome] += 1
                    if state["done"] == MEMORY_AFTER:
                        scenario.memory[f"after_{MEMORY_AFTER}"] = worker_memory(server.pid)

    sampler.start()
    threads = [threading.Thread(target=client_loop, daemon=True) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    scenario.wall_s = time.perf_counter() - started
    others = (_machine_busy_s() - busy0) - (_own_cpu_s(server.pid) - own0)
    scenario.others_cpu_pct = round(max(0.0, others) / (scenario.wall_s * os.cpu_count()) * 100)
    stop_sampling.set()
    sampler.join()
    scenario.requests = state["done"]
    scenario.memory["end"] = worker_memory(server.pid)
    scenario.worker_pids["end"] = sorted(scenario.memory["end"]["workers"])
    for memory in scenario.memory.values():
        _note_peak(scenario, memory)
    scenario.loadavg["end"] = [round(x, 2) for x in os.getloadavg()]
    scenario.server_alive = server.alive
    return scenario


def warm_up(server: Server, content: bytes, tag: str) -> None:
    """Readiness (parser workers up, schema migrated), then two rounds of concurrent uploads so
    that both workers have analysed a file (imports, filter caches) before anything is timed."""
    server.wait_for("/health")
    with httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT_S) as client:
        ready, deadline = 0, time.perf_counter() + STARTUP_TIMEOUT_S
        while ready < 2 * WORKERS:  # each call lands on either worker
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{server.name}: not ready:\n{server.log_tail()}")
            ready = ready + 1 if client.get("/health/readiness").status_code == 200 else 0
            time.sleep(0.05)

    def one(i: int) -> None:
        with httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT_S) as client:
            files = {"file": (f"warm-{tag}-{i}.c3d", content, "application/octet-stream")}
            client.post("/upload", files=files).raise_for_status()

    for round_ in range(2):
        threads = [
            threading.Thread(target=one, args=(round_ * CLIENTS + i,)) for i in range(CLIENTS)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


@contextlib.contextmanager
def cold_start_database(base_url: str | None) -> Iterator[tuple[str, dict[str, str]]]:
    """PostgreSQL in a fresh schema, as deployed (its processes migrate in turns at start);
    temporary SQLite, with a note, where PostgreSQL cannot be reached."""
    from tests.utils.production import PG_URL, postgres_schema

    base_url = base_url or PG_URL

    with contextlib.ExitStack() as stack:
        try:
            name, env = (
                "PostgreSQL",
                {"DATABASE_URL": stack.enter_context(postgres_schema(base_url))},
            )
        except Exception as exc:  # any reason PostgreSQL is unusable here
            print(f"note: PostgreSQL at {base_url} unusable ({type(exc).__name__}): SQLite instead")
            name, env = "SQLite", {}
        yield name, env


def cold_starts(base: Path, runs: int, env: dict[str, str]) -> list[dict[str, float]]:
    """The first boot (it creates the schema), then ``runs`` restarts on that database: what a
    new instance meets in production, where only a release's first start migrates."""
    workdir = base / "cold-start"
    workdir.mkdir()
    results = []
    for k in range(runs + 1):
        server = Server(f"cold-start-{k}", workdir, env)
        try:
            health = server.wait_for("/health")
            ready = server.wait_for("/health/readiness")
        finally:
            server.stop()
        results.append({"health_s": round(health, 3), "readiness_s": round(ready, 3)})
    return results


# --- report -------------------------------------------------------------------------------------


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def _verdict(ok: bool) -> str:
    return "OK  " if ok else "MISS"


def print_report(figures: dict[str, Any]) -> None:
    la = figures["loadavg_start"]
    print(f"\nmachine: {os.cpu_count()} cores; load average at start {la[0]} {la[1]} {la[2]}")
    starts = figures["cold_start"]
    print(
        f"cold start on {starts['database']}, process start to first 200 /health "
        f"({len(starts['runs'])} restarts): "
        + " ".join(f"{r['health_s']:.2f}" for r in starts["runs"])
        + f" s -> median {starts['median_health_s']:.2f} s "
        f"(to /health/readiness: median {starts['median_readiness_s']:.2f} s); "
        f"first boot, creating the schema: {starts['first_boot']['health_s']:.2f} s"
    )
    print(
        f"\n{'scenario':<8} {'reqs':>5} {'good':>5} {'err':>4} {'wall s':>7} {'req/s':>6} "
        f"{'p50 ms':>7} {'p99 ms':>7}  {'worker RSS MiB (sum): start / +20 / end / peak':<46} "
        f"{'per worker at end':<18} {'load avg':>10} {'others CPU':>10}"
    )
    for name, s in figures["scenarios"].items():
        mem = s["memory"]
        after = mem.get(f"after_{MEMORY_AFTER}", {}).get("sum_mib", float("nan"))
        sums = (
            f"{mem['start']['sum_mib']:.0f} / {after:.0f} / {mem['end']['sum_mib']:.0f} "
            f"/ {s['peak_mib']['sum_mib']:.0f}"
        )
        per = " + ".join(f"{w['rss_mib']:.0f}" for w in mem["end"]["workers"].values())
        load = f"{s['loadavg']['start'][0]:.2f}->{s['loadavg']['end'][0]:.2f}"
        print(
            f"{name:<8} {s['requests']:>5} {s['good_ok']:>5} {s['good_errors']:>4} "
            f"{s['wall_s']:>7.1f} {s['throughput_rps']:>6.2f} {_ms(s['p50_s']):>7} "
            f"{_ms(s['p99_s']):>7}  {sums:<46} {per:<18} {load:>10} "
            f"{s['others_cpu_pct']:>9}%"
        )
    print(
        "  req/s counts every request (malformed ones too); p50/p99 only good ones; others CPU:"
        " share of all cores used by processes outside this run meanwhile"
    )
    for name, s in figures["scenarios"].items():
        end = s["memory"]["end"]
        parsers = ", ".join(
            f"worker {pid}: {w['parser_processes']} parser processes {w['parser_pss_mib']:.0f} MiB"
            f" PSS, VmHWM {w['hwm_mib']:.0f} MiB"
            for pid, w in end["workers"].items()
        )
        print(f"  {name}: {parsers}")
        if s["good_error_kinds"]:
            print(f"  {name}: errors among good requests: {s['good_error_kinds']}")
        if s["malformed_status"]:
            print(f"  {name}: malformed uploads, status -> count: {s['malformed_status']}")
        if s["worker_pids"]["start"] != s["worker_pids"]["end"] or not s["server_alive"]:
            print(
                f"  {name}: WORKERS CHANGED {s['worker_pids']['start']} -> "
                f"{s['worker_pids']['end']}; server alive: {s['server_alive']}"
            )
    for name, stop in figures["shutdown"].items():
        print(
            f"  server {name}: SIGTERM to exit {stop['shutdown_s']} s, exit code "
            f"{stop.get('exit_code')}, killed {stop['killed']}, leftover processes "
            f"{stop['leftover_processes']}"
        )

    print("\nagainst ../shared/TARGETS.md:")
    cold_start = starts["median_health_s"]
    print(
        f"  {_verdict(cold_start <= TARGET_COLD_START_S)} cold start median {cold_start:.2f} s"
        f" (target <= {TARGET_COLD_START_S} s; existing service 1.76 s)"
    )
    for name, s in figures["scenarios"].items():
        rps, p99 = s["good_throughput_rps"], s["p99_s"]
        print(
            f"  {_verdict(rps >= TARGET_RPS)} {name}: {rps:.2f} good req/s with {CLIENTS} clients "
            f"on {WORKERS} workers (target >= {TARGET_RPS:g}; existing 0.39)"
        )
        print(
            f"  {_verdict(p99 is not None and p99 <= TARGET_P99_S)} {name}: p99 {_ms(p99)} ms "
            f"(target <= {TARGET_P99_S * 1000:.0f} ms; existing 11300 ms)"
        )
        print(
            f"  {_verdict(s['good_errors'] == 0)} {name}: {s['good_errors']} errors among "
            f"{s['good_ok'] + s['good_errors']} good requests (target 0)"
        )
        mem = s["memory"]
        worst = max(s["peak_mib"]["max_mib"], mem["end"]["max_mib"])
        print(
            f"  {_verdict(worst <= TARGET_WORKER_MIB)} {name}: largest worker {worst:.0f} MiB "
            f"RSS incl. peak (target <= {TARGET_WORKER_MIB:.0f} MiB per worker)"
        )
        if f"after_{MEMORY_AFTER}" in mem:
            growth = mem["end"]["sum_mib"] - mem[f"after_{MEMORY_AFTER}"]["sum_mib"]
            print(
                f"  {_verdict(growth <= FLAT_TOLERANCE_MIB)} {name}: worker memory from "
                f"{MEMORY_AFTER} uploads to the end {growth:+.0f} MiB (flat: within "
                f"{FLAT_TOLERANCE_MIB:.0f} MiB)"
            )
        bad = {
            kind: codes
            for kind, codes in s["malformed_status"].items()
            if not all(c.isdigit() and 400 <= int(c) < 500 for c in codes)
        }
        if s["malformed_status"]:
            print(f"  {_verdict(not bad)} {name}: every malformed upload answered 4xx")


# --- main ---------------------------------------------------------------------------------------


def _on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through main's finally: servers are stopped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--requests", type=int, default=REQUESTS, help="per scenario (200)")
    parser.add_argument("--duration", type=float, default=DURATION_S, help="per scenario, s (30)")
    parser.add_argument(
        "--cold-starts", type=int, default=COLD_STARTS, help="restarts after the first boot (3)"
    )
    parser.add_argument(
        "--database-url",
        help="PostgreSQL for the cold starts, in a fresh schema (default: the tests' one; SQLite "
        "if unreachable)",
    )
    args = parser.parse_args()
    if args.requests < 1 or args.requests > 2000 or not 0 < args.duration <= 300:
        parser.error("--requests 1..2000 and --duration 0..300 s keep the run bounded")
    signal.signal(signal.SIGTERM, _on_sigterm)

    sample_path = next((p for p in samples() if p.stem.endswith(SAMPLE_KEY)), None)
    if sample_path is None:
        sys.exit(f"no sample ending in {SAMPLE_KEY} in {SHARED / 'samples'}")
    content = sample_path.read_bytes()
    crash_source = SHARED / "malformed" / "segv_header_a.c3d"
    malformed = {"truncated": content[: len(content) // 2]}
    if crash_source.exists():
        malformed["crash"] = _past_validation(crash_source.read_bytes(), content)
    else:
        print(f"note: {crash_source} missing: mixed load uses truncated files only")
    malformed_kinds = sorted(malformed)
    run = uuid.uuid4().hex[:8]

    figures: dict[str, Any] = {
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "config": {
            "workers": WORKERS,
            "clients": CLIENTS,
            "requests_max": args.requests,
            "duration_max_s": args.duration,
            "sample": sample_path.name,
            "malformed_every": MALFORMED_EVERY,
            "malformed_kinds": malformed_kinds,
            "parser_timeout_s": PARSER_TIMEOUT_S,
        },
        "scenarios": {},
        "shutdown": {},
    }

    def cold(i: int) -> Request:
        return "good", f"cold-{run}-{i:04d}.c3d", content

    def cached(_i: int) -> Request:
        return "good", f"cached-{run}.c3d", content

    def mixed(i: int) -> Request:
        if i % MALFORMED_EVERY == MALFORMED_EVERY - 1:
            kind = malformed_kinds[(i // MALFORMED_EVERY) % len(malformed_kinds)]
            return kind, f"{kind}-{run}-{i:04d}.c3d", malformed[kind]
        return "good", f"mixed-{run}-{i:04d}.c3d", content

    try:
        with tempfile.TemporaryDirectory(prefix="emg-bench-load-") as tmp:
            base = Path(tmp)
            with cold_start_database(args.database_url) as (database, env):
                print(
                    f"cold start: a first boot, then {args.cold_starts} restarts of "
                    f"`emg serve --workers {WORKERS}` on its {database} database"
                )
                first_boot, *runs = cold_starts(base, args.cold_starts, env)
            figures["cold_start"] = {
                "database": database,
                "first_boot": first_boot,
                "runs": runs,
                "median_health_s": statistics.median(r["health_s"] for r in runs),
                "median_readiness_s": statistics.median(r["readiness_s"] for r in runs),
            }

            (base / "load").mkdir()
            server = Server("load", base / "load", {})
            limit = f"at most {args.requests} uploads or {args.duration:g} s"
            print(f"load: {CLIENTS} clients, {limit} per scenario")
            warm_up(server, content, run)
            for name, make in (("cold", cold), ("mixed", mixed)):
                print(f"  {name} ...", flush=True)
                scenario = run_load(server, name, make, args.requests, args.duration)
                figures["scenarios"][name] = scenario.figures()
            figures["shutdown"]["load"] = server.stop()

            (base / "cached").mkdir()
            env = {"REDIS_URL": REDIS_URL, "CACHE_TTL": "600"}  # keys expire soon after the run
            server = Server("cached", base / "cached", env)
            warm_up(server, content, run)
            print("  cached ...", flush=True)
            scenario = run_load(server, "cached", cached, args.requests, args.duration)
            figures["scenarios"]["cached"] = scenario.figures()
            with httpx.Client(base_url=server.url, timeout=5) as client:
                cache = client.get("/health/detailed").json()["checks"]["cache"]
            figures["scenarios"]["cached"]["cache_status"] = cache
            figures["shutdown"]["cached"] = server.stop()
            order = ["cold", "cached", "mixed"]
            figures["scenarios"] = {k: figures["scenarios"][k] for k in order}
            figures["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        for server in _servers:
            server.stop()

    print_report(figures)
    cache = figures["scenarios"]["cached"].get("cache_status", {})
    if cache.get("status") != "ok":
        print(f"  note: the cached server's cache was {cache} (Redis at {REDIS_URL}?)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
