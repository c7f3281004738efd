"""What ``dissim evaluate`` measures and reports: the ensemble beside its controls, on the same
folds (book: Your own images).

A user's folder gets the paper's protocol (k-fold, one classifier per fold, Sections 3-4) and,
on the same folds, the controls that say what the trained networks add:

* the same pipeline with the networks **untrained** (same seeds, prototypes, spaces, SVMs);
* the **pixels** through the same prototypes, spaces and SVMs (the book's pixel control);
* a **plain SVM** on standardised pixels (:func:`dissim.pipeline.controls.plain_svm`);
* **frozen CNN features** + the same standardised SVM, where the offline ImageNet weights are
  installed (:func:`dissim.pipeline.controls.frozen_features`), at the side chosen on each
  fold's training images (the CNN's native side or the profile's ``cnn_input_size``:
  :func:`dissim.pipeline.controls.choose_side`); the row name says the side, or the sides by
  fold when folds chose differently.

With ``fusions`` (``dissim evaluate --cnn-fusion``), the paper's complete system is a row beside
the ensemble: the same fitted ensemble fused with a CNN, fine-tuned or frozen, by the z-score
sum rule (Section 4, "Fusion + eCNN"; :meth:`DissimilarityClassifier.fit_cnn`). A fused row is
no control: the verdict stays the ensemble's against its controls.

One table gives each row's accuracy (mean ± sd over folds, per fold) and seconds; the verdict
"the trained ensemble beats its best control / is level with it / is worse" is the claims
code's paired comparison (:func:`dissim.report.claims.compare`) of the ensemble and the
control with the best mean accuracy, on the same test images. :func:`write_report` keeps it
all in a folder, atomically.

>>> ev = evaluate(ds.images, ds.labels, ds.classes, folds, params={"profile": "smoke"})
... # doctest: +SKIP
>>> print(ev.table_text()); print(ev.verdict_line())  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import ConfusionMatrixDisplay, classification_report, confusion_matrix

from dissim.atomic import atomic_dir, atomic_path
from dissim.baselines import OFFLINE_CNNS
from dissim.baselines import get as get_cnn
from dissim.errors import ConfigError, ResourceError
from dissim.pipeline.classifier import CNN_FUSIONS, DissimilarityClassifier
from dissim.pipeline.controls import (
    choose_side,
    frozen_features,
    frozen_sides,
    pixel_vectors,
    plain_svm,
)
from dissim.pipeline.experiment import environment
from dissim.pipeline.member import input_size
from dissim.profiles import get as get_profile
from dissim.report.claims import CLOSE, FAILS, HOLDS, Comparison, compare

__all__ = ["ENSEMBLE", "Evaluation", "Row", "confusion_figure", "evaluate", "frozen_name",
           "fused_name", "write_report"]

#: Row names of the table, in its order.
ENSEMBLE = "trained ensemble"
UNTRAINED = "untrained networks, same spaces and SVMs"
PIXELS = "pixels, same spaces and SVMs"
PLAIN = "plain SVM on standardised pixels"
#: The verdict's words for the claims code's verdicts (ensemble minus its best control).
VERDICT_WORDS = {HOLDS: "beats", CLOSE: "is level with", FAILS: "is worse than"}
#: Files :func:`write_report` writes.
REPORT_FILES = ("table.csv", "table.md", "classification_report.txt",
                "classification_report.json", "confusion.png", "evaluation.json")


def frozen_name(cnn: str, sides: Sequence[int] = ()) -> str:
    """The row name of the frozen-CNN control, with the side each fold chose: ``frozen
    efficientnet_lite0 features + SVM (224 px)``, or ``(224/96 px by fold)`` when the folds
    chose differently (sides in order of first use)."""
    chosen = list(dict.fromkeys(int(s) for s in sides))
    if not chosen:
        return f"frozen {cnn} features + SVM"
    by_fold = " by fold" if len(chosen) > 1 else ""
    return f"frozen {cnn} features + SVM ({'/'.join(map(str, chosen))} px{by_fold})"


def fused_name(how: str, cnn: str) -> str:
    """The row name of the ensemble fused with a CNN (``how``: ``finetuned`` or ``frozen``)
    by the z-score sum rule: ``ensemble + frozen efficientnet_lite0 (z-score sum)``."""
    return f"ensemble + {'fine-tuned' if how == 'finetuned' else 'frozen'} {cnn} (z-score sum)"


def usage(control: str, folder: str = "FOLDER") -> str:
    """How to use ``control`` (a control row's name) on your own images instead of the
    ensemble, in one line: for the verdict when a control wins, and the "Which default?" page.

    >>> usage("frozen efficientnet_lite0 features + SVM (224 px)", "my_images")
    ... # doctest: +NORMALIZE_WHITESPACE
    'dissim fit my_images --cnn-fusion frozen --ecnn efficientnet_lite0 fuses it with the
    ensemble; alone: dissim.pipeline.controls.plain_svm() on
    dissim.pipeline.controls.frozen_features("efficientnet_lite0", images, input_size=224)'
    """
    if control.startswith("frozen "):
        cnn = control.split()[1]
        side = re.search(r"\((\d+) px\)", control)
        at = f", input_size={side.group(1)}" if side else ""
        return (f"dissim fit {folder} --cnn-fusion frozen --ecnn {cnn} fuses it with the "
                f"ensemble; alone: dissim.pipeline.controls.plain_svm() on "
                f"dissim.pipeline.controls.frozen_features(\"{cnn}\", images{at})")
    if control.startswith("plain SVM"):
        return ("dissim.pipeline.controls.plain_svm() (StandardScaler + RBF SVC) on "
                "dissim.pipeline.controls.pixel_vectors(images, side)")
    if "untrained networks" in control:
        return "DissimilarityClassifier(encoder=\"untrained\"): the same pipeline, no training"
    if "pixels" in control:
        return "DissimilarityClassifier(encoder=\"pixels\"): the pixels through the same spaces"
    return "see the table"


@dataclass
class Row:
    """One line of the table: a classifier's test decisions per fold and its seconds."""

    name: str
    decisions: dict[int, np.ndarray] = field(default_factory=dict)  # fold -> correct (bool)
    seconds: dict[str, float] = field(default_factory=dict)  # part -> seconds over folds
    cpu_seconds: float = 0.0  # CPU time of this process (all its threads) over folds
    fused: bool = False  # the ensemble fused with a CNN: a system, not a control

    def add_seconds(self, **parts: float) -> None:
        for k, v in parts.items():
            self.seconds[k] = self.seconds.get(k, 0.0) + float(v)

    @contextlib.contextmanager
    def timed(self, part: str | None = None) -> Iterator[None]:
        """Add the block's CPU seconds, and its wall seconds to ``part`` when named."""
        t, c = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.cpu_seconds += time.process_time() - c
            if part is not None:
                self.add_seconds(**{part: time.perf_counter() - t})

    @property
    def fold_acc(self) -> dict[int, float]:
        return {f: float(np.mean(d)) for f, d in self.decisions.items()}

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.fold_acc.values())))

    @property
    def sd(self) -> float:
        """Standard deviation over folds (population, as the paper's tables)."""
        return float(np.std(list(self.fold_acc.values())))

    @property
    def total_seconds(self) -> float:
        return float(sum(self.seconds.values()))


