"""Grids: local vs Dask bit for bit, kill -9 and resume, failure isolation, GPU switches on CPU.

One smoke grid serves every test: the embedded data set, topology 7 (the cheapest), Cross, both
spaces, the smoke k values and both smoke folds: 8 members, 2 networks. Every run uses one
torch/BLAS thread per network, so scores are bit-identical across processes and executors.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from dissim.cli import main
from dissim.cli.run import parse_ints, parse_names
from dissim.data import DEFAULT_DATASET
from dissim.errors import ConfigError
from dissim.pipeline.executors import DaskExecutor, UnitTask
from dissim.pipeline.experiment import Member, Options, compute_unit, member_key
from dissim.pipeline.runner import expand, group_units, run, with_switches
from dissim.pipeline.store import ResultsStore
from dissim.profiles import get as get_profile

REPO = Path(__file__).resolve().parents[1]
GRID = ["--profile", "smoke", "--topologies", "7", "--methods", "cross", "--folds", "0,1",
        "--threads", "1", "--no-progress"]


def _members(folds=(0, 1)) -> list[Member]:
    return expand(DEFAULT_DATASET, "smoke", topologies=[7], methods=["cross"], folds=folds)


def _scores(store: ResultsStore) -> dict[str, np.ndarray]:
    return {r.key: r.scores for r in store}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, np.ndarray]:
    """The uninterrupted local run: key -> scores."""
    store = ResultsStore(tmp_path_factory.mktemp("reference"))
    report = run(_members(), store, task=UnitTask(threads=1))
    assert report.returncode == 0 and report.stored == 8 and report.networks == 2
    return _scores(store)


def test_parse_and_expand():
    assert parse_ints("1-3,7,2", "topologies") == (1, 2, 3, 7)
    assert parse_names("Cross, triplet", ("cross", "crossdd", "triplet"), "methods") == (
        "cross", "triplet")
    with pytest.raises(ConfigError, match="--topologies: 'x' is not an integer"):
        parse_ints("1,x", "topologies")
    with pytest.raises(ConfigError, match="--methods: unknown 'adam'"):
        parse_names("adam", ("cross",), "methods")
    members = expand(DEFAULT_DATASET, "smoke", topologies=[6, 7], methods=["cross", "triplet"])
    assert len(members) == 2 * 2 * 2 * 2 * 2  # folds x topologies x methods x k x spaces
    assert len(group_units(members)) == 8
    assert {(m.loss, m.optimizer) for m in members} == {("cross", "adam"), ("triplet", "adam")}
    with pytest.raises(ConfigError, match="fold 5 does not exist.*choose from 0-1"):
        expand(DEFAULT_DATASET, "smoke", topologies=[7], folds=[5])
    with pytest.raises(ConfigError, match="topology 9 does not exist"):
        expand(DEFAULT_DATASET, "smoke", topologies=[9])


def test_cli_help_and_dry_run(tmp_path, capsys):
    assert main(["grid", "--help"]) == 0 and "--executor" in capsys.readouterr().out
    assert main(["grid", *GRID, "--results", str(tmp_path), "--dry-run"]) == 0
    assert "8 members, 0 in" in capsys.readouterr().out
    assert main(["grid", *GRID, "--results", str(tmp_path), "--methods", "sgd"]) == 2
    assert "dissim: error: argument --methods: unknown 'sgd'" in capsys.readouterr().err
    assert main(["grid", *GRID, "--results", str(tmp_path), "--workers", "2"]) == 2
    assert "--workers need --executor dask" in capsys.readouterr().err


def test_dask_gives_the_local_scores_and_isolates_a_failure(tmp_path, reference):
    """Two Dask workers on a LocalCluster: fold 0 (one network) and an impossible member."""
    store = ResultsStore(tmp_path)
    bad = Member(dataset=DEFAULT_DATASET, profile="smoke", topology=7, fold=5, k=2)
    out = io.StringIO()
    report = run([*_members(folds=[0]), bad], store, task=UnitTask(threads=1), stream=out,
                 executor=DaskExecutor(workers=2, progress=False, stream=out))
    assert report.returncode == 1 and report.stored == 4
    assert report.summary().endswith("1 of 2 networks failed; see above")
    assert "network failed: textures fold 5" in out.getvalue()
    assert "fold 5 does not exist" in out.getvalue()  # the worker's traceback
    got = _scores(store)
    assert len(got) == 4 and got.keys() <= reference.keys()
    for key, scores in got.items():
        np.testing.assert_array_equal(scores, reference[key])  # bit for bit


def test_resume_after_sigkill(tmp_path, reference):
    """kill -9 the CLI once the first entry is stored; rerun; nothing stored is recomputed."""
    folder = tmp_path / "results"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "dissim", "grid", *GRID, "--results", str(folder)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list(folder.glob("*/*.npz")):
            assert proc.poll() is None, "the grid ended before storing anything"
            assert time.monotonic() < deadline, "no entry stored within 120 s"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.glob("*/*.npz")}
    assert 1 <= len(before) < 8  # killed mid-run

    report = run(_members(), ResultsStore(folder), task=UnitTask(threads=1))
    assert report.returncode == 0
    assert report.reused == len(before) and report.stored == 8 - len(before)
    for path, (mtime, data) in before.items():
        assert (path.stat().st_mtime_ns, path.read_bytes()) == (mtime, data)
    got = _scores(ResultsStore(folder))
    assert got.keys() == reference.keys()
    for key, scores in reference.items():
        np.testing.assert_array_equal(got[key], scores)
    assert run(_members(), ResultsStore(folder)).networks == 0


def test_failed_unit_does_not_stop_the_others(tmp_path):
    def failing(unit, **kw):
        if unit.base.fold == 1:
            raise RuntimeError("simulated crash")
        return compute_unit(unit, **kw)

    out = io.StringIO()
    report = run(_members(), ResultsStore(tmp_path), task=UnitTask(threads=1, compute=failing),
                 stream=out)
    assert report.returncode == 1
    err = out.getvalue()
    assert "network failed: textures fold 1 orig topology 7 cross seed 0 [smoke]" in err
    assert "RuntimeError: simulated crash" in err
    assert report.summary().endswith("1 of 2 networks failed; see above")
    stored = [r.meta["member"] for r in ResultsStore(tmp_path)]
    assert len(stored) == 4 and {m["fold"] for m in stored} == {0}
    assert list((tmp_path / ".locks").iterdir()) == []  # every network's lock released


def test_grid_takes_the_network_lock(tmp_path):
    """A grid waits for a network another run holds, then reuses what that run stored."""
    from dissim.pipeline.experiment import network_lock_name

    store = ResultsStore(tmp_path)
    unit = group_units(_members(folds=[0]))[0]
    seen = []

    def spy(unit, **kw):
        seen.append(unit)
        return compute_unit(unit, **kw)

    with store.lock(network_lock_name(unit, Options(), None), timeout=1):
        with pytest.raises(Exception, match="is busy"):  # the grid blocks on the held lock
            import threading

            done = threading.Event()

            def grid():
                run(_members(folds=[0]), store, task=UnitTask(threads=1, compute=spy))
                done.set()

            t = threading.Thread(target=grid, daemon=True)
            t.start()
            assert not done.wait(2) and seen == []  # waiting, nothing trained
            with store.lock(network_lock_name(unit, Options(), None), timeout=0.1):
                pass
    t.join(120)
    assert done.is_set() and len(seen) == 1


def test_gpu_switches_off_keep_the_store_keys():
    prof = get_profile("smoke")
    assert not {"amp", "tf32", "channels_last"} & set(prof.to_dict())
    m = _members()[0]
    key = member_key(m, Options(), prof, "data")
    assert member_key(m, Options(), prof.with_(amp="bf16"), "data") != key


@pytest.mark.parametrize("amp, native, name", [
    ("float32", True, "smoke"), ("bf16", False, "smoke+bf16"),
    ("auto", True, "smoke+bf16+nhwc"), ("auto", False, "smoke")])
def test_grid_amp_speaks_the_grammar_of_fit_and_evaluate(amp, native, name, monkeypatch,
                                                         tmp_path):
    """``dissim grid --amp float32|bf16|auto``: auto follows the hardware probe as for fit, and
    the profile's name (part of every stored key) says what ran."""
    import dissim.cli.run as cli_run
    import dissim.train

    seen = []
    monkeypatch.setattr(dissim.train, "native_bf16", lambda device: native)
    monkeypatch.setattr(cli_run.runner, "expand",
                        lambda dataset, profile, **kw: seen.append(profile) or [])
    args = ["grid", "--profile", "smoke", "--amp", amp, "--device", "cpu", "--dry-run",
            "--results", str(tmp_path / "r")]
    assert main(args) == 0
    assert seen[0].name == name
    assert seen[0].amp == (None if name == "smoke" else "bf16")


