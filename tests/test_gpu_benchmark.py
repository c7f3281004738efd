"""benchmarks/gpu.py without a GPU: its CPU smoke mode, its budget, its grid arithmetic, and the
book's view of its results (a smoke run is never shown as a GPU measurement)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from dissim.report import benchmark
from dissim.report import views as report

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.py"


@pytest.fixture(scope="module")
def gpu():
    spec = importlib.util.spec_from_file_location("gpu_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.mark.slow
def test_cpu_smoke_writes_results_md_and_json(gpu, tmp_path):
    assert gpu.main(["--cpu-smoke", "--out", str(tmp_path), "--topologies", "1,8"]) == 0
    md = (tmp_path / "RESULTS.md").read_text()
    assert md.startswith("# benchmarks/gpu.py: CPU smoke run (NOT a GPU measurement)")
    for part in ("- commit: ", "| topology | precision | iterations | dissim img/s | bare img/s",
                 "## Topology 1 on a real data set", "s per 1000 iterations",
                 "| topology | k = 1 | k = 2 | k = 4 |", "Table 2's full grid (960 networks"):
        assert part in md
    r = json.loads((tmp_path / "RESULTS.json").read_text())
    assert r["kind"] == "cpu-smoke" and r["gpu"] is None
    assert {(x["topology"], x["precision"]) for x in r["table"]} == {
        (t, p) for t in (1, 8) for p in gpu.PRECISIONS}
    for x in r["table"]:
        assert "error" not in x, x
        assert x["size"] == {1: 73, 8: 41}[x["topology"]]  # each topology's minimum side
        assert x["dissim_img_s"] > 0 and x["bare_img_s"] > 0 and x["tflop_per_iteration"] > 0
        assert "peak_gib" not in x and x["estimate_gib"] > 0  # no CUDA: no measured peak
    assert r["probe"]["peak_gib"] is None
    assert r["folder"]["root"] == "embedded textures" and r["folder"]["seconds_per_1000"] > 0
    assert {(g["topology"], g["concurrent"]) for g in r["grid"] if "img_s" in g} == {
        (t, k) for t in (1, 8) for k in (1, 2, 4)}
    assert benchmark.load_gpu_results(tmp_path / "RESULTS.json") is None  # not a GPU run
    view = report.gpu_results_frame(r)
    assert len(view) == 6 and list(view.columns)[:3] == ["dissim img/s", "bare img/s", "ratio"]


def test_budget_skips_every_case_and_still_writes(gpu, tmp_path):
    assert gpu.main(["--cpu-smoke", "--out", str(tmp_path), "--budget", "0",
                     "--topologies", "3"]) == 0
    r = json.loads((tmp_path / "RESULTS.json").read_text())
    assert r["table"] == [] and len(r["notes"]) == 3
    assert all(n.startswith("time budget: table case topology 3") for n in r["notes"])
    assert r["folder"] == {"error": "time budget spent"}
    assert [g.get("skipped") for g in r["grid"]] == ["time budget"] * 3
    assert "not run: time budget spent" in (tmp_path / "RESULTS.md").read_text()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_full_run_needs_cuda(gpu, tmp_path, capsys):
    assert gpu.main(["--out", str(tmp_path)]) == 2
    assert "no CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "RESULTS.md").exists()


def test_table2_hours_from_grid_rates(gpu):
    # 120 networks x 3000 iterations x 360 images per topology = 129.6e6 images
    grid = [{"topology": t, "concurrent": 1, "img_s": 36_000.0} for t in range(1, 9)]
    grid += [{"topology": t, "concurrent": 2, "img_s": 72_000.0} for t in range(1, 8)]
    grid += [{"topology": 8, "concurrent": 2, "skipped": "does not fit"}]
    hours = gpu.table2_hours(grid)["hours"]
    assert hours["1"] == pytest.approx(8.0)  # one hour per topology
    assert hours["2"] == pytest.approx(7 * 0.5 + 1.0)  # topology 8 falls back to one at a time
    assert hours["best"] == pytest.approx(4.5)


def test_book_view_says_no_gpu_measurement_yet(tmp_path):
    assert benchmark.load_gpu_results(tmp_path / "missing.json") is None
    assert report.gpu_results_note(None).startswith("No GPU measurement yet")
    assert report.gpu_results_view(None) is None
    row = {"topology": 1, "precision": "bf16+tf32+nhwc", "dissim_img_s": 4000.0,
           "bare_img_s": 4400.0, "ratio": 0.91, "dissim_tflop_s": 55.0, "peak_gib": 9.9,
           "estimate_gib": 10.3, "estimate_error": 0.04}
    results = {"kind": "gpu", "gpu": "NVIDIA H200", "torch": "2.11", "date": "2026-12-01 10:00",
               "commit": "0123456789abcdef", "table": [row],
               "table2": {"networks": 960, "iterations": 3000,
                          "hours": {"1": 52.0, "2": 30.0, "4": float("nan"), "best": 30.0}},
               "folder": {"root": "embedded textures", "size": 224, "pairs": 180,
                          "seconds_per_1000": 80.0}}
    path = tmp_path / "RESULTS.json"
    path.write_text(json.dumps(results))
    loaded = benchmark.load_gpu_results(path)
    note = report.gpu_results_note(loaded)
    assert "NVIDIA H200" in note and "52.0 h with 1 network at once, 30.0 h with 2" in note
    assert "4 networks" not in note and "80 s per 1000 iterations" in note
    assert report.gpu_results_frame(loaded).loc[(1, "bf16+tf32+nhwc"), "estimate error"] == "+4 %"
