"""Time to analyse each sample in a warm process, beside the bare ezc3d load of the same file."""

from __future__ import annotations

import time

import ezc3d
from _common import samples, summary

from emg_core.analysis import analyze
from emg_core.parser_pool import ParserPool
from emg_core.read import read_c3d

ROUNDS = 15


def main() -> None:
    with ParserPool(workers=1) as pool:
        print(
            f"{'file':<40} {'bare ezc3d load':>24} {'read (supervised)':>24} "
            f"{'analyse':>24} {'total':>24}"
        )
        for path in samples():
            read_c3d(path, pool)  # warm up the worker and the filter cache
            bare, read, analysis, total = [], [], [], []
            for _ in range(ROUNDS):
                t0 = time.perf_counter()
                ezc3d.c3d(str(path))
                t1 = time.perf_counter()
                recording = read_c3d(path, pool)
                t2 = time.perf_counter()
                analyze(recording)
                t3 = time.perf_counter()
                bare.append(t1 - t0)
                read.append(t2 - t1)
                analysis.append(t3 - t2)
                total.append(t3 - t1)
            print(
                f"{path.name:<40} {summary(bare):>24} {summary(read):>24} "
                f"{summary(analysis):>24} {summary(total):>24}"
            )


if __name__ == "__main__":
    main()
