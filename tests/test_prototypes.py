"""Supervised k-means prototypes (SPEC §5.1) against scikit-learn's KMeans run by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.cluster import KMeans

from dissim.errors import ConfigError, DataError
from dissim.prototypes import SupervisedKMeans


def by_hand(samples: np.ndarray, k: int, seed: int) -> np.ndarray:
    km = KMeans(n_clusters=k, init="k-means++", n_init=1, max_iter=100, random_state=seed)
    return km.fit(samples).cluster_centers_


@pytest.fixture
def images():
    rng = np.random.default_rng(7)
    X = rng.random((36, 3, 5, 4))
    y = np.array([2, 0, 1] * 12)
    return X, y


def test_per_class_centroids_equal_kmeans_by_hand(images):
    X, y = images
    model = SupervisedKMeans(k=4, random_state=3).fit(X, y)
    assert model.prototypes_.shape == (12, 3, 5, 4)
    np.testing.assert_array_equal(model.prototype_labels_, np.repeat([0, 1, 2], 4))
    np.testing.assert_array_equal(model.classes_, [0, 1, 2])
    flat = X.reshape(36, -1)
    for c in range(3):
        expected = by_hand(flat[y == c], 4, 3).reshape(4, 3, 5, 4)
        np.testing.assert_allclose(model.prototypes_[4 * c : 4 * c + 4], expected)


def test_unsupervised_k_in_all(images):
    X, y = images
    model = SupervisedKMeans(k=5, per_class=False).fit(X, y)
    assert model.prototypes_.shape == (5, 3, 5, 4)
    np.testing.assert_array_equal(model.prototype_labels_, np.full(5, -1))
    expected = by_hand(X.reshape(36, -1), 5, 0).reshape(5, 3, 5, 4)
    np.testing.assert_allclose(model.prototypes_, expected)


def test_deterministic_with_the_seed(images):
    X, y = images
    a = SupervisedKMeans(k=3, random_state=11).fit(X, y).prototypes_
    b = SupervisedKMeans(k=3, random_state=11).fit(X, y).prototypes_
    np.testing.assert_array_equal(a, b)


def test_feature_vectors_and_uint8_images():
    rng = np.random.default_rng(0)
    vectors = rng.random((20, 6))
    y = np.repeat([0, 1], 10)
    assert SupervisedKMeans(k=2).fit(vectors, y).prototypes_.shape == (4, 6)
    pixels = rng.integers(0, 256, (20, 4, 4, 3), dtype=np.uint8)
    protos = SupervisedKMeans(k=2).fit(pixels, y).prototypes_
    assert protos.shape == (4, 4, 4, 3) and protos.dtype == np.float32


def test_k_equal_to_class_size_returns_the_samples():
    X = np.arange(12, dtype=float).reshape(6, 2)
    model = SupervisedKMeans(k=3).fit(X, [0, 0, 0, 1, 1, 1])
    np.testing.assert_allclose(np.sort(model.prototypes_[:3], axis=0), X[:3])


def test_too_few_images_names_the_class():
    X = np.random.default_rng(0).random((23, 4))
    y = np.array([0] * 15 + [1] * 8)
    message = (
        "class 'grass' has 8 training images but k=15 prototypes per class were requested; "
        "lower k (--k) or add images"
    )
    with pytest.raises(DataError) as err:
        SupervisedKMeans(k=15).fit(X, y, class_names=["sky", "grass"])
    assert str(err.value) == message
    with pytest.raises(DataError, match="class '1' has 8"):
        SupervisedKMeans(k=15).fit(X, y)
    with pytest.raises(DataError, match="has 23 images"):
        SupervisedKMeans(k=30, per_class=False).fit(X, y)


def test_bad_parameters_and_shapes():
    X = np.zeros((4, 2))
    with pytest.raises(ConfigError):
        SupervisedKMeans(k=0).fit(X, [0, 0, 1, 1])
    with pytest.raises(DataError):
        SupervisedKMeans(k=1).fit(X, [0, 1])


def test_sklearn_params_and_clone():
    model = SupervisedKMeans(k=30, per_class=False, random_state=5)
    assert model.get_params() == {"k": 30, "per_class": False, "random_state": 5, "max_iter": 100}
    assert clone(model).get_params() == model.get_params()
