"""FULLY cached vs naive, and the DCT as matrix products vs a per-channel scipy loop (issue 4).

FULLY: 200 images x 60 prototypes. Naive = what a literal reading of the companion does, one
Siamese forward per (image, prototype) pair (both through the backbone); cached = every image
and prototype through the backbone once, then :meth:`SiameseNet.score_matrix`. Both give the
same numbers (max abs difference printed; goal <= 1e-5) and the speed-up (goal >= 40x).
DCT: :func:`dissim.dct.reduce` vs ``scipy.fft.dctn(norm="ortho")[:9, :9]`` per channel on a
batch of DEEPER taps (goal >= 10x).

    .venv/bin/python benchmarks/spaces.py [--images 200] [--prototypes 60]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy.fft import dctn

from dissim.dct import reduce
from dissim.siamese import SiameseNet
from dissim.spaces import encode, fully_matrix
from dissim.topologies import create


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--prototypes", type=int, default=60)
    ap.add_argument("--topology", type=int, default=6)
    ap.add_argument("--size", type=int, default=58)
    args = ap.parse_args()
    torch.manual_seed(0)
    net = SiameseNet(create(args.topology, input_size=args.size), mode="cross").eval()
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (args.images, 3, args.size, args.size)).astype(np.float32)
    p = rng.uniform(0, 255, (args.prototypes, 3, args.size, args.size)).astype(np.float32)
    print(f"FULLY: topology {args.topology} at {args.size} px, {args.images} images x "
          f"{args.prototypes} prototypes, {torch.get_num_threads()} threads")

    t0 = time.perf_counter()
    cached = fully_matrix(net, encode(net, x, deeper=False).embedding,
                          encode(net, p, deeper=False).embedding).numpy()
    t_cached = time.perf_counter() - t0

    naive = np.empty_like(cached)
    pt = torch.from_numpy(p)
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in range(args.images):  # one pair per forward, batched over prototypes only
            xi = torch.from_numpy(x[i : i + 1]).expand(args.prototypes, -1, -1, -1)
            naive[i] = net(xi, pt).numpy()
    t_naive = time.perf_counter() - t0
    print(f"  cached {t_cached:7.3f} s | naive per-pair {t_naive:7.3f} s | "
          f"speed-up {t_naive / t_cached:6.1f}x | max |diff| {np.abs(cached - naive).max():.2e}")

    tap = torch.from_numpy(rng.normal(size=(64, 64, 19, 19)).astype(np.float32))
    reduce(tap)  # warm the cached DCT matrices
    t0 = time.perf_counter()
    for _ in range(10):
        fast = reduce(tap)
    t_fast = (time.perf_counter() - t0) / 10
    a = tap.numpy()
    t0 = time.perf_counter()
    slow = np.stack([np.concatenate([dctn(ch, type=2, norm="ortho")[:9, :9].ravel()
                                     for ch in img]) for img in a])
    t_slow = time.perf_counter() - t0
    print(f"DCT 9x9 on (64, 64, 19, 19): matmul {1e3 * t_fast:7.2f} ms | scipy loop "
          f"{1e3 * t_slow:7.2f} ms | speed-up {t_slow / t_fast:6.1f}x | max |diff| "
          f"{np.abs(fast.numpy() - slow).max():.2e}")


if __name__ == "__main__":
    main()
