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
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 3  # two curves + pixels
    (tmp_path / "a.json").write_text(json.dumps(_rows()[:3]))
    assert len(payoff.load(payoff.committed(tmp_path))) == 3


def test_committed_payoff_rows_are_complete():
    """Every committed payoff file has, per network, the untrained checkpoint and its pixels."""
    for path in payoff.committed():
        rows = payoff.load([path])
        df = payoff.frame(rows)
        assert not df.empty, path
        assert df["untrained"].notna().all() and df["pixels"].notna().all(), path
