"""The book's pages are executed again only when their inputs changed (dissim.report.page_cache),
and their kernels run over IPC, without the "TCP without encryption" warning (book runner)."""

from __future__ import annotations

import os
import shutil

import nbformat
import pytest

from dissim.report import book, page_cache


def _notebook(path, source="x = 1"):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source, metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("print(x)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


def test_the_key_changes_with_each_input_and_only_then(tmp_path):
    nb = _notebook(tmp_path / "page.ipynb")
    data = tmp_path / "data"
    (data / "a").mkdir(parents=True)
    (data / "a" / "1.png").write_bytes(b"png")
    base = page_cache.inputs_key(nb, {"seed": 0}, "repo-1", data)
    assert page_cache.inputs_key(nb, {"seed": 0}, "repo-1", data) == base  # same inputs
    assert page_cache.inputs_key(nb, {"seed": 1}, "repo-1", data) != base  # parameters
    assert page_cache.inputs_key(nb, {"seed": 0}, "repo-2", data) != base  # package, snapshots
    assert page_cache.inputs_key(nb, {"seed": 0}, "repo-1", None) != base  # no data folder
    (data / "a" / "2.png").write_bytes(b"png")
    assert page_cache.inputs_key(nb, {"seed": 0}, "repo-1", data) != base  # a new image
    base = page_cache.inputs_key(nb, {"seed": 0}, "repo-1", data)
    _notebook(nb, "x = 2")
    assert page_cache.inputs_key(nb, {"seed": 0}, "repo-1", data) != base  # the notebook


def test_repository_digest_is_the_content_of_the_input_folders(tmp_path):
    (tmp_path / "dissim" / "__pycache__").mkdir(parents=True)
    (tmp_path / "results_snapshots" / "s").mkdir(parents=True)
    (tmp_path / "dissim" / "views.py").write_text("A = 1\n")
    (tmp_path / "results_snapshots" / "s" / "index.json").write_text("{}")
    (tmp_path / "notes").mkdir()
    first = page_cache.repository_digest(tmp_path)
    (tmp_path / "dissim" / "__pycache__" / "views.pyc").write_bytes(b"byte code")
    (tmp_path / "dissim" / ".views.py.swp").write_text("editor")
    (tmp_path / "notes" / "todo.md").write_text("not an input")
    assert page_cache.repository_digest(tmp_path) == first
    os.utime(tmp_path / "dissim" / "views.py", (0, 0))  # a fresh clone: new times, same bytes
    assert page_cache.repository_digest(tmp_path) == first
    (tmp_path / "dissim" / "views.py").write_text("A = 2\n")
    assert page_cache.repository_digest(tmp_path) != first
    second = page_cache.repository_digest(tmp_path)
    (tmp_path / "results_snapshots" / "s" / "index.json").write_text('{"a": 1}')
    assert page_cache.repository_digest(tmp_path) != second


def test_stamp_and_is_current(tmp_path):
    page = _notebook(tmp_path / "page.ipynb")
    assert page_cache.stored_key(page) is None and not page_cache.is_current(page, "k")
    assert not page_cache.is_current(tmp_path / "absent.ipynb", "k")
    (tmp_path / "broken.ipynb").write_text("{not json")
    assert not page_cache.is_current(tmp_path / "broken.ipynb", "k")
    page_cache.stamp(page, "k")
    assert page_cache.is_current(page, "k") and not page_cache.is_current(page, "other")


@pytest.fixture
def fake_book(tmp_path, monkeypatch):
    """book.run on copies of the notebooks, with an execute that counts and writes a page as
    the real one does (stamped with its inputs key); the repository digest held fixed."""
    notebooks = tmp_path / "notebooks"
    shutil.copytree(book.NOTEBOOK_DIR, notebooks)
    out = tmp_path / "book" / "results"
    monkeypatch.setattr(book, "NOTEBOOK_DIR", notebooks)
    monkeypatch.setattr(book, "OUT_DIR", out)
    monkeypatch.setattr(book, "SNAPSHOT_PAGES", out / "snapshots")
    monkeypatch.setattr(page_cache, "repository_digest", lambda repo: "fixed")
    ran = []

    def execute(notebook, output, parameters, *, inputs_key=None, **kw):
        ran.append(notebook.stem)
        output.parent.mkdir(parents=True, exist_ok=True)
        _notebook(output)
        page_cache.stamp(output, inputs_key)
        return output

    monkeypatch.setattr(book, "execute", execute)
    return notebooks, ran


def test_a_second_run_executes_nothing_and_a_changed_notebook_only_its_pages(fake_book, capsys):
    notebooks, ran = fake_book
    book.run("smoke", results_dir="results")
    pages = len(ran)
    assert pages >= len(book.ALL_NOTEBOOKS) and set(ran) == set(book.ALL_NOTEBOOKS)
    ran.clear()
    assert book.run("smoke", results_dir="results") == [] and ran == []
    assert capsys.readouterr().out.count("inputs unchanged, kept") == 2 * pages - pages
    nb = nbformat.read(notebooks / "table1.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("One more sentence."))
    nbformat.write(nb, notebooks / "table1.ipynb")
    book.run("smoke", results_dir="results")
    assert ran == ["table1"]
    ran.clear()
    book.run("smoke", results_dir="results", seed=1)  # another seed: all but the snapshot pages
    assert set(ran) == set(book.PER_DATASET + book.GLOBAL)
    ran.clear()
    book.run("smoke", results_dir="results", seed=1, force=True)
    assert len(ran) == pages


def test_a_page_executed_for_real_carries_its_key_and_no_kernel_warning(tmp_path, capfd,
                                                                       monkeypatch):
    """No transport warning, and no interrupt sent to the idle kernel at shutdown (ipykernel
    prints "KeyboardInterrupt caught in kernel." when one lands while it reads a message)."""
    from jupyter_client.manager import KernelManager

    interrupts = []
    monkeypatch.setattr(KernelManager, "_async_interrupt_kernel",
                        lambda self: interrupts.append(self) or _done())
    nb = _notebook(tmp_path / "page.ipynb")
    out = tmp_path / "out" / "page.ipynb"
    assert book.KERNEL_TRANSPORT == "ipc"
    book.execute(nb, out, {"x": 3}, inputs_key="abc")
    err = capfd.readouterr().err
    assert "without encryption" not in err and "Kernel is running over TCP" not in err
    assert "KeyboardInterrupt" not in err and interrupts == []
    page = nbformat.read(out, as_version=4)
    assert page_cache.stored_key(out) == "abc"
    assert page.cells[-1].outputs[0]["text"] == "3\n"


async def _done() -> None:
    return None
