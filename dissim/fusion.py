"""SVM scores and score-level fusion (Section 2: one SVM per space; Section 4: fusions).

One member of the ensemble = one dissimilarity space = one RBF SVM (``-t 2 -c 1000 -g 0.1`` in
LIBSVM, no tuning [paper]) whose decision values on the test fold form an ``(n_test,
n_classes)`` score matrix. Members are fused by the average rule; the Siamese ensemble and the
eCNN are fused by z-scoring both matrices and summing [paper].

Examples
--------
>>> import numpy as np
>>> a, b = np.array([[1.0, 2.0]]), np.array([[3.0, 0.0]])
>>> average([a, b])
array([[2., 1.]])
>>> accuracy(average([a, b]), [0])
1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import cdist
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import SVC

from dissim.errors import ConfigError, DataError

__all__ = [
    "ABSENT_SCORE", "SCALINGS", "ZSCORES", "RBFSVMs", "accuracy", "average", "svm_scores",
    "zscore", "zscore_sum",
]

ABSENT_SCORE = -1e6
"""Score given to a class absent from the training fold: below any RBF-SVM decision value
(|f(x)| <= sum |alpha| + |b| <= n_train * C + |b|, in practice tens), so arg-max never picks it;
:func:`zscore` leaves such entries out of its statistics."""
SCALINGS = ("none", "minmax", "standard")
ZSCORES = ("matrix", "row")
"""Feature scalings before the SVM: none (paper), train min/max to [0, 1], standardisation."""


@dataclass
class RBFSVMs:
    """One-vs-rest RBF SVMs as plain arrays: the one SVM scorer of every member (Section 2).

    Column ``c`` of :meth:`decision_function` is
    ``sum_i dual[c][i] * exp(-gamma * |x' - support[c][i]|^2) + intercept[c]`` with
    ``x' = x * scale + offset`` (the fitted feature scaling, or none): scikit-learn's
    ``SVC.decision_function`` written out from its public ``support_vectors_``, ``dual_coef_``
    and ``intercept_``, so a fitted member saves and loads without pickle. A class absent from
    the training set has no support vectors and intercept :data:`ABSENT_SCORE`.
    """

    gamma: float
    support: list[np.ndarray]
    dual: list[np.ndarray]
    intercept: np.ndarray
    scale: np.ndarray | None = None
    offset: np.ndarray | None = None

    @classmethod
    def fit(cls, X: np.ndarray, y, n_classes: int | None = None, *, C: float = 1000.0,
            gamma: float | str = 0.1, scaling: str = "none") -> RBFSVMs:
        """Train ``OneVsRestClassifier(SVC(kernel="rbf", C, gamma))`` on ``X`` with class
        indices ``y`` in ``0 .. n_classes - 1`` (default ``max(y) + 1``), keep its arrays.

        With two classes scikit-learn trains one SVM ``f`` (class 1 against class 0); the
        columns are then ``[-f, f]``, what the two one-vs-rest SVMs give (the same problem with
        the labels swapped, equal up to the solver's stopping tolerance).
        """
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        if X.ndim != 2:
            raise DataError(f"SVM features must be 2-D (n, n_features); got {X.shape}")
        if y.shape != (X.shape[0],) or not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"y_train must hold {X.shape[0]} integer class indices")
        present = np.unique(y)
        n_classes = int(present.max()) + 1 if n_classes is None else n_classes
        if present.min() < 0 or present.max() >= n_classes:
            raise DataError(f"class indices must lie in 0..{n_classes - 1}, got "
                            f"{present.tolist()}")
        if len(present) < 2:
            raise DataError(f"the training fold holds only class {present.tolist()}; need two")
        scale = offset = None
        if scaling == "minmax":
            s = MinMaxScaler().fit(X)
            scale, offset = s.scale_, s.min_
        elif scaling == "standard":
            s = StandardScaler().fit(X)
            scale, offset = 1.0 / s.scale_, -s.mean_ / s.scale_
        elif scaling != "none":
            raise ConfigError(f"unknown scaling {scaling!r}; choose one of {', '.join(SCALINGS)}")
        if scale is not None:
            X = X * scale + offset
        model = OneVsRestClassifier(SVC(kernel="rbf", C=C, gamma=gamma)).fit(X, y)
        rows = [(e.support_vectors_, e.dual_coef_[0], float(e.intercept_[0]))
                for e in model.estimators_]
        if len(present) == 2:  # one SVM f (present[1] against present[0]): columns [-f, f]
            sv, a, b = rows[0]
            rows = [(sv, -a, -b), (sv, a, b)]
        width = X.shape[1]
        support = [np.zeros((0, width))] * n_classes
        dual = [np.zeros(0)] * n_classes
        intercept = np.full(n_classes, ABSENT_SCORE)
        for c, (sv, a, b) in zip(model.classes_, rows, strict=True):
            support[c], dual[c], intercept[c] = sv.copy(), a.copy(), b
        return cls(float(model.estimators_[0]._gamma), support, dual, intercept, scale, offset)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Scores ``(n, n_classes)`` of the feature vectors ``X`` (n, n_features)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or (len(self.support) and X.shape[1] != self.support[0].shape[1]):
            raise DataError(f"SVM features must be 2-D with {self.support[0].shape[1]} columns; "
                            f"got {X.shape}")
        if self.scale is not None:
            X = X * self.scale + self.offset
        out = np.empty((X.shape[0], len(self.support)))
        for c, (sv, a) in enumerate(zip(self.support, self.dual, strict=True)):
            out[:, c] = np.exp(-self.gamma * cdist(X, sv, "sqeuclidean")) @ a if len(a) else 0.0
        return out + self.intercept


def svm_scores(
    X_train: np.ndarray,
    y_train,
    X_test: np.ndarray,
    *,
    C: float = 1000.0,
    gamma: float | str = 0.1,
    scaling: str = "none",
    n_classes: int | None = None,
) -> np.ndarray:
    """One-vs-rest RBF-SVM decision values on the test set (Section 2; book: Assumptions).

    ``OneVsRestClassifier(SVC(kernel="rbf", C=C, gamma=gamma))``: one binary SVM per class,
    class against the rest (:class:`RBFSVMs`).

    Parameters
    ----------
    X_train : ndarray, shape (n_train, n_features)
    y_train : array-like of int, shape (n_train,)
        Class indices in ``0 .. n_classes - 1``; at least two distinct ones.
    X_test : ndarray, shape (n_test, n_features)
    C, gamma
        SVC parameters; paper values 1000 and 0.1 (LIBSVM ``-c 1000 -g 0.1``).
    scaling : {"none", "minmax", "standard"}, default "none"
        Fitted on the training set only, applied to both sets (unknown in the paper).
    n_classes : int, optional
        Number of score columns; default ``max(y_train) + 1``.

    Returns
    -------
    ndarray, shape (n_test, n_classes)
        Column c holds the scores of class c; a class absent from ``y_train`` gets
        :data:`ABSENT_SCORE` in its whole column.
    """
    X_test = np.asarray(X_test, dtype=np.float64)
    X_train = np.asarray(X_train, dtype=np.float64)
    if X_train.ndim != 2 or X_test.ndim != 2 or X_train.shape[1] != X_test.shape[1]:
        raise DataError(
            f"SVM features must be 2-D with equal widths; got train {X_train.shape}, "
            f"test {X_test.shape}"
        )
    svms = RBFSVMs.fit(X_train, y_train, n_classes, C=C, gamma=gamma, scaling=scaling)
    return svms.decision_function(X_test)


def _stack(scores: Sequence[np.ndarray]) -> np.ndarray:
    arrays = [np.asarray(s, dtype=np.float64) for s in scores]
    if not arrays:
        raise ConfigError("fusion needs at least one score matrix, got none")
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1 or arrays[0].ndim != 2:
        listed = ", ".join(str(a.shape) for a in arrays)
        raise ConfigError(f"score matrices must share one 2-D shape (n, n_classes); got {listed}")
    return np.stack(arrays)


def average(scores: Sequence[np.ndarray]) -> np.ndarray:
    """Average rule: elementwise mean of score matrices (Section 4; = sum rule for arg-max)."""
    return _stack(scores).mean(axis=0)


def zscore(scores: np.ndarray, per: str = "matrix") -> np.ndarray:
    """``(s - mean) / std``: the z-score of the eCNN fusion (Section 4).

    ``per="matrix"`` (the paper's, the default) takes mean and std over all entries of the
    matrix; ``per="row"`` over each row (each image's class scores), so an image's z-scores do
    not depend on the other images scored with it. Entries equal to :data:`ABSENT_SCORE` are
    left out of the statistics and stay as they are; constant entries (std 0) give zeros.
    """
    if per not in ZSCORES:
        raise ConfigError(f"unknown z-score {per!r}; choose {' or '.join(ZSCORES)}")
    s = np.asarray(scores, dtype=np.float64)
    kept = s != ABSENT_SCORE
    if per == "row":
        if kept.all():
            mean, std = s.mean(axis=1, keepdims=True), s.std(axis=1, keepdims=True)
        else:
            masked = np.ma.masked_array(s, ~kept)
            mean = masked.mean(axis=1, keepdims=True).filled(0.0)
            std = masked.std(axis=1, keepdims=True).filled(0.0)
        out = np.divide(s - mean, std, out=np.zeros_like(s), where=std > 0)
        return np.where(kept, out, ABSENT_SCORE)
    if not kept.any():
        return s.copy()
    mean, std = s[kept].mean(), s[kept].std()
    out = (s - mean) / std if std > 0 else np.zeros_like(s)
    return np.where(kept, out, ABSENT_SCORE)


def zscore_sum(scores: Sequence[np.ndarray], per: str = "matrix") -> np.ndarray:
    """Sum of z-scored matrices: the fusion of the Siamese ensemble with the eCNN (Section 4)."""
    return np.sum([zscore(s, per) for s in _stack(scores)], axis=0)


def accuracy(scores: np.ndarray, y_true) -> float:
    """Fraction of rows whose arg-max column is the true class index."""
    scores = np.asarray(scores)
    y_true = np.asarray(y_true)
    if scores.ndim != 2 or y_true.shape != (scores.shape[0],):
        raise DataError(f"scores {scores.shape} and labels {y_true.shape} do not match")
    return float(np.mean(scores.argmax(axis=1) == y_true))