@pytest.mark.parametrize("profile, native, name", [
    ("large", True, "large+bf16+nhwc"), ("large", False, "large"), ("medium", True, "medium")])
def test_grid_trains_large_under_bfloat16_where_the_hardware_computes_it(
        profile, native, name, monkeypatch, tmp_path):
    """Without --amp, ``large`` is auto (bfloat16 with channels-last where the device computes
    bfloat16 in hardware, named so in its keys), the other profiles float32."""
    import dissim.cli.run as cli_run
    import dissim.train

    seen = []
    monkeypatch.setattr(dissim.train, "native_bf16", lambda device: native)
    monkeypatch.setattr(cli_run.runner, "expand",
                        lambda dataset, profile, **kw: seen.append(profile) or [])
    assert main(["grid", "--profile", profile, "--device", "cpu", "--dry-run",
                 "--results", str(tmp_path / "r")]) == 0
    assert seen[0].name == name and seen[0].channels_last == name.endswith("+nhwc")


def test_switched_profile_is_a_value_that_travels_with_its_members():
    import pickle

    import dissim.profiles

    prof = with_switches("smoke", amp="bf16", tf32=True)
    assert prof.name == "smoke+bf16+tf32" and prof.amp == "bf16" and prof.tf32
    assert not prof.channels_last and prof.iterations == get_profile("smoke").iterations
    assert with_switches("smoke") == get_profile("smoke")
    assert prof.name not in dissim.profiles.PROFILES  # nothing registered
    # a worker process knows only the built-in profiles: the unit carries the client's
    unit = group_units([Member(dataset=DEFAULT_DATASET, profile=prof, topology=7)])[0]
    task = UnitTask(device="cpu", compute=lambda unit, **kw: [unit.base.profile])
    assert task(pickle.loads(pickle.dumps(unit))) == [prof]


