"""Presentation for the book: tables beside the published numbers, and figures.

Notebooks hold no logic; they call these functions. Published numbers come only from
:mod:`dissim.paper` and are always labelled as published; our numbers come from the tables of
:mod:`dissim.report.tables`, computed in the run that built the page.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

from dissim import paper
from dissim.pipeline.compute import environment
from dissim.profiles import base_name
from dissim.report import typeset
from dissim.report.figstyle import (
    caption,
    dot,
    few_ticks,
    human,
    legend_below,
    new_figure,
    styled,
)
from dissim.report.tables import CONTROL_COLUMN, CONTROLS, DISPLAY, table3
from dissim.report.typeset import Markup, Table

NBSP = "\u00a0"


def _fmt(mean: float, std: float) -> str:
    """'71.02 ± 1.58' joined by non-breaking spaces: one line in any table cell."""
    return f"{mean:.2f}{NBSP}±{NBSP}{std:.2f}"


def fold_points(make_table: Callable[..., pd.DataFrame], *results: dict, **kwargs
                ) -> pd.DataFrame:
    """The per-fold accuracies behind a table: ``make_table`` on each fold's results alone.

    ``make_table`` is :func:`dissim.tables.table1`, ``table2`` or ``table3``; ``results`` are
    its result dictionaries (members carry ``.fold``), ``kwargs`` its other arguments. A
    one-fold table's ``mean`` is that fold's accuracy, so the points use the tables' own rules.
    Returns the table's key columns, ``fold`` and ``accuracy`` (%).
    """
    folds = sorted({m.fold for r in results for m in r})
    frames = []
    for fold in folds:
        one = [{m: v for m, v in r.items() if m.fold == fold} for r in results]
        df = make_table(*one, **kwargs)
        frames.append(df.drop(columns=["std", "folds"], errors="ignore")
                      .rename(columns={"mean": "accuracy"}).assign(fold=fold))
    return pd.concat(frames, ignore_index=True)


def _points(ax, x, values, color="black") -> None:
    """Per-fold accuracies as small dots over a bar (a little jitter so they do not hide)."""
    values = np.asarray(values, dtype=float)
    jitter = np.linspace(-0.06, 0.06, len(values)) if len(values) > 1 else np.zeros(1)
    ax.scatter(np.full(len(values), x, dtype=float) + jitter, values, s=9, color=color,
               zorder=3, linewidths=0)


def _folds(r) -> int | None:
    """A table row's fold count (None where the table has none)."""
    n = r.get("folds") if hasattr(r, "get") else None
    return None if n is None or pd.isna(n) else int(n)


def _cells(df: pd.DataFrame) -> list[str]:
    """'mean ± sd' per row ('mean (1 fold)' from a single fold, which has no spread), marked
    '(c/n converged)' when a network behind it did not converge (the rerun rule's test, book:
    Training health); controls have no such mark."""
    out = []
    for _, r in df.iterrows():
        cell = (f"{r['mean']:.2f}{NBSP}(1{NBSP}fold)" if _folds(r) == 1
                else _fmt(r["mean"], r["std"]))
        n = r.get("networks")
        if n is not None and not pd.isna(n) and r["converged"] < n:
            cell += f"{NBSP}({int(r['converged'])}/{int(n)}{NBSP}converged)"
        out.append(cell)
    return out


def table1_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Table 1 as text: builders (F, D, F+D) x methods, 'mean ± std' (%), then the control
    columns when present (the printed pages, :mod:`dissim.report.printed`)."""
    cells = df.assign(cell=_cells(df))
    view = cells.pivot(index="builder", columns="method", values="cell")
    cols = list(dict.fromkeys(df["method"]))  # the table's order: methods, then controls
    return view.reindex(index=["F", "D", "F+D"], columns=cols)


def _result(r, note: bool = True) -> Markup:
    """A typeset result cell of a table row (:func:`dissim.report.typeset.mean_sd`): 'mean ± sd'
    over folds, '1 fold' from one fold, and how many networks converged where not all did."""
    n = r.get("networks")
    conv = (f"{int(r['converged'])}/{int(n)} converged"
            if note and n is not None and not pd.isna(n) and r["converged"] < n else "")
    return typeset.mean_sd(r["mean"], r.get("std"), _folds(r), note=conv)


def _is_control(label: str) -> bool:
    return str(label).startswith("Control")


def table1_view(df: pd.DataFrame, notes: Sequence[str] = ()) -> Table:
    """Table 1 set long (paper, Table 1: one column per data set, each cell F / D / F+D): one
    row per method, the three spaces F, D, F+D as columns, accuracy mean ± sd over folds (%);
    the best method of each space in bold; the controls in their own group."""
    methods = list(dict.fromkeys(df["method"]))
    rows = []
    for method in methods:
        sub = df[df["method"] == method].set_index("builder")
        row = {"group": "Controls (the same spaces without a trained network)"
               if _is_control(method) else "Trained Siamese networks", "method": method}
        for b in ("F", "D", "F+D"):
            row[b] = _result(sub.loc[b]) if b in sub.index else ""
        rows.append(row)
    view = pd.DataFrame(rows)
    means = df.pivot(index="method", columns="builder", values="mean").reindex(methods)
    trained = [not _is_control(m) for m in methods]
    best = {b: typeset.best_rows([v if t else None for v, t in zip(means[b], trained,
                                                                   strict=True)])
            for b in ("F", "D", "F+D") if b in means}
    return typeset.table(
        view, stub="method", groups="group", best=best, numbers=["F", "D", "F+D"],
        spanners={"accuracy (%), mean ± sd over folds": ["F", "D", "F+D"]},
        labels={"F": "F (FULLY)", "D": "D (DEEPER)", "F+D": "F+D"},
        notes=[*notes, "Bold: the best trained method of each space. Every published cell of "
               "Table 1 was lost (paper, Table 1); none is shown."])


def table2_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Table 2 as text: rows = topologies and fusions, columns = the four configurations, plus
    the published InfLar and Port values (one unknown sub-row per topology; paper, Table 2)
    (the printed pages, :mod:`dissim.report.printed`)."""
    cells = df.assign(cell=_cells(df))
    view = cells.pivot(index="row", columns="configuration", values="cell")
    order = list(dict.fromkeys(df["row"]))
    cols = list(dict.fromkeys(df["configuration"]))  # the table's order, control last
    view = view.reindex(index=order, columns=cols).fillna("")
    return _with_published(view, "Table 2")


