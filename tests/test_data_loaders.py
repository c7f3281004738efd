"""Folder loading, image decoding and folder checks (dissim.data.loaders; SPEC section 8)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dissim.data import Dataset, check, check_folder, folds, load, load_folder, read_image
from dissim.errors import DataError

SHARED = Path(os.environ.get("DISSIM_SHARED_DATASETS",
                             Path(__file__).resolve().parents[2] / "shared" / "datasets"))


def _modes_tree(root: Path) -> dict[str, np.ndarray]:
    """One image per Pillow mode, with the array each must load as."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "a").mkdir()
    (root / "b").mkdir()
    want = {}
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(grey).save(root / "a" / "grey.png")
    want["a/grey.png"] = grey
    rgb = np.zeros((3, 4, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 10, 100, 200
    Image.fromarray(rgb).save(root / "a" / "rgb.png")
    want["a/rgb.png"] = rgb
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., :3] = 100
    rgba[..., 3] = [[255, 0], [51, 255]]
    Image.fromarray(rgba).save(root / "b" / "rgba.png")
    comp = np.full((2, 2, 3), 100, np.uint8)
    comp[0, 1] = 255                                   # transparent -> white
    comp[1, 0] = round(100 * 0.2 + 255 * 0.8)          # 20 % opaque over white
    want["b/rgba.png"] = comp
    pal = Image.new("P", (2, 2))
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    pal.putdata([0, 1, 1, 0])
    pal.save(root / "b" / "pal.png")
    want["b/pal.png"] = np.array([[[0, 0, 0], [255, 0, 0]], [[255, 0, 0], [0, 0, 0]]], np.uint8)
    deep = np.array([[0, 257 * 100], [65535, 257 * 3]], dtype=np.uint16)
    Image.fromarray(deep).save(root / "b" / "deep.png")
    want["b/deep.png"] = np.array([[0, 100], [255, 3]], np.uint8)
    la = Image.new("LA", (2, 1))
    la.putdata([(50, 255), (50, 0)])
    la.save(root / "b" / "la.png")
    want["b/la.png"] = np.array([[50, 255]], np.uint8)
    (root / "README.md").write_text("top-level files are ignored")
    (root / "a" / ".hidden").write_text("hidden files are ignored")
    return want


def test_folder_tree_loads_every_mode_with_right_pixels(tmp_path):
    want = _modes_tree(tmp_path / "tree")
    ds = load_folder(tmp_path / "tree")
    assert ds.classes == ["a", "b"]
    assert ds.labels.dtype == np.int64 and list(np.bincount(ds.labels)) == [2, 4]
    for img, path in zip(ds.images, ds.paths, strict=True):
        key = Path(path).parent.name + "/" + Path(path).name
        assert img.dtype == np.uint8
        np.testing.assert_array_equal(img, want[key], err_msg=key)
    assert check_folder(tmp_path / "tree") == []


def test_fingerprint_and_subset(tmp_path):
    _modes_tree(tmp_path / "tree")
    ds = load_folder(tmp_path / "tree")
    assert ds.fingerprint() == load_folder(tmp_path / "tree").fingerprint()
    sub = ds.subset([0, 2])
    assert isinstance(sub, Dataset) and len(sub) == 2 and sub.paths == [ds.paths[0], ds.paths[2]]
    assert sub.fingerprint() != ds.fingerprint()
    flipped = ds.subset(np.arange(len(ds)))
    flipped.labels = flipped.labels[::-1].copy()
    assert flipped.fingerprint() != ds.fingerprint()


def test_max_per_class_is_seeded(tmp_path):
    for c in "xy":
        (tmp_path / c).mkdir()
        for i in range(6):
            Image.fromarray(np.full((2, 2), i, np.uint8)).save(tmp_path / c / f"{i}.png")
    a = load_folder(tmp_path, max_per_class=3, seed=1)
    b = load_folder(tmp_path, max_per_class=3, seed=1)
    assert list(np.bincount(a.labels)) == [3, 3] and a.paths == b.paths
    others = {tuple(load_folder(tmp_path, max_per_class=3, seed=s).paths) for s in range(6)}
    assert len(others) > 1


@pytest.mark.parametrize("case", ["nonimage", "corrupt", "empty"])
def test_bad_inputs_name_the_culprit(tmp_path, case):
    (tmp_path / "a").mkdir()
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / "a" / "ok.png")
    if case == "nonimage":
        culprit = tmp_path / "a" / "notes.txt"
        culprit.write_text("x")
    elif case == "corrupt":
        culprit = tmp_path / "a" / "broken.png"
        culprit.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    else:
        culprit = tmp_path / "empty_class"
        culprit.mkdir()
    with pytest.raises(DataError, match=str(culprit).replace("\\", "\\\\")) as err:
        load_folder(tmp_path)
    if case == "corrupt":
        assert "remove or replace it" in str(err.value)
    assert any(culprit.name in p for p in check_folder(tmp_path))


