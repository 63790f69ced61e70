"""Time of `emg infra plan` per stack and cloud: the whole command (start, imports, mocked run),
and the mocked run alone as the plan reports it. Target: at most 5 s per stack (TARGETS.md)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROUNDS = 3
EMG = str(Path(sys.executable).with_name("emg"))


def main() -> None:
    print(f"{'stack':<10} {'command (median of 3)':>22} {'program run under mocks':>26}")
    for stack, cloud in [(s, c) for c in ("gcp", "aws") for s in ("dev", "prod")]:
        totals, runs = [], []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            result = subprocess.run(
                [EMG, "infra", "plan", "--stack", stack, "--cloud", cloud, "--quiet"],
                capture_output=True,
                text=True,
                check=True,
            )
            totals.append(time.perf_counter() - started)
            runs.append(float(result.stderr.split("planned in ")[1].split(" s")[0]))
        name = f"{stack}/{cloud}"
        print(f"{name:<10} {statistics.median(totals):>20.2f} s {statistics.median(runs):>24.2f} s")


if __name__ == "__main__":
    main()
