"""``dissim fit | predict | evaluate``: the classifier on any folder of images (issue 9).

    dissim fit IMAGE_FOLDER --out model.dissim [--profile quick] [--topologies 1,3] ...
               [--ecnn CNN] [--cnn-fusion finetuned|frozen]
    dissim predict model.dissim IMAGES_OR_FOLDERS... [--csv]
    dissim evaluate IMAGE_FOLDER | --dataset NAME [--folds 5] [--plot confusion.png]
                    [--report DIR] [--no-controls] [--cnn-fusion frozen,finetuned]

``IMAGE_FOLDER`` holds one sub-folder per class (:func:`dissim.data.load_folder`); a bad tree
is one :class:`~dissim.errors.DataError` line, exit status 2 (:func:`dissim.cli.main`).
``evaluate`` runs the paper's protocol on it: stratified k-fold (group k-fold for an embedded
set with groups), one classifier per fold, per-fold accuracy, mean and standard deviation,
the pooled confusion matrix and the most confused pairs; beside the ensemble, on the same
folds, its controls and the paired verdict (:mod:`dissim.report.evaluation`).

``--cnn-fusion`` adds the paper's complete system, "Fusion + eCNN" (Section 4): the Siamese
ensemble and a CNN (``--ecnn``, default the profile's first) fused by the z-score sum rule, the
CNN fine-tuned or frozen (ImageNet features + a standardised SVM). ``fit`` saves it in the
model; ``evaluate`` prints one row per fusion beside the ensemble (``--ecnn`` alone: the
fine-tuned one, as before).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dissim import data
from dissim.baselines import available as available_cnns
from dissim.cli.lists import ints, names
from dissim.data import IMAGE_EXTS, load_folder, protocols, read_image
from dissim.errors import DataError
from dissim.fusion import SCALINGS
from dissim.pipeline import validate
from dissim.pipeline.classifier import CNN_FUSIONS, DissimilarityClassifier
from dissim.pipeline.defaults import DEFAULTS
from dissim.pipeline.experiment import INPUTS, METHODS, SPACE_NAMES
from dissim.profiles import PROFILES
from dissim.profiles import get as get_profile
from dissim.report import evaluation
from dissim.topologies import available as available_topologies


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default=DEFAULTS.profile, choices=sorted(PROFILES),
                   help=f"scale of training (default {DEFAULTS.profile})")
    known = available_topologies()  # lists: one word of ranges and commas (dissim.cli.lists)
    p.add_argument("--topologies", type=ints(known), default=DEFAULTS.topologies, metavar="LIST",
                   help=f"Appendix A topologies, e.g. 1 or 1,3,7 or {min(known)}-{max(known)} "
                   f"(default {','.join(map(str, DEFAULTS.topologies))})")
    p.add_argument("--methods", type=names(METHODS), default=DEFAULTS.methods,
                   metavar="LIST", help="loss/optimizer pairs, comma list of "
                   f"{','.join(METHODS)} (default {','.join(DEFAULTS.methods)})")
    p.add_argument("--spaces", type=names(SPACE_NAMES), default=DEFAULTS.spaces,
                   metavar="LIST", help=f"fully,deeper (default {','.join(DEFAULTS.spaces)})")
    p.add_argument("--k", type=ints(), default=None, metavar="LIST",
                   help="prototypes per class, e.g. 15,30 (default: the profile's k values)")
    p.add_argument("--inputs", type=names(INPUTS), default=("orig",), metavar="LIST",
                   help=f"{','.join(INPUTS)} (default orig)")
    p.add_argument("--ecnn", default=None, metavar="CNN",
                   help="add an ImageNet CNN fused by z-score sum (fine-tuned unless "
                   f"--cnn-fusion frozen), one of {', '.join(available_cnns())}")
    p.add_argument("--svm-scaling", default="none", choices=SCALINGS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if present)")
    amp = DEFAULTS.amp or "float32"
    p.add_argument("--amp", default=amp, choices=("auto", "bf16", "float32"),
                   help="training arithmetic: auto is bfloat16 where the CPU (AMX, AVX512-BF16) "
                   f"or GPU computes it in hardware, else float32 (default {amp})")


def _params(args, verbose: bool = True) -> dict:
    return dict(
        topologies=tuple(args.topologies), methods=tuple(args.methods),
        spaces=tuple(args.spaces), k_values=None if args.k is None else tuple(args.k),
        inputs=tuple(args.inputs), profile=args.profile, device=args.device, seed=args.seed,
        ecnn=args.ecnn, svm_scaling=args.svm_scaling, verbose=verbose,
        amp=None if args.amp == "float32" else args.amp, cnn_fusion=_one_fusion(args.cnn_fusion))


def _one_fusion(value) -> str | None:
    """``--cnn-fusion`` as the classifier's ``cnn_fusion``: ``fit``'s one word, or
    ``evaluate``'s list when it names one (several: each is a row of ``evaluate``)."""
    if value is None or isinstance(value, str):
        return value
    return value[0] if len(value) == 1 else None


