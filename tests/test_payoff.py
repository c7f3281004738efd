"""The payoff report (dissim.report.payoff) on hand-made rows, and the payoff benchmark's rows."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from dissim.report import payoff


def _rows():
    common = {"dataset": "d", "fold": 0, "k": 4, "pairs": 16, "lr": 1e-3, "seed": 0}
    rows = [{"kind": "pixels", "size": 58, "F": 0.5, "D": 0.7, "F+D": 0.70, **common}]
    curve = [(0, 0.60), (100, 0.65), (200, 0.72), (400, 0.80)]
    for sampler, shift in (("batch", 0.0), ("pairs", -0.15)):
        for it, acc in curve:
            rows.append({"kind": "network", "topology": 6, "method": "cross",
                         "sampler": sampler, "size": 58, "iterations": it, "images": 32 * it,
                         "train_seconds": 0.3 * it, "F": acc, "D": acc,
                         "F+D": acc + (shift if it else 0.0), **common})
    return rows


def test_frame_puts_each_networks_controls_beside_it():
    df = payoff.frame(_rows() + _rows()[:1])  # a pixel row repeated by a second file
    assert len(df) == 8
    df = payoff.frame(_rows())
    assert len(df) == 8
    assert set(df["untrained"]) == {0.60} and set(df["pixels"]) == {0.70}


def test_summary_finds_the_first_checkpoint_that_beats_both_controls():
    s = payoff.summary(_rows()).set_index("sampler")
    # batch: 0.65 (100) < pixels 0.70; 0.72 (200) beats 0.70 and 0.60 -> pays from 200
    assert s.loc["batch", "pays from"] == "200"
    assert s.loc["batch", "after s"] == "60"
    # pairs: 0.50, 0.57, 0.65: never above the pixels
    assert s.loc["pairs", "pays from"] == "never"
    assert s.loc["pairs", "best F+D"] == pytest.approx(65.0)
    assert s.loc["batch", "best at"] == "400/400"


def test_summary_best_at_is_the_first_checkpoint_of_the_best_mean():
    rows = _rows()
    for r in rows:  # the batch curve levels off: 0.72 at 200 and at 400
        if r.get("sampler") == "batch" and r["iterations"] == 400:
            r["F+D"] = 0.72
    s = payoff.summary(rows).set_index("sampler")
    assert s.loc["batch", "best at"] == "200/400"
    assert s.loc["batch", "best F+D"] == pytest.approx(72.0)


def test_table_and_figure_render(tmp_path):
    text = payoff.table(_rows())
    assert text.count("\n") == 1 + 8
    assert "| d | 0 | 6 | cross | batch | 0.001 | 58 | 200 | 6400 |" in text
    fig = payoff.figure(_rows())
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 4  # 2 curves, pixels, budget
    (tmp_path / "a.json").write_text(json.dumps(_rows()[:3]))
    assert len(payoff.load(payoff.committed(tmp_path))) == 3


def test_committed_payoff_rows_are_complete():
    """Every committed payoff file has, per network, the untrained checkpoint and its pixels."""
    for path in payoff.committed():
        rows = payoff.load([path])
        df = payoff.frame(rows)
        assert not df.empty, path
        assert df["untrained"].notna().all() and df["pixels"].notna().all(), path


def test_figure_names_every_series_on_a_log_axis_of_pairs_with_the_papers_budget():
    from dissim.report import figstyle

    fig = payoff.figure(_rows())
    (ax,) = fig.axes
    drawn = [ln.get_label() for ln in ax.lines if not ln.get_label().startswith("_")]
    (legend,) = fig.legends  # one legend, outside the axes
    assert [t.get_text() for t in legend.get_texts()] == drawn
    assert ax.get_legend() is None
    assert ax.get_xscale() == "log"
    budget = [ln for ln in ax.lines if "budget" in ln.get_label()]
    assert [ln.get_xdata()[0] for ln in budget] == [payoff.PAPER_PAIRS] == [3000 * 180]
    # x: pairs seen, images / 2 for the cross-entropy; the untrained point at the "0" tick
    batch = next(ln for ln in ax.lines if ln.get_label().startswith("t6 batch"))
    xs = list(batch.get_xdata())
    assert xs[1:] == [32 * it / 2 for it in (100, 200, 400)]
    zero = xs[0]
    assert ax.get_xlim()[0] < zero < xs[1]
    assert dict(zip(ax.get_xticks(), [t.get_text() for t in ax.get_xticklabels()],
                    strict=True))[zero] == "0"
    # the pixel line's label sits inside the axes
    fig.canvas.draw()
    (label,) = [t for t in ax.texts if t.get_text().startswith("pixels")]
    box, inside = label.get_window_extent(), ax.get_window_extent()
    assert inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 <= inside.y1
    assert figstyle.problems(fig) == []


def test_caption_says_which_networks_pay_from_what_budget_against_which_baseline():
    text = payoff.caption(_rows())
    # batch: 0.72 at 200 iterations beats pixels 0.70 and untrained 0.60; 6400 images / 2
    assert "On d, 1 of 2 networks pay: cross t6 batch (lr 0.001) from 3.2k pairs (72.0 %)" \
        in text
    assert "Never above both: cross t6 pairs (lr 0.001)" in text
    assert "The harder baseline there is the pixels (2 of 2 networks)" in text
    assert "6.4k pairs per network, is 1.2 % of the paper's 540k" in text


# Three folds of one network (d, t6, cross, batch, lr 1e-3, 58 px), values chosen by hand:
#   fold  pixels  untrained(0)  100   200   400    train s per iteration
#   0     0.70    0.60          0.72  0.74  0.80   0.3
#   1     0.76    0.50          0.70  0.78  0.86   0.5
#   2     0.64    0.55          0.62  0.70  -      0.4   (fold 2 stopped before 400)
# Means over the 3 folds: pixels 0.70, untrained 0.55, 100: 0.68 (0.62-0.72), 200: 0.74
# (0.70-0.78). 400 is reached by folds 0 and 1 only: left out of the line (their mean, 0.83,
# would be its best point). Fold 0 alone beats both of its controls from 100 (0.72 > 0.70,
# 0.60); the fold means only from 200 (0.68 < 0.70 at 100).
FOLDS = {0: (0.70, {0: 0.60, 100: 0.72, 200: 0.74, 400: 0.80}, 0.3),
         1: (0.76, {0: 0.50, 100: 0.70, 200: 0.78, 400: 0.86}, 0.5),
         2: (0.64, {0: 0.55, 100: 0.62, 200: 0.70}, 0.4)}


def _fold_rows(folds=FOLDS, topology=6, size=58, method="cross"):
    rows = []
    for fold, (pix, curve, per_it) in folds.items():
        common = {"dataset": "d", "fold": fold, "k": 4, "pairs": 16, "seed": 0}
        rows.append({"kind": "pixels", "size": size, "F": 0.0, "D": pix, "F+D": pix, **common})
        for it, acc in curve.items():
            rows.append({"kind": "network", "topology": topology, "method": method,
                         "sampler": "batch", "lr": 1e-3, "size": size, "iterations": it,
                         "images": 32 * it, "train_seconds": per_it * it, "F": acc,
                         "D": acc, "F+D": acc, **common})
    return rows


def test_split_sets_the_members_on_fewer_folds_apart():
    probe = _fold_rows({0: FOLDS[0]}, topology=1, size=73)
    main, probes = payoff.split(_fold_rows() + probe)
    assert {r["topology"] for r in main if r["kind"] == "network"} == {6}
    assert {r["topology"] for r in probes if r["kind"] == "network"} == {1}
    assert len([r for r in main if r["kind"] == "network"]) == 11
    assert len([r for r in probes if r["kind"] == "network"]) == 4
    assert [r for r in main if r["kind"] == "pixels"] == [r for r in probes
                                                          if r["kind"] == "pixels"]
    # a member's folds count at any checkpoint (fold 2 stopped before 400), and where every
    # member has as many folds there are no probes
    main, probes = payoff.split(_fold_rows())
    assert probes == [] and len(main) == len(_fold_rows())
    # the most folds are counted per data set: a one-fold set keeps its lines in the main figure
    other = [{**r, "dataset": "e"} for r in probe]
    main, probes = payoff.split(_fold_rows() + other)
    assert probes == [] and {r["dataset"] for r in main} == {"d", "e"}


def test_curves_average_the_folds_at_the_checkpoints_all_of_them_reached():
    c = payoff.curves(_fold_rows()).set_index("iterations")
    assert list(c.index) == [0, 100, 200]  # 400: folds 0 and 1 only
    assert set(c["folds"]) == {(0, 1, 2)} and set(c["n_folds"]) == {3}
    assert c["F+D"].tolist() == pytest.approx([0.55, 0.68, 0.74])
    assert c["F+D min"].tolist() == pytest.approx([0.50, 0.62, 0.70])
    assert c["F+D max"].tolist() == pytest.approx([0.60, 0.72, 0.78])
    assert c.loc[200, "F+D sd"] == pytest.approx(np.std([0.74, 0.78, 0.70], ddof=1))
    # the controls: over the same three folds, at every point
    assert c["untrained"].tolist() == pytest.approx([0.55] * 3)
    assert c["pixels"].tolist() == pytest.approx([0.70] * 3)
    assert c.loc[200, "train_seconds"] == pytest.approx((60 + 100 + 80) / 3)
    left = payoff.partial(_fold_rows())
    assert left["iterations"].tolist() == [400]
    assert left["folds"].tolist() == [(0, 1)] and left["member_folds"].tolist() == [(0, 1, 2)]


def test_summary_pays_from_the_first_checkpoint_whose_fold_mean_beats_both_mean_controls():
    (s,) = payoff.summary(_fold_rows()).to_dict("records")
    assert s["folds"] == 3
    assert s["untrained"] == pytest.approx(55.0) and s["pixels"] == pytest.approx(70.0)
    # fold 0 alone pays from 100; the means (0.68 < 0.70 at 100) from 200
    assert s["pays from"] == "200" and s["after s"] == "80"
    assert s["best F+D"] == pytest.approx(74.0)  # not 83: 400 is not on the line
    assert s["best at"] == "200/200"
    (one,) = payoff.summary(_fold_rows({0: FOLDS[0]})).to_dict("records")
    assert one["folds"] == 1 and one["pays from"] == "100"


def test_figure_draws_the_fold_mean_in_its_min_max_band_and_the_mean_pixels():
    from dissim.report import figstyle

    fig = payoff.figure(_fold_rows())
    (ax,) = fig.axes
    (line,) = [ln for ln in ax.lines if ln.get_label().startswith("t6 batch")]
    assert line.get_label() == "t6 batch, lr 1e-3 *"  # every line averages the same folds
    xs = list(line.get_xdata())
    assert xs[1:] == [32 * it / 2 for it in (100, 200)]
    assert list(line.get_ydata()) == pytest.approx([55.0, 68.0, 74.0])
    (band,) = ax.collections
    verts = band.get_paths()[0].vertices
    for x, lo, hi in zip(xs, (50, 62, 70), (60, 72, 78), strict=True):
        at = sorted({round(float(y), 6) for vx, y in verts if np.isclose(vx, x)})
        assert at == pytest.approx([lo, hi])
    (pixels,) = [ln for ln in ax.lines if ln.get_label().startswith("pixels")]
    assert pixels.get_label() == "pixels, 58 px"
    assert list(pixels.get_ydata()) == pytest.approx([70.0, 70.0])
    assert "band: lowest to highest fold" in fig.legends[0].get_title().get_text()
    assert figstyle.problems(fig) == []


def test_figure_and_caption_name_the_folds_where_lines_average_different_folds():
    from dissim.report import figstyle

    rows = _fold_rows() + _fold_rows({0: FOLDS[0]}, topology=1, size=73)
    fig = payoff.figure(rows)
    (ax,) = fig.axes
    labels = {ln.get_label() for ln in ax.lines}
    assert {"t6 batch, lr 1e-3 *, 3 folds", "t1 batch, lr 1e-3 *, 1 fold",
            "pixels, 58 px, 3 folds", "pixels, 73 px, 1 fold"} <= labels
    assert len(ax.collections) == 1  # a band for the 3-fold line only
    assert figstyle.problems(fig) == []
    text = payoff.caption(rows)
    assert ("The lines of d average 3 folds (folds 0-2) for 1 network and are 1 fold (fold 0) "
            "for 1 network") in text
    assert "cross t6 batch (lr 0.001, folds 0-2) from 3.2k pairs (74.0 %)" in text
    assert "cross t1 batch (lr 0.001, fold 0) from 1.6k pairs (72.0 %)" in text


def test_caption_says_how_many_folds_and_which_checkpoints_are_left_out():
    text = payoff.caption(_fold_rows())
    assert "On d, 1 of 1 networks pay: cross t6 batch (lr 0.001) from 3.2k pairs (74.0 %)" \
        in text
    assert "The lines of d average 3 folds (folds 0-2): each point is the mean over the folds" \
        in text
    assert ("Left out, as not reached by every fold of the network: d cross t6 batch "
            "(lr 0.001) at 400 iterations (folds 0, 1 only).") in text
    assert "one fold (fold 0), so there is no spread over folds" in payoff.caption(_rows())


def test_a_row_repeated_by_a_second_file_is_read_once():
    rows = _fold_rows()
    assert payoff.frame(rows + rows[:3]).equals(payoff.frame(rows))
    assert payoff.table(rows).count("\n") == 1 + 11


def test_committed_reads_the_folds_folder(tmp_path):
    (tmp_path / "folds").mkdir()
    for name in ("b.json", "a.json", "folds/d-fold2.json", "folds/d-fold1.json"):
        (tmp_path / name).write_text("[]")
    assert [p.relative_to(tmp_path).as_posix() for p in payoff.committed(tmp_path)] == \
        ["a.json", "b.json", "folds/d-fold1.json", "folds/d-fold2.json"]
    real = [p.relative_to(payoff.PAYOFF_DIR).as_posix() for p in payoff.committed()]
    assert "omniglot_greek.json" in real and "folds/omniglot_greek-fold1.json" in real
    assert real == sorted(r for r in real if "/" not in r) + sorted(r for r in real if "/" in r)


def _benchmark():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "payoff.py"
    spec = importlib.util.spec_from_file_location("payoff_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmarks_resume_key_separates_folds():
    key = _benchmark()._key
    row = _fold_rows()[1]
    assert key(row) != key({**row, "fold": 1})
    assert key({k: v for k, v in row.items() if k != "fold"}) == key(row)  # fold 0 by default
    # the committed fold-0 and fold-1 rows of topology 1 Cross on Omniglot no longer collide
    # (the key has no data set: a file holds one)
    files = [p for p in payoff.committed() if p.name.startswith("omniglot_greek")]
    fold0 = {key(r) for r in payoff.load([p for p in files if p.parent.name != "folds"])}
    fold1 = {key(r) for r in payoff.load([p for p in files if p.parent.name == "folds"])}
    assert fold1 and not fold0 & fold1
    assert {k[:1] + k[2:] for k in fold0} & {k[:1] + k[2:] for k in fold1}  # they did without


def _arith_rows(how_by_fold):
    rows = []
    for fold, how in how_by_fold.items():
        for row in _fold_rows({fold: FOLDS[fold]}):
            rows.append({**row, "arithmetic": how} if how and row["kind"] == "network" else row)
    return rows


def test_caption_names_the_folds_trained_in_bfloat16_and_only_then():
    assert payoff.arithmetic_text(_fold_rows()) == ""
    assert "bfloat16" not in payoff.caption(_fold_rows())
    text = payoff.caption(_arith_rows({0: None, 1: "bf16+nhwc", 2: "bf16+nhwc"}))
    assert ("Rows trained under bfloat16 autocast: bf16+nhwc on d folds 1, 2; the other rows "
            "in float32.") in text
    other = [{**r, "dataset": "e"} for r in _arith_rows({0: "bf16+nhwc"})]
    assert "bf16+nhwc on d folds 1, 2, e fold 0; the other rows in float32." in payoff.caption(
        _arith_rows({0: None, 1: "bf16+nhwc", 2: "bf16+nhwc"}) + other)
    every = payoff.arithmetic_text(_arith_rows({0: "bf16", 1: "bf16+nhwc", 2: "bf16+nhwc"}))
    assert every.startswith("Rows trained under bfloat16 autocast: bf16 on d fold 0; bf16+nhwc "
                            "on d folds 1, 2. On Omniglot")


def test_the_benchmark_records_its_arithmetic_and_resumes_across_it(tmp_path, capsys):
    from bad_input import make_tree

    from dissim.train import native_bf16

    bench = _benchmark()
    root = make_tree(tmp_path / "imgs", per_class=10, side=20)
    out = tmp_path / "rows.json"
    args = ["--root", str(root), "--topologies", "6", "--methods", "triplet", "--samplers",
            "batch", "--checkpoints", "0,2", "--k", "1", "--pairs", "6", "--threads", "1",
            "--json", str(out)]
    assert bench.main([*args, "--amp", "bf16"]) == 0
    rows = json.loads(out.read_text())
    net = [r for r in rows if r["kind"] == "network"]
    assert [r["iterations"] for r in net] == [0, 2]
    assert {r["arithmetic"] for r in net} == {"bf16"}
    assert all(0 <= r["F+D"] <= 1 for r in net)
    # the arithmetic is not in the resume key: float32 finds the rows done and adds none
    assert bench.main([*args, "--amp", "none"]) == 0
    assert json.loads(out.read_text()) == rows
    auto = tmp_path / "auto.json"
    assert bench.main([*args[:-1], str(auto), "--amp", "auto"]) == 0
    how = {r["arithmetic"] for r in json.loads(auto.read_text()) if r["kind"] == "network"}
    assert how == {"bf16+nhwc" if native_bf16("cpu") else "float32"}
    assert bench.arithmetic(None, False) == "float32"


def test_the_benchmark_reads_a_registered_data_set_with_its_own_loader(tmp_path):
    """``--dataset``: the rows are on the data set's own images and folds (here the embedded
    textures, which ignore ``--root``), the same fold the snapshot of that data set scores."""
    from dissim.data import load
    from dissim.data.protocols import folds

    out = tmp_path / "rows.json"
    assert _benchmark().main(["--root", "textures", "--dataset", "textures", "--topologies", "6",
                              "--methods", "triplet", "--samplers", "batch", "--checkpoints",
                              "0,1", "--k", "1", "--pairs", "6", "--max-per-class", "6",
                              "--fold", "1", "--threads", "1", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert {r["fold"] for r in rows} == {1} and {r["kind"] for r in rows} == {"pixels", "network"}
    ds = load("textures", max_per_class=6, progress=False)
    n_test = len(folds(ds, seed=0)[1][1])
    # every accuracy is a whole number of the fold's test images
    for r in rows:
        assert r["F+D"] * n_test == pytest.approx(round(r["F+D"] * n_test))
