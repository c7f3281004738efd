"""Table cells are average-rule fusions of stored members; checked against hand computations."""

from __future__ import annotations

import numpy as np
import pytest

from dissim.fusion import zscore
from dissim.pipeline.cnn import CNNMember
from dissim.pipeline.experiment import Member
from dissim.pipeline.store import Result
from dissim.report import views as report
from dissim.report.tables import fused_accuracy, table1, table2, table3

Y = np.array([0, 1, 2, 2])
IDX = np.array([10, 11, 12, 13])


def _result(scores, y=Y, idx=IDX):
    return Result("k", np.asarray(scores, float), y, idx, {})


def _grid(topologies=(1,), folds=(0, 1), seed=0):
    """Members with random scores; fold 1 is a permuted copy so folds differ."""
    rng = np.random.default_rng(seed)
    out = {}
    for fold in folds:
        for t in topologies:
            for loss, opt in (("cross", "adam"), ("cross", "decaydgrad"), ("triplet", "adam")):
                for space in ("fully", "deeper"):
                    for k in (2, 3):
                        m = Member("toy", fold=fold, topology=t, loss=loss, optimizer=opt,
                                   space=space, k=k, profile="smoke")
                        out[m] = _result(rng.normal(size=(4, 3)))
    return out


def test_fused_accuracy_is_the_mean_of_selected_scores():
    results = _grid()
    keep = lambda m: m.method == "cross" and m.space == "fully"  # noqa: E731
    accs = fused_accuracy(results, keep)
    for fold in (0, 1):
        mats = [r.scores for m, r in results.items() if keep(m) and m.fold == fold]
        assert len(mats) == 2  # k = 2 and 3
        want = np.mean(np.argmax((mats[0] + mats[1]) / 2, axis=1) == Y)
        assert accs[fold] == want


def test_members_of_a_fold_must_share_test_images():
    m1 = Member("toy", fold=0, k=2)
    m2 = Member("toy", fold=0, k=3)
    results = {m1: _result(np.eye(4, 3)), m2: _result(np.eye(4, 3), idx=IDX + 1)}
    with pytest.raises(ValueError, match="different test images"):
        fused_accuracy(results, lambda m: True)


def test_table1_cells_and_view():
    results = _grid()
    df = table1(results)
    assert len(df) == 5 * 3 and set(df["builder"]) == {"F", "D", "F+D"}
    cell = df[(df.method == "Triplet+Cross") & (df.builder == "F+D")].iloc[0]
    accs = fused_accuracy(results, lambda m: m.method in ("triplet", "cross"))
    assert cell["mean"] == pytest.approx(100 * accs.mean())
    assert cell["std"] == pytest.approx(100 * accs.std())
    view = report.table1_frame(df)
    assert view.shape == (3, 5) and "±" in view.iloc[0, 0]


def test_table2_fusions_and_published_columns():
    results = _grid(topologies=range(1, 5))
    df = table2(results, range(1, 5))
    assert list(df[df.row.str.startswith("Fusion")]["row"]) == ["Fusion 1-4"]
    view = report.table2_frame(df)
    assert view.loc["Topology 1", "published InfLar [P]"] == "86.94"
    assert view.loc["Fusion 1-4", "published Port [P]"] == "75.09"


def test_table3_zscore_sum_matches_hand_computation():
    results = _grid(topologies=range(1, 5), folds=(0,))
    rng = np.random.default_rng(3)
    cnn = {CNNMember("toy", 0, name): _result(rng.random(size=(4, 3)))
           for name in ("a", "b")}
    df = table3(results, cnn, range(1, 5)).set_index("row")
    ecnn = np.mean([r.scores for r in cnn.values()], axis=0)
    assert df.loc["eCNN", "mean"] == pytest.approx(100 * np.mean(ecnn.argmax(1) == Y))
    siamese = np.mean([r.scores for m, r in results.items()], axis=0)  # all = bottom config
    both = zscore(siamese) + zscore(ecnn)
    assert df.loc["Fusion 1-4 + eCNN", "mean"] == pytest.approx(
        100 * np.mean(both.argmax(1) == Y))
    view = report.table3_frame(df.reset_index())
    assert view.loc["[12]", "published InfLar [P]"] == "74.86"
    assert view.loc["[12]", "published Port [P]"] == "did not converge"
    assert view.loc["eCNN", "published InfLar [P]"] == "lost"


def test_ablation_view_keeps_option_values_apart():
    import pandas as pd

    df = pd.DataFrame([{"option": "svm_scaling", "value": v, "builder": b, "mean": 50.0,
                        "std": 1.0, "folds": 2}
                       for v in ("none", "minmax") for b in ("F", "D", "F+D")])
    view = report.ablation_frame(df)
    assert list(view.index) == ["none", "minmax"]
    assert view.loc["none", "F"] == "50.00\u00a0±\u00a01.00"


def test_a_partial_grid_says_which_methods_were_not_run():
    """A snapshot without CrossDD: no CrossDD column, the fusions that name it say it was not
    run and equal the same fusion without it; the views keep every column."""
    from dissim.report import claims
    from dissim.report.tables import configuration

    full = _grid(topologies=(1, 2))
    part = {m: r for m, r in full.items() if m.method != "crossdd"}
    t1 = table1(part, 1)
    methods = list(dict.fromkeys(t1["method"]))
    assert methods == ["Cross", "Triplet", "Triplet+Cross",
                       "Triplet+Cross+CrossDD (no CrossDD run)"]
    both = t1.set_index(["method", "builder"])["mean"]
    for b in ("F", "D", "F+D"):
        assert both[("Triplet+Cross+CrossDD (no CrossDD run)", b)] == both[("Triplet+Cross", b)]
    assert list(report.table1_frame(t1).columns) == methods
    t2 = table2(part, (1, 2))
    assert "Cross+Triplet+CrossDD F+D (no CrossDD run)" in set(t2["configuration"])
    assert "Cross+Triplet+CrossDD F+D" not in set(t2["configuration"])
    assert "Cross+Triplet+CrossDD F+D" in set(table2(full, (1, 2))["configuration"])
    c3 = claims.claims(part)[2].comparisons[0]
    assert "(no CrossDD run)" in c3.left and "(no CrossDD run)" in c3.right
    assert configuration("X", ("crossdd",), {"cross"}) is None
    assert configuration("X", ("cross",), {"cross"}) == "X"


def test_the_run_caption_never_promises_a_spread_from_one_fold():
    """Issue 32: one fold reads "1 fold", never a mean ± sd over folds."""
    from dissim.pipeline import runner

    one = runner.Run(dataset="textures", profile="quick").caption()
    two = runner.Run(dataset="textures", profile="smoke").caption()
    assert "1 fold;" in one and "±" not in one and "no spread" in one
    assert "2 folds;" in two and "mean ± standard deviation over folds" in two
