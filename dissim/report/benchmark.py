"""Speed figures of the pipeline, measured on the machine that runs them (issue 7, item 4).

The scripts in ``benchmarks/`` print these figures; the book's Performance page plots them from
the run that built it. Each function returns plain numbers (seconds, ratios), never asserts a
target: targets live in the scripts' docstrings.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.fft import dctn
from torch.utils.flop_counter import FlopCounterMode

from dissim.dct import reduce
from dissim.hasc import hasc_band
from dissim.siamese import SiameseNet
from dissim.spaces import deeper_matrix, encode, fully_matrix
from dissim.topologies import create
from dissim.train import TrainConfig, train_siamese


def machine() -> str:
    """One line naming the machine: CPU architecture, threads, GPU, torch."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{platform.machine()} {platform.processor() or ''}".strip() +
            f", {torch.get_num_threads()} torch threads, {gpu}, torch {torch.__version__}")


def timeit(fn: Callable[[], object], repeats: int = 3, *,
           clock: Callable[[], float] = time.perf_counter) -> float:
    """Median time of ``fn`` over ``repeats`` runs after one warm-up.

    ``clock=time.process_time`` measures CPU time, less sensitive than wall time to a busy
    machine (the one-thread scripts in ``benchmarks/`` use it).
    """
    fn()
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times)


def _images(n: int, size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, (n, 3, size, size)).astype(np.float32)


def fully_speedup(images: int = 200, prototypes: int = 60, topology: int = 6,
                  size: int = 58) -> dict:
    """FULLY from cached embeddings vs one Siamese forward per (image, prototype) pair."""
    torch.manual_seed(0)
    net = SiameseNet(create(topology, input_size=size), mode="cross").eval()
    x, p = _images(images, size), _images(prototypes, size, seed=1)
    t0 = time.perf_counter()
    cached = fully_matrix(net, encode(net, x, deeper=False).embedding,
                          encode(net, p, deeper=False).embedding).numpy()
    t_cached = time.perf_counter() - t0
    naive = np.empty_like(cached)
    pt = torch.from_numpy(p)
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in range(images):
            xi = torch.from_numpy(x[i : i + 1]).expand(prototypes, -1, -1, -1)
            naive[i] = net(xi, pt).numpy()
    t_naive = time.perf_counter() - t0
    return {"images": images, "prototypes": prototypes,
            "cached_s": t_cached, "naive_s": t_naive, "speedup": t_naive / t_cached,
            "max_abs_diff": float(np.abs(cached - naive).max())}


def dct_speedup(shape: Sequence[int] = (64, 64, 19, 19)) -> dict:
    """:func:`dissim.dct.reduce` vs a per-channel ``scipy.fft.dctn`` loop."""
    tap = torch.from_numpy(np.random.default_rng(0).normal(size=shape).astype(np.float32))
    fast = reduce(tap)
    t_fast = timeit(lambda: reduce(tap), repeats=10)
    a = tap.numpy()

    def slow():
        return np.stack([np.concatenate([dctn(ch, type=2, norm="ortho")[:9, :9].ravel()
                                         for ch in img]) for img in a])

    t_slow = timeit(slow, repeats=3)
    return {"matmul_s": t_fast, "scipy_s": t_slow, "speedup": t_slow / t_fast,
            "max_abs_diff": float(np.abs(fast.numpy() - slow()).max())}


def hasc_seconds(size: int = 224) -> dict:
    """Seconds per HASC band (exact and with EMI on a stride-2 grid)."""
    band = np.random.default_rng(0).integers(0, 256, (size, size)).astype(np.uint8)
    return {"size": size, "exact_s": timeit(lambda: hasc_band(band)),
            "stride2_s": timeit(lambda: hasc_band(band, emi_stride=2))}


def train_throughput(topology: int = 1, size: int = 224, pairs: int = 16,
                     iterations: int = 3) -> dict:
    """Images/s of :func:`dissim.train.train_siamese` vs a bare torch loop, and GFLOP/s."""


    n = 64
    x = torch.from_numpy(_images(n, size))
    labels = np.repeat(np.arange(4), n // 4)
    torch.manual_seed(0)
    net = SiameseNet(create(topology, input_size=size), mode="cross")
    opt = torch.optim.Adam(net.parameters(), lr=1e-4, betas=(0.9, 0.99), eps=1e-8)
    gen = torch.Generator().manual_seed(0)
    lab = torch.from_numpy(labels)

    def step():
        idx = torch.randint(n, (2 * pairs,), generator=gen)
        y = (lab[idx[:pairs]] == lab[idx[pairs:]]).float()
        e = net.embed(x[idx])
        loss = F.binary_cross_entropy_with_logits(net.pair_logits(e[:pairs], e[pairs:]), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    t0 = time.perf_counter()
    for _ in range(iterations):
        step()
    bare = time.perf_counter() - t0
    cfg = TrainConfig(topology=topology, iterations=iterations + 1, batch_size=pairs,
                      max_retries=0, eval_pairs=8)
    _, log = train_siamese(x.numpy(), labels, cfg, device="cpu", progress=False)
    ours = log.seconds * iterations / (iterations + 1)  # spread the warm-up iteration
    images = 2 * pairs * iterations
    return {"size": size, "topology": topology, "pairs": pairs,
            "dissim_img_s": images / ours, "bare_img_s": images / bare,
            "ratio": bare / ours, "gflop_per_iteration": flops / 1e9,
            "gflop_s": flops * iterations / bare / 1e9}


def space_seconds(images: int, prototypes: int, size: int, topology: int = 6) -> float:
    """Wall time to build FULLY + DEEPER for ``images`` against ``prototypes`` (no training)."""
    torch.manual_seed(0)
    net = SiameseNet(create(topology, input_size=size), mode="cross").eval()
    x, p = _images(images, size), _images(prototypes, size, seed=1)
    t0 = time.perf_counter()
    ex, ep = encode(net, x), encode(net, p)
    fully_matrix(net, ex.embedding, ep.embedding)
    deeper_matrix(ex.code, ep.code)
    return time.perf_counter() - t0


def scaling(images=(50, 100, 200, 400), prototypes=(30, 90, 180, 360),
            sizes=(58, 80, 112, 160), topology: int = 6):
    """How the space-building time grows with images, prototypes and input size (a DataFrame:
    ``factor``, ``value``, ``seconds``); the other two factors stay at their first value."""

    rows = []
    for n in images:
        rows.append({"factor": "images", "value": n,
                     "seconds": space_seconds(n, prototypes[0], sizes[0], topology)})
    for k in prototypes:
        rows.append({"factor": "prototypes", "value": k,
                     "seconds": space_seconds(images[0], k, sizes[0], topology)})
    for s in sizes:
        rows.append({"factor": "input size (px)", "value": s,
                     "seconds": space_seconds(images[0], prototypes[0], s, topology)})
    return pd.DataFrame(rows)


#: Where ``benchmarks/gpu.py`` writes its machine-readable results in a source checkout.
GPU_RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "RESULTS.json"


def load_gpu_results(path: str | Path | None = None) -> dict | None:
    """The results of ``benchmarks/gpu.py`` run on a GPU (its ``RESULTS.json``), or None.

    None when the file does not exist (no GPU measurement yet) or holds only a CPU smoke run
    (``--cpu-smoke``, which tests the script and measures nothing).
    """
    path = Path(path) if path is not None else GPU_RESULTS
    if not path.is_file():
        return None
    results = json.loads(path.read_text())
    return results if results.get("kind") == "gpu" else None
