"""``dissim results export`` and ``dissim results import``: result snapshots
(:mod:`dissim.pipeline.snapshots`) on the command line.

    dissim results export --dataset folder --root DIR --profile medium \\
        --out results_snapshots/wikiart-medium [--folds 0-1]
    dissim results import results_snapshots/wikiart-medium [--results DIR]
"""

from __future__ import annotations

import json
from pathlib import Path

from dissim.cli.lists import ints, names
from dissim.data import DEFAULT_DATASET
from dissim.errors import ConfigError, warn
from dissim.pipeline import snapshots, validate
from dissim.pipeline.experiment import INPUTS
from dissim.pipeline.store import DEFAULT_RESULTS, ResultsStore, check_key
from dissim.report import printed


def add_parsers(rs) -> None:
    """Add ``export`` and ``import`` to the ``dissim results`` subparsers ``rs``."""
    ex = rs.add_parser(
        "export", help="write a data set's stored results as a snapshot folder",
        description="Write the stored members of one data set and profile (scores, labels, "
                    "test indices, provenance; no images, no weights) as a snapshot folder "
                    "that `dissim results import` and the book read.")
    ex.add_argument("--dataset", default=None, help="data set name (default: the embedded one)")
    ex.add_argument("--root", default=None, help="its folder: keep only entries of that data "
                    "(required when the store holds several folders run as 'folder')")
    ex.add_argument("--profile", default="quick", help="the profile name the entries carry")
    ex.add_argument("--seed", type=int, default=0)
    ex.add_argument("--inputs", default="orig", type=names(INPUTS), metavar="LIST",
                    help=f"{','.join(INPUTS)} (default orig)")
    ex.add_argument("--folds", default=None, type=ints(), metavar="LIST",
                    help="keep only these folds, e.g. 0-1 (default: every stored fold): "
                    "a snapshot of the folds a grid has finished while it runs on")
    ex.add_argument("--results", default=DEFAULT_RESULTS, help="results store folder")
    ex.add_argument("--describe", default=None, help="one paragraph shown on the snapshot's "
                    "book pages: what the data are, their source, the command that computed "
                    "the entries")
    ex.add_argument("--out", required=True, help="snapshot folder, e.g. "
                    f"{snapshots.SNAPSHOT_DIR}/<dataset>-<profile>")
    ex.set_defaults(func=_cmd_export)
    im = rs.add_parser("import", help="verify a snapshot folder and put it into the store")
    im.add_argument("snapshot", help="a folder written by dissim results export")
    im.add_argument("--results", default=DEFAULT_RESULTS, help="results store folder")
    im.set_defaults(func=_cmd_import)


def _cmd_export(args) -> int:
    validate.results_export_args(args)
    snapshots.refuse_target(args.out)  # before any work: a snapshot replaces only a snapshot
    dataset = args.dataset or DEFAULT_DATASET
    picked = snapshots.select(ResultsStore(args.results), dataset, args.profile,
                              root=args.root, seed=args.seed,
                              inputs=args.inputs)
    if args.folds is not None:
        keep = set(args.folds)
        picked = [r for r in picked if snapshots.member_of(r.meta).fold in keep]
        if not picked:
            raise ConfigError(f"--folds {','.join(map(str, args.folds))}: no stored entry of "
                              f"{dataset} [{args.profile}] is on these folds; pass folds the "
                              "store holds (dissim results ls)")
    index, warning = printed.export(picked, args.out, dataset=dataset, profile=args.profile,
                                    description=args.describe)
    if warning:
        warn(warning)
    kept = json.loads(index.read_text())["precision"]
    print(f"{len(picked)} entries of {dataset} [{args.profile}] -> {index.parent} "
          f"({kept} scores)")
    return 0


def _check_keys(snapshot: Path, snap: snapshots.Snapshot) -> None:
    """Every entry of ``snap`` has the key its metadata makes, as the store checks its own
    entries (:func:`~dissim.pipeline.store.check_key`); all are checked before any is stored,
    and a relabelled one is named with the snapshot file that holds it."""
    rows = json.loads((snapshot / snapshots.INDEX).read_text())["entries"]
    files = {row["key"]: row.get("file") or row.get("files", {}).get("meta", "?")
             for row in rows}
    for r in snap.entries():
        check_key(r.key, r.meta, f"snapshot {snapshot}: entry {r.key[:12]} (in "
                  f"{files.get(r.key, '?')})", "export the snapshot again (dissim results "
                  "export) or restore it from git")


def _cmd_import(args) -> int:
    validate.results_import_args(args)
    snap = snapshots.load(args.snapshot)  # verified: schema, checksums, labels
    _check_keys(Path(args.snapshot), snap)
    store = ResultsStore(args.results)
    if any(store.get(r.key) is None for r in snap.entries()):
        validate.results_store(args.results)  # read-only is refused only when a write is due
        for r in snap.entries():  # as snapshots.import_, once every key is known to be right
            store.put(r.key, r.scores, r.y_true, r.test_index, r.meta)
    print(f"{len(snap.entries())} entries of {snap.dataset} [{snap.profile}] verified and "
          f"stored in {args.results}")
    return 0