def _with_published(view: pd.DataFrame, table: str) -> pd.DataFrame:
    """Add the paper's InfLar and Port columns, labelled published; lost cells say so."""
    pub = paper.published(table)
    for ds in ("InfLar", "Port"):
        col = pub[pub["column"] == ds].set_index("row")
        cells = []
        for r in view.index:
            if r not in col.index:
                cells.append("")
            elif pd.notna(col.loc[r, "value"]):
                cells.append(f"{col.loc[r, 'value']:.2f}")
            else:
                note = str(col.loc[r, "note"])
                cells.append("did not converge" if "converge" in note else "lost")
        view[f"published {ds} [P]"] = cells
    return view


def _published(table: str) -> dict[str, dict[str, tuple[float | None, str]]]:
    """``{row: {data set: (value or None, cell text)}}`` of a published table (InfLar, Port):
    a lost cell reads 'lost', a network that did not converge 'did not converge'."""
    pub = paper.published(table)
    out: dict[str, dict[str, tuple[float | None, str]]] = {}
    for _, r in pub.iterrows():
        if r["column"] not in ("InfLar", "Port"):
            continue
        if pd.notna(r["value"]):
            cell = (float(r["value"]), f"{r['value']:.2f}")
        else:
            cell = (None, "did not converge" if "converge" in str(r["note"]) else "lost")
        out.setdefault(r["row"], {})[r["column"]] = cell
    return out


def _published_cell(text: str) -> str | Markup:
    """A published number as it is; 'lost' and 'did not converge' small and muted."""
    return text if not text or text[0].isdigit() else Markup(typeset.small(text), text)


PUBLISHED_NOTE = ("Published [P]: the paper's values on InfLar and Port, other data sets than "
                  "ours: context, not a target.")


def table2_view(df: pd.DataFrame, notes: Sequence[str] = ()) -> Table:
    """Table 2 set long (paper, Table 2: eight topologies x four stacked configurations, then the
    fusions): one row group per topology and fusion, one row per configuration (and the
    untrained control), ours beside the published InfLar and Port columns. The paper kept one
    value per topology and data set without saying which configuration it belongs to, so it
    has its own row ('paper [P], configuration lost'); a fusion's published value belongs to
    its (Bottom) configuration. Bold: the best trained configuration of each group, and the
    best published value of each column."""
    pub = _published("Table 2")
    rows, means, groups, pub_vals = [], [], [], {"InfLar": [], "Port": []}
    for name in dict.fromkeys(df["row"]):
        sub = df[df["row"] == name]
        fusion = str(name).startswith("Fusion")
        for _, r in sub.iterrows():
            config = r["configuration"]
            label = ("untrained network, Cross F+D (control)" if config == CONTROL_COLUMN
                     else config)
            if name == CONTROLS["pixels"]:
                label = "pixels instead of a network, Cross F+D (control)"
            row = {"group": name, "configuration": label, "ours": _result(r),
                   "InfLar": "", "Port": ""}
            trained = config != CONTROL_COLUMN and name != CONTROLS["pixels"]
            means.append(r["mean"] if trained else None)
            for ds in ("InfLar", "Port"):
                value, text = pub.get(name, {}).get(ds, (None, ""))
                on_row = fusion and trained
                row[ds] = _published_cell(text) if on_row else ""
                pub_vals[ds].append(value if on_row else None)
            rows.append(row)
            groups.append(name)
        if not fusion and name in pub:
            rows.append({"group": name, "configuration": "paper [P], configuration lost",
                         "ours": "", **{ds: _published_cell(pub[name].get(ds, (None, ""))[1])
                                        for ds in ("InfLar", "Port")}})
            means.append(None)
            groups.append(name)
            for ds in ("InfLar", "Port"):
                pub_vals[ds].append(pub[name].get(ds, (None, ""))[0])
    view = pd.DataFrame(rows, columns=["group", "configuration", "ours", "InfLar", "Port"])
    best = {"ours": typeset.best_rows(means, within=groups),
            "InfLar": typeset.best_rows(pub_vals["InfLar"]),
            "Port": typeset.best_rows(pub_vals["Port"])}
    return typeset.table(
        view, stub="configuration", groups="group", best=best,
        numbers=["ours", "InfLar", "Port"], spanners={"published [P]": ["InfLar", "Port"]},
        labels={"ours": "ours (%)"},
        notes=[*notes, PUBLISHED_NOTE + " The paper kept one of the four configurations' values "
               "per topology, which one is lost (paper, Table 2). Bold: the best trained "
               "configuration of each group (ours), the best published value of each column."])