def _train(**switches):
    from dissim.topologies import min_input_size
    from dissim.train import TrainConfig, train_siamese

    rng = np.random.default_rng(0)
    size = min_input_size(7)
    x = rng.random((12, 3, size, size), dtype=np.float32)
    y = np.repeat(np.arange(3), 4)
    cfg = TrainConfig(topology=7, iterations=3, batch_size=4, max_retries=0, eval_pairs=8,
                      **switches)
    return train_siamese(x, y, cfg, device="cpu", progress=False)[1]


def test_bf16_autocast_and_channels_last_on_cpu():
    base = _train()
    amp = _train(amp="bf16")
    assert np.all(np.isfinite(amp.loss)) and len(amp.loss) == 3
    assert not np.array_equal(amp.loss, base.loss)  # autocast really ran in bfloat16
    nhwc = _train(channels_last=True)
    np.testing.assert_allclose(nhwc.loss, base.loss, rtol=1e-3)  # summation order only
    with pytest.raises(ConfigError, match="unknown amp 'fp8'"):
        _train(amp="fp8")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_switches_train():
    from dissim.topologies import min_input_size
    from dissim.train import TrainConfig, train_siamese

    size = min_input_size(7)
    x = np.random.default_rng(0).random((12, 3, size, size), dtype=np.float32)
    cfg = TrainConfig(topology=7, iterations=3, batch_size=4, max_retries=0, eval_pairs=8,
                      amp="bf16", tf32=True, channels_last=True)
    _, log = train_siamese(x, np.repeat(np.arange(3), 4), cfg, device="cuda", progress=False)
    assert np.all(np.isfinite(log.loss)) and log.device.startswith("cuda")


