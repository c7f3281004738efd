"""SVM scores and fusion rules (SPEC §6) against hand-built SVMs and hand computations."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.svm import SVC

from dissim import fusion
from dissim.errors import ConfigError, DataError


@pytest.fixture
def blobs():
    rng = np.random.default_rng(3)
    centres = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    y = np.repeat(np.arange(4), 10)
    X = centres[y] + rng.normal(scale=0.7, size=(40, 2))
    return X[::2], y[::2], X[1::2], y[1::2]


def hand_ovr(X_train, y_train, X_test, classes, C=1000.0, gamma=0.1):
    cols = []
    for c in classes:
        svm = SVC(kernel="rbf", C=C, gamma=gamma).fit(X_train, (y_train == c).astype(int))
        cols.append(svm.decision_function(X_test))
    return np.stack(cols, axis=1)


def test_svm_scores_equal_per_class_binary_svcs(blobs):
    X_train, y_train, X_test, _ = blobs
    got = fusion.svm_scores(X_train, y_train, X_test)
    assert got.shape == (20, 4)
    np.testing.assert_allclose(got, hand_ovr(X_train, y_train, X_test, range(4)), atol=1e-8)


@pytest.mark.parametrize("scaling", ["minmax", "standard"])
def test_scaling_is_fitted_on_train(blobs, scaling):
    X_train, y_train, X_test, _ = blobs
    X_train = X_train * [1.0, 50.0] + [0.0, 7.0]
    X_test = X_test * [1.0, 50.0] + [0.0, 7.0]
    if scaling == "minmax":
        lo, hi = X_train.min(axis=0), X_train.max(axis=0)
        a, b = (X_train - lo) / (hi - lo), (X_test - lo) / (hi - lo)
    else:
        mu, sd = X_train.mean(axis=0), X_train.std(axis=0)
        a, b = (X_train - mu) / sd, (X_test - mu) / sd
    got = fusion.svm_scores(X_train, y_train, X_test, scaling=scaling, gamma=0.5, C=10.0)
    np.testing.assert_allclose(got, hand_ovr(a, y_train, b, range(4), 10.0, 0.5), atol=1e-8)


def test_two_classes_give_two_columns(blobs):
    X_train, y_train, X_test, _ = blobs
    keep = y_train < 2
    got = fusion.svm_scores(X_train[keep], y_train[keep], X_test)
    assert got.shape == (20, 2)
    expected = hand_ovr(X_train[keep], y_train[keep], X_test, range(2))
    np.testing.assert_allclose(got[:, 1], expected[:, 1], atol=1e-8)
    np.testing.assert_allclose(got[:, 0], -got[:, 1])
    # the label-swapped SVM agrees up to the solver's stopping tolerance (tol=1e-3)
    np.testing.assert_allclose(got[:, 0], expected[:, 0], rtol=1e-2, atol=1e-2)


def test_absent_class_column(blobs):
    X_train, y_train, X_test, _ = blobs
    keep = y_train != 2
    got = fusion.svm_scores(X_train[keep], y_train[keep], X_test, n_classes=5)
    assert got.shape == (20, 5)
    np.testing.assert_array_equal(got[:, [2, 4]], fusion.ABSENT_SCORE)
    expected = hand_ovr(X_train[keep], y_train[keep], X_test, [0, 1, 3])
    np.testing.assert_allclose(got[:, [0, 1, 3]], expected, atol=1e-8)
    assert np.all(got.argmax(axis=1) != 2)


def test_svm_errors(blobs):
    X_train, y_train, X_test, _ = blobs
    with pytest.raises(ConfigError, match="unknown scaling 'l2'"):
        fusion.svm_scores(X_train, y_train, X_test, scaling="l2")
    with pytest.raises(DataError):
        fusion.svm_scores(X_train, np.zeros_like(y_train), X_test)
    with pytest.raises(DataError):
        fusion.svm_scores(X_train, y_train, X_test, n_classes=3)
    with pytest.raises(DataError):
        fusion.svm_scores(X_train, y_train, X_test[:, :1])


def test_average_by_hand():
    a = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 4.0]])
    b = np.array([[3.0, 0.0, 1.0], [2.0, 1.0, 0.0]])
    np.testing.assert_allclose(fusion.average([a, b]), [[2.0, 1.0, 2.0], [1.0, 0.0, 2.0]])
    np.testing.assert_allclose(fusion.average([a]), a)


def test_average_shape_mismatch_names_the_shapes():
    with pytest.raises(ConfigError, match=r"\(2, 3\), \(2, 2\)"):
        fusion.average([np.zeros((2, 3)), np.zeros((2, 2))])
    with pytest.raises(ConfigError):
        fusion.average([])


def test_zscore_over_all_entries_by_hand():
    s = np.array([[1.0, 2.0], [3.0, 6.0]])  # mean 3, population std sqrt(3.5)
    np.testing.assert_allclose(fusion.zscore(s), (s - 3.0) / np.sqrt(3.5))
    np.testing.assert_array_equal(fusion.zscore(np.full((2, 2), 5.0)), np.zeros((2, 2)))


def test_zscore_sum_by_hand():
    a = np.array([[1.0, 2.0], [3.0, 6.0]])
    b = np.array([[10.0, 0.0], [0.0, 10.0]])  # mean 5, std 5
    expected = (a - 3.0) / np.sqrt(3.5) + (b - 5.0) / 5.0
    np.testing.assert_allclose(fusion.zscore_sum([a, b]), expected)


def test_zscore_ignores_absent_class_entries():
    s = np.array([[1.0, fusion.ABSENT_SCORE, 3.0], [3.0, fusion.ABSENT_SCORE, 1.0]])
    z = fusion.zscore(s)
    np.testing.assert_allclose(z[:, [0, 2]], [[-1.0, 1.0], [1.0, -1.0]])
    np.testing.assert_array_equal(z[:, 1], fusion.ABSENT_SCORE)


def test_accuracy_by_hand():
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    assert fusion.accuracy(scores, [1, 0, 0, 0]) == 0.75
    with pytest.raises(DataError):
        fusion.accuracy(scores, [1, 0])
