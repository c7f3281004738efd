"""Reliability, issue 33: nine user-facing failures found by a probe, each tested where it
failed: relabelled store entries, the smoke pre-flight on a 10-fold set, Dask paths and
failures, the scheduler address, damaged entries skipped in silence, read-only stores, a full
disk found after training, a model zip that inflates whole, and fold counts the data cannot
give.

Every command runs in-process (:func:`dissim.cli.main`); a user error is checked with
:func:`bad_input.fails_once`: exit status 2, one ``dissim: error:`` line, no traceback.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import shutil
import socket
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from bad_input import fails_once, make_tree

from dissim.cli import main
from dissim.errors import DataError, DissimError
from dissim.pipeline import snapshots
from dissim.pipeline.entry_keys import recorded_key
from dissim.pipeline.store import RelabelledEntry, ResultsStore

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "results_snapshots" / "textures-smoke"
SMOKE = ["--profile", "smoke", "--device", "cpu"]
FIT = [*SMOKE, "--topologies", "8", "--methods", "cross", "--spaces", "fully", "--k", "2"]


@pytest.fixture(scope="module")
def committed() -> snapshots.Snapshot:
    return snapshots.load(COMMITTED)


def _store_with(path: Path, results) -> ResultsStore:
    store = ResultsStore(path)
    for r in results:
        store.put(r.key, r.scores, r.y_true, r.test_index, r.meta)
    return store


def _rewrite_meta(path: Path, edit) -> None:
    """Rewrite a store entry's metadata with ``edit(meta)``; arrays and checksum untouched."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    edit(meta)
    arrays["meta"] = np.array(json.dumps(meta))
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


# ---------------------------------------------------------------------------------------------
# 1. a relabelled entry
# ---------------------------------------------------------------------------------------------
def test_committed_entries_make_their_own_keys(committed):
    """The key made again from each committed entry's metadata is its key (the other three
    snapshots were checked the same way: 4050 entries, none differs)."""
    assert all(recorded_key(r.meta) == r.key for r in committed.entries())


def test_relabelled_entry_is_refused_by_ls_export_and_run(tmp_path, capsys, committed):
    r = next(r for r in committed.entries() if r.meta["member"]["topology"] == 1)
    store = _store_with(tmp_path / "r", [r])
    path = store.path(r.key)
    _rewrite_meta(path, lambda m: m["member"].update(topology=3))
    with pytest.raises(RelabelledEntry, match="makes key"):
        store.get(r.key)
    for argv in (["results", "ls"], ["results", "export", "--profile", "smoke", "--out",
                                     str(tmp_path / "snap")]):
        message = fails_once(main([*argv, "--results", str(store.root)]),
                             capsys.readouterr().err)
        assert message.startswith(f"results store entry {path} is stored under key "
                                  f"{r.key[:12]} but its metadata (")
        assert "topology 3" in message and message.endswith(
            f"delete {path} and run the member again to recompute it")
    assert not (tmp_path / "snap").exists()
    with pytest.raises(RelabelledEntry):  # nor is it written under a key it does not make
        ResultsStore(tmp_path / "other").put(r.key, r.scores, r.y_true, r.test_index,
                                             {**r.meta, "member": {**r.meta["member"],
                                                                   "topology": 3}})


def test_relabelled_snapshot_entry_is_refused_on_import(tmp_path, capsys, committed):
    entries = committed.entries()[:3]
    bad = entries[1]
    meta = json.loads(json.dumps(bad.meta))
    meta["member"]["seed"] = 7  # another member, under the same label and checksum
    relabelled = [r if r is not bad else type(r)(r.key, r.scores, r.y_true, r.test_index, meta)
                  for r in entries]
    snap = tmp_path / "snap"
    snapshots.export(relabelled, snap, dataset="textures", profile="smoke")
    store = tmp_path / "store"
    message = fails_once(main(["results", "import", str(snap), "--results", str(store)]),
                         capsys.readouterr().err)
    assert message.startswith(f"snapshot {snap}: entry {bad.key[:12]} (in scores/fold-")
    assert "export the snapshot again" in message
    assert not store.exists()  # every key checked before any entry is stored


# ---------------------------------------------------------------------------------------------
# 2. the smoke pre-flight on a 10-fold data set
# ---------------------------------------------------------------------------------------------
def _port_tree(root: Path, per_class: int) -> Path:
    classes = [c["name"] for c in yaml.safe_load(
        (REPO / "data_manifests" / "port.yml").read_text())["classes"]]
    rng = np.random.default_rng(0)
    from PIL import Image

    for ci, c in enumerate(classes):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            img = (rng.integers(0, 90, (16, 16)) + 25 * ci).astype(np.uint8)
            Image.fromarray(img).save(root / c / f"{i}.png")
    return root


