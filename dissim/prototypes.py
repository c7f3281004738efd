"""Prototypes of the dissimilarity space: supervised k-means (Section 2.1).

k-means runs in the space of the vectorised network-input images (the toolbox README) or of any
feature vectors, separately on each class's training samples; the centroids, reshaped back to
the samples' shape, are the prototypes each image is compared with.

Examples
--------
>>> import numpy as np
>>> X = np.random.default_rng(0).random((40, 3, 8, 8)); y = np.repeat([0, 1], 20)
>>> SupervisedKMeans(k=5).fit(X, y).prototypes_.shape
(10, 3, 8, 8)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from dissim.errors import ConfigError, DataError

__all__ = ["SupervisedKMeans"]


class SupervisedKMeans(BaseEstimator):
    """k centroids per class (or k in all) by scikit-learn's k-means (Section 2.1).

    MATLAB ``kmeans`` defaults translated to ``KMeans(n_clusters=k, init="k-means++",
    n_init=1, max_iter=100, random_state=...)``. Flattening is row-major (C order); the
    toolbox's column-major vectorisation gives the same Euclidean k-means, and the centroids are
    reshaped back the same way, so prototypes of images are images. Floating samples keep their
    dtype; integer samples (uint8 pixels) are clustered as float32.

    Parameters
    ----------
    k : int, default 15
        Prototypes per class (``per_class=True``, our default: total ``k * n_classes``,
        [UNKNOWN] in the paper) or in all (``per_class=False``). The paper uses 15, 30, 45, 60.
    per_class : bool, default True
        Supervised (one k-means per class, classes in sorted label order) or one k-means on all
        samples (the toolbox's ``clusteringUnsupervised.m``).
    random_state : int, default 0
        Seed of every k-means run (the same seed for each class).
    max_iter : int, default 100
        k-means iterations (MATLAB default 100).

    Attributes
    ----------
    prototypes_ : ndarray, shape (n_prototypes, *sample_shape)
        Class 0's k centroids first, then class 1's, ... (``per_class``).
    prototype_labels_ : ndarray of int or of labels, shape (n_prototypes,)
        Class label of each prototype; ``-1`` everywhere when ``per_class=False``.
    classes_ : ndarray
        Sorted distinct labels seen in ``fit``.
    """

    def __init__(
        self, k: int = 15, per_class: bool = True, random_state: int = 0, max_iter: int = 100
    ) -> None:
        self.k = k
        self.per_class = per_class
        self.random_state = random_state
        self.max_iter = max_iter

    def _kmeans(self, samples: np.ndarray) -> np.ndarray:
        km = KMeans(
            n_clusters=self.k,
            init="k-means++",
            n_init=1,
            max_iter=self.max_iter,
            random_state=self.random_state,
        )
        # One BLAS thread: k-means++ makes hundreds of small distance products, where a
        # second OpenBLAS thread costs more than it gives (measured on 2 cores, 300 x 16k
        # pixels, k = 15..45: 4-8x less CPU time) and the centroids are bit-identical.
        with threadpool_limits(limits=1, user_api="blas"):
            return km.fit(samples).cluster_centers_

    def fit(self, X: np.ndarray, y, class_names: Sequence[str] | None = None) -> SupervisedKMeans:
        """Compute the prototypes from training samples.

        Parameters
        ----------
        X : ndarray, shape (N, ...)
            Samples of any trailing shape: images N x C x H x W, or vectors N x D.
        y : array-like, shape (N,)
            Class labels.
        class_names : sequence of str, optional
            Names for the error message, indexed by the position of a label in ``classes_``
            (so labels 0..C-1 map to ``class_names[label]``).

        Returns
        -------
        self

        Raises
        ------
        DataError
            If a class (or, with ``per_class=False``, the whole set) has fewer than ``k``
            samples.
        """
        if not isinstance(self.k, int | np.integer) or self.k < 1:
            raise ConfigError(f"k must be a positive integer, got {self.k!r}")
        if not isinstance(self.max_iter, int | np.integer) or self.max_iter < 1:
            raise ConfigError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        X = np.asarray(X)
        y = np.asarray(y)
        if X.ndim < 2 or y.shape != (X.shape[0],):
            raise DataError(f"X must be (N, ...) with N labels; got X {X.shape}, y {y.shape}")
        # Floating inputs keep their dtype; integer pixels become float32 (exact up to 16 bits,
        # and half the memory of float64 for N x 224*224*3 pixel-space k-means).
        dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.float32
        flat = X.reshape(X.shape[0], -1).astype(dtype, copy=False)
        self.classes_ = np.unique(y)
        if self.per_class:
            centres, labels = [], []
            for index, label in enumerate(self.classes_):
                members = flat[y == label]
                if len(members) < self.k:
                    name = class_names[index] if class_names is not None else label
                    raise DataError(
                        f"class {str(name)!r} has {len(members)} training images but "
                        f"k={self.k} prototypes per class were requested; lower k (--k) or "
                        f"add images"
                    )
                centres.append(self._kmeans(members))
                labels.append(np.full(self.k, label))
            centroids = np.concatenate(centres)
            self.prototype_labels_ = np.concatenate(labels)
        else:
            if len(flat) < self.k:
                raise DataError(
                    f"the training set has {len(flat)} images but k={self.k} prototypes were "
                    f"requested; lower k (--k) or add images"
                )
            centroids = self._kmeans(flat)
            self.prototype_labels_ = np.full(self.k, -1)
        self.prototypes_ = centroids.reshape(-1, *X.shape[1:])
        return self
