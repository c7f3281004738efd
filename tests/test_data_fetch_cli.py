"""Downloads (offline, monkeypatched) and the ``dissim data`` command (dissim.data.fetch, .cli)."""

from __future__ import annotations

import hashlib
import io
import zipfile

import numpy as np
import pooch
import pytest
import yaml
from PIL import Image

from dissim.cli import main
from dissim.data import check, load
from dissim.data.fetch import fetch
from dissim.data.manifest import manifests_dir
from dissim.errors import DataError


@pytest.fixture
def no_network(monkeypatch):
    def refuse(url, *args, **kwargs):
        raise ConnectionError(f"network disabled in tests: {url}")

    monkeypatch.setattr(pooch, "retrieve", refuse)


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    png = io.BytesIO()
    Image.fromarray(np.zeros((3, 3), np.uint8)).save(png, format="PNG")
    with zipfile.ZipFile(buf, "w") as zf:
        for f in (1, 2, 3):
            for c in "BISU":
                # a fixed timestamp: the same bytes (and checksum) on every call, whatever the
                # clock says (writestr with a bare name stamps the current second)
                info = zipfile.ZipInfo(f"FRAMES/Fold{f}/{c}/0.png", date_time=(2020, 1, 1, 0, 0, 0))
                zf.writestr(info, png.getvalue())
    return buf.getvalue()


@pytest.fixture
def fake_manifests(tmp_path, monkeypatch):
    """A manifest folder with 'inflar' and a copy 'sums' whose archive has a known sha256."""
    folder = tmp_path / "manifests"
    folder.mkdir()
    m = yaml.safe_load((manifests_dir() / "inflar.yml").read_text())
    (folder / "inflar.yml").write_text(yaml.safe_dump(m))
    for c in m["classes"]:
        c["count"] = 3
    m["name"], m["images"] = "sums", 12
    m["archive"]["sha256"] = hashlib.sha256(_zip_bytes()).hexdigest()
    (folder / "sums.yml").write_text(yaml.safe_dump(m))
    monkeypatch.setenv("DISSIM_MANIFESTS", str(folder))
    return folder


def test_offline_download_says_what_to_do(tmp_path, no_network):
    with pytest.raises(DataError, match=r"could not reach zenodo\.org") as err:
        fetch("inflar", tmp_path / "dest")
    msg = str(err.value)
    assert "FRAMES.zip by hand into" in msg and str(tmp_path / "dest") in msg
    assert "dissim data check" in msg


@pytest.mark.parametrize("name, hint", [("cat", "kaggle.com"), ("port", "authors"),
                                        ("rpe", "PLoS ONE"), ("birdz", "authors")])
def test_manual_data_sets_give_instructions(tmp_path, name, hint, no_network):
    with pytest.raises(DataError, match="cannot be downloaded automatically") as err:
        fetch(name, tmp_path)
    assert hint in str(err.value) and f"dissim data check {name}" in str(err.value)


def test_embedded_and_unknown(no_network):
    with pytest.raises(DataError, match="ships with a pip package"):
        fetch("textures")
    with pytest.raises(DataError, match="unknown data set 'zzz'"):
        fetch("zzz")


def test_checksum_mismatch_names_file_and_hashes(tmp_path, fake_manifests, no_network):
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / "FRAMES.zip").write_bytes(_zip_bytes() + b"tampered")
    want = yaml.safe_load((fake_manifests / "sums.yml").read_text())["archive"]["sha256"]
    got = hashlib.sha256(_zip_bytes() + b"tampered").hexdigest()
    with pytest.raises(DataError, match="checksum mismatch") as err:
        fetch("sums", dest)
    assert str(dest / "FRAMES.zip") in str(err.value) and want in str(err.value)
    assert got in str(err.value)
    assert any("checksum mismatch" in p for p in check("sums", dest))


def test_archive_placed_by_hand_is_verified_and_unpacked(tmp_path, fake_manifests, no_network):
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / "FRAMES.zip").write_bytes(_zip_bytes())
    assert fetch("sums", dest) == dest
    assert check("sums", dest) == []
    ds = load("sums", dest, progress=False)
    assert len(ds) == 12 and sorted(set(ds.groups.tolist())) == [0, 1, 2]
    assert main(["data", "check", "sums", "--root", str(dest)]) == 0


def test_cli_list_info(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "inflar" in out and "textures*" in out
    assert main(["data", "info", "inflar"]) == 0
    assert "fixed_folds" in capsys.readouterr().out


def test_cli_errors_are_one_line_exit_2(capsys, tmp_path):
    assert main(["data", "info", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dissim: error: unknown data set 'nope'") and err.count("\n") == 1
    assert main(["data", "fetch", "cat", "--dest", str(tmp_path)]) == 2


def test_cli_check_reports_problems_and_ok(capsys, tmp_path):
    for f in (1, 2, 3):
        for c in "BISU":
            d = tmp_path / f"Fold{f}" / c
            d.mkdir(parents=True)
            Image.fromarray(np.zeros((2, 2), np.uint8)).save(d / "0.png")
    assert main(["data", "check", "inflar", "--root", str(tmp_path)]) == 2
    assert "class B: 3 files, expected 180" in capsys.readouterr().out
    # one image per class cannot be trained on in the fold that tests it
    assert main(["data", "check", "folder", "--root", str(tmp_path / "Fold1")]) == 2
    assert "class 'B' has 1 image: with 5 folds" in capsys.readouterr().out
    for c in "BISU":
        for i in range(1, 5):
            Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / "Fold1" / c / f"{i}.png")
    assert main(["data", "check", "folder", "--root", str(tmp_path / "Fold1")]) == 0
    assert capsys.readouterr().out.strip() == "OK: 20 images in 4 classes"
    assert main(["data", "check", "folder"]) == 2
