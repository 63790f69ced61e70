"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("EMG_SHARED_DIR", REPO.parent / "shared"))


def samples() -> list[Path]:
    files = sorted((SHARED / "samples").glob("*.c3d"))
    if not files:
        sys.exit(f"no sample recordings in {SHARED / 'samples'} (set EMG_SHARED_DIR)")
    return files


def summary(times_s: list[float]) -> str:
    ordered = sorted(times_s)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"{statistics.median(ordered) * 1000:7.1f} ms (p90 {p90 * 1000:6.1f})"