@dataclass
class Evaluation:
    """The ensemble and its controls on the same folds (see the module)."""

    name: str
    classes: list[str]
    params: dict
    n_splits: int
    fold_sizes: list[tuple[int, int]]
    rows: list[Row]
    y_true: np.ndarray  # pooled over the folds run, in fold order
    y_pred: np.ndarray  # the ensemble's, same order
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    arithmetic: str = "float32 training"  # what the ensemble's networks trained in

    @property
    def ensemble(self) -> Row:
        return self.rows[0]

    @property
    def controls(self) -> list[Row]:
        return [r for r in self.rows[1:] if not r.fused]

    @property
    def fused(self) -> list[Row]:
        """The ensemble fused with a CNN (z-score sum rule), one row per CNN fitting."""
        return [r for r in self.rows[1:] if r.fused]

    def comparison(self) -> Comparison | None:
        """The claims code's paired comparison of the ensemble and its best control (the
        highest mean accuracy); None without controls."""
        if not self.controls:
            return None
        best = max(self.controls, key=lambda r: r.mean)
        return compare(ENSEMBLE, best.name, self.ensemble.decisions, best.decisions)

    def verdict(self) -> str | None:
        """``beats`` / ``is level with`` / ``is worse than`` (None without controls)."""
        cmp = self.comparison()
        return None if cmp is None else VERDICT_WORDS[cmp.verdict]

    def verdict_line(self) -> str:
        cmp = self.comparison()
        if cmp is None:
            return "controls skipped (--no-controls): nothing says what the networks add"
        p = "n/a" if not np.isfinite(cmp.p) else f"{cmp.p:.3g}"
        return (f"verdict: the trained ensemble {VERDICT_WORDS[cmp.verdict]} its best control, "
                f"{cmp.right} ({cmp.pooled:+.2f} points on {cmp.images} test images; "
                f"McNemar's exact test: {cmp.b} images only the ensemble gets right, {cmp.c} "
                f"only the control, p = {cmp.p_mcnemar:.3g}; fold test "
                f"{cmp.test or 'none (1 fold)'}, p = {p})" + self._instead(cmp))

    def _instead(self, cmp: Comparison) -> str:
        """Where the best control is ahead and the ensemble does not beat it: how to use the
        control instead (:func:`usage`)."""
        best = max(self.controls, key=lambda r: r.mean)
        if cmp.verdict == HOLDS or best.mean <= self.ensemble.mean:
            return ""
        return f"; to use {best.name} instead: {usage(best.name, self.name or 'FOLDER')}"

    def table(self) -> pd.DataFrame:
        """One row per classifier: accuracy mean and sd over folds (%), per fold, seconds in
        all and per part."""
        parts = list(dict.fromkeys(k for r in self.rows for k in r.seconds))
        out = []
        for r in self.rows:
            acc = r.fold_acc
            out.append({"row": r.name, "mean (%)": 100 * r.mean, "sd (%)": 100 * r.sd,
                        "folds": len(acc),
                        "per fold (%)": " ".join(f"{100 * acc[f]:.2f}" for f in sorted(acc)),
                        "seconds": r.total_seconds, "CPU seconds": r.cpu_seconds,
                        **{f"{p} (s)": r.seconds.get(p, np.nan) for p in parts}})
        return pd.DataFrame(out).set_index("row")

    def _display(self) -> pd.DataFrame:
        t = self.table()
        shown = pd.DataFrame(index=t.index)
        shown["accuracy (%)"] = [f"{m:.2f} ± {s:.2f}" for m, s in zip(t["mean (%)"], t["sd (%)"],
                                                                      strict=True)]
        shown["per fold (%)"] = t["per fold (%)"]
        shown["seconds"] = [f"{s:.0f}" for s in t["seconds"]]
        shown["CPU s"] = [f"{s:.0f}" for s in t["CPU seconds"]]
        shown["parts (s)"] = [", ".join(f"{k} {v:.0f}" for k, v in r.seconds.items())
                              for r in self.rows]
        return shown

    def table_text(self) -> str:
        """The table as printed by ``dissim evaluate``."""
        return self._display().to_string()

    def table_markdown(self) -> str:
        """The table as a Markdown pipe table."""
        shown = self._display().reset_index()
        cols = list(shown.columns)
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |"
                  for row in shown.itertuples(index=False)]
        return "\n".join(lines) + "\n"

    def cost_line(self) -> str:
        """What the controls cost, and how to skip them."""
        if not self.controls:
            return f"wall time {self.seconds:.0f} s"
        c = sum(r.total_seconds for r in self.controls)
        return (f"wall time {self.seconds:.0f} s, of which the controls {c:.0f} s "
                f"(--no-controls skips them)")

    def confusion(self) -> np.ndarray:
        """The ensemble's confusion matrix pooled over the test folds (rows: true)."""
        return confusion_matrix(self.y_true, self.y_pred, labels=np.arange(len(self.classes)))

    def classification_report(self, output_dict: bool = False):
        """scikit-learn's per-class precision, recall and F1 of the ensemble (pooled)."""
        return classification_report(self.y_true, self.y_pred,
                                     labels=np.arange(len(self.classes)),
                                     target_names=list(self.classes), zero_division=0,
                                     output_dict=output_dict)

    def to_dict(self) -> dict:
        """Everything, JSON-serialisable."""
        cmp = self.comparison()
        return {
            "name": self.name, "classes": list(self.classes), "params": _jsonable(self.params),
            "folds": {"n_splits": self.n_splits, "run": len(self.fold_sizes),
                      "sizes": [{"train": a, "test": b} for a, b in self.fold_sizes]},
            "rows": [{"name": r.name, "mean": r.mean, "sd": r.sd,
                      "fold_accuracy": {str(f): a for f, a in r.fold_acc.items()},
                      "seconds": r.total_seconds, "cpu_seconds": r.cpu_seconds,
                      "parts": r.seconds, "fused": r.fused,
                      "correct": {str(f): d.astype(int).tolist() for f, d in r.decisions.items()}}
                     for r in self.rows],
            "verdict": None if cmp is None else {
                "ensemble": cmp.left, "best_control": cmp.right,
                "verdict": VERDICT_WORDS[cmp.verdict], "claims_verdict": cmp.verdict,
                "pooled_difference_points": cmp.pooled, "images": cmp.images,
                "b": cmp.b, "c": cmp.c, "p_mcnemar": cmp.p_mcnemar,
                "fold_differences_points": cmp.diffs.tolist(), "fold_test": cmp.test,
                "p_fold_test": None if not np.isfinite(cmp.p) else cmp.p},
            "confusion_matrix": self.confusion().tolist(),
            "classification_report": self.classification_report(output_dict=True),
            "notes": list(self.notes), "seconds": self.seconds, "arithmetic": self.arithmetic,
            "environment": environment(),
        }


