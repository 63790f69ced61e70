"""End-to-end upload time through the API: `emg serve` on loopback, one client, each sample."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from _common import samples, summary

ROUNDS = 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    port = _free_port()
    emg = Path(sys.executable).with_name("emg")
    started = time.perf_counter()
    server = subprocess.Popen(
        [str(emg), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            while True:
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.02)
            print(f"process start to first healthy answer: {time.perf_counter() - started:.2f} s")
            print(f"{'file':<40} {'upload latency':>26} {'response':>10}")
            for path in samples():
                content = path.read_bytes()
                times, size = [], 0
                for _ in range(ROUNDS + 1):
                    t0 = time.perf_counter()
                    response = client.post("/upload", files={"file": (path.name, content)})
                    times.append(time.perf_counter() - t0)
                    response.raise_for_status()
                    size = len(response.content)
                print(f"{path.name:<40} {summary(times[1:]):>26} {size / 1024:8.1f} KB")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
