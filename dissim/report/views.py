"""Presentation for the book: tables beside the published numbers, and figures.

Notebooks hold no logic; they call these functions. Published numbers come only from
:mod:`dissim.paper` and are always labelled as published; our numbers come from the tables of
:mod:`dissim.report.tables`, computed in the run that built the page.
"""

from __future__ import annotations

from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dissim import paper
from dissim.report.tables import table3

NBSP = "\u00a0"


class Shown:
    """A table as the book's pages show it: no pandas row index, headers aligned left, the
    cells as they are; with ``wrap`` its first column and headers break lines so the table
    fits the text column (the class ``dissim-wrap`` of ``_static/dissim.css``; other tables
    keep one line per cell and scroll sideways). Displayed by Jupyter through
    :meth:`_repr_html_`."""

    def __init__(self, df: pd.DataFrame, wrap: bool = False) -> None:
        self.df, self.wrap = df, wrap

    def _repr_html_(self) -> str:
        classes = "dataframe dissim-wrap" if self.wrap else "dataframe"
        return self.df.to_html(index=False, border=0, classes=classes, na_rep="",
                               justify="left")

    def __repr__(self) -> str:
        return self.df.to_string(index=False)


def show(df: pd.DataFrame, wrap: bool = False) -> Shown:
    """``df`` for a page (book: Results on real images): a named index (a table's row labels,
    e.g. Table 2's rows) becomes the first columns, a plain 0, 1, 2 index is dropped, and the
    table is shown without a row index (:class:`Shown`)."""
    if any(name is not None for name in df.index.names):
        df = df.reset_index()
    df = df.copy()
    df.columns.name = None
    return Shown(df, wrap)


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


def _cells(df: pd.DataFrame) -> list[str]:
    """'mean ± sd' per row, marked '(c/n converged)' when a network behind it did not converge
    (the rerun rule's test, book: Training health); controls have no such mark."""
    out = []
    for _, r in df.iterrows():
        cell = _fmt(r["mean"], r["std"])
        n = r.get("networks")
        if n is not None and not pd.isna(n) and r["converged"] < n:
            cell += f"{NBSP}({int(r['converged'])}/{int(n)}{NBSP}converged)"
        out.append(cell)
    return out


def table1_view(df: pd.DataFrame) -> pd.DataFrame:
    """Table 1 laid out as in the paper: builders (F, D, F+D) x methods, 'mean ± std' (%),
    then the control columns when present."""
    cells = df.assign(cell=_cells(df))
    view = cells.pivot(index="builder", columns="method", values="cell")
    cols = list(dict.fromkeys(df["method"]))  # the table's order: methods, then controls
    return view.reindex(index=["F", "D", "F+D"], columns=cols)


def table2_view(df: pd.DataFrame) -> pd.DataFrame:
    """Table 2: rows = topologies and fusions, columns = the four configurations, plus the
    published InfLar and Port values (one unknown sub-row per topology; paper, Table 2)."""
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


def table3_view(df: pd.DataFrame) -> pd.DataFrame:
    """Table 3: our CNNs, eCNN, Siamese fusions and Fusion + eCNN beside the published rows
    (the paper's four CNNs are unknown, so our CNN rows have no published counterpart)."""
    view = pd.DataFrame(
        {"ours": _cells(df)},
        index=pd.Index(df["row"], name="row"),
    )
    previous = pd.DataFrame({"ours": ["not reproduced"] * 3},
                            index=pd.Index(["[12]", "[13]", "[14]"], name="row"))
    return _with_published(pd.concat([view, previous]), "Table 3")