def _classifier(args, verbose: bool = True):
    return DissimilarityClassifier(**_params(args, verbose))


def add_parsers(sub) -> None:
    """Add the ``fit``, ``predict`` and ``evaluate`` sub-commands to ``dissim``'s parser."""
    p = sub.add_parser("fit", help="train the classifier on a folder of class folders")
    p.add_argument("folder", metavar="IMAGE_FOLDER",
                   help="folder with one sub-folder of images per class")
    p.add_argument("--out", required=True, help="model file to write (a zip)")
    p.add_argument("--cnn-fusion", default=None, choices=CNN_FUSIONS,
                   help="fuse the ensemble with a CNN (--ecnn, default the profile's first) by "
                   "z-score sum (Section 4): finetuned, or frozen (ImageNet features + "
                   "standardised SVM, no CNN training); --ecnn alone: finetuned")
    _add_model_args(p)
    p.set_defaults(func=_cmd_fit)

    p = sub.add_parser("predict", help="classify images with a saved model")
    p.add_argument("model", metavar="MODEL", help="model file written by `dissim fit`")
    p.add_argument("images", nargs="+", metavar="IMAGES",
                   help="image files or folders (searched recursively)")
    p.add_argument("--csv", action="store_true", help="print CSV: file,class,score")
    p.add_argument("--device", default=None)
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("evaluate", help="k-fold accuracy of the classifier on a folder")
    p.add_argument("folder", nargs="?", default=None, metavar="IMAGE_FOLDER",
                   help="folder of class folders")
    p.add_argument("--dataset", default=None, help="a data set name instead of a folder "
                   "(e.g. textures, the embedded default)")
    p.add_argument("--folds", type=int, default=5, help="stratified k-fold (default 5)")
    p.add_argument("--max-folds", type=int, default=None, help="run only the first N folds")
    p.add_argument("--max-per-class", type=int, default=None,
                   help="subsample each class (default: the profile's cap; 0 = no cap)")
    p.add_argument("--min-images", type=int, default=0,
                   help="drop classes with fewer images than this (default keep all)")
    p.add_argument("--plot", default=None, help="write the confusion matrix as a PNG")
    p.add_argument("--no-controls", dest="controls", action="store_false",
                   help="skip the controls (untrained networks, pixels, plain SVM, frozen CNN)")
    p.add_argument("--report", default=None, metavar="DIR",
                   help="write the table, per-class report, confusion PNG and JSON to DIR "
                   "(new or empty)")
    p.add_argument("--cnn-fusion", type=names(CNN_FUSIONS), default=None, metavar="LIST",
                   help="add a row per fusion beside the ensemble: the same ensemble and a CNN "
                   "(--ecnn, default the profile's first) by z-score sum (Section 4), the CNN "
                   "finetuned and/or frozen, e.g. frozen,finetuned (--ecnn alone: finetuned)")
    _add_model_args(p)
    p.set_defaults(func=_cmd_evaluate)


def _cmd_fit(args) -> int:
    validate.fit_args(args)
    t0 = time.perf_counter()
    ds = load_folder(args.folder, progress=True)
    clf = _classifier(args)
    out = Path(args.out).expanduser()  # room for the model, before any network is trained
    validate.free_space(out.absolute().parent, clf.model_bytes(len(ds.classes)),
                        f"model file {out} (--out)")
    clf.fit(ds.images, np.array(ds.classes)[ds.labels])
    out = clf.save(args.out)
    counts = ", ".join(f"{c} {n}" for c, n in ds.counts().items())
    print(f"fitted {len(clf.networks_)} networks, {len(clf.members_)} members "
          f"(k {', '.join(map(str, clf.k_values_))}) on {len(ds)} images of "
          f"{len(ds.classes)} classes ({counts}) in {time.perf_counter() - t0:.1f} s, "
          f"{evaluation.arithmetic(clf.amp_, clf.amp)}")
    if clf.cnn_fusion_ is not None:
        print(f"fused with the {'fine-tuned' if clf.cnn_fusion_ == 'finetuned' else 'frozen'} "
              f"{clf.cnn_} ({clf.cnn_input_size_ or 'native'} px) by the z-score sum rule "
              f"({clf.ecnn_zscore} z-scores)")
    not_conv = sum(not log["converged"] for log in clf.train_logs_)
    if not_conv:
        print(f"note: {not_conv} network(s) did not reach the convergence threshold")
    print(f"saved {out}")
    return 0


def _image_files(specs: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for spec in specs:
        p = Path(spec).expanduser()
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file()
                           and q.suffix.lower() in IMAGE_EXTS and not q.name.startswith("."))
            if not found:
                raise DataError(f"folder {p} holds no image files")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise DataError(f"image {p} not found")
    return files