def table3_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Table 3 as text: our CNNs, eCNN, Siamese fusions and Fusion + eCNN beside the published
    rows (the paper's four CNNs are unknown, so our CNN rows have no published counterpart)
    (the printed pages, :mod:`dissim.report.printed`)."""
    view = pd.DataFrame(
        {"ours": _cells(df)},
        index=pd.Index(df["row"], name="row"),
    )
    previous = pd.DataFrame({"ours": ["not reproduced"] * 3},
                            index=pd.Index(["[12]", "[13]", "[14]"], name="row"))
    return _with_published(pd.concat([view, previous]), "Table 3")


def natural_key(text: object) -> tuple:
    """Sort key of natural order: the digits of a name compare as numbers (s1, s2, ..., s10;
    efficientnet_lite0, lite1, lite2), for display only.

    >>> sorted(["s10", "s2", "s1"], key=natural_key)
    ['s1', 's2', 's10']
    """
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p.lower())
                 for p in re.split(r"(\d+)", str(text)) if p)


def _table3_group(row: str, cnns: set[str]) -> str:
    if row in cnns or row == "eCNN":
        return "Fine-tuned CNNs and their fusion (eCNN)"
    if row.startswith("Fusion") and row.endswith("+ eCNN"):
        return "Siamese ensembles + eCNN"
    if row.startswith("Fusion"):
        return "Siamese ensembles (Table 2's Bottom configuration)"
    if _is_control(row):
        return "Controls"
    return "Previous Siamese work [P]"


def table3_view(df: pd.DataFrame, notes: Sequence[str] = ()) -> Table:
    """Table 3 set as the paper sets it (paper, Table 3: InfLar and Port columns): our CNNs (in
    natural order), eCNN, the Siamese fusions and Fusion + eCNN beside the published rows,
    grouped; the paper's four CNNs are unknown, so our CNN rows have no published counterpart.
    Bold: our best row (controls aside) and the best published value of each column."""
    pub = _published("Table 3")
    special = ("eCNN", "[12]", "[13]", "[14]")
    cnns = {r for r in df["row"] if r not in special and not str(r).startswith(("Fusion",
                                                                                  "Control"))}
    order = (sorted(cnns, key=natural_key) + ["eCNN"]
             + [r for r in df["row"] if str(r).startswith("Fusion") and "eCNN" not in r]
             + [r for r in df["row"] if str(r).startswith("Fusion") and "eCNN" in r]
             + [r for r in df["row"] if _is_control(r)])
    by_row = df.set_index("row")
    rows, means, pub_vals = [], [], {"InfLar": [], "Port": []}
    for name in [r for r in order if r in by_row.index] + ["[12]", "[13]", "[14]"]:
        ours = (_result(by_row.loc[name].to_dict()) if name in by_row.index
                else Markup(typeset.small("not reproduced"), "not reproduced"))
        row = {"group": _table3_group(name, cnns), "row": name, "ours": ours}
        means.append(by_row.loc[name, "mean"] if name in by_row.index and not _is_control(name)
                     else None)
        for ds in ("InfLar", "Port"):
            value, text = pub.get(name, {}).get(ds, (None, ""))
            row[ds] = _published_cell(text)
            pub_vals[ds].append(value)
        rows.append(row)
    view = pd.DataFrame(rows, columns=["group", "row", "ours", "InfLar", "Port"])
    best = {"ours": typeset.best_rows(means), "InfLar": typeset.best_rows(pub_vals["InfLar"]),
            "Port": typeset.best_rows(pub_vals["Port"])}
    return typeset.table(
        view, stub="row", groups="group", best=best, numbers=["ours", "InfLar", "Port"],
        spanners={"published [P]": ["InfLar", "Port"]}, labels={"ours": "ours (%)"},
        notes=[*notes, PUBLISHED_NOTE + " The paper's four CNNs and their values were lost "
               "(paper, Table 3); 'did not converge' is the paper's 'xxx *'. Bold: our best row "
               "(controls aside), the best published value of each column."])


def plot_table3(df: pd.DataFrame, folds: pd.DataFrame | None = None):
    """Horizontal bars: CNNs, eCNN, Siamese fusions and their fusion with eCNN, controls; the
    bar is the mean over folds with its sd, the dots the per-fold accuracies
    (:func:`fold_points`). Colours name the kind of row in the legend below."""
    kinds = {"fine-tuned CNN, eCNN": "C0", "Siamese fusion": "C1",
             "Siamese fusion + eCNN": "C2", "control": "0.6"}
    def kind(row: str) -> str:
        if row.startswith("Control"):
            return "control"
        if "eCNN" in row and "+" in row:
            return "Siamese fusion + eCNN"
        return "Siamese fusion" if row.startswith(("Fusion", "Topology")) else (
            "fine-tuned CNN, eCNN")
    fig, ax = new_figure(height=0.3 * len(df) + 1.5)
    y = np.arange(len(df))
    labels = [_short_row(r) for r in df["row"]]
    for name, colour in kinds.items():
        sel = [i for i, r in enumerate(df["row"]) if kind(r) == name]
        if sel:
            ax.barh(y[sel], df["mean"].iloc[sel], xerr=df["std"].iloc[sel], color=colour,
                    capsize=2, alpha=0.8, label=name)
    if folds is not None:
        for i, row in enumerate(df["row"]):
            vals = folds.loc[folds["row"] == row, "accuracy"]
            jitter = np.linspace(-0.12, 0.12, len(vals)) if len(vals) > 1 else np.zeros(1)
            ax.scatter(vals, i + jitter, s=9, color="black", zorder=3, linewidths=0)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel("accuracy (%)")
    ax.set_title("Table 3: CNNs, Siamese fusions, their fusion (mean ± sd)")
    few_ticks(ax, x=6, y=None)
    ax.grid(axis="x", alpha=0.3)
    legend_below(fig, [dot()] if folds is not None else None, ncol=3)
    return fig


def _short_row(row: str, width: int = 28) -> str:
    """A row label short enough for a figure: 'efficientnet_lite2' -> 'Lite2', a control's
    parenthesis wrapped onto its own line."""
    row = row.replace("efficientnet_lite", "Lite").replace("Control: ", "")
    return textwrap.fill(row, width)


def table3_caption(df: pd.DataFrame) -> str:
    """What Table 3's figure says (markdown): the best fine-tuned CNN, the eCNN, the best
    Siamese fusion and whether adding it to the eCNN helped, with their means (%)."""
    rows = df.set_index("row")["mean"]
    cnns = [r for r in rows.index if r.startswith("efficientnet") or r.startswith("cnn")]
    fusions = [r for r in rows.index if r.startswith("Fusion") and "eCNN" not in r]
    parts = []
    if cnns:
        best = max(cnns, key=rows.get)
        parts.append(f"The best fine-tuned CNN is {_short_row(best)} ({rows[best]:.2f} %)")
    if "eCNN" in rows:
        parts.append(f"the eCNN (their average) reaches {rows['eCNN']:.2f} %")
    if fusions:
        best = max(fusions, key=rows.get)
        gap = rows[best] - max(rows[c] for c in cnns) if cnns else None
        parts.append(f"the best Siamese fusion, {best}, {rows[best]:.2f} %"
                     + (f" ({gap:+.2f} points against the best single CNN)"
                        if gap is not None else ""))
        both = f"{best} + eCNN"
        if both in rows and "eCNN" in rows:
            d = rows[both] - rows["eCNN"]
            parts.append(f"adding it to the eCNN gives {rows[both]:.2f} % ({d:+.2f} points "
                         "against the eCNN alone)")
    if not parts:
        return caption("No CNN or fusion rows to compare.")
    return caption("; ".join(parts) + ". Means over folds; whether a difference is more "
                   "than noise is tested on the claims pages.")


def table4_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Table 4 as text: seconds per trained network, topologies as columns, losses as rows."""
    cells = df.assign(cell=[f"{m:.1f}" for m in df["mean"]])
    return cells.pivot(index="loss", columns="topology", values="cell")


def table4_view(df: pd.DataFrame, notes: Sequence[str] = ()) -> Table:
    """Table 4 as the paper sets it (paper, Table 4: rows = losses, columns = topologies 1-8):
    mean seconds to train one network, one decimal; the fastest topology of each loss in
    bold."""
    frame = table4_frame(df)
    topologies = list(frame.columns)
    view = pd.DataFrame({"loss": [DISPLAY.get(str(x), str(x)) for x in frame.index],
                         **{str(t): [df[(df["loss"] == loss) & (df["topology"] == t)]["mean"]
                                     .iloc[0] if len(df[(df["loss"] == loss)
                                                        & (df["topology"] == t)]) else np.nan
                                     for loss in frame.index] for t in topologies}})
    cols = [str(t) for t in topologies]
    best = {}
    for i in range(len(view)):
        vals = view.loc[i, cols].astype(float).tolist()
        for j in typeset.best_rows(vals, largest=False):
            best.setdefault(cols[j], []).append(i)
    return typeset.table(view, stub="loss", numbers=cols, decimals=1, best=best,
                         spanners={"seconds per network, topology": cols},
                         notes=[*notes, "Bold: the fastest topology of each loss. The "
                                "paper's values (GTX 1080, 3000 iterations) were lost "
                                "(paper, Table 4)."])


def plot_table2(df: pd.DataFrame, folds: pd.DataFrame | None = None):
    """Grouped bars: accuracy per topology for the four configurations (and the untrained
    control), fusions and the pixel control at the end; each bar the mean over folds with
    its sd, the dots the per-fold accuracies (:func:`fold_points`). The legend, below the
    axes, names the configurations and the fold dots."""
    rows = list(dict.fromkeys(df["row"]))
    configs = list(dict.fromkeys(df["configuration"]))
    fig, ax = new_figure(height=3.9)
    width = 0.84 / len(configs)
    for j, config in enumerate(configs):
        sub = df[df["configuration"] == config].set_index("row").reindex(rows)
        x = np.arange(len(rows)) + (j - (len(configs) - 1) / 2) * width
        ax.bar(x, sub["mean"], width, yerr=sub["std"], label=config, capsize=1.5, alpha=0.8,
               error_kw={"lw": 0.8})
        if folds is not None:
            for xi, row in zip(x, rows, strict=True):
                _points(ax, xi, folds.loc[(folds["row"] == row) &
                                          (folds["configuration"] == config), "accuracy"])
    ax.set_xticks(np.arange(len(rows)), [_axis_row(r) for r in rows])
    ax.set_xlabel("topology, fusion of topologies, control")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Table 2: accuracy per topology and configuration (mean ± sd over folds)")
    few_ticks(ax, x=None, y=6)
    ax.grid(axis="y", alpha=0.3)
    legend_below(fig, [dot()] if folds is not None else None, ncol=3)
    return fig


def _axis_row(row: str) -> str:
    """Table 2's row labels for an axis: 'Topology 3' -> '3', 'Fusion 1-4' -> 'Fusion\\n1-4',
    'Control: pixels' -> 'pixels'."""
    if row.startswith("Topology "):
        return row.split()[1]
    return row.replace("Control: ", "").replace(" ", "\n", 1)


def table2_caption(df: pd.DataFrame) -> str:
    """What Table 2's figure says (markdown): the best row and configuration, the best single
    topology in that configuration and how far the fusion is above it, and the controls."""
    trained = df[~df["row"].str.startswith("Control") &
                 ~df["configuration"].str.startswith("Control")]
    if trained.empty:
        return caption("No trained configuration to compare.")
    best = trained.loc[trained["mean"].idxmax()]
    config = best["configuration"]
    singles = trained[trained["row"].str.startswith("Topology") &
                      (trained["configuration"] == config)]
    parts = [f"The best bar is {best['row']}, {config}, at {best['mean']:.2f} %"]
    if not singles.empty:
        top = singles.loc[singles["mean"].idxmax()]
        if top["row"] != best["row"]:
            parts.append(f"the best single topology in that configuration is {top['row']} "
                         f"({top['mean']:.2f} %, {best['mean'] - top['mean']:.2f} points "
                         "below)")
    controls = df[df["row"].str.startswith("Control") |
                  df["configuration"].str.startswith("Control")]
    if not controls.empty:
        c = controls.loc[controls["mean"].idxmax()]
        name = c["row"] if c["row"].startswith("Control") else (
            f"{c['configuration']} of {c['row']}")
        name = name.replace("Control: ", "the control ")
        d = best["mean"] - c["mean"]
        parts.append(f"the best control is {name} at {c['mean']:.2f} % ({abs(d):.2f} points "
                     f"{'below' if d >= 0 else 'above'} the best bar)")
    return caption("; ".join(parts) + ". Means over folds (dots: one fold each); the claims "
                   "pages test these differences.")


@styled
def plot_table1(df: pd.DataFrame, folds: pd.DataFrame | None = None):
    """Bars per method, one bar per builder (F, D, F+D), each the mean over folds with its
    sd; the dots are the per-fold accuracies (:func:`fold_points`)."""
    methods = list(dict.fromkeys(df["method"]))
    fig, ax = new_figure(height=3.6)
    for j, builder in enumerate(["F", "D", "F+D"]):
        sub = df[df["builder"] == builder].set_index("method").reindex(methods)
        x = np.arange(len(methods)) + (j - 1) * 0.27
        ax.bar(x, sub["mean"], 0.27, yerr=sub["std"], label=f"space {builder}", capsize=2,
               alpha=0.8)
        if folds is not None:
            for xi, method in zip(x, methods, strict=True):
                _points(ax, xi, folds.loc[(folds["builder"] == builder) &
                                          (folds["method"] == method), "accuracy"])
    ax.set_xticks(np.arange(len(methods)), [_wrap(m, 10) for m in methods])
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Table 1: losses and spaces (mean ± sd over folds)")
    few_ticks(ax, x=None, y=6)
    ax.grid(axis="y", alpha=0.3)
    legend_below(fig, [dot()] if folds is not None else None, ncol=4)
    return fig


def _wrap(label: str, width: int) -> str:
    """``label`` on lines of about ``width`` characters, broken at spaces or after '+'."""
    label = label.replace("Control: ", "")
    return "\n".join(textwrap.wrap(label.replace("+", "+ "), width)).replace("+ ", "+")


def table1_caption(df: pd.DataFrame) -> str:
    """What Table 1's figure says (markdown): the best method and space, and for each trained
    method whether F+D is above F."""
    trained = df[~df["method"].str.startswith("Control")]
    if trained.empty:
        return caption("No trained method to compare.")
    best = trained.loc[trained["mean"].idxmax()]
    cell = trained.set_index(["method", "builder"])["mean"]
    up = [m for m in dict.fromkeys(trained["method"])
          if (m, "F+D") in cell and (m, "F") in cell and cell[(m, "F+D")] > cell[(m, "F")]]
    down = [m for m in dict.fromkeys(trained["method"]) if m not in up]
    text = (f"The best bar is {best['method']} on {best['builder']}, {best['mean']:.2f} %. "
            f"FULLY + DEEPER is above FULLY alone for {_listed(up) or 'no method'}"
            + (f", not for {_listed(down)}" if down else "") + ".")
    controls = df[df["method"].str.startswith("Control") & (df["builder"] == "F+D")]
    if not controls.empty:
        c = controls.loc[controls["mean"].idxmax()]
        text += (f" The best control ({c['method'].replace('Control: ', '')}, F+D) reaches "
                 f"{c['mean']:.2f} %.")
    return caption(text)


def _listed(items: list[str]) -> str:
    return ", ".join(items[:-1]) + (" and " if len(items) > 1 else "") + (items[-1] if items
                                                                         else "")


@styled
def plot_table4(df: pd.DataFrame):
    """Training seconds per topology and loss (log scale)."""
    fig, ax = new_figure(height=3.2)
    losses = list(dict.fromkeys(df["loss"]))
    for j, loss in enumerate(losses):
        sub = df[df["loss"] == loss]
        ax.bar(sub["topology"] + (j - (len(losses) - 1) / 2) * 0.4, sub["mean"], 0.4,
               label=f"{loss} loss")
    ax.set_xlabel("topology")
    ax.set_ylabel("seconds per network")
    ax.set_yscale("log")
    ax.set_xticks(sorted(df["topology"].unique()))
    ax.set_title("Table 4: training time of one network (mean over folds)")
    legend_below(fig)
    return fig


def table4_caption(df: pd.DataFrame) -> str:
    """What Table 4's figure says (markdown): the slowest and fastest topology and how much
    longer the triplet loss takes than the cross-entropy."""
    if df.empty:
        return caption("No trained network was timed.")
    per = df.groupby("topology")["mean"].mean()
    text = (f"Topology {per.idxmax()} is the slowest to train ({per.max():.1f} s per network, "
            f"mean of the losses), topology {per.idxmin()} the fastest ({per.min():.1f} s), "
            f"{per.max() / per.min():.0f} times less.")
    wide = df.pivot(index="topology", columns="loss", values="mean")
    if {"triplet", "cross"} <= set(wide.columns):
        ratio = (wide["triplet"] / wide["cross"]).dropna()
        if len(ratio):
            text += (f" The triplet loss takes {ratio.min():.1f}-{ratio.max():.1f} times the "
                     "cross-entropy's time (it forwards three images per triplet, two per "
                     "pair).")
    return caption(text)


@styled
def plot_figure4(curves: dict):
    """Figure 4: the global decay d_t and the modulated step factor imp_t * d_t, over all
    iterations and over the first 60."""
    fig, axes = new_figure(1, 3, height=2.8)
    axes[0].plot(curves["t"], curves["d"], color="C0")
    axes[0].set_title(r"global decay $d_t$")
    axes[1].plot(curves["t"], curves["imp_d"], color="C1", lw=0.4)
    axes[1].set_title(r"$imp_t \cdot d_t$")
    zoom = curves["t"] <= 60
    axes[2].plot(curves["t"][zoom], curves["imp_d"][zoom], "o-", color="C1", ms=2.5, lw=0.8)
    axes[2].set_title(r"$imp_t \cdot d_t$, t ≤ 60")
    for ax in axes:
        ax.set_xlabel("iteration t")
        few_ticks(ax, x=3, y=4)
        ax.xaxis.set_major_formatter(FuncFormatter(human))
        ax.grid(alpha=0.3)
    return fig


def figure4_caption(curves: dict) -> str:
    """What Figure 4 says (markdown): where the decay starts, peaks and ends, and the range of
    the modulated factor."""
    t, d, imp = curves["t"], np.asarray(curves["d"]), np.asarray(curves["imp_d"])
    return caption(
        f"The decay d_t starts at {d[0]:.3f}, peaks at {d.max():.3f} (t = "
        f"{int(t[d.argmax()])}) and ends at {d[-1]:.3f} (t = {int(t[-1])}); the impulse "
        f"modulates it periodically, so the step factor imp_t · d_t swings between "
        f"{imp.min():.3f} and {imp.max():.3f}.")


def ablation_frame(df: pd.DataFrame) -> pd.DataFrame:
    """One ablation as text: rows = the option's values, columns = F / D / F+D, 'mean ± std'
    (%), marked when a network behind a cell did not converge."""
    cells = df.assign(cell=_cells(df))
    view = cells.pivot(index="value", columns="builder", values="cell")
    return view.reindex(index=list(dict.fromkeys(df["value"])), columns=["F", "D", "F+D"])


def ablation_view(df: pd.DataFrame, notes: Sequence[str] = ()) -> Table:
    """One ablation of an open choice (book: Assumptions): one row per value of the option,
    F / D / F+D accuracy mean ± sd over folds (%) as in Table 1; the best value of each space
    in bold."""
    values = list(dict.fromkeys(df["value"]))
    rows, means = [], {b: [] for b in ("F", "D", "F+D")}
    for v in values:
        sub = df[df["value"] == v].set_index("builder")
        row = {"value": v}
        for b in ("F", "D", "F+D"):
            row[b] = _result(sub.loc[b]) if b in sub.index else ""
            means[b].append(sub.loc[b, "mean"] if b in sub.index else None)
        rows.append(row)
    view = pd.DataFrame(rows, columns=["value", "F", "D", "F+D"])
    option = str(df["option"].iloc[0]) if "option" in df and len(df) else "value"
    return typeset.table(
        view, stub="value", stubhead=option, numbers=["F", "D", "F+D"],
        best={b: typeset.best_rows(means[b]) for b in means},
        spanners={"accuracy (%), mean ± sd over folds": ["F", "D", "F+D"]},
        notes=[*notes, "Bold: the best value of each space."])


def payoff_view(df: pd.DataFrame) -> Table:
    """The payoff rows' summary (:func:`dissim.report.payoff.summary`, book: When does
    training pay?) typeset: one row group per data set; accuracies (%, fold means) with one
    decimal (a test fold is 80-96 images), learning rates as written; the best F+D of each data
    set in bold."""
    view = df.copy()
    if "lr" in view:
        view["lr"] = [f"{v:g}" if isinstance(v, float) else str(v) for v in view["lr"]]
    for c in ("pays from", "after s", "best at"):
        if c in view:
            view[c] = [str(v) for v in view[c]]
    groups = "data" if "data" in view else None
    best = {}
    if "best F+D" in view:
        best["best F+D"] = typeset.best_rows(view["best F+D"].tolist(),
                                             within=view[groups].tolist() if groups else None)
    numbers = [c for c in view.columns if c not in ("data", "method", "sampler")]
    return typeset.table(view, groups=groups, numbers=numbers, best=best, decimals=1,
                         notes=["Test accuracies (%), mean over the network's "
                                "folds (folds: how many). Pays from: the first checkpoint "
                                "(iterations) reached by all its folds whose mean F+D beats "
                                "both the untrained network and the pixels (each averaged over "
                                "the same folds); after s: its mean training seconds. Best at: "
                                "the first checkpoint with the best mean F+D / the last one all "
                                "its folds reached; where the first is earlier, the curve "
                                "stopped rising there. Bold: the best F+D of each data set."])


def published_note(table: str) -> str:
    """Markdown: what survives of a published table, and the paper's qualitative claims."""
    lost = paper.lost_cells(table)
    lines = []
    if lost:
        lines.append(f"**Published values:** {lost} cells of the paper's {table} were lost in "
                     "the only available copy of the article (see \"The published numbers, only "
                     "partly\" in the book's introduction); none is shown or guessed.")
    claims = paper.QUALITATIVE.get(table, [])
    if claims:
        lines.append("**What the paper states about this table [P]:**\n\n" +
                     "\n".join(f"- {c}" for c in claims))
    return "\n\n".join(lines)


@styled
def plot_scaling(df: pd.DataFrame):
    """Seconds against each factor (images, prototypes, input size), one panel each."""
    factors = list(dict.fromkeys(df["factor"]))
    fig, axes = new_figure(1, len(factors), height=2.8, squeeze=False)
    for ax, factor in zip(axes[0], factors, strict=True):
        sub = df[df["factor"] == factor]
        ax.plot(sub["value"], sub["seconds"], "o-")
        ax.set_ylim(bottom=0)
        ax.set_xlabel(factor)
        ax.set_title(f"seconds against {factor}")
        few_ticks(ax, x=4, y=4)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("seconds")
    return fig


def scaling_caption(df: pd.DataFrame) -> str:
    """What the scaling figure says (markdown): per factor, how much the time grew over the
    range measured, against how much the factor grew."""
    parts = []
    for factor, sub in df.groupby("factor", sort=False):
        sub = sub.sort_values("value")
        v0, v1 = float(sub["value"].iloc[0]), float(sub["value"].iloc[-1])
        s0, s1 = float(sub["seconds"].iloc[0]), float(sub["seconds"].iloc[-1])
        if v0 > 0 and s0 > 0:
            parts.append(f"{factor} × {v1 / v0:.3g} ({v0:g} → {v1:g}): time × {s1 / s0:.3g} "
                         f"({s0:.2f} → {s1:.2f} s)")
    return caption("; ".join(parts) + "." if parts else "Nothing measured.")


def performance_frame(train: dict, fully: dict, dct: dict, hasc: dict) -> pd.DataFrame:
    """The speed figures of :mod:`dissim.report.benchmark`, ours beside the reference each beats."""
    rows = [
        {"what": f"training, topology {train['topology']} at {train['size']} px, "
                 f"{train['pairs']} pairs",
         "dissim": f"{train['dissim_img_s']:.1f} img/s",
         "reference": f"{train['bare_img_s']:.1f} img/s (bare torch loop)",
         "ratio": f"{train['ratio']:.2f}", "note": f"{train['gflop_s']:.1f} GFLOP/s"},
        {"what": f"FULLY, {fully['images']} images x {fully['prototypes']} prototypes",
         "dissim": f"{fully['cached_s']:.2f} s",
         "reference": f"{fully['naive_s']:.2f} s (one pass per pair)",
         "ratio": f"{fully['speedup']:.0f}x", "note": f"max |diff| {fully['max_abs_diff']:.1e}"},
        {"what": "DCT 9x9 of (64, 64, 19, 19) taps",
         "dissim": f"{1e3 * dct['matmul_s']:.1f} ms",
         "reference": f"{1e3 * dct['scipy_s']:.1f} ms (scipy per channel)",
         "ratio": f"{dct['speedup']:.0f}x", "note": f"max |diff| {dct['max_abs_diff']:.1e}"},
        {"what": f"HASC image, one {hasc['size']} x {hasc['size']} band",
         "dissim": f"{hasc['exact_s']:.2f} s",
         "reference": f"{hasc['stride2_s']:.2f} s (EMI on a stride-2 grid)",
         "ratio": "", "note": "goal <= 0.5 s on one core"},
    ]
    return pd.DataFrame(rows).set_index("what")


def performance_view(train: dict, fully: dict, dct: dict, hasc: dict) -> Table:
    """The speed figures (book: Performance) typeset: what was timed, dissim's time or rate,
    the reference's, their ratio and a note (:func:`performance_frame`)."""
    return typeset.table(performance_frame(train, fully, dct, hasc), stub="what",
                         numbers=["dissim", "reference", "ratio"],
                         labels={"dissim": "dissim", "reference": "reference"})


def gpu_results_frame(results: dict | None) -> pd.DataFrame | None:
    """Speed and memory per topology and precision from ``benchmarks/gpu.py``'s results
    (:func:`dissim.report.benchmark.load_gpu_results`); None when there is no GPU measurement."""
    if not results:
        return None
    rows = []
    for r in results["table"]:
        if "error" in r:
            continue
        peak, err = r.get("peak_gib"), r.get("estimate_error")
        rows.append({
            "topology": r["topology"], "precision": r["precision"],
            "dissim img/s": round(r["dissim_img_s"]), "bare img/s": round(r["bare_img_s"]),
            "ratio": f"{r['ratio']:.2f}", "TFLOP/s": f"{r['dissim_tflop_s']:.1f}",
            "peak GiB": "" if peak is None else f"{peak:.1f}",
            "estimate GiB": f"{r['estimate_gib']:.1f}",
            "estimate error": "" if err is None else f"{100 * err:+.0f} %"})
    return pd.DataFrame(rows).set_index(["topology", "precision"]) if rows else None


def gpu_results_view(results: dict | None) -> Table | None:
    """:func:`gpu_results_frame` typeset: one row group per topology, one row per precision;
    None when there is no GPU measurement."""
    frame = gpu_results_frame(results)
    if frame is None:
        return None
    view = frame.reset_index()
    view["topology"] = [f"Topology {t}" for t in view["topology"]]
    nums = [c for c in view.columns if c not in ("topology", "precision")]
    return typeset.table(view, stub="precision", groups="topology", numbers=nums,
                         notes=["img/s: training images per second; ratio: dissim / bare "
                                "torch loop; estimate: dissim.memory's peak estimate."])


def gpu_results_note(results: dict | None) -> str:
    """Where and when ``benchmarks/gpu.py`` measured, topology 1 on real data, and the cost of
    Table 2's grid in GPU-hours; or that no GPU measurement exists yet (Markdown)."""
    if not results:
        return ("No GPU measurement yet: `benchmarks/gpu.py` has not been run on a GPU for this "
                "edition (`PYTHONPATH=. python benchmarks/gpu.py` writes `benchmarks/RESULTS.md` "
                "and `RESULTS.json`, which this page then shows).")
    hours = results["table2"]["hours"]
    runs = ", ".join(f"{hours[k]:.1f} h with {k} network{'s' if k != '1' else ''} at once"
                     for k in ("1", "2", "4") if k in hours and hours[k] == hours[k])
    text = (f"Measured by `benchmarks/gpu.py` on {results['gpu']} (torch {results['torch']}, "
            f"{results['date']} UTC, commit `{results['commit'][:10]}`). Table 2's full grid "
            f"({results['table2']['networks']} networks of {results['table2']['iterations']} "
            f"iterations) costs {runs} on one such GPU.")
    folder = results.get("folder") or {}
    if "seconds_per_1000" in folder:
        text += (f" Topology 1 on {folder['root']} ({folder['size']} px, {folder['pairs']} "
                 f"pairs): {folder['seconds_per_1000']:.0f} s per 1000 iterations.")
    return text


def training_health_frame(df: pd.DataFrame) -> pd.DataFrame:
    """One row per topology and method: mean over folds of the loss at the start and the end
    of training, the pair accuracies after training and of the untrained network, and how many
    networks converged (:func:`dissim.report.tables.training_health`)."""
    rows = []
    for (t, method), d in df.groupby(["topology", "method"], sort=True):
        def pair(a, b, d=d):
            return f"{d[a].mean():.2f} ({d[b].mean():.2f})"
        rows.append({
            "topology": t, "method": method,
            "loss start → end": f"{d['first_loss'].mean():.3f} → {d['final_loss'].mean():.3f}",
            "training pairs: trained (untrained)": pair("pair_accuracy",
                                                        "untrained_pair_accuracy"),
            "held-out pairs: trained (untrained)": pair("heldout_pair_accuracy",
                                                        "untrained_heldout_pair_accuracy"),
            "converged": f"{int(d['converged'].sum())}/{len(d)}",
        })
    return pd.DataFrame(rows).set_index(["topology", "method"])


@styled
def plot_learning_curves(df: pd.DataFrame):
    """Loss curves, one panel per topology on shared axes (two rows of four for Table 2's
    eight), one line per method and fold: the moving average of every iteration's loss, in
    the method's colour; the dashed line is ln 2, the cross-entropy of a network that has
    learned nothing. One legend below the panels names the methods and the reference line."""
    topologies = sorted(df["topology"].unique())
    cols = min(4, len(topologies))
    rows = int(np.ceil(len(topologies) / cols))
    fig, axes = new_figure(rows, cols, height=1.3 + 2.0 * rows, squeeze=False, sharex=True,
                           sharey=True)
    colors = {"cross": "C0", "crossdd": "C1", "triplet": "C2"}
    for ax, t in zip(axes.flat, topologies, strict=False):
        for _, r in df[df["topology"] == t].iterrows():
            curve = np.asarray(r["loss_curve"], dtype=float)
            if curve.size == 0:
                continue
            step = max(1, r["iterations"] // max(1, len(curve)))
            x = np.arange(len(curve)) * step
            w = max(1, min(10, len(curve) // 5))  # a moving average over w iterations
            smooth = np.convolve(curve, np.ones(w) / w, mode="valid")
            ax.plot(x[w - 1:], smooth, color=colors.get(r["method"], "C3"), lw=1.1,
                    alpha=0.85, label=r["method"])
        ax.axhline(np.log(2), ls="--", lw=0.8, color="grey", label="ln 2 (learned nothing)")
        ax.set_title(f"topology {t}")
        few_ticks(ax, x=3, y=4, integer=True)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(topologies):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("loss")
    for ax in axes[-1, :]:
        ax.set_xlabel("iteration")
    legend_below(fig)
    return fig


def training_health_view(df: pd.DataFrame, notes: Sequence[str] = ()) -> Table:
    """:func:`training_health_frame` set long (book: Training health): one row group per
    topology, one row per method; the loss at the start and end of training, the pair
    accuracy of the trained network (the untrained one in brackets) on training and held-out
    pairs, and how many networks converged."""
    frame = training_health_frame(df).reset_index()
    frame["topology"] = [f"Topology {t}" for t in frame["topology"]]
    frame["method"] = [DISPLAY.get(m, m) for m in frame["method"]]
    pairs = ["training pairs: trained (untrained)", "held-out pairs: trained (untrained)"]
    return typeset.table(
        frame, stub="method", groups="topology",
        numbers=["loss start → end", *pairs, "converged"],
        spanners={"pair accuracy: trained (untrained)": pairs},
        labels={pairs[0]: "training pairs", pairs[1]: "held-out pairs",
                "loss start → end": "loss: start → end"},
        notes=[*notes, "Means over folds. Converged: networks that passed the rerun rule's "
               "test (pair accuracy above its threshold) of those trained."])


def learning_curves_caption(df: pd.DataFrame) -> str:
    """What the loss curves say (markdown): for each method, on which topologies the loss fell
    (the mean over folds of the last loss below that of the first) and on which it did not."""
    if df.empty:
        return caption("No training record.")
    parts = []
    for method, d in df.groupby("method", sort=True):
        per = d.groupby("topology")[["first_loss", "final_loss"]].mean()
        fell = [int(t) for t in per.index if per.loc[t, "final_loss"] < per.loc[t, "first_loss"]]
        flat = [int(t) for t in per.index if int(t) not in fell]
        drop = (per["first_loss"] - per["final_loss"]).mean()
        if not flat:
            parts.append(f"{method}: the loss fell on every topology ({_ranges(fell)}; by "
                         f"{drop:.3f} on average)")
        elif not fell:
            parts.append(f"{method}: the loss did not fall on any topology")
        else:
            parts.append(f"{method}: the loss fell on topologies {_ranges(fell)}, not on "
                         f"{_ranges(flat)}")
    return caption("; ".join(parts) + " (the last recorded loss against the first, mean over "
                   "folds). A curve that stays on ln 2 is a Cross network that learned nothing.")


def snapshot_note(prov: dict) -> str:
    """Markdown: where, when and from which commit a snapshot's numbers come
    (:meth:`dissim.pipeline.snapshots.Snapshot.provenance`)."""
    def listing(values, short=False) -> str:
        vals = [v[:10] if short else v for v in values]
        return ", ".join(f"`{v}`" for v in vals) if vals else "unknown"

    s = prov.get("profile_settings") or {}
    when = (prov["first"] if prov["first"] == prov["last"]
            else f"{prov['first']} to {prov['last']}") if prov.get("first") else "unknown"
    classes = prov.get("classes") or []
    ks = prov.get("k_values") or s.get("k_values", [])
    scale = ""
    if s:
        scale = (f" (inputs {s.get('input_size')} px or the topology's minimum, "
                 f"{s.get('iterations')} iterations of {s.get('batch_size')} pairs, "
                 f"{s.get('max_train_retries')} rerun(s) of a network that did not converge; "
                 f"CNNs fine-tuned {s.get('cnn_epochs')} epochs at {s.get('cnn_input_size')} px)")
    grid = ""
    if prov.get("topologies"):
        grid = (f"- **members:** topologies {_ranges(prov['topologies'])}, "
                f"{', '.join(prov.get('methods', []))}; FULLY and DEEPER; k = "
                f"{', '.join(map(str, ks))} prototypes per class; controls: "
                f"{', '.join(prov.get('controls', [])) or 'none'}; CNNs: "
                f"{', '.join(prov.get('cnns', [])) or 'none'}"
                + (f"; frozen-CNN references: {', '.join(prov['frozen_cnns'])}"
                   if prov.get("frozen_cnns") else "") + "\n")
    hours = ""
    if prov.get("train_hours") or prov.get("cnn_hours"):
        hours = (f"- **compute:** {prov.get('train_hours', 0):.2f} h of Siamese training and "
                 f"{prov.get('cnn_hours', 0):.2f} h of CNN fine-tuning (summed over networks)\n")
    about = f"{prov['description']}\n\n" if prov.get("description") else ""
    return (
        about
        + f"**Source:** snapshot `results_snapshots/{prov['snapshot']}` "
        f"({prov['entries']} stored members: {prov['siamese']} Siamese and controls, "
        f"{prov['cnn']} CNN), read as committed; nothing on this page was trained in the book "
        f"build.\n\n"
        f"- **data:** `{prov['dataset']}`, {len(classes)} classes "
        f"({_classes(classes)}), data fingerprint "
        f"{listing(prov['fingerprints'], short=True)}, folds "
        f"{', '.join(map(str, prov['folds']))}\n"
        f"- **profile:** `{prov['profile']}`{scale}\n"
        + grid + hours
        + f"- **when:** {when} (UTC)\n"
        f"- **where:** {listing(prov['machines'])}, device {listing(prov['devices'])}, "
        f"torch {listing(prov['torch'])}, dissim {listing(prov['dissim'])}\n"
        f"- **code:** commit {listing(prov['commits'], short=True)}"
        + ("\n\n**Not evidence:** the `smoke` and `quick` profiles train for seconds on small "
           "inputs; these numbers test the machinery, not the paper's claims."
           if base_name(prov["profile"]) in ("smoke", "quick") else "")
    )


def _ranges(values) -> str:
    """``[1, 2, 3, 5]`` -> ``"1-3, 5"``."""
    out, run = [], []
    for v in sorted(values):
        if run and v == run[-1] + 1:
            run.append(v)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [v]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ", ".join(out)


def _classes(classes, shown: int = 12) -> str:
    """The class names, the first ``shown`` of a long list and how many more."""
    names = sorted(map(str, classes), key=natural_key)  # display order only: s1, s2, ..., s10
    more = f", … ({len(names) - shown} more)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def table3_or_note_frame(results: dict, cnn_results: dict, topologies) -> pd.DataFrame:
    """Table 3 as text (:func:`table3_frame`) when there are eCNN members, else a one-cell
    table saying there are none (the printed pages, :mod:`dissim.report.printed`)."""
    if not cnn_results:
        return pd.DataFrame({"Table 3": [NO_ECNN]})
    return table3_frame(table3(results, cnn_results, topologies))


NO_ECNN = "no eCNN members in these results: Table 3 needs the fine-tuned CNNs"


def table3_or_note(results: dict, cnn_results: dict, topologies,
                   notes: Sequence[str] = ()) -> Table:
    """Table 3's view (:func:`table3_view`) when there are eCNN members, else a one-cell table
    saying there are none."""
    if not cnn_results:
        return typeset.table(pd.DataFrame({"Table 3": [NO_ECNN]}))
    return table3_view(table3(results, cnn_results, topologies), notes=notes)


def _arithmetic(settings: Mapping) -> str:
    """The training arithmetic of a profile's settings: float32, or bf16 autocast; TF32 and
    channels-last where switched on (:class:`dissim.profiles.Profile`)."""
    parts = ["bf16 autocast" if settings.get("amp") == "bf16" else "float32"]
    if settings.get("tf32"):
        parts.append("TF32")
    if settings.get("channels_last"):
        parts.append("channels-last")
    return " + ".join(parts)


def _when(stamps: Sequence[str]) -> str:
    """'2026-12-07 01:32 UTC', or a range 'first to last', of ISO time stamps."""
    days = sorted(str(t).replace("T", " ").rstrip("Z")[:16] for t in stamps if t)
    if not days:
        return datetime.now(UTC).strftime("%Y-%m-%d %H:%M") + " UTC (built)"
    return (f"{days[0]} UTC" if days[0] == days[-1] else f"{days[0]} to {days[-1]} UTC")


def provenance(source, results: Mapping | None = None) -> str:
    """One line of provenance (Markdown) that a results page opens with, right under its title:
    data set, profile, folds, seed, device, arithmetic and time (book: Results on real images).

    ``source`` is the page's :class:`dissim.pipeline.runner.Run` (a live page; ``results``,
    the members it shows, give the device and the time they were computed, else this machine
    and now), a snapshot's provenance (:meth:`dissim.pipeline.snapshots.Snapshot.provenance`,
    a snapshot page, with ``results`` its members for the seed), or None (a page with no
    data: the machine and now).
    """
    if isinstance(source, Mapping):  # a snapshot
        name = str(source.get("snapshot", ""))
        data = name.rsplit("-", 1)[0] if source.get("dataset") == "folder" and name \
            else source.get("dataset")
        folds = source.get("folds") or []
        devices = ", ".join(source.get("devices") or []) or "unknown"
        settings = source.get("profile_settings") or {}
        seed_set = sorted({str(getattr(m, "seed", "")) for m in (results or {})} - {""})
        seeds = f"seed {', '.join(seed_set)} · " if seed_set else ""
        line = (f"data set `{data}` · profile `{source.get('profile')}` · "
                f"{len(folds)} fold{'s' if len(folds) != 1 else ''} · {seeds}"
                f"device {devices} · {_arithmetic(settings)} · "
                f"{_when([source.get('first'), source.get('last')])} · snapshot `{name}`")
        return f"**Provenance:** {line}"
    env = environment()
    here = f"cuda ({env['cuda']})" if env.get("cuda") else "cpu"
    if source is None:
        return (f"**Provenance:** no data set · device {here} · float32 · "
                f"{_when([])} · dissim {env['dissim']}")
    metas = [r.meta for r in (results or {}).values()]
    devices = sorted({str(m.get("train", {}).get("device")) for m in metas
                      if m.get("train", {}).get("device")}) or [here]
    settings = next((m.get("profile_settings") for m in metas if m.get("profile_settings")),
                    None) or {"amp": source.prof.amp, "tf32": source.prof.tf32,
                              "channels_last": source.prof.channels_last}
    folds = len(source.folds())
    return (f"**Provenance:** data set `{source.dataset}` · profile `{source.profile}` · "
            f"{folds} fold{'s' if folds != 1 else ''} · seed {source.seed} · "
            f"device {', '.join(devices)} · {_arithmetic(settings)} · "
            f"{_when([m.get('created') for m in metas])}")
