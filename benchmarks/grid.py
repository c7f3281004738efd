"""Benchmark: wall time of one grid with ``--executor local`` vs ``--executor dask`` (issue 7).

Run: ``.venv/bin/python benchmarks/grid.py [--profile smoke] [--topologies 7]
[--methods cross,crossdd,triplet] [--folds 0,1] [--workers 2]``. Goal: Dask overhead <= 5%.

Each run is a fresh ``dissim grid`` process on an empty store (so both pay the imports and the
data loading), on the same cores:

* local: one network after the other, each on all ``workers`` cores (``--threads workers``);
* dask: a ``LocalCluster`` of ``workers`` single-thread workers (``--threads 1``), which also
  pays the worker start-up, one data load per worker and the entries' trip back;
* dask, one worker: the same cluster machinery with one worker on all cores, i.e. local's
  schedule plus Dask's costs alone.

The overhead is ``dask / local - 1``; negative means Dask's parallel networks beat one network
on all cores. On a small grid the fixed cost (starting workers, importing torch in each) is
most of it; it is amortised over a long grid.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time


def wall(args: list[str], results: str) -> float:
    """Seconds of one ``dissim grid`` process writing to the empty store ``results``."""
    cmd = [sys.executable, "-m", "dissim.cli", "grid", *args, "--results", results,
           "--no-progress"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="smoke")
    p.add_argument("--topologies", default="7")
    p.add_argument("--methods", default="cross,crossdd,triplet")
    p.add_argument("--folds", default="0,1")
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args(argv)
    grid = ["--profile", a.profile, "--topologies", a.topologies, "--methods", a.methods,
            "--folds", a.folds, "--device", "cpu"]
    n = len(a.methods.split(",")) * len(a.folds.split(","))
    print(f"grid: profile {a.profile}, topologies {a.topologies}, methods {a.methods}, "
          f"folds {a.folds} (~{n} networks per topology); {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory() as tmp:
        local = wall([*grid, "--threads", str(a.workers)], f"{tmp}/local")
        dask = wall([*grid, "--executor", "dask", "--workers", str(a.workers), "--threads",
                     "1"], f"{tmp}/dask")
        one = wall([*grid, "--executor", "dask", "--workers", "1", "--threads",
                    str(a.workers)], f"{tmp}/one")
    print(f"local ({a.workers} threads per network):           {local:7.1f} s")
    print(f"dask  ({a.workers} workers x 1 thread, LocalCluster): {dask:7.1f} s  "
          f"overhead {100 * (dask / local - 1):+.1f}% (goal <= +5%)")
    print(f"dask  (1 worker x {a.workers} threads, LocalCluster):  {one:7.1f} s  "
          f"overhead {100 * (one / local - 1):+.1f}% (Dask's cost alone)")


if __name__ == "__main__":
    main()
