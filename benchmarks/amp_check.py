"""Is the arithmetic a variable? bfloat16 against float32 training of the same members.

Reads the same members (topology x method, every k and both spaces fused by the average rule,
the F+D cell of Table 1) from two places: the float32 entries of a committed result snapshot
and the bfloat16 entries of a results store computed by ``dissim grid --amp auto`` (or
``--amp bf16``) at the same profile, on the same fold. For each member it prints both
accuracies on that fold, their difference, McNemar's exact test on the fold's test images (the
book's per-image test, :func:`dissim.report.paired.mcnemar`), and the fold-to-fold spread of
the float32 member over the snapshot's folds (its standard deviation and range): the
arithmetic is not the variable being changed where the bfloat16 accuracy lies inside that range
and the per-image test finds no difference.
The training seconds of both are printed beside, with the machine each ran on (compare them
only where it is the same)::

    dissim grid --dataset folder --root omniglot_greek --profile medium --amp auto \\
        --topologies 1,6,8 --methods cross,triplet --k 4,8,12,16 --folds 0 --results CHECK
    .venv/bin/python benchmarks/amp_check.py --snapshot results_snapshots/omniglot_greek-medium \\
        --results CHECK --root omniglot_greek --json amp_check.json

The book quotes the table (Reproducing at scale: the training budget); ``--json`` writes it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from dissim.pipeline import snapshots
from dissim.pipeline.store import ResultsStore
from dissim.report.benchmark import machine
from dissim.report.paired import mcnemar
from dissim.report.tables import DISPLAY, fold_decisions


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--snapshot", required=True, help="a committed float32 result snapshot")
    p.add_argument("--results", required=True, help="the store of the bfloat16 entries")
    p.add_argument("--profile", default=None, help="the bfloat16 entries' profile name "
                   "(default: the snapshot's + '+bf16+nhwc')")
    p.add_argument("--root", default=None, help="the data folder the bfloat16 entries ran on")
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the rows to this file")
    return p.parse_args(argv)


def _seconds(results: dict, keep) -> float:
    """Training seconds of the one network behind the selected members of a fold."""
    secs = {float(r.meta.get("timings", {}).get("train_total_seconds", 0.0) or 0.0)
            for m, r in results.items() if keep(m)}
    return max(secs) if secs else float("nan")


def _machines(results: dict) -> list[str]:
    return sorted({" ".join(str(e[k]) for k in ("machine", "processor") if e.get(k))
                   for e in (r.meta.get("environment", {}) for r in results.values())})


def compare(snap: snapshots.Snapshot, check: dict, fold: int) -> pd.DataFrame:
    """One row per (topology, method) present in both: accuracies (%), difference, McNemar
    and the float32 fold spread."""
    rows = []
    pairs = sorted({(m.topology, m.method) for m in check if m.encoder == "trained"
                    and m.fold == fold})
    for topology, method in pairs:
        def keep(m, t=topology, me=method):
            return m.topology == t and getattr(m, "method", None) == me

        def keep_fold(m, t=topology, me=method):
            return keep(m) and m.fold == fold

        f32 = fold_decisions(snap.results, keep)
        if fold not in f32:
            continue
        bf = fold_decisions(check, keep_fold)[fold]
        ref = f32[fold]
        if not np.array_equal(bf[1], ref[1]):
            raise SystemExit(f"topology {topology} {method}: the two were scored on different "
                             f"test images of fold {fold} (a different data folder?)")
        accs = np.array([c.mean() for c, _ in f32.values()]) * 100
        b, c, p = mcnemar(bf[0], ref[0])
        rows.append({
            "topology": topology, "method": DISPLAY[method],
            "float32": ref[0].mean() * 100, "bfloat16": bf[0].mean() * 100,
            "difference": (bf[0].mean() - ref[0].mean()) * 100,
            "only bf16 right": b, "only fp32 right": c, "McNemar p": p,
            "fp32 fold std": accs.std(ddof=1) if len(accs) > 1 else float("nan"),
            "fp32 fold min": accs.min(), "fp32 fold max": accs.max(), "fp32 folds": len(accs),
            "fp32 s": _seconds(snap.results, keep_fold), "bf16 s": _seconds(check, keep_fold),
        })
    df = pd.DataFrame(rows)
    if not df.empty:  # the bfloat16 accuracy is one the float32 member reaches on some fold
        df["within spread"] = df["bfloat16"].between(df["fp32 fold min"], df["fp32 fold max"])
    return df


def main(argv=None) -> int:
    args = parse(argv)
    snap = snapshots.load(args.snapshot)
    profile = args.profile or f"{snap.profile}+bf16+nhwc"
    picked = snapshots.select(ResultsStore(args.results), snap.dataset, profile, root=args.root)
    check, _, _ = snapshots.by_member(picked)
    df = compare(snap, check, args.fold)
    if df.empty:
        print(f"no member of fold {args.fold} is in both", file=sys.stderr)
        return 1
    pd.set_option("display.width", 200)
    print(f"{snap.name} (float32) against {profile} in {args.results}, fold {args.fold}")
    print(df.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"float32 ran on: {'; '.join(_machines(snap.results))}")
    print(f"bfloat16 ran on: {'; '.join(_machines(check))}")
    print(f"{int(df['within spread'].sum())} of {len(df)} bfloat16 accuracies within the "
          "float32 member's range over the folds; "
          f"{int((df['McNemar p'] < 0.05).sum())} significant on the fold's images (p < 0.05)")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "snapshot": snap.name, "profile": profile, "fold": args.fold,
            "machine": machine(), "float32_machines": _machines(snap.results),
            "bfloat16_machines": _machines(check),
            "rows": json.loads(df.to_json(orient="records"))}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
