"""Reliability, bad inputs (issue 8): each mistake stops ``dissim`` with one line, exit 2.

Every test drives the command line (``dissim.cli.main``) or the public function a notebook
calls, and checks three things: the exit status is 2 (or a :class:`DissimError` is raised), the
message is one line that names the culprit and the fix, and the results store holds nothing
afterwards. Loader-level cases are covered in ``test_data_loaders.py``
(``test_bad_inputs_name_the_culprit``, ``test_missing_folder_messages``); the topology and
memory functions in ``test_topologies.py`` (``test_min_input_size``, ``check_fits`` tests).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

import dissim.memory
import dissim.train
from dissim.cli import main
from dissim.data.manifest import manifests_dir
from dissim.errors import ConfigError
from dissim.pipeline.store import ResultsStore


def make_tree(root: Path, per_class: int = 6, side: int = 20) -> Path:
    """Two classes of tiny images in every Pillow mode a user may have: grey, RGB, RGBA,
    16-bit grey, palette and grey+alpha; class ``b`` is brighter than class ``a``."""
    rng = np.random.default_rng(0)
    for ci, cname in enumerate("ab"):
        (root / cname).mkdir(parents=True)
        for i in range(per_class):
            h, w = side + i, side + 2 * i  # sizes differ, as in real folders
            base = rng.integers(0, 90, size=(h, w)) + 140 * ci
            kind = i % 6
            if kind == 0:
                img = Image.fromarray(base.astype(np.uint8), "L")
            elif kind == 1:
                img = Image.fromarray(np.stack([base] * 3, -1).astype(np.uint8), "RGB")
            elif kind == 2:
                rgba = np.dstack([base, base, base, np.full_like(base, 200)]).astype(np.uint8)
                img = Image.fromarray(rgba, "RGBA")
            elif kind == 3:
                img = Image.fromarray((base * 257).astype(np.uint16))  # 16-bit grey
            elif kind == 4:
                img = Image.fromarray(base.astype(np.uint8), "L").convert("P")
            else:
                img = Image.fromarray(base.astype(np.uint8), "L").convert("LA")
            img.save(root / cname / f"{i}.png")
    return root


def run_fails(capsys, argv: list[str]) -> str:
    """Run the CLI; assert exit 2, exactly one ``dissim: error:`` line, no traceback."""
    code = main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("dissim: error: ")]
    assert code == 2, err
    assert len(errors) == 1 and errors[0] == lines[-1], err  # progress bars may precede it
    assert "Traceback" not in err
    return errors[0]


def files_in(store: Path) -> list[Path]:
    return [p for p in store.rglob("*") if p.is_file()] if store.exists() else []


def member_argv(tmp_path: Path, root: Path | str, *extra: str) -> list[str]:
    return ["run", "--dataset", "folder", "--root", str(root), "--profile", "smoke",
            "--topology", "7", "--device", "cpu", "--results", str(tmp_path / "results"),
            *extra]


@pytest.mark.parametrize("case", ["corrupt", "empty", "nonimage", "missing", "no_root"])
def test_bad_folder_stops_a_member_with_one_line(tmp_path, capsys, no_training, case):
    root = make_tree(tmp_path / "data")
    if case == "corrupt":
        (root / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
        want = f"cannot read image {root / 'a' / 'broken.png'} ("  # (OSError); remove or ...
    elif case == "empty":
        (root / "c").mkdir()
        want = f"class folder {root / 'c'} is empty; add images or remove the folder"
    elif case == "nonimage":
        (root / "b" / "notes.txt").write_text("not an image")
        want = f"file {root / 'b' / 'notes.txt'} is not an allowed data file"
    elif case == "missing":
        root = tmp_path / "nowhere"
        want = f"data folder {root} not found; pass an existing folder of class folders"
    else:
        want = "data set 'folder' needs --root DIR"
    argv = member_argv(tmp_path, root)
    if case == "no_root":
        argv = [a for a in argv if a not in ("--root", str(root))]
    line = run_fails(capsys, argv)
    assert line.startswith(f"dissim: error: {want}")
    if case == "corrupt":
        assert line.endswith("); remove or replace it")
    assert files_in(tmp_path / "results") == []


def test_unknown_and_missing_paper_data_sets(tmp_path, capsys, no_training):
    line = run_fails(capsys, ["run", "--dataset", "inflarr", "--profile", "smoke",
                              "--results", str(tmp_path / "results")])
    assert line == ("dissim: error: unknown data set 'inflarr'; `dissim data list` shows the "
                    "known ones")
    nowhere = tmp_path / "nowhere"
    line = run_fails(capsys, ["run", "--dataset", "inflar", "--root", str(nowhere),
                              "--profile", "smoke", "--results", str(tmp_path / "results")])
    assert line == (f"dissim: error: data folder {nowhere} for 'inflar' not found; download it "
                    "with `dissim data fetch inflar` or pass --root")
    assert files_in(tmp_path / "results") == []


def test_class_smaller_than_k_fails_before_training(tmp_path, capsys, no_training):
    root = make_tree(tmp_path / "data")
    line = run_fails(capsys, member_argv(tmp_path, root, "--k", "50"))
    assert line.startswith("dissim: error: class 'a' has ")
    assert line.endswith("training images in fold 0 but k=50 prototypes per class were "
                         "requested (profile smoke); pass --k 4 or add images")
    assert files_in(tmp_path / "results") == []


def test_mixed_grey_rgb_rgba_16bit_folder_runs_end_to_end(tmp_path, capsys):
    root = make_tree(tmp_path / "data")
    code = main(member_argv(tmp_path, root, "--k", "2", "--space", "deeper"))
    out = capsys.readouterr().out
    assert code == 0 and "folder fold 0 orig topology 7" in out and "accuracy" in out
    store = ResultsStore(tmp_path / "results")
    (result,) = list(store)
    assert result.meta["data"]["classes"] == ["a", "b"]
    assert result.meta["data"]["input_size"] == 62  # topology 7's minimum, above smoke's 48
    assert np.all(np.isfinite(result.scores))


def test_checksum_mismatch_refuses_the_archive_before_unpacking(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "manifests"
    folder.mkdir()
    m = yaml.safe_load((manifests_dir() / "inflar.yml").read_text())
    m["name"], m["archive"]["sha256"] = "sums", "0" * 64
    (folder / "sums.yml").write_text(yaml.safe_dump(m))
    monkeypatch.setenv("DISSIM_MANIFESTS", str(folder))
    dest = tmp_path / "dest"
    dest.mkdir()
    archive = dest / m["archive"]["filename"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("FRAMES/Fold1/B/0.png", b"x")
    archive.write_bytes(buf.getvalue())
    line = run_fails(capsys, ["data", "fetch", "sums", "--dest", str(dest)])
    assert line.startswith(f"dissim: error: checksum mismatch for {archive}: expected sha256 "
                           f"{'0' * 64}, got ")
    assert line.endswith("; delete the file and download it again")
    assert not (dest / "FRAMES").exists()  # never unpacked: verified before use


def test_topology_that_cannot_fit_is_refused_before_allocation(tmp_path, capsys, monkeypatch):
    """Topology 8 at the paper's 224 px on a 24 GiB machine: refused before any weight exists."""
    def refuse(*args, **kwargs):
        raise AssertionError("a network was built before the memory check")

    monkeypatch.setattr(dissim.train, "_train_once", refuse)
    monkeypatch.setattr(dissim.memory, "free_bytes", lambda device: 24 * 2**30)
    root = make_tree(tmp_path / "data")
    line = run_fails(capsys, ["run", "--dataset", "folder", "--root", str(root), "--profile",
                              "paper", "--topology", "8", "--k", "1", "--device", "cpu",
                              "--results", str(tmp_path / "results")])
    assert line.startswith("dissim: error: topology 8 at 224 px needs ~")
    assert "but cpu has 24.0 GiB available; use a GPU with more memory or a smaller " \
           "input_size" in line
    assert files_in(tmp_path / "results") == []


