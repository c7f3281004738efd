"""Nothing partial (issue 15): a full disk, a read-only folder or a failed notebook leaves no
temporary file and no new folder; each is one line. Tests run as root, so the file system's
refusals are simulated by making the write raise the ``OSError`` it would raise."""

from __future__ import annotations

import errno
import zipfile

import pytest
from bad_input import REPO, fails_once, snapshot

from dissim.errors import ResourceError


def _raise(code: int, text: str):
    def fail(*args, **kwargs):
        raise OSError(code, text)
    return fail


@pytest.fixture(scope="module")
def clf(tmp_path_factory):
    from bad_input import make_tree

    from dissim.data import load_folder
    from dissim.pipeline.classifier import DissimilarityClassifier

    ds = load_folder(make_tree(tmp_path_factory.mktemp("w") / "t"))
    return DissimilarityClassifier(profile="smoke", topologies=(8,), methods=("cross",),
                                   spaces=("fully",), k_values=(2,), device="cpu",
                                   verbose=False).fit(ds.images, ds.labels)


@pytest.mark.parametrize("code, text, want", [
    (errno.ENOSPC, "No space left on device", "free some space"),
    (errno.EACCES, "Permission denied", "you can write to"),
    (errno.EROFS, "Read-only file system", "you can write to"),
])
def test_model_save_on_a_full_or_read_only_disk(clf, tmp_path, monkeypatch, code, text, want):
    monkeypatch.setattr(zipfile.ZipFile, "writestr", _raise(code, text))
    with pytest.raises(ResourceError) as err:
        clf.save(tmp_path / "m.zip")
    assert "\n" not in str(err.value) and str(tmp_path / "m.zip") in str(err.value)
    assert want in str(err.value)
    assert list(tmp_path.iterdir()) == []  # no m.zip, no .tmp


def test_model_save_refuses_a_folder_without_writing(clf, tmp_path, monkeypatch):
    import dissim.atomic

    monkeypatch.setattr(dissim.atomic.tempfile, "mkstemp", _raise(errno.EACCES, "Permission "
                                                                   "denied"))
    with pytest.raises(ResourceError, match="cannot write model file"):
        clf.save(tmp_path / "m.zip")
    assert list(tmp_path.iterdir()) == []


def test_read_only_results_store_is_refused_before_work(tmp_path, monkeypatch, capsys):
    import dissim.pipeline.validate
    from dissim.cli import main

    monkeypatch.setattr(dissim.pipeline.validate.tempfile, "mkstemp", _raise(errno.EACCES,
                                                                    "Permission denied"))
    message = fails_once(main(["run", "--profile", "smoke", "--results", str(tmp_path / "r")]),
                         capsys.readouterr().err)
    assert message.startswith(f"cannot write results store {tmp_path / 'r'}: Permission denied")
    assert list(tmp_path.iterdir()) == []


def test_store_put_on_a_full_disk_leaves_no_tmp(store, monkeypatch):
    import numpy as np

    monkeypatch.setattr("os.fsync", _raise(errno.ENOSPC, "No space left on device"))
    with pytest.raises(OSError):
        store.put("ab" * 32, np.zeros((2, 2)), np.zeros(2), np.arange(2), {})
    assert [p for p in store.root.rglob("*") if p.is_file()] == []


def test_atomic_path_cleans_up_on_any_error(tmp_path):
    from dissim.atomic import atomic_dir, atomic_path

    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "x.bin") as tmp:
        tmp.write_bytes(b"partial")
        raise KeyboardInterrupt
    with pytest.raises(ValueError), atomic_dir(tmp_path / "d") as tmp:
        (tmp / "f").write_text("partial")
        raise ValueError
    assert list(tmp_path.iterdir()) == []


def test_failed_book_run_leaves_the_repository_as_it_was(tmp_path, monkeypatch, capsys):
    import papermill

    import dissim.report.book
    from dissim.cli import main

    if (REPO / "book" / "results" / "textures").exists():
        pytest.skip("book/results/textures exists here; this test needs it absent")

    def kernel_fails(notebook, output, **kwargs):
        with open(output, "w") as fh:
            fh.write("{}")  # papermill writes the partial notebook, then raises
        raise RuntimeError("PapermillExecutionError: ZeroDivisionError: division by zero")

    monkeypatch.setattr(papermill, "execute_notebook", kernel_fails)
    monkeypatch.setattr(dissim.report.book, "FAILED_DIR", tmp_path / "failed")
    before = snapshot()
    message = fails_once(main(["book", "run", "--profile", "smoke", "--notebooks", "table1",
                               "--dataset", "textures", "--results", str(tmp_path / "r")]),
                         capsys.readouterr().err)
    assert message.startswith("notebook table1.ipynb failed for textures")
    assert snapshot() == before
    assert (tmp_path / "failed" / "textures" / "table1.ipynb").exists()
