"""The compute cost of a grid (dissim.report.cost) against hand computations on the committed
smoke snapshot (results_snapshots/textures-smoke: 6 trained networks of topology 1, 4
iterations of 4 pairs at 73 px, 2 untrained and 2 pixel controls, 2 fine-tuned CNNs)."""

from __future__ import annotations

import copy
import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from dissim.pipeline import snapshots
from dissim.report import cost

SMOKE = Path(__file__).resolve().parents[1] / snapshots.SNAPSHOT_DIR / "textures-smoke"
NO_GPU = Path("/nonexistent/RESULTS.json")


@pytest.fixture(scope="module")
def snap() -> snapshots.Snapshot:
    return snapshots.load(SMOKE)


def _units(snap):
    """{(fold, input, topology, loss, optimizer, encoder): [meta]} by hand (smoke trains one
    network for every k and space)."""
    units: dict[tuple, list[dict]] = {}
    for r in snap.results.values():
        m = r.meta["member"]
        key = (m["fold"], m["input"], m["topology"], m["loss"], m["optimizer"],
               m.get("encoder", "trained"))
        units.setdefault(key, []).append(r.meta)
    return units


def test_core_seconds_are_the_units_seconds_counted_once(snap):
    units = _units(snap)
    assert len(units) == 10 and all(len(v) == 4 for v in units.values())
    train = {"cross": 0.0, "crossdd": 0.0, "triplet": 0.0}
    whole = 0.0
    for key, metas in units.items():
        whole += max(m["timings"]["unit_seconds"] for m in metas)
        if key[-1] == "trained":
            train[metas[0]["method"]] += metas[0]["timings"]["train_total_seconds"]
    cnn = sum(r.meta["timings"]["train_seconds"] for r in snap.cnn_results.values())
    g = cost.grid_cost(snap).set_index("part")
    for method, seconds in train.items():
        assert g.loc[f"training: {method}", "core_seconds"] == pytest.approx(seconds)
        assert g.loc[f"training: {method}", "networks"] == 2
        assert g.loc[f"training: {method}", "pairs_min"] == 4 * 4  # 4 iterations x 4 pairs
    assert g["core_seconds"].sum() == pytest.approx(whole + cnn)
    assert g.loc["fine-tuned CNNs", "core_seconds"] == pytest.approx(cnn)
    assert g["core_hours"].sum() == pytest.approx((whole + cnn) / 3600)
    assert g.loc["evaluation of the trained networks", "networks"] == 6
    assert g.loc["training: triplet", "images"] == 2 * 4 * 3 * 4  # 3 images per triplet
    assert (g["untimed"] == 0).all() and (g["threads"] == 1).all()
    assert "frozen CNN references" not in g.index  # the smoke grid has none
    assert g.loc["training: cross", "threads_source"] == "not recorded: 1 assumed"


def test_threads_from_the_description_multiply_the_seconds(snap):
    two = replace(snap, description="computed with `dissim grid ... --threads 2` on 2 cores")
    assert cost.threads_of(two) == (2, "the snapshot description: --threads 2")
    a, b = cost.grid_cost(snap), cost.grid_cost(two)
    assert b["core_seconds"].sum() == pytest.approx(2 * a["core_seconds"].sum())
    assert (b["seconds"] == a["seconds"]).all()


def test_a_member_without_timings_is_counted_not_invented(snap):
    cut = copy.copy(snap)
    cut.cnn_results = dict(snap.cnn_results)
    member, result = next(iter(cut.cnn_results.items()))
    cut.cnn_results[member] = replace(result, meta={k: v for k, v in result.meta.items()
                                                    if k != "timings"})
    g = cost.grid_cost(cut).set_index("part")
    full = cost.grid_cost(snap).set_index("part")
    row = g.loc["fine-tuned CNNs"]
    assert row["untimed"] == 1 and "1 member without timings" in row["note"]
    assert row["seconds"] == pytest.approx(full.loc["fine-tuned CNNs", "seconds"]
                                           - result.meta["timings"]["train_seconds"])


def test_large_is_four_times_the_training_plus_the_evaluation_as_measured(snap):
    g = cost.grid_cost(snap)
    p = cost.projection(snap, "large", gpu=NO_GPU)
    training = g.loc[g["training"], "core_hours"].sum()
    rest = g.loc[~g["training"], "core_hours"].sum()
    assert p["core_hours"].sum() == pytest.approx(4 * training + rest)
    assert p.loc[p["training"], "factor"].tolist() == pytest.approx([4.0] * 3)
    assert (p.loc[~p["training"], "factor"] == 1.0).all()


def test_paper_scales_training_by_the_pairs_and_the_pixels(snap):
    pairs_ratio = 3000 * 180 / (4 * 4)  # 540,000 pairs against the smoke's 16
    pixel_ratio = 224**2 / 73**2  # topology 1 trained at its minimum side, 73 px
    g = cost.grid_cost(snap).set_index("part")
    p = cost.projection(snap, "paper", gpu=NO_GPU).set_index("part")
    for method in ("cross", "crossdd", "triplet"):
        row = p.loc[f"training: {method}"]
        assert row["pairs_ratio_min"] == row["pairs_ratio_max"] == pytest.approx(pairs_ratio)
        assert row["pixel_ratio_min"] == pytest.approx(pixel_ratio)
        assert row["core_hours"] == pytest.approx(
            g.loc[f"training: {method}", "core_hours"] * pairs_ratio * pixel_ratio)
    for part in ("evaluation of the trained networks", "control: untrained networks",
                 "control: pixels", "fine-tuned CNNs"):
        assert p.loc[part, "core_hours"] == g.loc[part, "core_hours"]
    assert cost.PAPER_PAIRS == 540_000


