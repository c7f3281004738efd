"""Every figure of the book at the text column's width, legible, with its legend outside the
data naming what is drawn, and a caption computed from the data (dissim.report.figstyle)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

from dissim import optim
from dissim.report import figstyle, findings, views

matplotlib.use("Agg")

ROWS = ["Topology 1", "Topology 2", "Topology 3", "Topology 4", "Topology 5", "Topology 6",
        "Topology 7", "Topology 8", "Fusion 1-4", "Fusion 1-6", "Fusion 1-8",
        "Control: pixels"]
CONFIGS = ["Cross F", "Triplet F", "Cross+Triplet F+D", "Cross+Triplet+CrossDD F+D",
           "Control: untrained Cross F+D"]


def _table2() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    rows, folds = [], []
    for i, row in enumerate(ROWS):
        for j, config in enumerate(CONFIGS):
            if (row.startswith("Control")) != (config.startswith("Control")) and (
                    row.startswith("Fusion") or row.startswith("Control")):
                continue
            vals = 60 + i + 2 * j + rng.normal(0, 2, 3)
            rows.append({"row": row, "configuration": config, "mean": vals.mean(),
                         "std": vals.std(), "folds": 3})
            folds += [{"row": row, "configuration": config, "fold": f, "accuracy": v}
                      for f, v in enumerate(vals)]
    return pd.DataFrame(rows), pd.DataFrame(folds)


def _health() -> pd.DataFrame:
    rows = []
    for t in range(1, 9):
        for method, start, end in (("cross", 0.693, 0.5), ("triplet", 1.0, 1.2 if t == 8
                                                                    else 0.1)):
            for fold in (0, 1):
                curve = np.linspace(start, end, 100)
                rows.append({"topology": t, "method": method, "fold": fold, "iterations": 100,
                             "loss_curve": curve, "first_loss": start, "final_loss": end})
    return pd.DataFrame(rows)


def _figures():
    t2, f2 = _table2()
    t1 = pd.DataFrame([{"method": m, "builder": b, "mean": 70.0 + k, "std": 1.0, "folds": 3}
                       for k, m in enumerate(["Cross", "CrossDD", "Triplet", "Triplet+Cross",
                                              "Triplet+Cross+CrossDD",
                                              "Control: untrained network",
                                              "Control: pixels"])
                       for b in ("F", "D", "F+D")])
    t3 = pd.DataFrame([{"row": r, "mean": 60.0 + k, "std": 2.0} for k, r in enumerate(
        ["efficientnet_lite0", "efficientnet_lite1", "eCNN", "Fusion 1-8",
         "Fusion 1-8 + eCNN", "Control: untrained network (Cross F+D, topologies 1-8)",
         "Control: pixels (F+D)"])])
    t4 = pd.DataFrame([{"loss": loss, "topology": t, "mean": 10.0 * t * (1 + (loss == "triplet")),
                        "std": 1.0, "count": 3} for loss in ("cross", "triplet")
                       for t in range(1, 9)])
    scaling = pd.DataFrame({"factor": ["images"] * 3 + ["prototypes"] * 3,
                            "value": [100, 200, 400, 10, 20, 40],
                            "seconds": [1.0, 2.0, 4.0, 0.5, 1.0, 2.0]})
    smoke = findings.summary_table([findings.REPO / "results_snapshots" / "textures-smoke"])
    return {
        "table1": views.plot_table1(t1), "table2": views.plot_table2(t2, f2),
        "table3": views.plot_table3(t3), "table4": views.plot_table4(t4),
        "figure4": views.plot_figure4(optim.decay_curves(total_steps=3000, period=10,
                                                         c=0.25)),
        "scaling": views.plot_scaling(scaling),
        "health": views.plot_learning_curves(_health()),
        "findings": findings.figure(pd.concat([smoke.assign(snapshot=f"s{i}-medium")
                                               for i in range(3)])),
    }


@pytest.fixture(scope="module")
def figures():
    return _figures()


def test_every_figure_fits_the_column_and_reads_at_9_points(figures):
    for name, fig in figures.items():
        w, _ = fig.get_size_inches()
        assert w * fig.dpi / 100 <= 6.9, name
        assert figstyle.problems(fig) == [], name
        sizes = [t.get_fontsize() for t in figstyle._texts(fig)]
        assert sizes and min(sizes) >= 9, name


def test_tick_overlap_check_sees_crowded_labels():
    """The check the figures pass is not vacuous: 40 long labels on a 6.8 in axis collide."""
    fig, ax = figstyle.new_figure(pyplot=False)
    ax.bar(range(40), np.ones(40))
    ax.set_xticks(range(40), [f"label number {i}" for i in range(40)])
    assert figstyle.tick_overlaps(fig)
    assert any("pt" in p for p in figstyle.problems(_small_text()))


def _small_text():
    fig, ax = figstyle.new_figure(pyplot=False)
    ax.set_title("t")
    ax.plot([1, 2])
    ax.text(0.5, 0.5, "tiny", fontsize=6)
    return fig


def test_table2_legend_is_outside_and_names_the_configurations_and_the_fold_dots(figures):
    fig = figures["table2"]
    (ax,) = fig.axes
    assert ax.get_legend() is None
    (legend,) = fig.legends
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == CONFIGS + ["one fold"]
    dot = legend.legend_handles[-1]
    assert dot.get_linestyle() == "None" and dot.get_marker() == "o"  # a dot, not a bar
    fig.canvas.draw()
    assert legend.get_window_extent().y1 <= ax.get_window_extent().y0  # below the axes


def test_learning_curves_share_axes_and_one_legend_names_the_methods(figures):
    fig = figures["health"]
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 8 and {ax.get_title() for ax in shown} == {
        f"topology {t}" for t in range(1, 9)}
    assert all(ax.get_shared_y_axes().joined(shown[0], ax) for ax in shown)
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["cross", "triplet",
                                                          "ln 2 (learned nothing)"]


def test_captions_say_what_the_crafted_data_show():
    text = views.learning_curves_caption(_health())
    assert "cross: the loss fell on every topology (1-8" in text
    assert "triplet: the loss fell on topologies 1-7, not on 8" in text
    t2, _ = _table2()
    best = t2[~t2["row"].str.startswith("Control") & ~t2["configuration"].str.startswith(
        "Control")].sort_values("mean").iloc[-1]
    cap = views.table2_caption(t2)
    assert cap.startswith("**What it shows:**")
    assert f"The best bar is {best['row']}, {best['configuration']}, at {best['mean']:.2f} %" \
        in cap
    t4 = pd.DataFrame([{"loss": loss, "topology": t, "mean": 10.0 * t * (1 + (loss == "triplet"))}
                       for loss in ("cross", "triplet") for t in (1, 2)])
    cap4 = views.table4_caption(t4)
    assert "Topology 2 is the slowest to train (30.0 s" in cap4
    assert "takes 2.0-2.0 times the cross-entropy's time" in cap4


def test_every_figure_of_a_notebook_is_drawn_not_only_the_first():
    """In a Jupyter kernel the first pyplot figure loads the inline backend, which turns
    interactive mode on; a styled plot must not restore it to off with its other rcParams,
    or the figures of every later cell are never shown (the payoff page lost its second)."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    plot = ("from dissim import optim\nfrom dissim.report import views\n"
            "fig = views.plot_figure4(optim.decay_curves(total_steps=300))")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(plot), nbformat.v4.new_code_cell(plot)]
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    drawn = [sum("image/png" in o.get("data", {}) for o in c.outputs) for c in nb.cells]
    assert drawn == [1, 1]
