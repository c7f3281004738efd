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
amp=none``; ``amp=none`` trains in float32, the empty string is today's default), and
optionally ``fuse=frozen,finetuned``: the same fitted ensemble also fused with the profile's
first CNN, frozen and/or fine-tuned, by the z-score sum rule (Section 4, "Fusion + eCNN"; one
more row each, ``dissim evaluate --cnn-fusion``), each fused row a candidate of its own. Without
``--candidate``, :data:`CANDIDATES`: today's default and topology 6 Triplet at ``medium``, each
also fused with the frozen and the fine-tuned CNN. ``--json``
keeps every evaluation; those already in the file are not recomputed (a killed run resumes).
Progress goes to stderr, tables to stdout.
CPU seconds are this process's: on a machine shared with other jobs they stay comparable where
wall times do not.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from dissim import data
from dissim.pipeline.classifier import CNN_FUSIONS
from dissim.pipeline.defaults import DEFAULTS, Defaults
from dissim.profiles import get as get_profile
from dissim.report.evaluation import ENSEMBLE, PLAIN, evaluate

TUPLES = {"topologies": int, "methods": str, "spaces": str}
#: The candidates measured without ``--candidate``: today's default and topology 6 Triplet with
#: the ``medium`` profile's training (book: Your own images), each also fused with the frozen
#: and the fine-tuned CNN (the paper's complete system, Section 4).
CANDIDATES = ("fuse=frozen,finetuned",
              "topologies=6 methods=triplet profile=medium fuse=frozen,finetuned")


@dataclass(frozen=True)
class Candidate:
    """A configuration (:class:`~dissim.pipeline.defaults.Defaults`) and the CNN fusions to
    add to its ensemble (``"frozen"``, ``"finetuned"``; each a row, a candidate of its own)."""

    defaults: Defaults
    fusions: tuple[str, ...] = ()

    def label(self) -> str:
        """The defaults' label, then ``+ frozen,finetuned CNN`` when fused (the key of
        ``--json``: a candidate without fusions keeps the label it had before fusions)."""
        return self.defaults.label() + (f" + {','.join(self.fusions)} CNN" if self.fusions
                                        else "")


