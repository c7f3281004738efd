"""Reliability, faults (issue 8): killed writes, concurrent runs on one store, NaN losses.

The store's own unit tests (truncated, tampered and misnamed entries, a failed write) are in
``test_store.py``; the rerun rule with an unreachable threshold in ``test_train.py``
(``test_rerun_rule_retries_until_threshold``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import dissim.train
from dissim.data import DEFAULT_DATASET
from dissim.errors import ResourceError
from dissim.pipeline.experiment import Member
from dissim.pipeline.runner import ensure_member
from dissim.pipeline.store import ResultsStore
from dissim.train import TrainConfig, train_siamese

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}


def spawn(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


WRITER = """
    import sys
    import numpy as np
    from dissim.pipeline.store import ResultsStore

    store = ResultsStore(sys.argv[1])
    big = np.random.default_rng(0).standard_normal((1500, 1000))  # 12 MB a write
    print("ready", flush=True)
    i = 0
    while True:
        key = f"{i % 3:02d}" + "ab" * 31
        store.put(key, big + i, np.zeros(1500, int), np.arange(1500), {"i": i})
        i += 1
"""


def test_sigkill_during_a_write_leaves_no_corrupt_entry(tmp_path):
    store = ResultsStore(tmp_path / "store")
    for _ in range(3):
        proc = spawn(WRITER, str(store.root))
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (
                list(store.keys()) and list(store.root.glob("*/.*.tmp"))):
            time.sleep(0.0005)
        proc.send_signal(signal.SIGKILL)  # while a temporary file is being written
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    tmps = sorted(store.root.glob("*/.*.tmp"))
    assert tmps  # at least one kill did land inside a write
    keys = list(store.keys())
    assert keys and all(k.endswith("ab" * 31) for k in keys)  # temporary files are no keys
    for key in keys:
        result = store.get(key)
        assert result is not None, f"{key} is corrupt"
        np.testing.assert_array_equal(result.scores[0, :3] - result.meta["i"],
                                      np.random.default_rng(0).standard_normal(3))
    assert store.clean_tmp() == []  # fresh temporary files might belong to a live writer
    removed = store.clean_tmp(older_than=0)
    assert sorted(removed) == tmps
    left = sorted(p.name for p in store.root.rglob("*") if p.is_file())
    assert left == sorted(f"{k}.npz" for k in keys)


def test_lock_excludes_times_out_with_the_holder_and_dies_with_it(tmp_path):
    store = ResultsStore(tmp_path / "store")
    held, release = threading.Event(), threading.Event()

    def holder():
        with store.lock("unit"):
            held.set()
            release.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    held.wait(10)
    with pytest.raises(ResourceError, match=rf"results store {store.root} is busy: lock unit is "
                                            rf"held by process .*:{os.getpid()} for more than"):
        with store.lock("unit", timeout=0.3, poll=0.05):
            pass
    release.set()
    t.join()
    with store.lock("unit", timeout=5):
        pass
    assert list((store.root / ".locks").iterdir()) == []  # released locks leave no file

    proc = spawn("""
        import sys, time
        from dissim.pipeline.store import ResultsStore
        with ResultsStore(sys.argv[1]).lock("unit"):
            print("held", flush=True)
            time.sleep(60)
    """, str(store.root))
    assert proc.stdout.readline().strip() == "held"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    start = time.monotonic()
    with store.lock("unit", timeout=5):  # a killed holder leaves no stale lock
        pass
    assert time.monotonic() - start < 2


GRID = """
    import dataclasses, hashlib, json, os, sys, time
    from dissim.pipeline import runner
    from dissim.pipeline.executors import UnitTask
    from dissim.pipeline.experiment import Member, fingerprint_of
    from dissim.pipeline.store import ResultsStore
    from dissim.train import train_siamese

    results, log, go = sys.argv[1:4]

    def logged(x, y, cfg, **kwargs):
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()}\\n")
        return train_siamese(x, y, dataclasses.replace(cfg, eval_pairs=8), **kwargs)

    members = [Member(dataset="textures", profile="smoke", topology=7, space=s, k=k)
               for s in ("fully", "deeper") for k in (2, 3)]  # one network (smoke)
    fingerprint_of(members[0], None)  # load before the start line
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.005)
    store = ResultsStore(results)
    report = runner.run(members, store, task=UnitTask(trainer=logged))  # what `dissim grid` runs
    assert report.returncode == 0
    print(json.dumps({r.key: hashlib.sha256(r.scores.tobytes()).hexdigest() for r in store}))
"""


def test_two_grids_on_one_store_train_each_network_once(tmp_path):
    store, log, go = tmp_path / "store", tmp_path / "trainings.log", tmp_path / "go"
    procs = [spawn(GRID, str(store), str(log), str(go)) for _ in range(2)]
    outs = []
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        go.touch()  # both start the same grid at the same moment
        for p in procs:
            out, err = p.communicate(timeout=240)
            assert p.returncode == 0, err
            outs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    trainings = log.read_text().split()
    assert len(trainings) == 1  # the one network is trained once in all, not once a run
    assert outs[0] == outs[1] and len(outs[0]) == 4  # both runs see the same 4 entries
    s = ResultsStore(store)
    assert sorted(s.keys()) == sorted(outs[0]) and all(s.get(k) for k in s.keys())
    leftovers = [p for p in store.rglob("*") if p.is_file() and p.suffix != ".npz"]
    assert leftovers == []  # no temporary file, no lock file


CLI = """
    import os, sys, time
    import dissim.train
    from dissim.cli import main

    log, go, *argv = sys.argv[1:]
    once = dissim.train._train_once

    def logged(*args, **kwargs):  # each network trained, by which process
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()}\\n")
        return once(*args, **kwargs)

    dissim.train._train_once = logged
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.005)
    sys.exit(main(argv))
