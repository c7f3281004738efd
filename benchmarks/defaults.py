"""Which default earns its place? Candidate configurations of the classifier and their controls
on real folders, accuracy per CPU-minute (book: Your own images).

For every folder and every candidate (a :class:`dissim.pipeline.defaults.Defaults`), the
evaluation of ``dissim evaluate`` runs on the same folds
(:func:`dissim.report.evaluation.evaluate`): the candidate's ensemble, its untrained and pixel
twins, the plain standardised-pixel SVM and the frozen-CNN control. Per folder it prints each
candidate's and each control's accuracy (mean over folds), CPU seconds (this process, all
threads) and accuracy per CPU-minute, and the pick: among the candidates whose mean accuracy is
above the plain SVM's, the best accuracy per CPU-minute. Then, over the folders, the candidate
above the plain SVM on most folders with the best mean accuracy per CPU-minute: the one to
write into ``DEFAULTS`` (one line of ``dissim/pipeline/defaults.py``)::

    cd ../shared/datasets && /work/main/.venv/bin/python /work/main/benchmarks/defaults.py \\
        orl_faces wikiart_movements6 birds_tiny_8species_plus_noise \\
        --candidate "" --candidate "topologies=6" --candidate "sampler=batch" \\
        --candidate "topologies=6 methods=cross" --folds 5 --max-folds 2 --json defaults.json

A candidate is ``field=value`` words changing :data:`~dissim.pipeline.defaults.DEFAULTS`
(``topologies=1,6 methods=cross,triplet spaces=fully,deeper profile=quick sampler=batch
amp=none``; ``amp=none`` trains in float32, the empty string is today's default). ``--json``
keeps every evaluation; those already in the file are not recomputed (a killed run resumes).
Progress goes to stderr, tables to stdout.
CPU seconds are this process's: on a machine shared with other jobs they stay comparable where
wall times do not.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np

from dissim import data
from dissim.pipeline.defaults import DEFAULTS, Defaults
from dissim.profiles import get as get_profile
from dissim.report.evaluation import ENSEMBLE, PLAIN, evaluate

TUPLES = {"topologies": int, "methods": str, "spaces": str}


def candidate(spec: str) -> Defaults:
    """``"topologies=6 sampler=batch"`` -> ``DEFAULTS.with_(topologies=(6,), sampler="batch")``."""
    known = {f.name for f in fields(Defaults)}
    changes: dict = {}
    for word in spec.split():
        key, sep, value = word.partition("=")
        if not sep or key not in known:
            raise SystemExit(f"defaults.py: error: bad candidate word {word!r}; use FIELD=VALUE "
                             f"with FIELD one of {', '.join(sorted(known))}")
        if key in TUPLES:
            changes[key] = tuple(TUPLES[key](v) for v in value.split(","))
        else:
            changes[key] = None if value in ("", "none", "None") else value
    return DEFAULTS.with_(**changes)


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", help="folders of class folders of images")
    p.add_argument("--candidate", action="append", default=None, metavar="SPEC",
                   help="FIELD=VALUE words changing the defaults (repeat; default: today's "
                        "defaults only)")
    p.add_argument("--folds", type=int, default=5, help="stratified k-fold (default 5)")
    p.add_argument("--max-folds", type=int, default=2, help="run the first N folds (default 2)")
    p.add_argument("--max-per-class", type=int, default=None,
                   help="images per class (default: the candidate profile's cap; 0 = all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="keep every evaluation here (and resume)")
    a = p.parse_args(argv)
    a.candidates = [candidate(s) for s in (a.candidate or [""])]
    return a


def _load(folder: str, cap: int | None, seed: int):
    ds = data.load_folder(folder, max_per_class=cap, seed=seed, progress=False)
    return ds


def measure(a) -> dict:
    """``{folder: {candidate label: evaluation dict}}``, resumed from ``--json``."""
    done = json.loads(Path(a.json).read_text()) if a.json and Path(a.json).is_file() else {}
    for folder in a.folders:
        for cand in a.candidates:
            label = cand.label()
            if label in done.get(folder, {}):
                continue
            cap = a.max_per_class
            cap = get_profile(cand.profile).max_per_class if cap is None else (cap or None)
            ds = _load(folder, cap, a.seed)
            folds = data.folds(ds, seed=a.seed, n_splits=a.folds)[: a.max_folds]
            print(f"{folder}: {label} ({len(ds)} images, {len(folds)} folds)", file=sys.stderr)
            ev = evaluate(ds.images, ds.labels, ds.classes, folds, name=folder,
                          params={**cand.to_dict(), "seed": a.seed}, n_splits=a.folds,
                          log=lambda s: print("  " + s, file=sys.stderr, flush=True))
            done.setdefault(folder, {})[label] = ev.to_dict()
            if a.json:
                Path(a.json).write_text(json.dumps(done, indent=1, default=str))
    return done


def _per_minute(acc: float, cpu: float) -> float:
    return 100 * acc / max(cpu / 60, 1e-9)


def report(done: dict, labels: list[str]) -> str | None:
    """Print the per-folder tables; return the overall pick (None: no candidate beats the plain
    SVM on most folders)."""
    wins: dict[str, int] = dict.fromkeys(labels, 0)
    rates: dict[str, list[float]] = {c: [] for c in labels}
    for folder, evs in done.items():
        print(f"\n{folder}")
        print(f"  {'configuration':<64} {'accuracy %':>10} {'CPU s':>8} {'acc/CPU-min':>11}")
        plain = None
        for label in labels:
            ev = evs.get(label)
            if ev is None:
                continue
            for row in ev["rows"]:
                short = row["name"].split(",")[0]  # untrained networks, pixels
                name = f"{label}: {short}" if row["name"] != ENSEMBLE else label
                if row["name"] == PLAIN or row["name"].startswith("frozen "):
                    name = row["name"]
                    if plain is not None:  # printed once per folder
                        continue
                rate = _per_minute(row["mean"], row["cpu_seconds"])
                print(f"  {name:<64} {100 * row['mean']:>10.2f} {row['cpu_seconds']:>8.0f} "
                      f"{rate:>11.2f}")
            plain = plain or next(r for r in ev["rows"] if r["name"] == PLAIN)
        if plain is None:
            continue
        above = []
        for label in labels:
            if label not in evs:
                continue
            ens = evs[label]["rows"][0]
            rates[label].append(_per_minute(ens["mean"], ens["cpu_seconds"]))
            if ens["mean"] > plain["mean"]:
                wins[label] += 1
                above.append((rates[label][-1], label))
        pick = max(above)[1] if above else None
        print(f"  pick: {pick or 'none: no candidate is above the plain SVM here'}")
    most = [c for c in labels if wins[c] > len(done) / 2]
    overall = max(most, key=lambda c: np.mean(rates[c])) if most else None
    print(f"\nabove the plain SVM on most of {len(done)} folders: {', '.join(most) or 'none'}")
    print(f"default to choose: {overall or 'none of the candidates; say so on the page'}")
    return overall


def main(argv=None) -> int:
    a = parse(argv)
    done = measure(a)
    report({f: done[f] for f in a.folders if f in done}, [c.label() for c in a.candidates])
    return 0


if __name__ == "__main__":
    sys.exit(main())
