"""The two dissimilarity spaces of the paper, FULLY and DEEPER (Section 2.2.2, SPEC 5).

An image ``x`` is represented by its dissimilarities to the prototypes ``p_1 .. p_K`` (the
supervised k-means centroids of the training images, :mod:`dissim.prototypes`):

* **FULLY** -- the trained Siamese network scores the pair ``(x, p_i)``: with the Cross loss the
  head's similarity ``sigmoid(w . |F(x) - F(p_i)| + b)``; with the Triplet loss the Euclidean
  distance ``sqrt(sum((F(x) - F(p_i))^2) + 1e-6)`` between sigmoid embeddings (SPEC 5.2).
* **DEEPER** -- the activation of an inner layer (the topology's DEEPER tap) is reduced per
  channel to its 9 x 9 low-frequency DCT-II block (:func:`dissim.dct.reduce`), and feature ``i``
  is the cosine distance between the reduced vectors of ``x`` and ``p_i`` (SPEC 5.3).

Every image and every prototype goes through the backbone once (:func:`encode` returns both the
embedding and the DEEPER code from one pass); the K comparisons per image are then computed from
those encodings, never by re-running the network per pair.

Both spaces are scikit-learn transformers: ``fit(X_train, y_train)`` finds the prototypes,
``transform(X)`` returns the ``(n_images, n_prototypes)`` dissimilarity matrix.

>>> space = FullySpace(net, k=15).fit(x_train, y_train)        # doctest: +SKIP
>>> d_train, d_test = space.transform(x_train), space.transform(x_test)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from tqdm import tqdm

from dissim.dct import reduce as dct_reduce
from dissim.errors import ConfigError
from dissim.prototypes import SupervisedKMeans

CLUSTER_SPACES = ("pixel", "feature")


@dataclass
class Encoding:
    """What one backbone pass gives for a set of images.

    Attributes
    ----------
    embedding : Tensor (N, D)
        ``sigmoid(f(x))``, the Siamese embedding (SPEC 3.4).
    code : Tensor (N, 81 * C) or None
        The DEEPER tap reduced by the 9 x 9 DCT per channel (SPEC 5.3).
    """

    embedding: torch.Tensor
    code: torch.Tensor | None


@torch.no_grad()
def encode(
    net,
    x: np.ndarray | torch.Tensor,
    *,
    deeper: bool = True,
    dct_size: int = 9,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> Encoding:
    """Run the backbone once per image: embedding and (optionally) DEEPER code, on the CPU.

    Inference mode (``net.eval()``), as MATLAB's ``predict``: dropout is off (topology 7).
    """
    device = torch.device(device) if device is not None else next(net.parameters()).device
    was_training = net.training
    net.eval()
    embs, codes = [], []
    try:
        starts = range(0, len(x), batch_size)
        for s in tqdm(starts, desc="encode", disable=not progress, leave=False):
            xb = torch.as_tensor(x[s : s + batch_size]).to(device)
            if deeper:
                pre, tap = net.backbone.forward_with_tap(xb)
                codes.append(dct_reduce(tap, dct_size).cpu())
            else:
                pre = net.backbone(xb)
            embs.append(torch.sigmoid(pre).cpu())
    finally:
        net.train(was_training)
    emb = torch.cat(embs) if embs else torch.empty(0)
    return Encoding(emb, torch.cat(codes) if deeper and codes else None)


def cosine_distance(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``1 - a_i . b_j / (|a_i| |b_j|)`` for every row pair, like MATLAB ``pdist2(..,'cosine')``."""
    a = a / a.norm(dim=1, keepdim=True).clamp_min(eps)
    b = b / b.norm(dim=1, keepdim=True).clamp_min(eps)
    return (1.0 - a @ b.T).clamp_(0.0, 2.0)


def fully_matrix(net, emb: torch.Tensor, proto_emb: torch.Tensor) -> torch.Tensor:
    """FULLY: the Siamese score of every image embedding against every prototype embedding.

    Computed on the network's device (the head lives there), returned on the CPU.
    """
    device = next(net.parameters()).device
    with torch.no_grad():
        return net.score_matrix(emb.to(device), proto_emb.to(device)).cpu()


