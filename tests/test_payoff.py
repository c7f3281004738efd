"""The payoff report (dissim.report.payoff) on hand-made rows, and the payoff benchmark's rows."""

from __future__ import annotations

import json

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


def test_table_and_figure_render(tmp_path):
    text = payoff.table(_rows())
    assert text.count("\n") == 1 + 8
    assert "| d | 6 | cross | batch | 0.001 | 58 | 200 | 6400 |" in text
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