def test_without_gpu_figures_the_gpu_column_says_not_measured(snap, tmp_path):
    smoke_run = tmp_path / "RESULTS.json"  # a --cpu-smoke run measures nothing
    smoke_run.write_text(json.dumps({"kind": "cpu-smoke", "table": [
        {"topology": 1, "precision": "fp32", "size": 224, "dissim_img_s": 9.0}]}))
    for path in (NO_GPU, smoke_run):
        assert cost.gpu_speeds(path) == ({}, "not measured")
        for budget in cost.BUDGETS:
            p = cost.projection(snap, budget, gpu=path)
            assert p["gpu_hours"].isna().all()
            assert set(p["gpu_note"]) == {"not measured"}
    s = cost.summary([snap], gpu=NO_GPU)
    assert s["gpu_hours"].isna().all() and set(s["gpu_note"]) == {"not measured"}
    assert "not measured" in cost.table(s).as_raw_html()


def test_gpu_hours_of_the_paper_budget_from_the_measured_speeds(snap, tmp_path):
    path = tmp_path / "RESULTS.json"
    rows = [{"topology": 1, "precision": "fp32", "size": 224, "dissim_img_s": 1000.0},
            {"topology": 1, "precision": "bf16+tf32+nhwc", "size": 224, "dissim_img_s": 4e3}]
    path.write_text(json.dumps({"kind": "gpu", "gpu": "H100", "date": "2026-01-01",
                                "table": rows}))
    p = cost.projection(snap, "paper", gpu=path).set_index("part")
    # two networks each: 3000 iterations x 180 pairs x 2 images (3 per triplet) at 1000 img/s
    assert p.loc["training: cross", "gpu_hours"] == pytest.approx(2 * 3000 * 360 / 1000 / 3600)
    assert p.loc["training: triplet", "gpu_hours"] == pytest.approx(
        2 * 3000 * 540 / 1000 / 3600)
    assert math.isnan(p.loc["control: pixels", "gpu_hours"])
    fast = cost.projection(snap, "paper", gpu=path, precision="bf16+tf32+nhwc")
    assert fast["gpu_hours"].sum() == pytest.approx(p["gpu_hours"].sum() / 4)
    large = cost.projection(snap, "large", gpu=path)
    assert large["gpu_hours"].isna().all()
    assert "224 px" in large.loc[large["training"], "gpu_note"].iloc[0]
    other = tmp_path / "other.json"  # a topology the snapshot trained is missing
    other.write_text(json.dumps({"kind": "gpu", "table": [dict(rows[0], topology=2)]}))
    q = cost.projection(snap, "paper", gpu=other)
    assert q["gpu_hours"].isna().all()
    assert "not measured for topology 1" in set(q["gpu_note"])
    s = cost.summary([snap], gpu=path).set_index("budget")
    assert s.loc["paper", "gpu_hours"] == pytest.approx(p["gpu_hours"].sum())


def test_summary_table_and_caption(snap):
    s = cost.summary([snap], gpu=NO_GPU)
    assert list(s["budget"]) == ["own", "large", "paper"]
    g = cost.grid_cost(snap)
    own = s.set_index("budget").loc["own"]
    assert own["total"] == pytest.approx(g["core_hours"].sum())
    assert own["pairs_min"] == 16 and s.set_index("budget").loc["paper", "pairs_max"] == 540_000
    html = cost.table(s).as_raw_html()
    assert "textures-smoke" in html and "CPU core-hours" in html
    text = str(cost.caption(s))
    assert "textures-smoke" in text and "core-years" in text and text.count(".") >= 1
    with pytest.raises(ValueError, match="budget"):
        cost.projection(snap, "huge")


def test_a_large_snapshot_is_priced_at_large_as_measured(snap):
    """A snapshot computed at ``large`` (here the smoke one relabelled ``large+bf16+nhwc``) is
    not projected to four times its own iterations: its large budget is its own, and the paper
    budget is scaled from the pairs it saw."""
    from dataclasses import replace

    as_large = {replace(m, profile=m.profile.with_(name="large+bf16+nhwc")): r
                for m, r in snap.results.items()}
    large = replace(snap, profile="large+bf16+nhwc", results=as_large)
    p = cost.projection(large, "large", gpu=NO_GPU)
    assert p.loc[p["training"], "factor"].tolist() == pytest.approx([1.0] * 3)
    assert set(p.loc[p["training"], "note"]) == {"as measured (its own budget)"}
    assert p["core_hours"].sum() == pytest.approx(cost.projection(snap, "own",
                                                                  gpu=NO_GPU)["core_hours"].sum())
    paper = cost.projection(large, "paper", gpu=NO_GPU)
    assert paper["core_hours"].sum() == pytest.approx(
        cost.projection(snap, "paper", gpu=NO_GPU)["core_hours"].sum())