def test_read_image_corrupt_file(tmp_path):
    bad = tmp_path / "x.jpg"
    bad.write_bytes(b"garbage")
    with pytest.raises(DataError, match="x.jpg.*remove or replace it"):
        read_image(bad)


def test_missing_folder_messages(tmp_path):
    with pytest.raises(DataError, match="dissim data fetch inflar"):
        load("inflar", tmp_path / "nowhere")
    with pytest.raises(DataError, match="not found"):
        load_folder(tmp_path / "nowhere")
    assert "not found" in check("inflar", tmp_path / "nowhere")[0]


def _inflar_tree(root: Path, per: int = 2) -> None:
    for f in (1, 2, 3):
        for c in "BISU":
            d = root / "FRAMES" / f"Fold{f}" / c
            d.mkdir(parents=True)
            for i in range(per):
                Image.fromarray(np.full((4, 5, 3), 10 * f + i, np.uint8)).save(d / f"{i}.png")


def test_inflar_layout_fixed_folds_and_wrong_counts(tmp_path):
    _inflar_tree(tmp_path)
    ds = load("inflar", tmp_path, progress=False)
    assert ds.classes == ["B", "I", "S", "U"] and len(ds) == 24
    assert sorted(set(ds.groups.tolist())) == [0, 1, 2]
    splits = folds(ds)
    assert len(splits) == 3
    for k, (tr, te) in enumerate(splits):
        assert set(ds.groups[te].tolist()) == {k} and k not in set(ds.groups[tr].tolist())
    problems = check("inflar", tmp_path)
    assert len(problems) == 4 and all("expected 180" in p for p in problems)
    assert "class B: 6 files, expected 180" in problems


def test_check_reports_missing_class_folder(tmp_path):
    _inflar_tree(tmp_path, per=1)
    for f in (tmp_path / "FRAMES" / "Fold2" / "S").iterdir():
        f.unlink()
    (tmp_path / "FRAMES" / "Fold2" / "S").rmdir()
    problems = check("inflar", tmp_path)
    assert any("Fold2/S" in p.replace("\\", "/") and "not found" in p for p in problems)


def test_check_folder_on_shared_wikiart():
    root = SHARED / "wikiart_movements6"
    if not root.is_dir():
        pytest.skip(f"shared data sets not found at {SHARED}")
    assert check_folder(root, counts={"Rococo": 155, "Ukiyo_e": 155}) == []
    assert check_folder(root, counts={"Rococo": 154}) == ["class Rococo: 155 files, expected 154"]
    ds = load_folder(root, max_per_class=2)
    assert len(ds) == 12 and ds.images[0].shape == (224, 224, 3)


def test_max_side_shrinks_while_reading(tmp_path):
    (tmp_path / "a").mkdir()
    Image.fromarray(np.zeros((40, 100, 3), np.uint8)).save(tmp_path / "a" / "wide.png")
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(tmp_path / "a" / "small.png")
    pal = Image.new("P", (90, 30))
    pal.save(tmp_path / "a" / "pal.png")
    ds = load_folder(tmp_path, max_side=50)
    shapes = {Path(p).name: im.shape for p, im in zip(ds.paths, ds.images, strict=True)}
    assert shapes == {"wide.png": (20, 50, 3), "small.png": (10, 12), "pal.png": (17, 50, 3)}


def test_group_regex_and_rpe_without_groups(tmp_path):
    for c in ("Fusiform", "Epithelioid", "Cobblestone", "Mixed"):
        (tmp_path / c).mkdir()
        for img in range(5):
            for win in range(2):
                Image.fromarray(np.full((3, 3), win, np.uint8)).save(
                    tmp_path / c / f"{c}{img}_w{win}.png")
    ds = load_folder(tmp_path, group_regex=r"^(.*)_w\d+$")
    assert len(np.unique(ds.groups)) == 20 and ds.manifest["protocol"]["kind"] == "group_kfold"
    for tr, te in folds(ds, n_splits=5):
        assert not set(ds.groups[tr]) & set(ds.groups[te])
    with pytest.raises(DataError, match="does not match the group pattern"):
        load_folder(tmp_path, group_regex=r"^nomatch$")
    rpe = load("rpe", tmp_path, progress=False)
    assert rpe.groups is None and len(rpe) == 40
    with pytest.raises(DataError, match="'rpe' needs groups"):
        folds(rpe)
