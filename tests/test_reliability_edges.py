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


def _interruptible() -> None:
    """The child starts with Ctrl-C's default action, as from a terminal: a suite run in the
    background by a non-interactive shell (``cmd &``) inherits SIGINT ignored, and Python then
    never turns it into KeyboardInterrupt (the SIGINT cases timed out that way)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _spawn(code: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args],
                            preexec_fn=_interruptible,
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


SLEEPING_BOOK = """
    import pathlib, sys
    import dissim.report.book as book
    from dissim.__main__ import run

    base = pathlib.Path(sys.argv[1])
    book.NOTEBOOK_DIR, book.OUT_DIR = base / "notebooks", base / "pages"
    sys.argv = ["dissim", "book", "run", "--notebooks", "figure4", "--force",
                "--results", str(base / "results")]
    sys.exit(run())
"""


def _sleeping_notebook(path: Path) -> None:
    """A page whose cell writes the kernel's pid to ``$MARKER``, then sleeps."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    params = new_code_cell('profile = "quick"\nseed = 0\nresults_dir = "results"')
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[new_markdown_cell("# Sleeps"), params, new_code_cell(
        "import os, pathlib, time\n"
        "pathlib.Path(os.environ['MARKER']).write_text(str(os.getpid()))\ntime.sleep(300)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)


@pytest.mark.parametrize("sig, status, group", [("SIGINT", 130, True), ("SIGTERM", 143, False)],
                         ids=["ctrl-c", "kill"])
def test_an_interrupt_during_book_run_is_one_line_and_leaves_no_kernel(tmp_path, sig, status,
                                                                       group):
    """Item 6: Ctrl-C (SIGINT to the terminal's process group) or SIGTERM while a page runs:
    one line, exit 128 + signal, the kernel gone, no connection file or socket left (in the
    runtime folder, the temporary folder or the kernels' working folder)."""
    _sleeping_notebook(tmp_path / "notebooks" / "figure4.ipynb")
    runtime, temp, marker = tmp_path / "runtime", tmp_path / "tmp", tmp_path / "kernel.pid"
    runtime.mkdir()
    temp.mkdir()
    repo = Path(__file__).parents[1]
    kernel_files = {*repo.glob("kernel-*")}
    env = {**ENV, "JUPYTER_RUNTIME_DIR": str(runtime), "TMPDIR": str(temp),
           "MARKER": str(marker)}
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(SLEEPING_BOOK),
                             str(tmp_path)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_interruptible)
    try:
        deadline = time.monotonic() + 300
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), proc.communicate()[1]
        assert any(runtime.glob("kernel-*.json"))  # the kernel runs, its connection file here
        if group:
            os.killpg(proc.pid, getattr(signal, sig))
        else:
            proc.send_signal(getattr(signal, sig))
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == status, err
    assert err == "dissim: interrupted; finished members are kept in the results store\n"
    assert list(runtime.iterdir()) == [] and list(temp.iterdir()) == []
    assert {*repo.glob("kernel-*")} <= kernel_files
    assert not (tmp_path / "pages").exists()  # no page, no temporary page
    with pytest.raises(ProcessLookupError):  # the kernel is gone
        for _ in range(100):
            os.kill(int(marker.read_text()), 0)
            time.sleep(0.05)


@pytest.mark.parametrize("argv", [
    ["fit", "{tree}", "--out", "{out}", "--seed", "1099511627776"],
    ["evaluate", "{tree}", "--seed", "4294967296"],
    ["run", "--dataset", "folder", "--root", "{tree}", "--seed", "4294967296"],
    ["grid", "--dataset", "folder", "--root", "{tree}", "--seeds", "0,4294967296"],
    ["book", "run", "--seed", "4294967296"],
    ["results", "export", "--out", "{out}", "--seed", "4294967296"],
], ids=lambda a: a[0] if a[0] != "results" else "export")
def test_a_seed_out_of_range_is_refused_before_any_image(tmp_path, capsys, monkeypatch,
                                                          no_work, argv):
    """Item 5: k-means and the fold splitters take the seed as scikit-learn's random_state
    (0 .. 2**32 - 1): a larger one is one line, exit 2, before any image is decoded."""
    import PIL.Image

    def no_image(*args, **kwargs):
        raise AssertionError("an image was decoded before the seed was checked")

    monkeypatch.setattr(PIL.Image, "open", no_image)
    tree = make_tree(tmp_path / "t")
    before = snapshot(tmp_path)
    args = [a.format(tree=tree, out=tmp_path / "m.dissim") for a in argv]
    code = main([*args, "--results", str(tmp_path / "r")] if argv[0] in ("run", "grid")
                else args)
    message = fails_once(code, capsys.readouterr().err)
    option = "--seeds" if argv[0] == "grid" else "--seed"
    assert message.startswith(f"{option} must be at most 4294967295 (2**32 - 1)")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["fit", "evaluate", "run", "grid"])
def test_an_explicit_k_a_class_cannot_support_is_refused_alike(tmp_path, capsys, no_training,
                                                               command):
    """Item 5: one rule for every sub-command: ``--k 1000`` is one line naming the class, its
    training images, the fold (fit has none) and the k to pass, before any network trains;
    nothing is lowered silently."""
    tree = make_tree(tmp_path / "t")
    store = ["--results", str(tmp_path / "r")]
    argv = {"fit": ["fit", str(tree), "--out", str(tmp_path / "m.dissim")],
            "evaluate": ["evaluate", str(tree), "--folds", "2"],
            "run": ["run", "--dataset", "folder", "--root", str(tree), *store],
            "grid": ["grid", "--dataset", "folder", "--root", str(tree), *store]}[command]
    before = snapshot(tmp_path)
    code = main([*argv, "--profile", "smoke", "--k", "2,1000"])
    err = capsys.readouterr().err
    message = fails_once(code, err)
    assert "Warning" not in err
    n, fold = {"fit": (8, ""), "evaluate": (4, " in fold 0")}.get(command, (6, " in fold 0"))
    if command == "run":  # one member, one k
        code = main([*argv, "--profile", "smoke", "--k", "1000"])
        message = fails_once(code, capsys.readouterr().err)
    fits = "" if command == "run" else "2"
    assert message == (f"class 'a' has {n} training images{fold} but k=1000 prototypes per "
                       f"class were requested (profile smoke); pass --k {fits or n} or add "
                       "images")
    assert snapshot(tmp_path) == before


def test_a_warning_is_one_line(tmp_path):
    """Item 5: a warning the user should see (the profile's k values lowered for a class of
    one image) is one ``dissim: warning:`` line, not Python's warning with its source line."""
    tree = make_tree(tmp_path / "t", classes="ab", per_class=3)
    for extra in ("1.png", "2.png"):
        (tree / "a" / extra).unlink()
    args = [a.format(tree=tree, out=tmp_path / "m.zip") for a in FIT if a not in ("--k", "2")]
    done = subprocess.run([sys.executable, "-m", "dissim", *args], env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [ln for ln in done.stderr.replace("\r", "\n").splitlines()
             if ln.strip() and "it/s" not in ln and "s/it" not in ln]
    assert [ln for ln in lines if "arning" in ln] == [
        "dissim: warning: the smallest class has 1 training images: the profile's k values "
        "2,3 -> 1"], done.stderr
    assert "UserWarning" not in done.stderr and "model.py" not in done.stderr
