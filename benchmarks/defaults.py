"""Which default earns its place? Candidate configurations of the classifier and their controls
on real folders, accuracy per CPU-minute (book: Your own images).

For every folder and every candidate (a :class:`dissim.pipeline.defaults.Defaults`), the
evaluation of ``dissim evaluate`` runs on the same folds
(:func:`dissim.report.evaluation.evaluate`): the candidate's ensemble, its CNN fusions, its
untrained and pixel twins, the plain standardised-pixel SVM and the frozen-CNN control at its
chosen side. Per folder it prints every system's and control's accuracy (mean over folds), CPU
seconds and standing against the folder's strongest control (McNemar's exact test on the same
test images); then the rule of :mod:`dissim.report.default_rule`: the default is the cheapest
system at least level with the strongest control on most folders, or none (then the page names
the control to prefer per kind of images)::

    cd /work/data && python /work/main/benchmarks/defaults.py \\
        orl_faces omniglot_greek wikiart_movements6 fsdd_spectrograms wbc_4 \\
        --folds 5 --max-folds 2 --max-per-class 60 --json defaults.json \\
        --commit /work/main/book/own_images/defaults.json --title orl_faces="faces (ORL)"

A candidate is ``field=value`` words changing :data:`~dissim.pipeline.defaults.DEFAULTS`
(``topologies=1,6 methods=cross,triplet spaces=fully,deeper profile=quick sampler=batch
amp=none``; ``amp=none`` trains in float32, the empty string is today's default), and
optionally ``fuse=frozen,finetuned``: the same fitted ensemble also fused with the profile's
first CNN, frozen and/or fine-tuned, by the z-score sum rule (Section 4, "Fusion + eCNN"; one
more row each, ``dissim evaluate --cnn-fusion``), each fused row a candidate of its own. Without
``--candidate``, :data:`CANDIDATES`: today's default and topology 6 Triplet at ``medium``, each
also fused with the frozen and the fine-tuned CNN. ``--json``
keeps every evaluation; those already in the file are not recomputed (a killed run resumes);
``--commit`` writes the compact copy the book's page reads (:func:`dissim.report.default_rule.
compact`), with ``--title NAME=TEXT`` the folders' names on the page and the machine it ran on.
Progress goes to stderr, tables to stdout.
CPU seconds are this process's: on a machine shared with other jobs they stay comparable where
wall times do not.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
from dataclasses import dataclass, fields
from pathlib import Path

from dissim import data
from dissim.atomic import atomic_path
from dissim.pipeline.classifier import CNN_FUSIONS
from dissim.pipeline.defaults import DEFAULTS, Defaults
from dissim.profiles import get as get_profile
from dissim.report import default_rule as rule
from dissim.report.evaluation import evaluate

TUPLES = {"topologies": int, "methods": str, "spaces": str}
#: The candidates measured without ``--candidate`` (book: Your own images, "Which default?"):
#: the paper's best Siamese ensemble at ``quick`` scale (the default before this measurement)
#: and topology 6 Triplet with the ``medium`` profile's training (the default it chose), each
#: also fused with the frozen and the fine-tuned CNN (the paper's complete system, Section 4).
CANDIDATES = ("topologies=1 methods=cross,triplet profile=quick fuse=frozen,finetuned",
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
    p.add_argument("--commit", default=None, metavar="PATH",
                   help="also write the compact copy the book reads (book/own_images/"
                        "defaults.json)")
    p.add_argument("--title", action="append", default=None, metavar="FOLDER=TEXT",
                   help="the name a folder has on the page (repeat)")
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
            if a.json:  # atomically: a run killed while writing keeps what it had
                with atomic_path(a.json) as tmp:
                    Path(tmp).write_text(json.dumps(done, indent=1, default=str))
    return done


def report(done: dict) -> str | None:
    """Print each folder's systems and controls and the rule's decision
    (:func:`dissim.report.default_rule.decide`); return the default chosen (None: none)."""
    for folder, part in rule.frame(done).groupby("folder", sort=False):
        print(f"\n{folder}")
        print(f"  {'system or control':<72} {'accuracy %':>10} {'CPU s':>7}  standing")
        for r in part.to_dict("records"):
            standing = r["standing"]
            if r["kind"] == "system":
                standing += f" ({r['difference (points)']:+.2f} points, p {r['p']:.2g})"
            print(f"  {r['row']:<72} {r['accuracy (%)']:>10.2f} {r['CPU s']:>7.0f}  {standing}")
    d = rule.decide(done)
    print()
    print(rule.verdict_table(d).to_string(index=False))
    print("\n" + d.sentence())
    return d.default


def machine() -> dict:
    """The CPU the evaluations ran on (model, cores, bfloat16 in hardware) for the page."""
    from dissim.train import native_bf16

    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown") \
        if Path("/proc/cpuinfo").is_file() else (platform.processor() or "unknown")
    return {"cpu": model, "cores": os.cpu_count(), "bf16_hardware": bool(native_bf16("cpu"))}


def commit(done: dict, a: argparse.Namespace) -> None:
    """Write the compact file the book's page reads, atomically."""
    titles = dict(t.split("=", 1) for t in a.title or [])
    out = {"titles": {f: titles.get(f, f) for f in done}, "machine": machine(),
           "command": "python benchmarks/defaults.py " + shlex.join(sys.argv[1:]),
           "evaluations": rule.compact(done)}
    with atomic_path(a.commit) as tmp:
        Path(tmp).write_text(json.dumps(out, indent=1, default=str) + "\n")


def main(argv=None) -> int:
    a = parse(argv)
    done = measure(a)
    done = {f: done[f] for f in a.folders if f in done}
    report(done)
    if a.commit:
        commit(done, a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