def test_profiles_raise_inputs_to_the_topology_minimum():
    """A profile below a topology's minimum side is raised, never fed a too-small input."""
    from dissim.pipeline.experiment import input_size
    from dissim.profiles import get
    from dissim.topologies import create, min_input_size

    for topology in range(1, 9):
        assert input_size(topology, get("smoke")) == max(48, min_input_size(topology))
    net = create(7, input_size=62, device="meta")
    import torch

    with pytest.raises(ConfigError, match=r"topology 7 was built for \(N, 3, 62, 62\) inputs; "
                                          r"got \(1, 3, 48, 48\) \(resize the images to 62 px"):
        net(torch.empty(1, 3, 48, 48, device="meta"))


@pytest.mark.parametrize(("params", "message"), [
    ({"k": 15}, "notebook table1.ipynb has no parameter 'k'; it declares data_root, dataset, "),
    ({"topology": "one"}, "parameter 'topology' of table1.ipynb must be int (default 1); "
                          "got 'one'"),
    ({"seed": "0"}, "parameter 'seed' of table1.ipynb must be int (default 0); got '0'"),
])
def test_notebook_parameters_are_checked_before_running(tmp_path, monkeypatch, params, message):
    from dissim.report import book

    with pytest.raises(ConfigError) as err:
        book.check_parameters(book.NOTEBOOK_DIR / "table1.ipynb", params)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
    monkeypatch.setattr(book, "OUT_DIR", tmp_path / "pages")
    with pytest.raises(ConfigError):
        book.run("smoke", ["textures"], notebooks=["table1"], extra=params,
                 results_dir=str(tmp_path / "results"))
    assert not (tmp_path / "pages").exists() and not (tmp_path / "results").exists()


@pytest.mark.parametrize("command", [["run"], ["book", "run"]])
def test_unknown_profile_is_refused_by_the_parser(tmp_path, capsys, command):
    code = main([*command, "--profile", "bogus", "--results", str(tmp_path / "results")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1
    assert "argument --profile: invalid choice: 'bogus'" in err
