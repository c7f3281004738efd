"""Reliability of ``dissim book run`` and ``dissim results export`` (book: How the book is built;
Results on real images).

1. A page's key holds the data it reads, however its folder was found (``--root``,
   ``$DISSIM_DATA``, the data cache, an embedded set): changed images run it again.
2. Ctrl-C or SIGTERM keep the pages finished before; only the page in progress is undone.
3. What a run killed outright (SIGKILL) left -- its kernel's connection file and sockets, its
   temporary page -- is swept by the next run, and nothing of a live run, another machine or
   another program; the connection file is private while it exists.
4. A damaged snapshot is one line naming it, before any kernel starts.
5. The pages of a removed snapshot go with the next run, whichever pages it runs.
6. An export over an earlier snapshot never deletes a file someone put there.

No kernel starts: the notebook executor is replaced (as in tests/test_page_cache.py), and
leftovers of killed runs are fabricated under the names a run gives them.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from bad_input import fails_once

from dissim.cli import main
from dissim.errors import ConfigError, DataError, Terminated
from dissim.pipeline import snapshots
from dissim.report import book, kernels, leftovers, page_cache

ROOT = Path(__file__).parents[1]
COMMITTED = ROOT / snapshots.SNAPSHOT_DIR / "textures-smoke"


def _page(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Page"), nbformat.v4.new_code_cell("x = 1")]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


@pytest.fixture
def pages(tmp_path, monkeypatch):
    """book.run into ``tmp_path/book/results`` with an executor that writes a stamped page as
    the real one does, and records the notebooks it ran; the repository digest held fixed."""
    out = tmp_path / "book" / "results"
    monkeypatch.setattr(book, "OUT_DIR", out)
    monkeypatch.setattr(book, "SNAPSHOT_PAGES", out / "snapshots")
    monkeypatch.setattr(page_cache, "repository_digest", lambda repo: "fixed")
    ran: list[str] = []

    def execute(notebook, output, parameters, *, inputs_key=None, **kw):
        ran.append(notebook.stem)
        _page(output)
        page_cache.stamp(output, inputs_key)
        return output

    monkeypatch.setattr(book, "execute", execute)
    return ran


def _images(folder: Path, value: int = 0) -> Path:
    """Two class folders of two PNG images each (InfLar's layout keeps them in FRAMES/)."""
    from PIL import Image

    for cls in ("a", "b"):
        (folder / cls).mkdir(parents=True, exist_ok=True)
        for i in range(2):
            img = np.full((8, 8), 40 * i + value, dtype=np.uint8)
            Image.fromarray(img).save(folder / cls / f"{i}.png")
    return folder


def _changed(folder: Path) -> None:
    """Another image in place of one (as a fresh fetch of another archive would give)."""
    from PIL import Image

    noise = np.random.default_rng(1).integers(0, 255, (12, 12), dtype=np.uint8)
    Image.fromarray(noise).save(folder / "a" / "0.png")


# -- 1. the data a page reads is in its key, however its folder was found -------------------
@pytest.mark.parametrize("found", ["DISSIM_DATA", "data cache", "--root"])
def test_a_page_runs_again_when_the_images_of_its_data_folder_change(tmp_path, monkeypatch,
                                                                     pages, capsys, found):
    monkeypatch.delenv("DISSIM_DATA", raising=False)
    root = None
    if found == "DISSIM_DATA":
        monkeypatch.setenv("DISSIM_DATA", str(tmp_path / "data"))
        folder = _images(tmp_path / "data" / "inflar" / "FRAMES")
    elif found == "data cache":
        monkeypatch.setenv("DISSIM_CACHE", str(tmp_path / "cache"))
        folder = _images(tmp_path / "cache" / "data" / "inflar")
    else:
        root = str(tmp_path / "mine")
        folder = _images(tmp_path / "mine")

    def run() -> None:
        book.run("smoke", ["inflar"], notebooks=["table1"], data_root=root,
                 results_dir=str(tmp_path / "results"))

    run()
    run()
    assert pages == ["table1"]
    assert "inputs unchanged, kept" in capsys.readouterr().out
    _changed(folder)
    run()
    assert pages == ["table1", "table1"]  # the page of the old images is not kept


def test_a_page_of_an_embedded_set_runs_again_when_its_images_change(tmp_path, monkeypatch,
                                                                     pages):
    from dissim.data import embedded

    build = embedded.build

    def other_images(name):
        images, labels, classes, groups = build(name)
        return [255 - images[0], *images[1:]], labels, classes, groups

    def run() -> None:
        book.run("smoke", ["digits"], notebooks=["table1"], results_dir=str(tmp_path / "r"))

    run()
    run()
    assert pages == ["table1"]
    monkeypatch.setattr(embedded, "build", other_images)
    run()
    assert pages == ["table1", "table1"]


def test_a_missing_data_folder_is_one_line_before_any_kernel(tmp_path, monkeypatch, pages,
                                                            capsys):
    monkeypatch.setenv("DISSIM_DATA", str(tmp_path / "nothing"))
    code = main(["book", "run", "--profile", "smoke", "--dataset", "inflar", "--notebooks",
                 "table1", "--results", str(tmp_path / "r")])
    message = fails_once(code, capsys.readouterr().err)
    assert message.startswith(f"data folder {tmp_path / 'nothing' / 'inflar'} for 'inflar' "
                              "not found; download it with `dissim data fetch inflar`")
    assert pages == [] and not book.OUT_DIR.exists()


# -- 2. an interrupt keeps the finished pages -----------------------------------------------
@pytest.mark.parametrize("stop", [KeyboardInterrupt(), Terminated(15)], ids=["ctrl-c", "term"])
def test_an_interrupt_keeps_the_pages_finished_before_it(tmp_path, monkeypatch, stop):
    """The real executor, papermill replaced: table1 finishes, table2 is interrupted."""
    import papermill

    out = tmp_path / "book" / "results"
    monkeypatch.setattr(book, "OUT_DIR", out)
    monkeypatch.setattr(book, "SNAPSHOT_PAGES", out / "snapshots")
    monkeypatch.setattr(page_cache, "repository_digest", lambda repo: "fixed")
    ran = []

    def papermill_run(notebook, output, **kwargs):
        ran.append(Path(notebook).stem)
        _page(Path(output))
        if Path(notebook).stem == "table2" and len(ran) == 2:
            raise stop

    monkeypatch.setattr(papermill, "execute_notebook", papermill_run)

    def run() -> None:
        book.run("smoke", ["textures"], notebooks=["table1", "table2"], log_output=False,
                 results_dir=str(tmp_path / "r"))

    with pytest.raises(KeyboardInterrupt):
        run()
    assert sorted(p.name for p in out.rglob("*")) == ["table1.ipynb", "textures"]
    run()  # the cache resumes: table1 is kept, table2 runs
    assert ran == ["table1", "table2", "table2"]
    assert sorted(p.name for p in out.rglob("*")) == ["table1.ipynb", "table2.ipynb",
                                                      "textures"]


def test_a_failed_run_still_leaves_the_folders_as_they_were(tmp_path, monkeypatch, pages):
    def fails(notebook, output, parameters, **kw):
        if notebook.stem == "table2":
            raise DataError("notebook table2.ipynb failed for textures: boom")
        _page(output)
        return output

    monkeypatch.setattr(book, "execute", fails)
    with pytest.raises(DataError):
        book.run("smoke", ["textures"], notebooks=["table1", "table2"])
    assert not book.OUT_DIR.exists()


# -- 3. what a killed run left is swept ------------------------------------------------------
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _other_host() -> str:
    return "0000" if leftovers.host_tag() != "0000" else "ffff"


def test_a_later_book_run_sweeps_what_a_killed_run_left_and_nothing_else(
        tmp_path, monkeypatch, pages, capsys):
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    dead, host = _dead_pid(), leftovers.host_tag()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        killed = f"{kernels.PREFIX}{dead}-{host}a1b2"
        swept = {f"{killed}.json", *(f"{killed}-ipc-{i}" for i in range(1, 6))}
        kept = {f"{kernels.PREFIX}{live.pid}-{host}a1b2.json",  # a run still alive
                f"{kernels.PREFIX}{dead}-{_other_host()}a1b2.json",  # another machine's
                "kernel-5f3e1c2a.json",  # a kernel of Jupyter's own
                f"{kernels.PREFIX}{dead}-{host}a1b2.txt"}  # not a kernel's file
        for name in swept | kept:
            (runtime / name).write_text('{"key": "secret"}')
        ds = book.OUT_DIR / "textures"
        ds.mkdir(parents=True)
        page_swept = f".table1.dissim-{dead}-{host}.k3j4h5l2.ipynb"
        pages_kept = {f".table1.dissim-{live.pid}-{host}.k3j4h5l2.ipynb",
                      f".table1.dissim-{dead}-{_other_host()}.k3j4h5l2.ipynb",
                      ".table1.k3j4h5l2.ipynb",  # no owner: not provably a dead run's
                      ".notes.ipynb"}
        for name in {page_swept} | pages_kept:
            (ds / name).write_bytes(b"")
        book.run("smoke", ["textures"], notebooks=["table1"], results_dir=str(tmp_path / "r"))
        assert {p.name for p in runtime.iterdir()} == kept
        assert {p.name for p in ds.iterdir()} == pages_kept | {"table1.ipynb"}
        assert "[book] removed 7 file(s) that killed book runs left" in capsys.readouterr().out
    finally:
        live.kill()
        live.wait()


def test_the_files_a_run_creates_carry_its_owner(tmp_path, monkeypatch):
    """The names the sweep recognises are those a run gives: kernel files and temporary page."""
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    me = str(os.getpid())
    with kernels.owned_kernel() as km:
        for name in (Path(km.connection_file).name, Path(f"{km.ip}-1").name):
            match = kernels.FILES.fullmatch(name)
            assert match and match["pid"] == me and match["host"] == leftovers.host_tag()
    seen = []

    def killed(notebook, tmp, *args, **kwargs):
        seen.append(Path(tmp))
        raise KeyboardInterrupt

    monkeypatch.setattr(book, "_execute_into", killed)
    nb = _page(tmp_path / "page.ipynb")
    with pytest.raises(KeyboardInterrupt):
        book.execute(nb, tmp_path / "out" / "page.ipynb", {})
    match = book.TEMPORARY_PAGE.fullmatch(seen[0].name)
    assert match and match["pid"] == me and seen[0].parent == tmp_path / "out"
    assert not seen[0].exists()  # the page in progress is undone


def test_the_connection_file_is_private_while_it_exists(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("JUPYTER_ALLOW_INSECURE_WRITES", "1")
    old = os.umask(0)
    try:
        with kernels.owned_kernel() as km:
            km.write_connection_file()
            path = Path(km.connection_file)
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert json.loads(path.read_text())["key"]
    finally:
        os.umask(old)
    assert not path.exists()


# -- 4. a damaged snapshot: one line before any kernel ---------------------------------------
def test_a_damaged_snapshot_is_one_line_before_any_kernel(tmp_path, monkeypatch, pages,
                                                          capsys):
    base = tmp_path / "snaps"
    shutil.copytree(COMMITTED, base / "textures-smoke")
    shutil.copytree(COMMITTED, base / "zz-damaged")
    score = base / "zz-damaged" / "scores" / "fold-0.npz"
    data = bytearray(score.read_bytes())
    data[len(data) // 2] ^= 0xFF
    score.write_bytes(bytes(data))
    monkeypatch.setitem(book.run.__kwdefaults__, "snapshots_dir", base)
    code = main(["book", "run", "--profile", "smoke", "--notebooks", "table1,claims",
                 "--results", str(tmp_path / "r")])
    message = fails_once(code, capsys.readouterr().err)
    assert message.startswith(f"snapshot {base / 'zz-damaged'} file scores/fold-0.npz does "
                              "not match its SHA-256 in the index")
    assert pages == []  # no page ran, not even those of the other data set and snapshot


# -- 5. a removed snapshot's pages go -------------------------------------------------------
def test_the_pages_of_a_removed_snapshot_go_with_the_next_run(tmp_path, pages):
    base = tmp_path / "snaps"
    shutil.copytree(COMMITTED, base / "textures-smoke")
    book.run("smoke", ["textures"], notebooks=["claims", "table1"], snapshots_dir=base)
    snapshot_pages = book.SNAPSHOT_PAGES / "textures-smoke"
    assert (snapshot_pages / "claims.ipynb").exists()
    shutil.rmtree(base / "textures-smoke")  # the snapshot is removed from the repository
    book.run("smoke", ["textures"], notebooks=["table1"], snapshots_dir=base)
    assert not snapshot_pages.exists()
    assert (book.OUT_DIR / "textures" / "table1.ipynb").exists()


# -- 6. export never deletes a user's file ---------------------------------------------------
@pytest.fixture
def entries():
    return snapshots.load(COMMITTED).entries()


def test_an_export_over_a_snapshot_refuses_a_file_that_is_not_its_own(tmp_path, entries):
    out = tmp_path / "snap"
    snapshots.export(entries, out, dataset="textures", profile="smoke")
    snapshots.export(entries, out, dataset="textures", profile="smoke")  # its own: replaced
    index = (out / "index.json").read_bytes()
    (out / "notes.txt").write_text("my notes")
    with pytest.raises(ConfigError) as err:
        snapshots.export(entries, out, dataset="textures", profile="smoke")
    assert str(err.value) == (
        f"--out {out} holds notes.txt, which is not part of the snapshot there and would be "
        "deleted with it; move it out of the folder, or name a new or empty folder")
    assert (out / "notes.txt").read_text() == "my notes"
    assert (out / "index.json").read_bytes() == index


def test_a_file_put_into_the_snapshot_during_an_export_is_kept(tmp_path, monkeypatch, entries):
    out = tmp_path / "snap"
    snapshots.export(entries, out, dataset="textures", profile="smoke")
    index = (out / "index.json").read_bytes()
    write_group = snapshots.files.write_group

    def meanwhile(*args, **kwargs):
        (out / "scores" / "mine.npz").write_bytes(b"a user's file")
        return write_group(*args, **kwargs)

    monkeypatch.setattr(snapshots.files, "write_group", meanwhile)
    with pytest.raises(ConfigError, match="holds scores/mine.npz, which is not part of"):
        snapshots.export(entries, out, dataset="textures", profile="smoke")
    assert (out / "scores" / "mine.npz").read_bytes() == b"a user's file"
    assert (out / "index.json").read_bytes() == index  # the earlier snapshot, as it was
    assert sorted(p.name for p in out.parent.iterdir()) == ["snap"]  # no temporary folder


def test_results_export_over_a_snapshot_with_a_users_file_is_one_line(tmp_path, capsys,
                                                                       entries):
    from dissim.pipeline.store import ResultsStore

    store = tmp_path / "store"
    snapshots.import_(COMMITTED, ResultsStore(str(store)))
    out = tmp_path / "snap"
    argv = ["results", "export", "--results", str(store), "--dataset", "textures",
            "--profile", "smoke", "--out", str(out)]
    assert main(argv) == 0
    (out / ".keep").write_text("")
    message = fails_once(main(argv), capsys.readouterr().err)
    assert message.startswith(f"--out {out} holds .keep, which is not part of the snapshot")
    assert (out / ".keep").exists()


def test_a_page_is_readable_by_the_group_as_a_new_file_would_be(tmp_path, monkeypatch):
    """A page is written through mkstemp (0600) and renamed: it gets what ``open`` would give
    a new file under the umask (dissim.atomic.permissions), like every other result."""
    import papermill

    out = tmp_path / "book" / "results"
    monkeypatch.setattr(book, "OUT_DIR", out)
    monkeypatch.setattr(book, "SNAPSHOT_PAGES", out / "snapshots")
    monkeypatch.setattr(page_cache, "repository_digest", lambda repo: "fixed")
    monkeypatch.setattr(papermill, "execute_notebook",
                        lambda notebook, output, **kwargs: _page(Path(output)))
    old = os.umask(0o027)
    try:
        import dissim.atomic
        monkeypatch.setattr(dissim.atomic, "_UMASK", 0o027)
        book.run("smoke", ["textures"], notebooks=["table1"], log_output=False,
                 results_dir=str(tmp_path / "r"))
    finally:
        os.umask(old)
    assert (out / "textures" / "table1.ipynb").stat().st_mode & 0o777 == 0o640


def test_results_export_keeps_only_the_folds_asked(tmp_path, capsys):
    """``--folds`` writes a snapshot of the finished folds of a grid still running on others:
    exactly the entries of those folds, and a fold the store does not hold is one line."""
    from dissim.pipeline.store import ResultsStore

    store = tmp_path / "store"
    snapshots.import_(COMMITTED, ResultsStore(str(store)))
    whole = snapshots.load(COMMITTED)
    assert whole.provenance()["folds"] == [0, 1]
    argv = ["results", "export", "--results", str(store), "--dataset", "textures",
            "--profile", "smoke"]
    assert main([*argv, "--folds", "1", "--out", str(tmp_path / "one")]) == 0
    one = snapshots.load(tmp_path / "one")
    assert one.provenance()["folds"] == [1]
    assert sorted(r.key for r in one.entries()) == sorted(
        r.key for r in whole.entries() if snapshots.member_of(r.meta).fold == 1)
    message = fails_once(main([*argv, "--folds", "3", "--out", str(tmp_path / "none")]),
                         capsys.readouterr().err)
    assert message.startswith("--folds 3: no stored entry of textures [smoke]")
    assert not (tmp_path / "none").exists()