def plot_table3(df: pd.DataFrame, folds: pd.DataFrame | None = None):
    """Horizontal bars: CNNs, eCNN, Siamese fusions and their fusion with eCNN; the dots are
    the per-fold accuracies (:func:`fold_points`)."""
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(df) + 1))
    colors = ["C2" if "eCNN" in r and "+" in r else "C1" if r.startswith("Fusion") else "C0"
              for r in df["row"]]
    y = np.arange(len(df))
    ax.barh(y, df["mean"], xerr=df["std"], color=colors, capsize=2, alpha=0.8)
    if folds is not None:
        for i, row in enumerate(df["row"]):
            vals = folds.loc[folds["row"] == row, "accuracy"]
            jitter = np.linspace(-0.12, 0.12, len(vals)) if len(vals) > 1 else np.zeros(1)
            ax.scatter(vals, i + jitter, s=9, color="black", zorder=3, linewidths=0)
    ax.set_yticks(y, df["row"])
    ax.invert_yaxis()
    ax.set_xlabel("accuracy (%)" + (", dots: folds" if folds is not None else ""))
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def table4_view(df: pd.DataFrame) -> pd.DataFrame:
    """Table 4: seconds per trained network, topologies as columns, losses as rows."""
    cells = df.assign(cell=[f"{m:.1f}" for m in df["mean"]])
    return cells.pivot(index="loss", columns="topology", values="cell")


