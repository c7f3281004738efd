"""SVM scores and score-level fusion (SPEC §6).

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

import numpy as np
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import SVC

from dissim.errors import ConfigError, DataError

__all__ = ["ABSENT_SCORE", "SCALINGS", "accuracy", "average", "svm_scores", "zscore", "zscore_sum"]

ABSENT_SCORE = -1e6
"""Score given to a class absent from the training fold: below any RBF-SVM decision value
(|f(x)| <= sum |alpha| + |b| <= n_train * C + |b|, in practice tens), so arg-max never picks it;
:func:`zscore` leaves such entries out of its statistics."""
SCALINGS = ("none", "minmax", "standard")
"""Feature scalings before the SVM: none (paper), train min/max to [0, 1], standardisation."""


def _scaler(scaling: str):
    if scaling == "none":
        return None
    if scaling == "minmax":
        return MinMaxScaler()
    if scaling == "standard":
        return StandardScaler()
    raise ConfigError(f"unknown scaling {scaling!r}; choose one of {', '.join(SCALINGS)}")


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
    """One-vs-rest RBF-SVM decision values on the test set (SPEC §6).

    ``OneVsRestClassifier(SVC(kernel="rbf", C=C, gamma=gamma))``: one binary SVM per class,
    class against the rest, decision value of the class side (SPEC §6 explains why not
    ``SVC``'s own one-vs-one). With two classes scikit-learn trains a single SVM ``f`` (class 1
    against class 0); the columns are then ``[-f, f]``, which is what the two one-vs-rest SVMs
    give (the same problem with the labels swapped; equal up to the solver's stopping
    tolerance).

    Parameters
    ----------
    X_train : ndarray, shape (n_train, n_features)
    y_train : array-like of int, shape (n_train,)
        Class indices in ``0 .. n_classes - 1``; at least two distinct ones.
    X_test : ndarray, shape (n_test, n_features)
    C, gamma
        SVC parameters; paper values 1000 and 0.1 (LIBSVM ``-c 1000 -g 0.1``).
    scaling : {"none", "minmax", "standard"}, default "none"
        Fitted on the training set only, applied to both sets ([UNKNOWN] in the paper).
    n_classes : int, optional
        Number of score columns; default ``max(y_train) + 1``.

    Returns
    -------
    ndarray, shape (n_test, n_classes)
        Column c holds the scores of class c; a class absent from ``y_train`` gets
        :data:`ABSENT_SCORE` in its whole column.
    """
    X_train = np.asarray(X_train, dtype=np.float64)
    X_test = np.asarray(X_test, dtype=np.float64)
    y_train = np.asarray(y_train)
    if X_train.ndim != 2 or X_test.ndim != 2 or X_train.shape[1] != X_test.shape[1]:
        raise DataError(
            f"SVM features must be 2-D with equal widths; got train {X_train.shape}, "
            f"test {X_test.shape}"
        )
    if y_train.shape != (X_train.shape[0],) or not np.issubdtype(y_train.dtype, np.integer):
        raise DataError(f"y_train must hold {X_train.shape[0]} integer class indices")
    scaler = _scaler(scaling)
    present = np.unique(y_train)
    n_classes = int(present.max()) + 1 if n_classes is None else n_classes
    if present.min() < 0 or present.max() >= n_classes:
        raise DataError(f"class indices must lie in 0..{n_classes - 1}, got {present.tolist()}")
    if len(present) < 2:
        raise DataError(f"the training fold holds only class {present.tolist()}; need two")
    if scaler is not None:
        X_train = scaler.fit_transform(X_train)
        X_test = scaler.transform(X_test)
    model = OneVsRestClassifier(SVC(kernel="rbf", C=C, gamma=gamma))
    decision = model.fit(X_train, y_train).decision_function(X_test)
    if decision.ndim == 1:  # two classes: one SVM, positive side = model.classes_[1]
        decision = np.stack([-decision, decision], axis=1)
    scores = np.full((X_test.shape[0], n_classes), ABSENT_SCORE)
    scores[:, model.classes_] = decision
    return scores


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
    """Average rule: elementwise mean of score matrices (SPEC §6; = sum rule for arg-max)."""
    return _stack(scores).mean(axis=0)


def zscore(scores: np.ndarray) -> np.ndarray:
    """``(s - mean) / std`` with mean and std over all entries of the matrix (SPEC §6 default).

    Entries equal to :data:`ABSENT_SCORE` are left out of the statistics and stay as they are.
    A constant matrix (std 0) gives zeros.
    """
    s = np.asarray(scores, dtype=np.float64)
    kept = s != ABSENT_SCORE
    if not kept.any():
        return s.copy()
    mean, std = s[kept].mean(), s[kept].std()
    out = (s - mean) / std if std > 0 else np.zeros_like(s)
    return np.where(kept, out, ABSENT_SCORE)


def zscore_sum(scores: Sequence[np.ndarray]) -> np.ndarray:
    """Sum of z-scored matrices: the fusion of the Siamese ensemble with the eCNN (SPEC §6)."""
    return np.sum([zscore(s) for s in _stack(scores)], axis=0)


def accuracy(scores: np.ndarray, y_true) -> float:
    """Fraction of rows whose arg-max column is the true class index."""
    scores = np.asarray(scores)
    y_true = np.asarray(y_true)
    if scores.ndim != 2 or y_true.shape != (scores.shape[0],):
        raise DataError(f"scores {scores.shape} and labels {y_true.shape} do not match")
    return float(np.mean(scores.argmax(axis=1) == y_true))