def _jsonable(v):
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def evaluate(
    images: Sequence[np.ndarray],
    labels,
    classes: Sequence[str],
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    params: dict | None = None,
    controls: bool = True,
    cnns: Sequence[str] = OFFLINE_CNNS[:1],
    name: str = "",
    n_splits: int | None = None,
    log: Callable[[str], None] | None = None,
    fusions: Sequence[str] | None = None,
) -> Evaluation:
    """Run the ensemble (``DissimilarityClassifier(**params)`` without its CNN) and, with
    ``controls``, its controls on each ``(train_index, test_index)`` of ``folds``.

    ``labels`` are class indices into ``classes``. ``cnns``: the frozen-CNN controls to try,
    the first one whose weights are installed is used (none installed: a note, no row); its
    features are computed once for all images at its native side and at the profile's
    ``cnn_input_size``, and each fold uses the side :func:`~dissim.pipeline.controls.choose_side`
    picks on that fold's training images. ``fusions``: ``"finetuned"`` and/or ``"frozen"``,
    one row each: the fold's fitted ensemble fused by the z-score sum rule (Section 4) with the
    CNN ``params["ecnn"]`` (default: the profile's first) fine-tuned or frozen
    (:meth:`~dissim.pipeline.classifier.DissimilarityClassifier.fit_cnn`); None: the fusion
    ``params`` ask for (``ecnn``, ``cnn_fusion``), if any. A frozen fusion reuses the frozen
    control's features when it is the same CNN. ``log`` receives one line per fold.
    """
    t_start = time.perf_counter()
    params = dict(params or {})
    asked = DissimilarityClassifier(**params)
    cnn_name, how = asked.cnn_plan()
    fusions = tuple(dict.fromkeys(() if how is None else (how,))) if fusions is None \
        else tuple(dict.fromkeys(fusions))
    bad = [h for h in fusions if h not in CNN_FUSIONS]
    if bad:
        raise ConfigError(f"unknown CNN fusion {bad[0]!r}; choose {' or '.join(CNN_FUSIONS)}")
    prof = get_profile(asked.profile)
    if fusions:
        cnn_name = cnn_name or prof.cnns[0]
        get_cnn(cnn_name)
    siamese_params = {**params, "ecnn": None, "cnn_fusion": None}
    clf0 = DissimilarityClassifier(**siamese_params)
    y = np.asarray(labels)
    images = list(images)
    ensemble = Row(ENSEMBLE)
    fused = {h: Row(fused_name(h, cnn_name), fused=True) for h in fusions}
    notes: list[str] = []
    twins: list[tuple[Row, str]] = []
    plain = frozen = None
    pixels = None
    feats: dict[int, np.ndarray] = {}
    frozen_cnn: str | None = None
    if controls:
        twins = [(Row(UNTRAINED), "untrained"), (Row(PIXELS), "pixels")]
        plain = Row(PLAIN)
        topologies = (clf0.topologies,) if isinstance(clf0.topologies, int) else clf0.topologies
        with plain.timed("inputs"):
            pixels = pixel_vectors(images, input_size(int(tuple(topologies)[0]), prof))
        for c in cnns:
            row = Row(frozen_name(c))
            try:
                with row.timed("features"):
                    feats = {side: frozen_features(c, images, input_size=side,
                                                   device=clf0.device)
                             for side in frozen_sides(c, prof.cnn_input_size)}
            except ResourceError as err:
                notes.append(f"no frozen-CNN control: {err}")
                feats = {}
                continue
            frozen_cnn, frozen = c, row
            break
    rows = [ensemble, *fused.values(), *(r for r, _ in twins),
            *(r for r in (plain, frozen) if r is not None)]
    y_true, y_pred, sizes, sides = [], [], [], []
    amp = None
    for f, (tr, te) in enumerate(folds):
        tr, te = np.asarray(tr), np.asarray(te)
        x_tr, x_te = [images[i] for i in tr], [images[i] for i in te]
        cache: dict = {}
        c0 = time.process_time()
        clf = DissimilarityClassifier(**siamese_params)
        clf.fit(x_tr, y[tr], cache=cache)
        t = time.perf_counter()
        siamese = clf.siamese_scores(x_te)
        pred = clf.classes_[np.argmax(siamese, axis=1)]
        amp = clf.amp_
        cpu = time.process_time() - c0
        ensemble.cpu_seconds += cpu
        s = clf.seconds_
        parts = {"training": s["training"],
                 "spaces+SVMs": s["inputs"] + s["prototypes"] + s["spaces_svms"]
                 + time.perf_counter() - t}
        ensemble.add_seconds(**parts)
        ensemble.decisions[f] = pred == y[te]
        y_true.append(y[te])
        y_pred.append(pred)
        sizes.append((len(tr), len(te)))
        line = (f"fold {f + 1}/{len(folds)}: accuracy {100 * np.mean(pred == y[te]):.2f}% "
                f"({len(tr)} train, {len(te)} test)")
        for h, row in fused.items():
            if h == "frozen" and cnn_name == frozen_cnn:  # the control's features, this fold
                cache.update({("frozen", cnn_name, side): x[tr] for side, x in feats.items()})
            row.cpu_seconds += cpu
            with row.timed("eCNN" if h == "finetuned" else "frozen CNN"):
                both = copy.copy(clf).set_params(ecnn=cnn_name, cnn_fusion=h)
                both.fit_cnn(x_tr, y[tr], cache=cache)
                scores = both.fuse(siamese, both.cnn_scores(x_te))
                row.decisions[f] = clf.classes_[np.argmax(scores, axis=1)] == y[te]
            row.add_seconds(**parts)
        if fused:
            line += "; fused: " + ", ".join(f"{r.name} {100 * np.mean(r.decisions[f]):.2f}%"
                                            for r in fused.values())
        if controls:
            for row, encoder in twins:
                with row.timed("fit+predict"):
                    twin = clf.twin(encoder).fit(x_tr, y[tr], cache=cache)
                    row.decisions[f] = twin.predict(x_te) == y[te]
            with plain.timed("svm"):
                plain.decisions[f] = (plain_svm().fit(pixels[tr], y[tr]).predict(pixels[te])
                                      == y[te])
            if frozen is not None:
                with frozen.timed("side choice"):
                    side = choose_side(feats, y, tr, int(clf0.seed))
                with frozen.timed("svm"):
                    x = feats[side]
                    frozen.decisions[f] = plain_svm().fit(x[tr], y[tr]).predict(x[te]) == y[te]
                sides.append(side)
                frozen.name = frozen_name(frozen_cnn, sides)
            line += "; controls: " + ", ".join(
                f"{r.name.split(',')[0]} {100 * np.mean(r.decisions[f]):.2f}%"
                for r in rows[1:] if not r.fused)
        if log is not None:
            log(line)
    return Evaluation(name=name, classes=[str(c) for c in classes],
                      params=asked.get_params(deep=False), n_splits=n_splits or len(folds),
                      fold_sizes=sizes, rows=rows, y_true=np.concatenate(y_true),
                      y_pred=np.concatenate(y_pred), notes=notes,
                      seconds=time.perf_counter() - t_start, arithmetic=arithmetic(amp, clf0.amp))