def plot_table2(df: pd.DataFrame, folds: pd.DataFrame | None = None):
    """Grouped bars: accuracy per topology for the four configurations, fusions at the end;
    the dots are the per-fold accuracies (:func:`fold_points`)."""
    rows = list(dict.fromkeys(df["row"]))
    configs = list(dict.fromkeys(df["configuration"]))
    fig, ax = plt.subplots(figsize=(10, 3.6))
    width = 0.8 / len(configs)
    for j, config in enumerate(configs):
        sub = df[df["configuration"] == config].set_index("row").reindex(rows)
        x = np.arange(len(rows)) + j * width
        ax.bar(x, sub["mean"], width, yerr=sub["std"], label=config, capsize=2, alpha=0.8)
        if folds is not None:
            for xi, row in zip(x, rows, strict=True):
                _points(ax, xi, folds.loc[(folds["row"] == row) &
                                          (folds["configuration"] == config), "accuracy"])
    ax.set_xticks(np.arange(len(rows)) + 0.4 - width / 2, rows, rotation=30, ha="right")
    ax.set_ylabel("accuracy (%)" + (", dots: folds" if folds is not None else ""))
    ax.legend(fontsize=8, ncols=2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_table1(df: pd.DataFrame, folds: pd.DataFrame | None = None):
    """Bars per method, one bar per builder (F, D, F+D), with the fold spread; the dots are
    the per-fold accuracies (:func:`fold_points`)."""
    methods = list(dict.fromkeys(df["method"]))
    fig, ax = plt.subplots(figsize=(9, 3.4))
    for j, builder in enumerate(["F", "D", "F+D"]):
        sub = df[df["builder"] == builder].set_index("method").reindex(methods)
        x = np.arange(len(methods)) + j * 0.27
        ax.bar(x, sub["mean"], 0.27, yerr=sub["std"], label=builder, capsize=2, alpha=0.8)
        if folds is not None:
            for xi, method in zip(x, methods, strict=True):
                _points(ax, xi, folds.loc[(folds["builder"] == builder) &
                                          (folds["method"] == method), "accuracy"])
    ax.set_xticks(np.arange(len(methods)) + 0.27, methods)
    ax.set_ylabel("accuracy (%)" + (", dots: folds" if folds is not None else ""))
    ax.legend(title="space")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_table4(df: pd.DataFrame):
    """Training seconds per topology and loss (log scale)."""
    fig, ax = plt.subplots(figsize=(7, 3))
    for j, (loss, sub) in enumerate(df.groupby("loss")):
        ax.bar(sub["topology"] + (j - 0.5) * 0.4, sub["mean"], 0.4, label=loss)
    ax.set_xlabel("topology")
    ax.set_ylabel("seconds per network")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_figure4(curves: dict):
    """Figure 4: the global decay d_t and the modulated step factor imp_t * d_t."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    axes[0].plot(curves["t"], curves["d"], color="C0")
    axes[0].set_title(r"global decay $d_t$")
    axes[1].plot(curves["t"], curves["imp_d"], color="C1", lw=0.4)
    axes[1].set_title(r"$imp_t \cdot d_t$")
    zoom = curves["t"] <= 60
    axes[2].plot(curves["t"][zoom], curves["imp_d"][zoom], "o-", color="C1", ms=2.5, lw=0.8)
    axes[2].set_title(r"$imp_t \cdot d_t$, first 60 iterations")
    for ax in axes:
        ax.set_xlabel("iteration t")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def ablation_view(df: pd.DataFrame) -> pd.DataFrame:
    """One ablation: rows = the option's values, columns = F / D / F+D, 'mean ± std' (%),
    marked when a network behind a cell did not converge."""
    cells = df.assign(cell=_cells(df))
    view = cells.pivot(index="value", columns="builder", values="cell")
    return view.reindex(index=list(dict.fromkeys(df["value"])), columns=["F", "D", "F+D"])


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


def plot_scaling(df: pd.DataFrame):
    """Seconds against each factor (images, prototypes, input size)."""
    factors = list(dict.fromkeys(df["factor"]))
    fig, axes = plt.subplots(1, len(factors), figsize=(4 * len(factors), 3.2))
    for ax, factor in zip(np.atleast_1d(axes), factors, strict=True):
        sub = df[df["factor"] == factor]
        ax.plot(sub["value"], sub["seconds"], "o-")
        ax.set_ylim(bottom=0)
        ax.set_xlabel(factor)
        ax.set_ylabel("seconds")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def performance_view(train: dict, fully: dict, dct: dict, hasc: dict) -> pd.DataFrame:
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


def gpu_results_view(results: dict | None) -> pd.DataFrame | None:
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


def training_health_view(df: pd.DataFrame) -> pd.DataFrame:
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


def plot_learning_curves(df: pd.DataFrame):
    """Loss curves per topology (one panel each), one line per method and fold: every iteration
    faint, a moving average bold; the dashed line is ln 2, the cross-entropy of a network that
    has learned nothing."""
    topologies = sorted(df["topology"].unique())
    cols = min(4, len(topologies))
    rows = int(np.ceil(len(topologies) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.5 * rows), squeeze=False,
                             sharey=False)
    colors = {"cross": "C0", "crossdd": "C1", "triplet": "C2"}
    for ax, t in zip(axes.flat, topologies, strict=False):
        for _, r in df[df["topology"] == t].iterrows():
            curve = np.asarray(r["loss_curve"], dtype=float)
            if curve.size == 0:
                continue
            step = max(1, r["iterations"] // max(1, len(curve)))
            x = np.arange(len(curve)) * step
            color = colors.get(r["method"], "C3")
            ax.plot(x, curve, color=color, lw=0.5, alpha=0.25)  # every iteration, faint
            w = max(1, min(10, len(curve) // 5))  # and a moving average over w iterations
            smooth = np.convolve(curve, np.ones(w) / w, mode="valid")
            ax.plot(x[w - 1:], smooth, color=color, lw=1.4,
                    label=r["method"] if r["fold"] == df["fold"].min() else None)
        ax.axhline(np.log(2), ls="--", lw=0.8, color="grey")
        ax.set_title(f"topology {t}", fontsize=9)
        ax.set_xlabel("iteration", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(topologies):]:
        ax.axis("off")
    axes.flat[0].set_ylabel("loss", fontsize=8)
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


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
           if str(prov["profile"]).split("+")[0] in ("smoke", "quick") else "")
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
    names = list(map(str, classes))
    more = f", … ({len(names) - shown} more)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def table3_or_note(results: dict, cnn_results: dict, topologies) -> pd.DataFrame:
    """Table 3's view (:func:`table3_view`) when there are eCNN members, else a one-cell table
    saying there are none."""
    if not cnn_results:
        return pd.DataFrame({"Table 3": ["no eCNN members in these results: Table 3 needs "
                                         "the fine-tuned CNNs"]})
    return table3_view(table3(results, cnn_results, topologies))
