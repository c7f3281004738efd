"""Reliability at the edges (issue 25): a bad environment variable, signals while a file is
written and while modules load, ``data check``'s exit status, a model zip that declares more than
it holds. Each probe: one line, the documented exit status, no file left behind.

Signal probes do not race: a test hook (:data:`dissim.atomic._before_rename`) pauses the write
once its temporary file is complete, and the signal is sent then.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from bad_input import fails_once, make_tree, snapshot

from dissim.cli import main

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
FIT = ["fit", "{tree}", "--out", "{out}", "--profile", "smoke", "--device", "cpu",
       "--topologies", "8", "--methods", "cross", "--spaces", "fully", "--k", "2"]

PAUSED_FIT = """
    import pathlib, sys, time
    import dissim.atomic as atomic
    from dissim.__main__ import run

    marker = pathlib.Path(sys.argv[1])

    def pause(tmp):
        marker.write_text(str(tmp))
        time.sleep(120)

    atomic._before_rename = pause
    sys.argv = ["dissim", *sys.argv[2:]]
    sys.exit(run())
"""

INTERRUPTED_IMPORT = """
    import importlib, os, signal, sys
    import dissim.__main__ as entry

    class Slow:
        @staticmethod
        def import_module(name):
            os.kill(os.getpid(), getattr(signal, sys.argv[1]))  # while the modules load
            return importlib.import_module(name)

    entry.importlib = Slow
    sys.exit(entry.run())
"""


def _spawn(code: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args],
                            env=env or ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.mark.parametrize("sig, status", [("SIGTERM", 143), ("SIGHUP", 129), ("SIGINT", 130)])
def test_a_signal_while_fit_writes_the_model_leaves_nothing(tmp_path, sig, status):
    """Item 4: SIGTERM and SIGHUP end a write as Ctrl-C does: the temporary model file is
    removed, one line, exit status 128 + signal."""
    tree = make_tree(tmp_path / "t")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    marker = tmp_path / "paused"
    args = [a.format(tree=tree, out=out_dir / "m.zip") for a in FIT]
    proc = _spawn(PAUSED_FIT, str(marker), *args)
    deadline = time.monotonic() + 300
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), proc.communicate()[1]
    assert Path(marker.read_text()).exists()  # paused with the temporary file written
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.strip()]
    assert [ln for ln in lines if ln.startswith("dissim:")] == [lines[-1]] == [
        "dissim: interrupted; finished members are kept in the results store"], err
    assert "Traceback" not in err  # progress bars may precede the line
    assert list(out_dir.iterdir()) == []  # neither the model nor its hidden temporary file


@pytest.mark.parametrize("sig, status", [("SIGINT", 130), ("SIGTERM", 143)])
def test_an_interrupt_while_modules_load_is_one_line(sig, status):
    """Item 6: Ctrl-C (or SIGTERM) during start-up is one line, not an import traceback."""
    proc = _spawn(INTERRUPTED_IMPORT, sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == status, err
    assert err == "dissim: interrupted\n" and out == ""


def test_a_bad_environment_variable_breaks_only_what_reads_it(tmp_path):
    """Item 1: ``--help`` works whatever DISSIM_MAX_IMAGE_PIXELS says; a command that decodes
    images refuses the bad value in one line, exit 2."""
    env = {**ENV, "DISSIM_MAX_IMAGE_PIXELS": "1e9"}
    done = subprocess.run([sys.executable, "-m", "dissim", "--help"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "" and "usage: dissim" in done.stdout
    tree = make_tree(tmp_path / "t")
    before = snapshot(tmp_path)
    done = subprocess.run([sys.executable, "-m", "dissim", "data", "check", "folder", "--root",
                           str(tree)], env=env, capture_output=True, text=True, timeout=120)
    message = fails_once(done.returncode, done.stderr)
    assert message.startswith("DISSIM_MAX_IMAGE_PIXELS='1e9' is not a whole number")
    assert snapshot(tmp_path) == before
    env["DISSIM_MAX_IMAGE_PIXELS"] = "1_000_000_000"
    done = subprocess.run([sys.executable, "-m", "dissim", "data", "check", "folder", "--root",
                           str(tree)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("OK: 24 images"), done.stderr


def test_data_check_problems_are_a_user_error(tmp_path, capsys):
    """Item 7: problems found are listed on stdout, then one ``dissim: error: N problems
    found`` line on stderr, exit status 2."""
    tree = make_tree(tmp_path / "t")
    (tree / "a" / "broken.png").write_bytes(b"not a png")
    (tree / "empty").mkdir()
    code = main(["data", "check", "folder", "--root", str(tree)])
    captured = capsys.readouterr()
    message = fails_once(code, captured.err)
    listed = [ln for ln in captured.out.splitlines() if ln.strip()]
    assert len(listed) >= 2 and message.startswith(f"{len(listed)} problems found in {tree}")
    assert "broken.png" in captured.out


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("model")
    tree = make_tree(base / "t")
    out = base / "m.zip"
    assert main([a.format(tree=tree, out=out) for a in FIT]) == 0
    return out


def _bomb(model: Path, path: Path, *, inner: bool) -> Path:
    """``model`` with a 400 MB array of zeros (a few hundred kB compressed): declared in the
    zip's directory (``inner=False``: as svms.npz's own size, the manifest's hashes kept) or
    inside svms.npz (``inner=True``: the manifest resealed, as someone who knows it would)."""
    import hashlib

    with zipfile.ZipFile(model) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    zeros = np.zeros(50_000_000)  # 400 MB
    if inner:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as npz:
            with np.load(io.BytesIO(entries["svms.npz"])) as old:
                for key in old.files:  # the intercepts, read first, become the bomb
                    if key == "m0.intercept":
                        with npz.open(f"{key}.npy", "w", force_zip64=True) as fh:
                            np.lib.format.write_array(fh, zeros)
                    else:
                        npz.writestr(f"{key}.npy", _npy(old[key]))
        entries["svms.npz"] = buf.getvalue()
        man = json.loads(entries["manifest.json"])
        man["entries"]["svms.npz"] = {"sha256": hashlib.sha256(buf.getvalue()).hexdigest(),
                                      "bytes": len(buf.getvalue())}
        entries["manifest.json"] = json.dumps(man).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, blob in entries.items():
            if name == "svms.npz" and not inner:
                with z.open(name, "w", force_zip64=True) as fh:
                    fh.write(_npy(zeros))
            else:
                z.writestr(name, blob)
    return path


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a)
    return buf.getvalue()


@pytest.mark.parametrize("inner", [False, True], ids=["entry", "inside svms.npz"])
def test_a_model_zip_that_inflates_is_refused_before_inflating(model, tmp_path, capsys, inner):
    """Item 8: declared sizes (the zip's central directory, and the .npz's inside it) are
    checked against the manifest before anything is inflated."""
    import tracemalloc

    bomb = _bomb(model, tmp_path / "bomb.zip", inner=inner)
    assert bomb.stat().st_size < model.stat().st_size + 5_000_000  # small, declares 400 MB
    tree = make_tree(tmp_path / "t")
    before = snapshot(tmp_path)
    tracemalloc.start()
    try:
        code = main(["predict", str(bomb), str(tree)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = fails_once(code, capsys.readouterr().err)
    assert str(bomb) in message and "svms.npz" in message
    assert peak < 100_000_000, peak  # nothing near the 400 MB it declares was inflated
    assert snapshot(tmp_path) == before