"""
#: One network of the embedded set (smoke, fold 0, topology 7, Cross): ``grid`` builds its four
#: members (FULLY and DEEPER, k 2 and 3), ``run`` one of them.
GRID_ARGS = ["grid", "--profile", "smoke", "--topologies", "7", "--methods", "cross",
             "--folds", "0", "--device", "cpu", "--no-progress"]
RUN_ARGS = ["run", "--profile", "smoke", "--topology", "7", "--loss", "cross", "--optimizer",
            "adam", "--space", "deeper", "--k", "3", "--device", "cpu"]


@pytest.mark.parametrize("second", ["run", "grid"])
def test_dissim_grid_and_another_command_on_one_store_store_each_entry_once(tmp_path, second):
    """Issue 25: ``dissim grid`` with a ``dissim run`` (or a second grid) on one store at once:
    every entry stored once, no network trained by two processes at the same time, no lock or
    temporary file left.

    Two grids share the one network: it is trained once in all. A ``run`` builds only its own
    member, and the store keeps results, not networks: when the run takes the network's lock
    first, the grid trains the network again for the three members the run did not build (in
    the other order the run finds its member stored and trains nothing)."""
    store, log, go = tmp_path / "store", tmp_path / "trainings.log", tmp_path / "go"
    argvs = [GRID_ARGS, GRID_ARGS if second == "grid" else RUN_ARGS]
    procs = [spawn(CLI, str(log), str(go), *argv, "--results", str(store)) for argv in argvs]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        go.touch()  # both start at the same moment
        for p in procs:
            _, err = p.communicate(timeout=300)
            assert p.returncode == 0, err
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    trainings = [int(pid) for pid in log.read_text().split()]
    if second == "grid":
        assert len(trainings) == 1  # the one network, trained once in all
    else:  # once, or the run's network first and then the grid's, never one process twice
        assert trainings in ([procs[0].pid], [procs[1].pid], [procs[1].pid, procs[0].pid])
    s = ResultsStore(store)
    keys = sorted(s.keys())
    assert len(keys) == 4 and all(s.get(k) is not None for k in keys)
    entries = sorted(p.name for p in store.rglob("*.npz"))
    assert entries == sorted(f"{k}.npz" for k in keys)  # each entry once
    leftovers = [p for p in store.rglob("*") if p.is_file() and p.suffix != ".npz"]
    assert leftovers == []  # no temporary file, no lock file


def _toy(n_per_class: int = 6, size: int = 62):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 40, size=(2 * n_per_class, 3, size, size)).astype(np.float32)
    x[n_per_class:] += 150
    return x, np.repeat([0, 1], n_per_class)


@pytest.fixture
def nan_loss(monkeypatch):
    """Make the Siamese loss NaN: on the first ``state['first']`` calls (all if None)."""
    state = {"first": None, "calls": 0}
    real = dissim.train._loss

    def loss(*args, **kwargs):
        state["calls"] += 1
        value = real(*args, **kwargs)
        if state["first"] is None or state["calls"] <= state["first"]:
            return value * torch.tensor(float("nan"))
        return value

    monkeypatch.setattr(dissim.train, "_loss", loss)
    return state


def test_nan_loss_once_is_rerun(nan_loss):
    nan_loss["first"] = 1  # the first iteration of the first attempt
    x, y = _toy()
    cfg = TrainConfig(topology=7, iterations=3, batch_size=4, max_retries=2,
                      convergence_threshold=0.0, eval_pairs=16)
    _, log = train_siamese(x, y, cfg, device="cpu", progress=False)
    assert log.attempts == 2 and log.converged
    assert len(log.loss) == 3 and np.all(np.isfinite(log.loss))  # the rerun's curve


def test_nan_loss_always_is_not_converged(nan_loss):
    x, y = _toy()
    cfg = TrainConfig(topology=7, iterations=3, batch_size=4, max_retries=2,
                      convergence_threshold=0.0, eval_pairs=16)
    _, log = train_siamese(x, y, cfg, device="cpu", progress=False)
    assert log.attempts == 3 and not log.converged and log.pair_accuracy == 0.0
    assert len(log.loss) == 1 and np.isnan(log.loss[0])  # stopped at the first NaN


def test_member_whose_loss_is_always_nan_is_stored_as_not_converged(store, nan_loss):
    m = Member(dataset=DEFAULT_DATASET, profile="smoke", topology=7, space="fully", k=2)
    result = ensure_member(m, store, progress=False)
    assert result.meta["train"]["converged"] is False
    assert result.meta["train"]["attempts"] == 1  # smoke: max_train_retries = 0
    assert np.all(np.isfinite(result.scores))


def test_a_store_that_cannot_be_locked_runs_unlocked_with_a_warning(tmp_path, monkeypatch):
    import errno
    import fcntl

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    store = ResultsStore(tmp_path / "store")
    with pytest.warns(UserWarning, match="cannot be locked \\(No locks available\\); runs "
                                         "sharing it may train the same network twice"):
        with store.lock("unit"):
            ran = True
    assert ran
