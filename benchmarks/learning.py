"""Do the Siamese networks learn? Every topology with both losses on a real image folder.

For each (topology, loss) it trains one network with :func:`dissim.train.train_siamese` at a CPU
scale (each topology's smallest valid input side, or ``--size``), and prints the loss at the
start and the end of training (mean of the first and last tenth of the curve), the pair
accuracy on fresh training pairs and on held-out pairs (a held-out image and a training
image; chance 0.5) after training and for the same network at initialisation (the untrained
control), whether the rerun rule's threshold was met, and the seconds it took::

    .venv/bin/python benchmarks/learning.py --root ../shared/datasets/orl_faces
    .venv/bin/python benchmarks/learning.py --root DIR --normalization none   # the ablation

``--json FILE`` also writes the rows (the book's Assumptions page reads nothing from here: its
numbers are computed in the book run). Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from dissim.data.loaders import load_folder
from dissim.preprocess import to_network_input
from dissim.report.benchmark import machine
from dissim.topologies import NORMALIZATIONS, min_input_size
from dissim.train import TrainConfig, train_siamese


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True, help="a folder of class folders of images")
    p.add_argument("--topologies", default="1,2,3,4,5,6,7,8")
    p.add_argument("--losses", default="cross,triplet")
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--pairs", type=int, default=16, help="pairs (triplets) per iteration")
    p.add_argument("--size", type=int, default=0,
                   help="input side (0: each topology's minimum, at least 48 px)")
    p.add_argument("--max-per-class", type=int, default=None)
    p.add_argument("--normalization", default="zerocenter", choices=NORMALIZATIONS)
    p.add_argument("--triplet-form", default="conventional", choices=("printed", "conventional"))
    p.add_argument("--eval-pairs", type=int, default=256, help="pairs for each pair accuracy")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    return p.parse_args(argv)


def _ends(curve: list[float]) -> tuple[float, float]:
    q = max(1, len(curve) // 10)
    return float(np.mean(curve[:q])), float(np.mean(curve[-q:]))


def run(args: argparse.Namespace) -> list[dict]:
    if args.threads:
        torch.set_num_threads(args.threads)
    ds = load_folder(args.root, max_per_class=args.max_per_class, seed=args.seed)
    topologies = [int(t) for t in args.topologies.split(",")]
    losses = args.losses.split(",")
    inputs: dict[int, np.ndarray] = {}
    rows = []
    bar = tqdm([(t, loss) for t in topologies for loss in losses], desc="networks",
               file=sys.stderr)
    for t, loss in bar:
        size = args.size or max(48, min_input_size(t))
        if size not in inputs:
            inputs[size] = to_network_input(ds.images, size)
        cfg = TrainConfig(topology=t, loss=loss, iterations=args.iterations,
                          batch_size=args.pairs, seed=args.seed, max_retries=0,
                          eval_pairs=args.eval_pairs,
                          normalization=args.normalization, triplet_form=args.triplet_form)
        start = time.perf_counter()
        _, log = train_siamese(inputs[size], ds.labels, cfg, device="cpu", progress=False)
        first, last = _ends(log.loss)
        bar.write(f"t{t} {loss}: loss {first:.3f} -> {last:.3f}, pair accuracy "
                  f"{log.pair_accuracy:.2f} (held out {log.heldout_pair_accuracy:.2f})")
        rows.append({
            "topology": t, "loss": loss, "size": size, "loss_start": first, "loss_end": last,
            "train_acc": log.pair_accuracy, "heldout_acc": log.heldout_pair_accuracy,
            "untrained_train_acc": log.untrained_pair_accuracy,
            "untrained_heldout_acc": log.untrained_heldout_pair_accuracy,
            "converged": log.converged, "seconds": time.perf_counter() - start,
        })
    return rows


def table(rows: list[dict]) -> str:
    head = ("| topology | loss | px | loss start -> end | train pair acc (untrained) | "
            "held-out pair acc (untrained) | converged | s |\n|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['topology']} | {r['loss']} | {r['size']} | {r['loss_start']:.3f} -> "
            f"{r['loss_end']:.3f} | {r['train_acc']:.2f} ({r['untrained_train_acc']:.2f}) | "
            f"{r['heldout_acc']:.2f} ({r['untrained_heldout_acc']:.2f}) | "
            f"{'yes' if r['converged'] else 'no'} | {r['seconds']:.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse(argv)
    start = time.perf_counter()
    rows = run(args)
    print(f"{machine()} | {Path(args.root).name} | {args.iterations} iterations of "
          f"{args.pairs} pairs | normalization {args.normalization} | triplet form "
          f"{args.triplet_form} | seed {args.seed} | {time.perf_counter() - start:.0f} s")
    print(table(rows))
    if args.json:
        tmp = f"{args.json}.tmp"
        with open(tmp, "w") as f:
            json.dump([{k: (None if isinstance(v, float) and math.isnan(v) else v)
                        for k, v in r.items()} for r in rows], f, indent=1)
        os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
