"""The book's views: one-line 'mean ± sd' cells and per-fold points beside Tables 1-3."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib
import numpy as np
import pandas as pd

from dissim.report import views as report

matplotlib.use("Agg")


def test_mean_and_sd_cannot_break_across_lines():
    cell = report._fmt(71.0213, 1.5789)
    assert cell == "71.02\u00a0±\u00a01.58"
    assert " " not in cell  # no ordinary space for a browser to break at


@dataclass(frozen=True)
class _M:
    fold: int
    method: str


def _table(results: dict) -> pd.DataFrame:
    """A stand-in for tables.table1: mean/std over folds of per-member accuracies."""
    rows = []
    for method in ("Cross", "Triplet"):
        accs = np.array([v for m, v in results.items() if m.method == method])
        for builder in ("F", "D", "F+D"):
            rows.append({"method": method, "builder": builder, "mean": accs.mean(),
                         "std": accs.std(), "folds": len(accs)})
    return pd.DataFrame(rows)


def test_fold_points_are_the_table_of_each_fold():
    results = {_M(f, m): 50.0 + 10 * f + (m == "Triplet") for f in range(3)
               for m in ("Cross", "Triplet")}
    points = report.fold_points(_table, results)
    assert len(points) == 3 * 6 and set(points["fold"]) == {0, 1, 2}
    cross_f = points[(points["method"] == "Cross") & (points["builder"] == "F")]
    assert cross_f.sort_values("fold")["accuracy"].tolist() == [50.0, 60.0, 70.0]
    # the points average to the table's mean
    table = _table(results)
    assert np.isclose(cross_f["accuracy"].mean(), table.loc[0, "mean"])


def test_table1_figure_shows_one_dot_per_fold():
    results = {_M(f, m): 50.0 + 10 * f for f in range(3) for m in ("Cross", "Triplet")}
    table = _table(results)
    table = pd.concat([table, table.assign(method="CrossDD"),
                       table.assign(method="Triplet+Cross"),
                       table.assign(method="Triplet+Cross+CrossDD")]).drop_duplicates(
        ["method", "builder"])
    points = report.fold_points(_table, results)
    fig = report.plot_table1(table, points)
    dots = sum(len(c.get_offsets()) for c in fig.axes[0].collections
               if c.__class__.__name__ == "PathCollection")
    assert dots == len(points[points["method"].isin(["Cross", "Triplet"])])
    assert report.plot_table1(table).axes[0].collections  # without points: bars only
