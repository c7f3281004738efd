"""Presentation for the book: tables beside the published numbers, and figures.

Notebooks hold no logic; they call these functions. Published numbers come only from
:mod:`dissim.paper` and are always labelled as published; our numbers come from the tables of
:mod:`dissim.report.tables`, computed in the run that built the page.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dissim import paper
from dissim.report.tables import TABLE1_COLUMNS, TABLE2_ROWS


def _fmt(mean: float, std: float) -> str:
    return f"{mean:.2f} ± {std:.2f}"


def table1_view(df: pd.DataFrame) -> pd.DataFrame:
    """Table 1 laid out as in the paper: builders (F, D, F+D) x methods, 'mean ± std' (%)."""
    cells = df.assign(cell=[_fmt(m, s) for m, s in zip(df["mean"], df["std"], strict=True)])
    view = cells.pivot(index="builder", columns="method", values="cell")
    return view.reindex(index=["F", "D", "F+D"], columns=list(TABLE1_COLUMNS))


def table2_view(df: pd.DataFrame) -> pd.DataFrame:
    """Table 2: rows = topologies and fusions, columns = the four configurations, plus the
    published InfLar and Port values (one unknown sub-row per topology, Table 2)."""
    cells = df.assign(cell=[_fmt(m, s) for m, s in zip(df["mean"], df["std"], strict=True)])
    view = cells.pivot(index="row", columns="configuration", values="cell")
    order = list(dict.fromkeys(df["row"]))
    cols = [c for c in TABLE2_ROWS if c in view.columns]
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
        {"ours": [_fmt(m, s) for m, s in zip(df["mean"], df["std"], strict=True)]},
        index=pd.Index(df["row"], name="row"),
    )
    previous = pd.DataFrame({"ours": ["not reproduced"] * 3},
                            index=pd.Index(["[12]", "[13]", "[14]"], name="row"))
    return _with_published(pd.concat([view, previous]), "Table 3")


def plot_table3(df: pd.DataFrame):
    """Horizontal bars: CNNs, eCNN, Siamese fusions and their fusion with eCNN."""
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(df) + 1))
    colors = ["C2" if "eCNN" in r and "+" in r else "C1" if r.startswith("Fusion") else "C0"
              for r in df["row"]]
    ax.barh(df["row"], df["mean"], xerr=df["std"], color=colors, capsize=2)
    ax.invert_yaxis()
    ax.set_xlabel("accuracy (%)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def table4_view(df: pd.DataFrame) -> pd.DataFrame:
    """Table 4: seconds per trained network, topologies as columns, losses as rows."""
    cells = df.assign(cell=[f"{m:.1f}" for m in df["mean"]])
    return cells.pivot(index="loss", columns="topology", values="cell")


def plot_table2(df: pd.DataFrame):
    """Grouped bars: accuracy per topology for the four configurations, fusions at the end."""
    rows = list(dict.fromkeys(df["row"]))
    configs = list(dict.fromkeys(df["configuration"]))
    fig, ax = plt.subplots(figsize=(10, 3.6))
    width = 0.8 / len(configs)
    for j, config in enumerate(configs):
        sub = df[df["configuration"] == config].set_index("row").reindex(rows)
        x = np.arange(len(rows)) + j * width
        ax.bar(x, sub["mean"], width, yerr=sub["std"], label=config, capsize=2)
    ax.set_xticks(np.arange(len(rows)) + 0.4 - width / 2, rows, rotation=30, ha="right")
    ax.set_ylabel("accuracy (%)")
    ax.legend(fontsize=8, ncols=2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_table1(df: pd.DataFrame):
    """Bars per method, one bar per builder (F, D, F+D), with the fold spread."""
    methods = list(TABLE1_COLUMNS)
    fig, ax = plt.subplots(figsize=(9, 3.4))
    for j, builder in enumerate(["F", "D", "F+D"]):
        sub = df[df["builder"] == builder].set_index("method").reindex(methods)
        ax.bar(np.arange(len(methods)) + j * 0.27, sub["mean"], 0.27, yerr=sub["std"],
               label=builder, capsize=2)
    ax.set_xticks(np.arange(len(methods)) + 0.27, methods)
    ax.set_ylabel("accuracy (%)")
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
    """One ablation: rows = the option's values, columns = F / D / F+D, 'mean ± std' (%)."""
    cells = df.assign(cell=[_fmt(m, s) for m, s in zip(df["mean"], df["std"], strict=True)])
    view = cells.pivot(index="value", columns="builder", values="cell")
    return view.reindex(index=list(dict.fromkeys(df["value"])), columns=["F", "D", "F+D"])


def published_note(table: str) -> str:
    """Markdown: what survives of a published table, and the paper's qualitative claims."""
    lost = paper.lost_cells(table)
    lines = []
    if lost:
        lines.append(f"**Published values:** {lost} cells of the paper's {table} were lost in "
                     "the only available copy of the article (Section 4); none is shown or "
                     "guessed.")
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