def test_smoke_keeps_the_images_a_ten_fold_protocol_needs(tmp_path, capsys, no_training):
    from dissim.pipeline.data_cache import dataset_folds, load_dataset

    root = str(_port_tree(tmp_path / "port", per_class=12))
    ds = load_dataset("port", root, 8, 0)  # smoke's max_per_class
    assert np.bincount(ds.labels).tolist() == [10] * 6
    assert len(dataset_folds("port", root, 8, None, 0)) == 10
    assert main(["grid", "--dataset", "port", "--root", root, "--profile", "smoke",
                 "--topologies", "8", "--methods", "cross", "--results",
                 str(tmp_path / "r"), "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith("8 members, 0 in")  # 2 folds x 2 k x 2 spaces


def test_too_few_images_for_the_protocol_say_so(tmp_path, capsys, no_training):
    root = _port_tree(tmp_path / "port", per_class=5)
    message = fails_once(main(["run", "--dataset", "port", "--root", str(root), *SMOKE,
                               "--topology", "8", "--results", str(tmp_path / "r")]),
                         capsys.readouterr().err)
    assert message == ("cannot make 10 stratified_kfold splits of data set 'port': it has 5 "
                       "images in its largest class (30 images in all, 6 classes); add images "
                       "(at least 10 per class)")


# ---------------------------------------------------------------------------------------------
# 3. Dask: absolute paths shipped, failures as one line
# ---------------------------------------------------------------------------------------------
def test_dask_grid_ships_absolute_paths(tmp_path, monkeypatch):
    import dissim.cli.run as cli_run
    from dissim.pipeline.runner import Report

    make_tree(tmp_path / "t")
    monkeypatch.chdir(tmp_path)
    seen = {}

    def fake_run(members, store, *, executor, task):
        seen.update(root=task.root, store=store.root)
        return Report(members=len(members))

    monkeypatch.setattr(cli_run.runner, "run", fake_run)
    assert main(["grid", "--dataset", "folder", "--root", "t", "--profile", "smoke",
                 "--topologies", "8", "--methods", "cross", "--folds", "0", "--executor",
                 "dask", "--results", "r", "--no-progress"]) == 0
    assert seen == {"root": str(tmp_path / "t"), "store": tmp_path / "r"}


def _fails_with_a_data_error(unit, **kwargs):
    """A unit's computation failing on a user error (it runs on a Dask worker)."""
    raise DataError(f"data folder for fold {unit.base.fold} not found on this worker; copy it")


def _crashes(unit, **kwargs):
    raise RuntimeError("simulated crash")


GRID = ["grid", "--profile", "smoke", "--topologies", "7", "--methods", "cross", "--folds",
        "0,1", "--threads", "1", "--no-progress"]


def test_a_user_error_on_a_dask_worker_is_one_line(tmp_path, capsys, monkeypatch):
    import dissim.cli.run as cli_run
    from dissim.pipeline.executors import UnitTask

    monkeypatch.setattr(cli_run, "UnitTask",
                        functools.partial(UnitTask, compute=_fails_with_a_data_error))
    code = main([*GRID, "--results", str(tmp_path / "r"), "--executor", "dask",
                 "--workers", "1"])
    err = capsys.readouterr().err
    message = fails_once(code, err)
    assert message.startswith("2 of 2 networks failed (the first: textures fold ")
    assert message.endswith("on this worker; copy it; fix it and run the grid again (stored "
                            "members are reused)")
    failed = [ln for ln in err.splitlines() if ln.startswith("dissim: network failed: ")]
    assert len(failed) == 2 and all(ln.endswith("not found on this worker; copy it")
                                    for ln in failed)


def test_an_internal_error_of_a_network_is_one_line_and_debug_shows_it(tmp_path, capsys,
                                                                        monkeypatch):
    import dissim.cli.run as cli_run
    from dissim.pipeline.executors import UnitTask

    monkeypatch.delenv("DISSIM_DEBUG", raising=False)
    monkeypatch.setattr(cli_run, "UnitTask", functools.partial(UnitTask, compute=_crashes))
    assert main([*GRID, "--folds", "0", "--results", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("dissim: error: internal error: NetworkFailed: 1 of 1 networks "
                           "failed (the first on an internal error: textures fold 0")
    assert "RuntimeError: simulated crash; rerun with --debug" in last
    assert main([*GRID, "--folds", "0", "--results", str(tmp_path / "r"), "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and 'raise RuntimeError("simulated crash")' in err


# ---------------------------------------------------------------------------------------------
# 4. the scheduler address
# ---------------------------------------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("address, want", [
    ("tcp://127.0.0.1:{port}", "cannot reach the Dask scheduler at tcp://127.0.0.1:{port} "
     "(--scheduler): Connection refused within 3 s; start a scheduler with `dask scheduler`"),
    ("tcp://127.0.0.1:port", "Dask scheduler address 'tcp://127.0.0.1:port' (--scheduler) is "
     "malformed"),
    ("http://127.0.0.1:8786", "has the unknown protocol 'http'"),
    ("tcp://127.0.0.1:99999", "is malformed (host '127.0.0.1', port 99999)"),
])
def test_a_bad_scheduler_address_is_one_line_in_seconds(tmp_path, capsys, no_training,
                                                         address, want):
    port = _closed_port()
    start = time.monotonic()
    message = fails_once(main([*GRID, "--results", str(tmp_path / "r"), "--executor", "dask",
                               "--scheduler", address.format(port=port)]),
                         capsys.readouterr().err)
    assert time.monotonic() - start < 10
    assert want.format(port=port) in message
    assert "leave --scheduler out to run on a local cluster" in message
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------------------------------------
# 5. damaged entries are not skipped in silence
# ---------------------------------------------------------------------------------------------
def test_damaged_entries_are_counted_and_named(tmp_path, capsys, committed):
    store = _store_with(tmp_path / "r", committed.entries()[:8])
    first, second = sorted(store.path(k) for k in store.keys())[:2]
    for path in (first, second):
        path.write_bytes(path.read_bytes()[:100])
    want = (f"dissim: warning: skipped 2 damaged entries of results store {store.root} (the "
            f"first: {first}; truncated, or not matching its checksum or its name); delete "
            "them, and run the members again to recompute them\n")
    assert main(["results", "ls", "--results", str(store.root)]) == 0
    out, err = capsys.readouterr()
    assert len(out.strip().splitlines()) == 1 + 6 and err == want
    assert main(["results", "export", "--profile", "smoke", "--results", str(store.root),
                 "--out", str(tmp_path / "snap")]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("6 entries of textures [smoke]") and err == want


# ---------------------------------------------------------------------------------------------
# 6. a read-only store serves what it holds
# ---------------------------------------------------------------------------------------------
def _read_only(monkeypatch) -> None:
    """The store's folder refuses writes (tests run as root: the probe write is made to
    fail as a read-only file system would)."""
    import dissim.pipeline.validate

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(dissim.pipeline.validate.tempfile, "mkstemp", refuse)


def test_a_read_only_store_serves_stored_members(tmp_path, capsys, monkeypatch, no_training,
                                                 committed):
    store = _store_with(tmp_path / "r", committed.entries())
    before = sorted((p, p.stat().st_mtime_ns) for p in store.root.rglob("*"))
    _read_only(monkeypatch)
    results = ["--results", str(store.root)]
    assert main(["run", *SMOKE, "--topology", "1", "--k", "2", *results]) == 0
    assert "accuracy" in capsys.readouterr().out
    assert main([*GRID, "--topologies", "1", *results]) == 0
    assert "8 members: 8 reused from the store" in capsys.readouterr().out
    assert main(["results", "import", str(COMMITTED), *results]) == 0
    assert main(["results", "ls", *results]) == 0
    assert sorted((p, p.stat().st_mtime_ns) for p in store.root.rglob("*")) == before
    message = fails_once(main(["run", *SMOKE, "--topology", "2", "--k", "2", *results]),
                         capsys.readouterr().err)  # missing: a write is due
    assert message.startswith(f"cannot write results store {store.root}: Read-only file system")


# ---------------------------------------------------------------------------------------------
# 7. fit checks the disk before training
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny tree and the smoke model fitted on it (topology 8, Cross, FULLY, k=2)."""
    base = tmp_path_factory.mktemp("m")
    tree = make_tree(base / "t")
    assert main(["fit", str(tree), "--out", str(base / "m.zip"), *FIT]) == 0
    return tree, base / "m.zip"


def test_fit_on_a_full_disk_is_refused_before_training(tmp_path, capsys, monkeypatch, model,
                                                       no_training):
    import dissim.pipeline.validate
    from dissim.pipeline.classifier import DissimilarityClassifier

    tree, saved = model
    clf = DissimilarityClassifier(profile="smoke", topologies=(8,), methods=("cross",),
                                  spaces=("fully",), k_values=(2,))
    need = clf.model_bytes(3)
    assert saved.stat().st_size <= need <= saved.stat().st_size + (2 << 20)
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(dissim.pipeline.validate.shutil, "disk_usage",
                        lambda path: usage._replace(free=need // 2))
    message = fails_once(main(["fit", str(tree), "--out", str(tmp_path / "m.zip"), *FIT]),
                         capsys.readouterr().err)
    assert message.startswith(f"not enough free space for model file {tmp_path / 'm.zip'} "
                              "(--out): needs ~")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# 8. a model zip that declares a huge member
# ---------------------------------------------------------------------------------------------
def _repack(saved: Path, out: Path, name: str, blob: bytes, compress: int) -> Path:
    """``saved`` with entry ``name`` replaced by ``blob``, its manifest record made to agree
    (size and SHA-256): a consistent, crafted model file."""
    with zipfile.ZipFile(saved) as z:
        entries = {i.filename: (z.read(i), i.compress_type) for i in z.infolist()}
    manifest = json.loads(entries["manifest.json"][0])
    manifest["entries"][name] = {"sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)}
    entries["manifest.json"] = (json.dumps(manifest).encode(), zipfile.ZIP_DEFLATED)
    entries[name] = (blob, compress)
    with zipfile.ZipFile(out, "w") as z:
        for n, (data, how) in entries.items():
            z.writestr(n, data, compress_type=how)
    return out


@pytest.mark.parametrize("name, size, compress", [
    ("svms.npz", 256 << 20, zipfile.ZIP_DEFLATED),  # 256 MiB of zeros deflate to 256 KiB
    ("networks.safetensors", 4 << 20, zipfile.ZIP_STORED),  # beyond the manifest's networks
])
def test_a_model_member_larger_than_a_model_needs_is_refused(tmp_path, capsys, model, name,
                                                              size, compress):
    tree, saved = model
    with zipfile.ZipFile(saved) as z:
        real = z.read(name)
    crafted = _repack(saved, tmp_path / "bomb.zip", name, real + b"\0" * size, compress)
    assert crafted.stat().st_size < 2 * saved.stat().st_size + size // 100 + (4 << 20)
    tracemalloc.start()
    try:
        message = fails_once(main(["predict", str(crafted), str(tree / "a" / "0.png")]),
                             capsys.readouterr().err)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert message.startswith(f"model file {crafted} is damaged or not a dissim model (entry "
                              f"{name}: claims {len(real) + size} bytes from ")
    assert "more than the" in message and "a model needs" in message
    assert peak < 64 << 20  # nothing inflated whole


def test_the_real_model_still_loads(model, capsys):
    tree, saved = model
    assert main(["predict", str(saved), str(tree / "a")]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 8


# ---------------------------------------------------------------------------------------------
# 9. fold counts the data cannot give
# ---------------------------------------------------------------------------------------------
def test_evaluate_folds_beyond_the_data_say_the_valid_range(tmp_path, capsys, no_training):
    tree = make_tree(tmp_path / "t")
    message = fails_once(main(["evaluate", str(tree), "--folds", "1000", *FIT]),
                         capsys.readouterr().err)
    assert message == ("cannot make 1000 stratified_kfold splits of data set 'folder': it has 8 "
                       "images in its largest class (24 images in all, 3 classes); choose "
                       "--folds 2-8")


def test_grid_fold_beyond_the_protocol_says_the_valid_range(tmp_path, capsys, no_training):
    message = fails_once(main([*GRID, "--folds", "1000", "--results", str(tmp_path / "r")]),
                         capsys.readouterr().err)
    assert message == ("fold 1000 does not exist: textures has 2 folds in profile smoke; "
                       "choose from 0-1")


def test_report_error_is_a_dissim_error_for_user_errors():
    from dissim.pipeline.runner import Failure, NetworkFailed, Report

    user = Failure("net a", "bad folder; fix it", 2, "tb")
    internal = Failure("net b", "internal error: RuntimeError: x", 1, "tb")
    assert isinstance(Report(networks=2, failures=[user]).error(), DissimError)
    err = Report(networks=2, failures=[user, internal]).error()
    assert isinstance(err, NetworkFailed) and str(err) == (
        "2 of 2 networks failed (the first on an internal error: net b): RuntimeError: x")