def candidate(spec: str) -> Candidate:
    """``"topologies=6 sampler=batch fuse=frozen"`` -> ``DEFAULTS.with_(topologies=(6,),
    sampler="batch")`` with the frozen CNN fusion."""
    known = {f.name for f in fields(Defaults)}
    changes: dict = {}
    fusions: tuple[str, ...] = ()
    for word in spec.split():
        key, sep, value = word.partition("=")
        if key == "fuse" and sep:
            fusions = tuple(dict.fromkeys(v for v in value.split(",") if v))
            if not fusions or set(fusions) - set(CNN_FUSIONS):
                raise SystemExit(f"defaults.py: error: bad candidate word {word!r}; use "
                                 f"fuse=LIST with LIST of {','.join(CNN_FUSIONS)}")
            continue
        if not sep or key not in known:
            raise SystemExit(f"defaults.py: error: bad candidate word {word!r}; use FIELD=VALUE "
                             f"with FIELD one of {', '.join(sorted([*known, 'fuse']))}")
        if key in TUPLES:
            changes[key] = tuple(TUPLES[key](v) for v in value.split(","))
        else:
            changes[key] = None if value in ("", "none", "None") else value
    return Candidate(DEFAULTS.with_(**changes), fusions)


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", help="folders of class folders of images")
    p.add_argument("--candidate", action="append", default=None, metavar="SPEC",
                   help="FIELD=VALUE words changing the defaults, fuse=frozen,finetuned to add "
                        "the CNN fusions (repeat; default: CANDIDATES, today's default and "
                        "topology 6 Triplet medium, each fused too)")
    p.add_argument("--folds", type=int, default=5, help="stratified k-fold (default 5)")
    p.add_argument("--max-folds", type=int, default=2, help="run the first N folds (default 2)")
    p.add_argument("--max-per-class", type=int, default=None,
                   help="images per class (default: the candidate profile's cap; 0 = all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="keep every evaluation here (and resume)")
    a = p.parse_args(argv)
    a.candidates = [candidate(s) for s in (a.candidate or CANDIDATES)]
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
            cap = (get_profile(cand.defaults.profile).max_per_class if cap is None
                   else (cap or None))
            ds = _load(folder, cap, a.seed)
            folds = data.folds(ds, seed=a.seed, n_splits=a.folds)[: a.max_folds]
            print(f"{folder}: {label} ({len(ds)} images, {len(folds)} folds)", file=sys.stderr)
            ev = evaluate(ds.images, ds.labels, ds.classes, folds, name=folder,
                          params={**cand.defaults.to_dict(), "seed": a.seed}, n_splits=a.folds,
                          fusions=cand.fusions,
                          log=lambda s: print("  " + s, file=sys.stderr, flush=True))
            done.setdefault(folder, {})[label] = ev.to_dict()
            if a.json:
                Path(a.json).write_text(json.dumps(done, indent=1, default=str))
    return done


def _per_minute(acc: float, cpu: float) -> float:
    return 100 * acc / max(cpu / 60, 1e-9)


def systems(label: str, ev: dict) -> list[tuple[str, dict]]:
    """A candidate's systems in evaluation ``ev``: its ensemble (named by the configuration's
    label) and each fused row (``t1 cross+triplet fully+deeper quick + frozen
    efficientnet_lite0``)."""
    base = label.split(" + ")[0]
    out = [(base, next(r for r in ev["rows"] if r["name"] == ENSEMBLE))]
    out += [(base + r["name"][len("ensemble"):].removesuffix(" (z-score sum)"), r)
            for r in ev["rows"][1:] if r.get("fused")]
    return out


def report(done: dict, labels: list[str]) -> str | None:
    """Print the per-folder tables; return the overall pick among the candidates' systems (an
    ensemble, or an ensemble fused with a CNN; None: none beats the plain SVM on most
    folders)."""
    wins: dict[str, int] = {}
    rates: dict[str, list[float]] = {}
    for folder, evs in done.items():
        print(f"\n{folder}")
        print(f"  {'configuration':<72} {'accuracy %':>10} {'CPU s':>8} {'acc/CPU-min':>11}")
        plain = None
        shown: set[str] = set()  # a control shared by the candidates is printed once
        for label in labels:
            ev = evs.get(label)
            if ev is None:
                continue
            mine = {id(r): name for name, r in systems(label, ev)}
            for row in ev["rows"]:
                short = row["name"].split(",")[0]  # untrained networks, pixels
                name = mine.get(id(row), f"{label.split(' + ')[0]}: {short}")
                if row["name"] == PLAIN or row["name"].startswith("frozen "):
                    name = row["name"]
                    if name in shown:
                        continue
                shown.add(name)
                rate = _per_minute(row["mean"], row["cpu_seconds"])
                print(f"  {name:<72} {100 * row['mean']:>10.2f} {row['cpu_seconds']:>8.0f} "
                      f"{rate:>11.2f}")
            plain = plain or next(r for r in ev["rows"] if r["name"] == PLAIN)
        if plain is None:
            continue
        above = []
        for label in labels:
            if label not in evs:
                continue
            for name, row in systems(label, evs[label]):
                wins.setdefault(name, 0)
                rates.setdefault(name, []).append(_per_minute(row["mean"], row["cpu_seconds"]))
                if row["mean"] > plain["mean"]:
                    wins[name] += 1
                    above.append((rates[name][-1], name))
        pick = max(above)[1] if above else None
        print(f"  pick: {pick or 'none: no candidate is above the plain SVM here'}")
    most = [c for c in wins if wins[c] > len(done) / 2]
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