def arithmetic(amp: str | None, asked: str | None) -> str:
    """How the ensemble's networks trained, in words (``amp_`` of the classifier, and its
    ``amp`` parameter): ``bfloat16 training, channels-last (auto)``, ``float32 training``."""
    if not amp:
        return "float32 training" + (" (auto: no bfloat16 hardware)" if asked == "auto" else "")
    return "bfloat16 training" + (", channels-last (auto)" if asked == "auto" else "")


def wrap_name(name: str, width: int = 18) -> str:
    """A long class name on lines of at most ``width`` characters, broken after ``_``, ``-``
    or a space where it can be; no character is dropped (joining the lines gives ``name``)."""
    lines = [""]
    for token in re.split(r"(?<=[_\-\s])", name):
        while len(token) > width:  # one word longer than a line: cut it
            if lines[-1]:
                lines.append("")
            lines[-1], token = token[:width], token[width:]
            lines.append("")
        if lines[-1] and len(lines[-1]) + len(token) > width:
            lines.append("")
        lines[-1] += token
    return "\n".join(line for line in lines if line)


def confusion_figure(cm: np.ndarray, classes: Sequence[str], title: str = "") -> Figure:
    """The confusion matrix as a figure with every class name in full: x labels rotated,
    names longer than 18 characters wrapped, the figure sized to the class count and to the
    longest name (no window; save it with ``fig.savefig``)."""
    n = len(classes)
    labels = [wrap_name(str(c)) for c in classes]
    longest = max((max(len(line) for line in lab.split("\n")) for lab in labels), default=1)
    margin = 0.5 + 0.09 * longest  # inches taken by the tick labels
    cell = 0.55 if n <= 20 else 0.35
    fig = Figure(figsize=(1.5 + margin + cell * n, 1.2 + margin + cell * n))
    ax = fig.subplots()
    ConfusionMatrixDisplay(cm, display_labels=labels).plot(
        ax=ax, cmap="Blues", colorbar=False, xticks_rotation=45,
        text_kw={"fontsize": 8 if n > 12 else 10})
    for t in ax.get_xticklabels():
        t.set_horizontalalignment("right")
        t.set_rotation_mode("anchor")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: str | Path) -> None:
    """Write ``fig`` as a PNG, atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")


def write_report(ev: Evaluation, folder: str | Path) -> Path:
    """Write :data:`REPORT_FILES` into ``folder`` (absent or empty), all or nothing: into a
    temporary folder beside it, renamed when complete (:func:`dissim.atomic.atomic_dir`)."""
    folder = Path(folder)
    with atomic_dir(folder) as tmp:
        ev.table().to_csv(tmp / "table.csv")
        (tmp / "table.md").write_text(
            f"# {ev.name}\n\n{ev.arithmetic}\n\n{ev.table_markdown()}\n{ev.verdict_line()}\n\n"
            f"{ev.cost_line()}\n")
        (tmp / "classification_report.txt").write_text(ev.classification_report())
        (tmp / "classification_report.json").write_text(
            json.dumps(ev.classification_report(output_dict=True), indent=2))
        fig = confusion_figure(ev.confusion(), ev.classes,
                               f"{ev.name}: {100 * ev.ensemble.mean:.1f}%")
        fig.savefig(tmp / "confusion.png", dpi=120, format="png")
        (tmp / "evaluation.json").write_text(json.dumps(ev.to_dict(), indent=2, default=str))
    return folder
