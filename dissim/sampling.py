"""In-batch pair and triplet mining: more learning per forward pass (book: Assumptions).

The paper's MathWorks sampler (:func:`dissim.train.sample_pairs`) forwards two fresh images for
every pair, so a mini-batch of ``b`` pairs costs ``2 b`` forward passes and gives ``b`` pairs.
The *batch* sampler forwards a class-balanced batch of images once and forms every pair (or every
valid triplet) among them: ``B`` images give up to ``B (B - 1) / 2`` pairs for the cost of ``B``
forward passes. This is the "batch all" strategy of deep metric learning; the index arithmetic
is pytorch-metric-learning's (:func:`pytorch_metric_learning.utils.loss_and_miner_utils.
get_all_pairs_indices` and ``get_all_triplets_indices``).

The batch sampler is not the paper's (the paper says only that MATLAB's defaults were used): it
is a CPU-scale choice, the ``sampler`` of a :class:`~dissim.profiles.Profile` or of
:class:`~dissim.pipeline.member.Options`, measured against the paper's in the payoff figure.

>>> import numpy as np
>>> idx = class_balanced_batch(np.repeat(np.arange(10), 6), 12, np.random.default_rng(0))
>>> len(idx), len(set(np.repeat(np.arange(10), 6)[idx]))
(12, 3)
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from dissim.errors import ConfigError, DataError

__all__ = ["IMAGES_PER_CLASS", "SAMPLERS", "all_pairs", "all_triplets", "class_balanced_batch",
           "images_per_iteration"]

#: ``pairs``: the paper's MathWorks sampler, 2 images forwarded per pair (3 per triplet).
#: ``batch``: one class-balanced batch of images, every pair / valid triplet among them.
SAMPLERS = ("pairs", "batch")
#: Images of each class in a batch of the ``batch`` sampler (the "m per class" of metric learning).
IMAGES_PER_CLASS = 4


def images_per_iteration(batch_size: int, loss: str) -> int:
    """Images forwarded per iteration for ``batch_size`` pairs (triplets) of the paper's sampler.

    The batch sampler forwards as many, so both samplers cost the same per iteration: ``2 b``
    for the cross-entropy, ``3 b`` for the triplet loss.
    """
    return (3 if loss == "triplet" else 2) * batch_size


def class_balanced_batch(labels: np.ndarray, n_images: int, rng: np.random.Generator,
                         per_class: int = IMAGES_PER_CLASS) -> np.ndarray:
    """Indices of ``n_images`` images: ``per_class`` of each of ``ceil(n / per_class)`` classes.

    Classes are drawn uniformly without replacement among those with at least two images (so
    every class in the batch gives positive pairs), images without replacement within a class
    (a class smaller than ``per_class`` gives all it has). When the classes run out before
    ``n_images``, the batch is smaller: no image appears twice.
    """
    labels = np.asarray(labels)
    if n_images < 2:
        raise ConfigError(f"a batch needs at least 2 images; got {n_images}")
    classes, counts = np.unique(labels, return_counts=True)
    twins = classes[counts >= 2]
    if len(classes) < 2 or len(twins) == 0:
        raise DataError(f"batch sampling needs at least two classes and one class with two "
                        f"images; got {len(classes)} classes")
    n_classes = min(len(twins), -(-n_images // per_class))
    if n_classes < 2 and len(classes) >= 2:  # one twin class: add a class for negatives
        n_classes = 2
    pool = twins if len(twins) >= n_classes else classes
    chosen = rng.choice(pool, size=min(n_classes, len(pool)), replace=False)
    out: list[np.ndarray] = []
    for c in chosen:
        members = np.flatnonzero(labels == c)
        out.append(rng.choice(members, size=min(per_class, len(members)), replace=False))
    idx = np.concatenate(out)
    return idx[:n_images]


def _pml():
    try:
        from pytorch_metric_learning.utils import loss_and_miner_utils as lmu
    except ImportError as e:  # pragma: no cover - a dependency of the package
        raise ConfigError("the batch sampler needs pytorch-metric-learning: "
                          "pip install pytorch-metric-learning") from e
    return lmu


def all_pairs(labels: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Every unordered pair of a batch: ``(pos_i, pos_j, neg_i, neg_j)``, ``i < j``.

    pytorch-metric-learning returns both orders of each pair; the Siamese head scores
    ``|e_i - e_j|``, which is symmetric, so each pair is kept once.
    """
    a1, p, a2, n = _pml().get_all_pairs_indices(labels)
    keep_p, keep_n = a1 < p, a2 < n
    return a1[keep_p], p[keep_p], a2[keep_n], n[keep_n]


def all_triplets(labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Every valid (anchor, positive, negative) of a batch (pytorch-metric-learning)."""
    return _pml().get_all_triplets_indices(labels)
