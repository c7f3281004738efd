"""Benchmark: matrix-product DCT reduction vs a per-channel scipy ``dctn`` loop (SPEC §5.3).

Run: ``.venv/bin/python benchmarks/dct.py`` (one thread). Input (64, 64, 19, 19) float32 = the
topology-1 DEEPER layer for a batch of 64 images; goal: speedup >= 10x.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import time  # noqa: E402

import numpy as np  # noqa: E402
import scipy.fft  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from dissim.dct import reduce  # noqa: E402
from dissim.report.benchmark import timeit  # noqa: E402


def scipy_loop(x: np.ndarray, size: int = 9) -> np.ndarray:
    """The straightforward alternative: one full ``dctn`` per channel, then the block."""
    n, c = x.shape[:2]
    out = np.empty((n, c, size, size), dtype=x.dtype)
    for i in range(n):
        for j in range(c):
            out[i, j] = scipy.fft.dctn(x[i, j], type=2, norm="ortho")[:size, :size]
    return out.reshape(n, -1)


def median_time(fn, repeats: int = 5) -> float:
    """Median CPU time of ``fn`` (see :func:`dissim.report.benchmark.timeit`)."""
    return timeit(fn, repeats, clock=time.process_time)


def main() -> None:
    torch.set_num_threads(1)
    x = np.random.default_rng(0).standard_normal((64, 64, 19, 19)).astype(np.float32)
    xt = torch.from_numpy(x)
    with threadpool_limits(1):
        np.testing.assert_allclose(reduce(xt).numpy(), scipy_loop(x), atol=1e-4)
        t_matmul = median_time(lambda: reduce(xt))
        t_scipy = median_time(lambda: scipy_loop(x))
        t_batched = median_time(
            lambda: scipy.fft.dctn(x, type=2, norm="ortho", axes=(2, 3))[:, :, :9, :9]
        )
    print("input (64, 64, 19, 19) float32, 1 thread, median CPU time of 5 runs")
    print(f"dissim.dct.reduce (matmul): {t_matmul * 1e3:8.2f} ms")
    print(f"scipy.fft.dctn loop:        {t_scipy * 1e3:8.2f} ms")
    print(f"speedup:                    {t_scipy / t_matmul:8.1f}x")
    print(
        f"(scipy dctn batched over axes (2, 3), full transform: {t_batched * 1e3:.2f} ms, "
        f"{t_batched / t_matmul:.1f}x slower than reduce)"
    )


if __name__ == "__main__":
    main()
