"""What ``dissim evaluate`` measures and reports: the ensemble beside its controls, on the same
folds (book: Your own images).

A user's folder gets the paper's protocol (k-fold, one classifier per fold, Sections 3-4) and,
on the same folds, the controls that say what the trained networks add:

* the same pipeline with the networks **untrained** (same seeds, prototypes, spaces, SVMs);
* the **pixels** through the same prototypes, spaces and SVMs (the book's pixel control);
* a **plain SVM** on standardised pixels (:func:`dissim.pipeline.controls.plain_svm`);
* **frozen CNN features** + the same standardised SVM, where the offline ImageNet weights are
  installed (:func:`dissim.pipeline.controls.frozen_features`).

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
from dissim.errors import ResourceError
from dissim.pipeline.classifier import DissimilarityClassifier
from dissim.pipeline.controls import frozen_features, pixel_vectors, plain_svm
from dissim.pipeline.experiment import environment
from dissim.pipeline.member import input_size
from dissim.profiles import get as get_profile
from dissim.report.claims import CLOSE, FAILS, HOLDS, Comparison, compare

__all__ = ["ENSEMBLE", "Evaluation", "Row", "confusion_figure", "evaluate", "write_report"]

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


def frozen_name(cnn: str) -> str:
    """The row name of the frozen-CNN control."""
    return f"frozen {cnn} features + SVM"


@dataclass
class Row:
    """One line of the table: a classifier's test decisions per fold and its seconds."""

    name: str
    decisions: dict[int, np.ndarray] = field(default_factory=dict)  # fold -> correct (bool)
    seconds: dict[str, float] = field(default_factory=dict)  # part -> seconds over folds
    cpu_seconds: float = 0.0  # CPU time of this process (all its threads) over folds

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
        return self.rows[1:]

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
                f"{cmp.test or 'none (1 fold)'}, p = {p})")

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
                      "parts": r.seconds,
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
) -> Evaluation:
    """Run the ensemble (``DissimilarityClassifier(**params)``) and, with ``controls``, its
    controls on each ``(train_index, test_index)`` of ``folds``.

    ``labels`` are class indices into ``classes``. ``cnns``: the frozen-CNN controls to try,
    the first one whose weights are installed is used (none installed: a note, no row), at
    the profile's ``cnn_input_size`` (the eCNN's; None: the CNN's native side).
    ``log`` receives one line per fold.
    """
    t_start = time.perf_counter()
    params = dict(params or {})
    clf0 = DissimilarityClassifier(**params)
    y = np.asarray(labels)
    images = list(images)
    rows = [Row(ENSEMBLE)]
    notes: list[str] = []
    pixels = feats = None
    cnn = None
    if controls:
        rows += [Row(UNTRAINED), Row(PIXELS), Row(PLAIN)]
        prof = get_profile(clf0.profile)
        topologies = (clf0.topologies,) if isinstance(clf0.topologies, int) else clf0.topologies
        with rows[3].timed("inputs"):
            pixels = pixel_vectors(images, input_size(int(tuple(topologies)[0]), prof))
        for c in cnns:
            row = Row(frozen_name(c))
            try:
                with row.timed("features"):
                    feats = frozen_features(c, images, input_size=prof.cnn_input_size,
                                            device=clf0.device)
            except ResourceError as err:
                notes.append(f"no frozen-CNN control: {err}")
                continue
            cnn = c
            rows.append(row)
            break
    y_true, y_pred, sizes = [], [], []
    amp = None
    for f, (tr, te) in enumerate(folds):
        tr, te = np.asarray(tr), np.asarray(te)
        x_tr, x_te = [images[i] for i in tr], [images[i] for i in te]
        cache: dict = {}
        c0 = time.process_time()
        clf = DissimilarityClassifier(**params)
        clf.fit(x_tr, y[tr], cache=cache)
        t = time.perf_counter()
        pred = clf.predict(x_te)
        amp = clf.amp_
        rows[0].cpu_seconds += time.process_time() - c0
        s = clf.seconds_
        rows[0].add_seconds(**{"training": s["training"],
                               "spaces+SVMs": s["inputs"] + s["prototypes"] + s["spaces_svms"]
                               + time.perf_counter() - t}, **({"eCNN": s["ecnn"]}
                                                               if "ecnn" in s else {}))
        rows[0].decisions[f] = pred == y[te]
        y_true.append(y[te])
        y_pred.append(pred)
        sizes.append((len(tr), len(te)))
        line = (f"fold {f + 1}/{len(folds)}: accuracy {100 * np.mean(pred == y[te]):.2f}% "
                f"({len(tr)} train, {len(te)} test)")
        if controls:
            for row, encoder in ((rows[1], "untrained"), (rows[2], "pixels")):
                with row.timed("fit+predict"):
                    twin = clf.twin(encoder).fit(x_tr, y[tr], cache=cache)
                    row.decisions[f] = twin.predict(x_te) == y[te]
            for row, x in ((rows[3], pixels), *(((rows[4], feats),) if cnn else ())):
                with row.timed("svm"):
                    row.decisions[f] = plain_svm().fit(x[tr], y[tr]).predict(x[te]) == y[te]
            line += "; controls: " + ", ".join(f"{r.name.split(',')[0]} "
                                               f"{100 * np.mean(r.decisions[f]):.2f}%"
                                               for r in rows[1:])
        if log is not None:
            log(line)
    return Evaluation(name=name, classes=[str(c) for c in classes],
                      params=clf0.get_params(deep=False), n_splits=n_splits or len(folds),
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