def _cmd_predict(args) -> int:
    validate.predict_args(args)
    clf = DissimilarityClassifier.load(args.model, device=args.device)
    files = _image_files(args.images)
    scores = clf.decision_function([read_image(f) for f in files])
    best = scores.argmax(axis=1)
    if args.csv:
        w = csv.writer(sys.stdout)
        w.writerow(["file", "class", "score"])
        for f, b, s in zip(files, best, scores, strict=True):
            w.writerow([str(f), clf.classes_[b], f"{s[b]:.6g}"])
    else:
        width = max(len(str(f)) for f in files)
        for f, b, s in zip(files, best, scores, strict=True):
            print(f"{str(f):<{width}}  {clf.classes_[b]}  {s[b]:.4f}")
    return 0


def _load_eval_data(args):
    if (args.folder is None) == (args.dataset is None):
        raise DataError("give an image folder or --dataset NAME (one of them)")
    cap = args.max_per_class
    if cap is None:  # the profile's cap, never below the images per class --folds needs
        cap = protocols.cap_for({"n_splits": args.folds}, get_profile(args.profile).max_per_class)
    else:
        cap = cap or None
    if args.dataset is not None:
        ds = data.load(args.dataset, max_per_class=cap, seed=args.seed, progress=True)
    else:
        ds = data.load_folder(args.folder, max_per_class=cap, seed=args.seed, progress=True)
    counts = np.bincount(ds.labels, minlength=len(ds.classes))
    small = [c for c, n in zip(ds.classes, counts, strict=True) if n < args.min_images]
    if small:
        keep = np.flatnonzero(counts >= args.min_images)
        if len(keep) < 2:
            raise DataError(f"fewer than two classes have {args.min_images} images")
        sub = ds.subset(np.isin(ds.labels, keep))
        remap = np.full(len(ds.classes), -1)
        remap[keep] = np.arange(len(keep))
        sub.labels = remap[sub.labels]
        sub.classes = [ds.classes[i] for i in keep]
        print(f"dropped classes with fewer than {args.min_images} images: {', '.join(small)}")
        ds = sub
    return ds


def confused_pairs(cm: np.ndarray, classes: Sequence[str], top: int = 5) -> list[tuple]:
    """The ``top`` largest off-diagonal cells of ``cm``: ``(true, predicted, count)``."""
    off = [(int(cm[i, j]), classes[i], classes[j]) for i in range(len(cm))
           for j in range(len(cm)) if i != j and cm[i, j] > 0]
    return [(t, p, n) for n, t, p in sorted(off, key=lambda r: -r[0])[:top]]


def _check_folds(ds, n_splits: int) -> None:
    """``--folds`` against the data: the valid range in one line, before any fold is made."""
    kind = (ds.manifest.get("protocol") or {}).get("kind", "stratified_kfold")
    if kind in ("stratified_kfold", "group_kfold"):
        protocols.check_n_splits(n_splits, ds.labels, ds.name, kind, ds.groups, "--folds")


def _cmd_evaluate(args) -> int:
    validate.evaluate_args(args)
    ds = _load_eval_data(args)
    _check_folds(ds, args.folds)
    folds = data.folds(ds, seed=args.seed, n_splits=args.folds)[: args.max_folds]
    for i, (train, _) in enumerate(folds if args.k is not None else ()):  # before any fold
        validate.k_supported(args.k, ds.labels[train], ds.classes, i, args.profile)
    name = args.dataset or str(args.folder)
    ev = evaluation.evaluate(ds.images, ds.labels, ds.classes, folds,
                             params=_params(args), controls=args.controls,
                             name=name, n_splits=args.folds, log=lambda s: print(s, flush=True),
                             fusions=None if args.cnn_fusion is None else args.cnn_fusion)
    ens = ev.ensemble
    print(f"{name} [{args.profile}, {len(folds)} of {args.folds} folds, topologies "
          f"{' '.join(map(str, args.topologies))}, {'+'.join(args.methods)}, "
          f"{'+'.join(args.spaces)}, {ev.arithmetic}]: accuracy {100 * ens.mean:.2f} "
          f"± {100 * ens.sd:.2f}% (mean ± std over folds); {ev.cost_line()}")
    print(ev.table_text())
    print(ev.verdict_line())
    for note in ev.notes:
        print(f"note: {note}")
    cm = ev.confusion()
    print("confusion matrix (rows: true, columns: predicted; pooled over the test folds):")
    width = max(len(c) for c in ds.classes)
    print(" " * (width + 2) + " ".join(f"{c[:6]:>6}" for c in ds.classes))
    for c, row in zip(ds.classes, cm, strict=True):
        print(f"{c:<{width}}  " + " ".join(f"{v:>6d}" for v in row))
    pairs = confused_pairs(cm, ds.classes)
    if pairs:
        print("most confused: " + "; ".join(f"{t} -> {p} ({n})" for t, p, n in pairs))
    if args.plot:
        evaluation.save_figure(evaluation.confusion_figure(
            cm, ds.classes, f"{name}: {100 * ens.mean:.1f}%"), args.plot)
        print(f"wrote {args.plot}")
    if args.report:
        evaluation.write_report(ev, args.report)
        print(f"wrote {args.report}/ ({', '.join(evaluation.REPORT_FILES)})")
    return 0