def deeper_matrix(code: torch.Tensor, proto_code: torch.Tensor) -> torch.Tensor:
    """DEEPER: cosine distance between DCT codes of images and prototypes (SPEC 5.3)."""
    return cosine_distance(code, proto_code)


class _PrototypeSpace(TransformerMixin, BaseEstimator):
    """Shared chores of FULLY and DEEPER: prototypes, encoding, comparison.

    Subclasses define ``_deeper`` (whether the DEEPER code is needed), ``_features`` (which part
    of an :class:`Encoding` is compared) and ``_compare`` (the distance).
    """

    _deeper: bool = False

    def __init__(
        self,
        net=None,
        k: int = 15,
        per_class: bool = True,
        cluster_space: str = "pixel",
        random_state: int = 0,
        batch_size: int = 64,
        device: str | None = None,
    ) -> None:
        self.net = net
        self.k = k
        self.per_class = per_class
        self.cluster_space = cluster_space
        self.random_state = random_state
        self.batch_size = batch_size
        self.device = device

    # -- hooks -----------------------------------------------------------------------------
    def _features(self, enc: Encoding) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _compare(self, feats: torch.Tensor, proto: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover - abstract

    # -- scikit-learn API ---------------------------------------------------------------------
    def _encode(self, x) -> Encoding:
        return encode(
            self.net, x, deeper=self._deeper, batch_size=self.batch_size, device=self.device
        )

    def fit(self, X, y):
        """Find the prototypes of the training images ``X`` (N, C, S, S) with labels ``y``."""
        if self.net is None:
            raise ConfigError(f"{type(self).__name__} needs a trained SiameseNet (net=...)")
        if self.cluster_space not in CLUSTER_SPACES:
            raise ConfigError(
                f"unknown cluster_space {self.cluster_space!r}; choose pixel or feature"
            )
        km = SupervisedKMeans(k=self.k, per_class=self.per_class, random_state=self.random_state)
        if self.cluster_space == "pixel":  # SPEC 5.1 [R]: k-means on the input images
            km.fit(np.asarray(X), y)
            self.prototypes_ = km.prototypes_
            self.prototype_features_ = self._features(self._encode(self.prototypes_))
        else:  # ablation: k-means on the compared features themselves
            km.fit(self._features(self._encode(X)).numpy(), y)
            self.prototypes_ = None
            self.prototype_features_ = torch.as_tensor(km.prototypes_)
        self.prototype_labels_ = km.prototype_labels_
        self.n_features_out_ = len(self.prototype_labels_)
        return self

    def transform(self, X) -> np.ndarray:
        """The dissimilarity matrix (n_images, n_prototypes) of ``X``."""
        check_is_fitted(self, "prototype_features_")
        return self.transform_encoded(self._encode(X))

    def transform_encoded(self, enc: Encoding) -> np.ndarray:
        """Like :meth:`transform` from an :class:`Encoding` computed once by :func:`encode`."""
        check_is_fitted(self, "prototype_features_")
        return self._compare(self._features(enc), self.prototype_features_).numpy()


class FullySpace(_PrototypeSpace):
    """FULLY: the Siamese network's own score between an image and each prototype (SPEC 5.2)."""

    _deeper = False

    def _features(self, enc: Encoding) -> torch.Tensor:
        return enc.embedding

    def _compare(self, feats, proto):
        return fully_matrix(self.net, feats, proto)


class DeeperSpace(_PrototypeSpace):
    """DEEPER: cosine distance between 9x9-DCT codes of an inner layer (SPEC 5.3)."""

    _deeper = True

    def _features(self, enc: Encoding) -> torch.Tensor:
        return enc.code

    def _compare(self, feats, proto):
        return deeper_matrix(feats, proto)


SPACES: dict[str, type[_PrototypeSpace]] = {"fully": FullySpace, "deeper": DeeperSpace}


def get(name: str) -> type[_PrototypeSpace]:
    """``"fully"`` -> :class:`FullySpace`, ``"deeper"`` -> :class:`DeeperSpace`."""
    try:
        return SPACES[name.lower()]
    except KeyError:
        raise ConfigError(f"unknown space {name!r}; choose fully or deeper") from None