def test_grid_controls_and_cnns_are_the_book_pages_members(tmp_path, capsys):
    """``--controls`` adds exactly the members a book page's controls are (Run.control_members)
    and ``--cnns`` the CNN members of the grid's folds, under the same store keys."""
    from dissim.pipeline import runner
    from dissim.pipeline.cnn import cnn_key
    from dissim.pipeline.experiment import fingerprint_of, key_of

    base = ["grid", "--profile", "smoke", "--topologies", "1,2", "--methods", "cross,triplet",
            "--results", str(tmp_path), "--dry-run"]
    assert main(base) == 0
    assert capsys.readouterr().out.startswith("32 members")  # 2 folds x 2 x 2 x 2 spaces x 2 k
    assert main([*base, "--controls", "--cnns", "efficientnet_lite0"]) == 0
    # + untrained Cross of both topologies (16) + pixels at topology 1 (8); one CNN per fold
    out = capsys.readouterr().out
    assert out.startswith("56 members, 0 in") and "2 of 2 CNNs to fine-tune" in out
    page = runner.Run(DEFAULT_DATASET, "smoke", results_dir=str(tmp_path))
    grid = expand(DEFAULT_DATASET, "smoke", topologies=[1, 2], methods=["cross", "triplet"])
    assert set(runner.controls_of(grid)) == set(page.control_members([1, 2]))
    # a grid of one method has the same controls as a Cross grid of its topologies (a grid
    # split by method over two commands gets them from either), each once
    for methods in (["triplet"], ["crossdd", "triplet"]):
        assert runner.controls_of(expand(DEFAULT_DATASET, "smoke", topologies=[1, 2],
                                         methods=methods)) == runner.controls_of(
            expand(DEFAULT_DATASET, "smoke", topologies=[1, 2], methods=["cross"]))
    # grids that split the topologies (1-4, then 5-8) ask for the same pixel controls, keyed
    # under topology 1 at its input side, and each grid the untrained networks of its own
    halves = [runner.controls_of(expand(DEFAULT_DATASET, "smoke", topologies=ts,
                                        methods=["cross"])) for ts in ((1, 2, 3, 4), (5, 6, 7, 8))]
    pixels = [{m for m in half if m.encoder == "pixels"} for half in halves]
    assert pixels[0] == pixels[1] and {m.topology for m in pixels[1]} == {1}
    assert len(pixels[1]) == 2 * 2 * 2  # folds x spaces x k
    assert {m.topology for m in halves[1] if m.encoder == "untrained"} == {5, 6, 7, 8}

    argv = ["grid", "--profile", "smoke", "--topologies", "7", "--methods", "cross",
            "--folds", "0", "--controls", "--cnns", "efficientnet_lite0", "--threads", "1",
            "--results", str(tmp_path), "--no-progress"]
    assert main(argv) == 0
    store = ResultsStore(tmp_path)
    controls = [m for m in page.control_members([7]) if m.fold == 0]
    assert len(controls) == 8 and all(store.get(key_of(m, Options(), None)) for m in controls)
    [cnn] = [m for m in page.cnn_members() if m.fold == 0]
    assert store.get(cnn_key(cnn, fingerprint_of(cnn, None))) is not None
    assert len(list(store)) == 4 + 8 + 1  # trained, controls, one CNN
    capsys.readouterr()
    assert main([*argv, "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith("12 members, 12 in")
