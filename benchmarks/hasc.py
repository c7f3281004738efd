"""Benchmark: HASC image per 224 x 224 band and HASC descriptor per 32 x 32 patch (SPEC §2).

Run: ``.venv/bin/python benchmarks/hasc.py`` (one thread). Goal: <= 0.5 s per band.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import time  # noqa: E402

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from dissim.hasc import descriptor, hasc_band  # noqa: E402
from dissim.report.benchmark import timeit  # noqa: E402


def median_time(fn, repeats: int = 5) -> float:
    """Median CPU time of ``fn`` (see :func:`dissim.report.benchmark.timeit`)."""
    return timeit(fn, repeats, clock=time.process_time)


def main() -> None:
    rng = np.random.default_rng(0)
    band = rng.integers(0, 256, (224, 224)).astype(np.uint8)
    patch = rng.integers(0, 256, (32, 32)).astype(np.uint8)
    with threadpool_limits(1):
        t_band = median_time(lambda: hasc_band(band))
        t_band2 = median_time(lambda: hasc_band(band, emi_stride=2))
        t_patch = median_time(lambda: descriptor(patch), repeats=50)
    print("1 thread, median CPU time of 5 runs (50 for the patch), random uint8 data")
    print(f"hasc_band 224x224, window 9, exact (emi_stride=1): {t_band:.3f} s/band")
    print(f"hasc_band 224x224, window 9, emi_stride=2:         {t_band2:.3f} s/band")
    print(f"descriptor 32x32 patch:                            {t_patch * 1e3:.2f} ms/patch")


if __name__ == "__main__":
    main()
