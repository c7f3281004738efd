"""Training throughput: the dissim loop vs a bare torch loop on the same net and batch (issue 3).

Prints, for topology 1 at 224 px and at the quick profile's size, images/s of
:func:`dissim.train.train_siamese` (its loop time, without the convergence check) and of a bare
loop (pre-drawn random pairs from one tensor, forward, BCE, backward, Adam), their ratio (goal
>= 0.9) and the GFLOP/s achieved (FLOPs counted with torch's FlopCounterMode).

    .venv/bin/python benchmarks/train_throughput.py [--iterations 3] [--pairs 16]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from dissim.experiment import input_size
from dissim.profiles import get as get_profile
from dissim.siamese import SiameseNet
from dissim.topologies import create
from dissim.train import TrainConfig, train_siamese


def bare_loop(x: torch.Tensor, labels: np.ndarray, topology: int, pairs: int, iters: int):
    torch.manual_seed(0)
    net = SiameseNet(create(topology, input_size=x.shape[-1]), mode="cross")
    opt = torch.optim.Adam(net.parameters(), lr=1e-4, betas=(0.9, 0.99), eps=1e-8)
    gen = torch.Generator().manual_seed(0)

    def step():
        idx = torch.randint(len(x), (2 * pairs,), generator=gen)
        y = (torch.from_numpy(labels)[idx[:pairs]] == torch.from_numpy(labels)[idx[pairs:]])
        e = net.embed(x[idx])
        loss = F.binary_cross_entropy_with_logits(net.pair_logits(e[:pairs], e[pairs:]),
                                                  y.float())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up
    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    return time.perf_counter() - t0, flops


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--pairs", type=int, default=16)
    ap.add_argument("--topology", type=int, default=1)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, topology {args.topology}, "
          f"{args.pairs} pairs per iteration ({2 * args.pairs} images), "
          f"{args.iterations} timed iterations after one warm-up")
    quick = input_size(args.topology, get_profile("quick"))
    for size in (224, quick):
        rng = np.random.default_rng(0)
        n = 64
        x = torch.from_numpy(rng.uniform(0, 255, (n, 3, size, size)).astype(np.float32))
        labels = np.repeat(np.arange(4), n // 4)
        bare_s, flops = bare_loop(x, labels, args.topology, args.pairs, args.iterations)
        cfg = TrainConfig(topology=args.topology, iterations=args.iterations + 1,
                          batch_size=args.pairs, max_retries=0, eval_pairs=8)
        _, log = train_siamese(x.numpy(), labels, cfg, device="cpu", progress=False)
        # the first iteration of train_siamese is its warm-up: time the rest from its curve
        ours_s = log.seconds * args.iterations / (args.iterations + 1)
        images = 2 * args.pairs * args.iterations
        print(f"{size:>4} px | dissim {images / ours_s:7.2f} img/s | bare torch "
              f"{images / bare_s:7.2f} img/s | ratio {bare_s / ours_s:5.2f} | "
              f"{flops / 1e9:8.1f} GFLOP/iteration | "
              f"{flops * args.iterations / bare_s / 1e9:6.1f} GFLOP/s")


if __name__ == "__main__":
    main()
