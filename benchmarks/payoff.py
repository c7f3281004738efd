"""When does training pay? Classification accuracy of a member's space against training compute.

For each (topology, method, sampler) it trains ONE network on a fold of an image folder and, at
each checkpoint (0 = the untrained network, then e.g. 100, 200, 400, 800, 1600 iterations),
builds the member pipeline on the network as it is then (supervised k-means prototypes, FULLY and
DEEPER spaces, RBF SVMs; :func:`dissim.pipeline.member.fit_unit`) and scores the test fold: the
accuracy of F, D and F+D (average rule), beside the images forwarded and the training seconds
spent so far. The pixel control (the same pipeline on the pixels, at each input side) is printed
beside them. Training time excludes the checkpoint evaluations::

    .venv/bin/python benchmarks/payoff.py --root ../shared/datasets/omniglot_background_small/...
    .venv/bin/python benchmarks/payoff.py --root DIR --topologies 1,6 --samplers pairs,batch \\
        --checkpoints 0,100,200,400,800,1600 --json payoff.json

``--json`` writes every row, and rows already in that file are kept and not recomputed (a
killed run resumes); a row is done for its own fold only, so one file may hold several folds.
The book's payoff page is drawn from the committed files (:func:`dissim.report.payoff.committed`:
``book/payoff/*.json``, and one file per data set and fold in ``book/payoff/folds/``), the folds
of each network averaged (:func:`dissim.report.payoff.figure`). Progress goes to stderr, the
table to stdout.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from dissim.data import load as load_dataset
from dissim.data.protocols import folds
from dissim.fusion import accuracy, average
from dissim.pipeline.member import METHODS, Options, fit_unit
from dissim.preprocess import to_network_input
from dissim.profiles import get as get_profile
from dissim.profiles import switch_tags
from dissim.report.benchmark import machine
from dissim.report.payoff import table
from dissim.sampling import SAMPLERS, images_per_iteration
from dissim.spaces import NetworkEncoder, PixelEncoder
from dissim.topologies import min_input_size
from dissim.train import TrainConfig, TrainLog, resolve_amp, train_siamese


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True,
                   help="a folder of class folders of images (or of the --dataset's files)")
    p.add_argument("--dataset", default="folder",
                   help="folder (any tree of class folders), or a registered data set read by "
                        "its own loader from --root (fsdd: WAV files as spectrograms), so the "
                        "rows are on the images and folds of that data set's snapshot")
    p.add_argument("--topologies", default="1,6")
    p.add_argument("--methods", default="cross,triplet", help=f"of {', '.join(METHODS)}")
    p.add_argument("--samplers", default="pairs,batch", help=f"of {', '.join(SAMPLERS)}")
    p.add_argument("--checkpoints", default="0,100,200,400,800,1600",
                   help="iteration counts at which the space is evaluated (the last one is "
                        "the length of training)")
    p.add_argument("--pairs", type=int, default=16,
                   help="pairs (triplets) per iteration of the paper sampler; the batch "
                        "sampler forwards as many images")
    p.add_argument("--lr", default="medium",
                   help="learning rate, or a profile name: that profile's rate for each loss "
                        "and topology (medium: 1e-4 for Cross, 1e-3 for Triplet of "
                        "topologies 1, 2 and 6, 1e-4 for the others)")
    p.add_argument("--k", type=int, default=4, help="prototypes per class (one k)")
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--size", type=int, default=0,
                   help="input side (0: each topology's minimum, at least 48 px)")
    p.add_argument("--max-per-class", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--amp", choices=("auto", "bf16", "none"), default="none",
                   help="training arithmetic: none (float32, as the committed fold-0 rows), "
                        "auto (bfloat16 autocast with channels-last where the CPU computes "
                        "bfloat16 in hardware, AMX or AVX512-BF16, else float32) or bf16; "
                        "each row records its arithmetic, the spaces are built in float32")
    p.add_argument("--json", default=None, help="write (and resume from) the rows of this file")
    return p.parse_args(argv)


def _accuracies(encoder_net, encoder, x_tr, y_tr, x_te, y_te, k, n_classes, seed) -> dict:
    """F, D and F+D test accuracy of the member pipeline on one encoder."""
    def trainer(*args, **kwargs):
        return encoder_net, TrainLog(attempts=0)

    fitted = fit_unit(x_tr, y_tr, TrainConfig(topology=1), ks=[k], spaces=("fully", "deeper"),
                      options=Options(), n_classes=n_classes, kmeans_seed=seed,
                      trainer=trainer, make_encoder=encoder, device="cpu")
    f, d = fitted.scores(x_te)
    return {"F": accuracy(f, y_te), "D": accuracy(d, y_te),
            "F+D": accuracy(average([f, d]), y_te)}


def arithmetic(amp: str | None, channels_last: bool) -> str:
    """How a row's network was trained: ``float32``, ``bf16`` or ``bf16+nhwc`` (channels-last),
    the suffixes of a switched profile's name (:func:`dissim.profiles.switch_tags`). Rows
    written before the field was recorded trained in float32. The arithmetic is not in the
    resume key: bfloat16 and float32 give the same accuracies within the fold spread (book:
    Reproducing at scale, "Is the arithmetic a variable?")."""
    return "+".join(switch_tags(amp=amp, channels_last=channels_last)) or "float32"


def _key(row: dict) -> tuple:
    """What makes a row done: its kind, fold, network, input side and checkpoint, so that one
    file can hold several folds (rows of files written before the fold was in the key carry
    their ``fold``, so they resume as before)."""
    return (row["kind"], row.get("fold", 0), row.get("topology"), row.get("method"),
            row.get("sampler"), row.get("lr"), row["size"], row.get("iterations"))


def _lr(arg: str, loss: str, topology: int) -> float:
    """``--lr``: a number, or a profile whose rate for ``loss`` and ``topology`` is taken."""
    try:
        return float(arg)
    except ValueError:
        return get_profile(arg).lr_for(loss, topology)


def run(args: argparse.Namespace, done: list[dict], save) -> list[dict]:
    if args.threads:
        torch.set_num_threads(args.threads)
    ds = load_dataset(args.dataset, args.root, max_per_class=args.max_per_class, seed=args.seed,
                      progress=False)
    tr, te = folds(ds, seed=args.seed)[args.fold]
    y_tr, y_te, n_classes = ds.labels[tr], ds.labels[te], len(ds.classes)
    checkpoints = sorted({int(c) for c in args.checkpoints.split(",")})
    amp = resolve_amp(None if args.amp == "none" else args.amp, "cpu")
    channels_last = args.amp == "auto" and amp is not None
    rows = list(done)
    have = {_key(r) for r in rows}
    inputs: dict[int, np.ndarray] = {}

    def x_of(size):
        if size not in inputs:
            inputs[size] = to_network_input(ds.images, size)
        return inputs[size]

    common = {"dataset": Path(args.root).name, "fold": args.fold, "k": args.k,
              "pairs": args.pairs, "seed": args.seed}
    configs = [(int(t), m, s) for t in args.topologies.split(",")
               for m in args.methods.split(",") for s in args.samplers.split(",")]
    for t in sorted({t for t, _, _ in configs}):  # the pixel control at each input side
        size = args.size or max(48, min_input_size(t))
        row = {"kind": "pixels", "size": size, **common}
        if _key(row) in have:
            continue
        x = x_of(size)
        start = time.perf_counter()
        row.update(_accuracies(None, lambda net, dct_size, x=x: PixelEncoder(
            x[tr].mean(0), dct_size), x[tr], y_tr, x[te], y_te, args.k, n_classes, args.seed))
        row["eval_seconds"] = time.perf_counter() - start
        rows.append(row)
        have.add(_key(row))
        save(rows)
        print(f"pixels {size} px: F+D {row['F+D']:.4f}", file=sys.stderr)
    for t, method, sampler in tqdm(configs, desc="networks", file=sys.stderr):
        size = args.size or max(48, min_input_size(t))
        loss, optimizer = METHODS[method]
        lr = _lr(args.lr, loss, t)
        base = {"kind": "network", "topology": t, "method": method, "sampler": sampler,
                "lr": lr, "size": size, **common}
        todo = [c for c in checkpoints if _key({**base, "iterations": c}) not in have]
        if not todo:
            continue
        x = x_of(size)
        cfg = TrainConfig(topology=t, loss=loss, optimizer=optimizer, iterations=max(checkpoints),
                          batch_size=args.pairs, lr=lr, seed=args.seed, max_retries=0,
                          sampler=sampler, eval_pairs=64, amp=amp, channels_last=channels_last)
        per_iteration = images_per_iteration(args.pairs, loss)
        clock = {"start": time.perf_counter(), "aside": 0.0}

        def evaluate(done_its: int, net, base=base, x=x, per_iteration=per_iteration,
                     clock=clock) -> None:
            t0 = time.perf_counter()
            row = {**base, "iterations": done_its, "images": done_its * per_iteration,
                   "train_seconds": t0 - clock["start"] - clock["aside"],
                   "arithmetic": arithmetic(amp, channels_last)}
            if _key(row) not in have:
                frozen = copy.deepcopy(net).eval()
                row.update(_accuracies(frozen, NetworkEncoder, x[tr], y_tr, x[te], y_te,
                                       args.k, n_classes, args.seed))
                row["eval_seconds"] = time.perf_counter() - t0
                rows.append(row)
                have.add(_key(row))
                save(rows)
                tqdm.write(f"t{row['topology']} {row['method']} {row['sampler']} {done_its} it: "
                           f"F {row['F']:.3f} D {row['D']:.3f} F+D {row['F+D']:.3f} "
                           f"({row['train_seconds']:.0f} s)", file=sys.stderr)
            clock["aside"] += time.perf_counter() - t0

        train_siamese(x[tr], y_tr, cfg, device="cpu", progress=False, on_checkpoint=evaluate,
                      checkpoints=checkpoints)
    return rows


def main(argv=None) -> int:
    args = parse(argv)
    done: list[dict] = []
    if args.json and os.path.exists(args.json):
        with open(args.json) as f:
            done = json.load(f)

    def save(rows):
        if args.json:
            tmp = f"{args.json}.tmp"
            with open(tmp, "w") as f:
                json.dump(rows, f, indent=1)
            os.replace(tmp, args.json)

    start = time.perf_counter()
    rows = run(args, done, save)
    print(f"{machine()} | {Path(args.root).name} fold {args.fold} | k {args.k} | "
          f"{args.pairs} pairs per iteration | lr {args.lr} | seed {args.seed} | "
          f"{time.perf_counter() - start:.0f} s")
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
