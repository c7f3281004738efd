"""The two dissimilarity spaces of the paper, FULLY and DEEPER (Section 2.1).

An image ``x`` is represented by its dissimilarities to the prototypes ``p_1 .. p_K`` (the
supervised k-means centroids of the training images, :mod:`dissim.prototypes`):

* **FULLY** -- the trained Siamese network scores the pair ``(x, p_i)``: with the Cross loss the
  head's similarity ``sigmoid(w . |F(x) - F(p_i)| + b)``; with the Triplet loss the Euclidean
  distance ``sqrt(sum((F(x) - F(p_i))^2) + 1e-6)`` between sigmoid embeddings (Section 2.1).
* **DEEPER** -- the activation of an inner layer (the topology's DEEPER tap) is reduced per
  channel to its 9 x 9 low-frequency DCT-II block (:func:`dissim.dct.reduce`), and feature ``i``
  is the cosine distance between the reduced vectors of ``x`` and ``p_i`` (Section 2.1).

Every image and every prototype goes through the backbone once (:func:`encode` returns both the
embedding and the DEEPER code from one pass); the K comparisons per image are then computed from
those encodings, never by re-running the network per pair.

Both spaces are one scikit-learn transformer, :class:`DissimilaritySpace`:
``fit(X_train, y_train)`` finds the prototypes, ``transform(X)`` returns the
``(n_images, n_prototypes)`` dissimilarity matrix.

>>> space = DissimilaritySpace(NetworkEncoder(net), "fully", k=15).fit(x_train, y_train)
... # doctest: +SKIP
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
SPACE_NAMES = ("fully", "deeper")


@dataclass
class Encoding:
    """What one backbone pass gives for a set of images.

    Attributes
    ----------
    embedding : Tensor (N, D)
        ``sigmoid(f(x))``, the Siamese embedding (Section 2.2).
    code : Tensor (N, 81 * C) or None
        The DEEPER tap reduced by the 9 x 9 DCT per channel (Section 2.1).
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
    """DEEPER: cosine distance between DCT codes of images and prototypes (Section 2.1)."""
    return cosine_distance(code, proto_code)


class NetworkEncoder:
    """A Siamese network as the encoder of the member pipeline: one backbone pass per image.

    The pipeline (train -> encode -> prototypes -> space -> SVM) only asks an encoder for
    :meth:`encode` and :meth:`compare`; any object with these two methods can stand in for the
    trained network (an initialised, untrained network, or the pixels themselves).

    Parameters
    ----------
    net : SiameseNet
        Trained (or only initialised) network.
    dct_size : int, default 9
        Side of the low-frequency DCT block of the DEEPER code (Section 2.1).
    batch_size : int, default 64
        Images per backbone pass.
    """

    def __init__(self, net, dct_size: int = 9, batch_size: int = 64) -> None:
        self.net = net
        self.dct_size = dct_size
        self.batch_size = batch_size

    def encode(self, x, *, deeper: bool = True) -> Encoding:
        """Embeddings (and DEEPER codes) of network inputs ``x`` (N, C, S, S), on the CPU."""
        return encode(self.net, x, deeper=deeper, dct_size=self.dct_size,
                      batch_size=self.batch_size)

    def compare(self, space: str, feats: torch.Tensor, proto: torch.Tensor) -> torch.Tensor:
        """The ``(n_images, n_prototypes)`` dissimilarities of one space (Section 2.1)."""
        if space == "fully":
            return fully_matrix(self.net, feats, proto)
        return deeper_matrix(feats, proto)


class PixelEncoder:
    """The pixels themselves as the encoder: the "no network" control of the results tables.

    The same pipeline (prototypes -> space -> SVM) with the Siamese network replaced by its
    input layer: images are zero-centred with the training set's mean image (as the networks'
    input layer does); DEEPER compares the 9 x 9 DCT per channel of the image (cosine distance),
    FULLY the zero-centred pixel vectors (Euclidean distance).

    Parameters
    ----------
    mean : array (C, S, S) or None
        The mean training image (None: no centring).
    dct_size : int, default 9
    """

    def __init__(self, mean=None, dct_size: int = 9) -> None:
        self.mean = None if mean is None else torch.as_tensor(np.asarray(mean, np.float32))
        self.dct_size = dct_size

    def encode(self, x, *, deeper: bool = True) -> Encoding:
        """Flattened centred pixels and (optionally) their per-channel DCT code."""
        xt = torch.as_tensor(np.asarray(x, np.float32))
        if self.mean is not None:
            xt = xt - self.mean
        code = dct_reduce(xt, self.dct_size) if deeper else None
        return Encoding(xt.flatten(1), code)

    def compare(self, space: str, feats: torch.Tensor, proto: torch.Tensor) -> torch.Tensor:
        """Euclidean distance of pixel vectors (FULLY) or cosine of DCT codes (DEEPER)."""
        if space == "fully":
            return torch.cdist(feats.double(), proto.double()).float()
        return deeper_matrix(feats, proto)


def features(enc: Encoding, space: str) -> torch.Tensor:
    """The part of an :class:`Encoding` that ``space`` compares: embedding or DEEPER code."""
    return enc.embedding if space == "fully" else enc.code


class DissimilaritySpace(TransformerMixin, BaseEstimator):
    """FULLY or DEEPER (Section 2.1) as a scikit-learn transformer.

    ``fit(X, y)`` finds the prototypes of the training images (supervised k-means on the
    images, or on the compared features with ``cluster_space="feature"``) and encodes them;
    ``transform(X)`` returns the ``(n_images, n_prototypes)`` dissimilarity matrix.
    :meth:`from_prototypes` builds a fitted space from prototype features found elsewhere
    (the member pipeline shares one k-means and one encoding between FULLY and DEEPER).

    Parameters
    ----------
    encoder : NetworkEncoder
        Encodes images and compares features (any object with ``encode`` and ``compare``).
    space : {"fully", "deeper"}
    k, per_class, random_state
        Supervised k-means (:class:`~dissim.prototypes.SupervisedKMeans`).
    cluster_space : {"pixel", "feature"}
        k-means on the network inputs (the companion's README) or on the compared features.
    """

    def __init__(self, encoder=None, space: str = "fully", k: int = 15, per_class: bool = True,
                 cluster_space: str = "pixel", random_state: int = 0) -> None:
        self.encoder = encoder
        self.space = space
        self.k = k
        self.per_class = per_class
        self.cluster_space = cluster_space
        self.random_state = random_state

    @classmethod
    def from_prototypes(cls, encoder, space: str, prototype_features: torch.Tensor,
                        **params) -> DissimilaritySpace:
        """A fitted space whose prototypes' features are ``prototype_features``."""
        out = cls(encoder, space, **params)
        out._check()
        out.prototype_features_ = prototype_features
        out.n_features_out_ = len(prototype_features)
        return out

    def _check(self) -> None:
        if self.encoder is None:
            raise ConfigError("DissimilaritySpace needs an encoder (encoder=NetworkEncoder(net))")
        if self.space not in SPACE_NAMES:
            raise ConfigError(f"unknown space {self.space!r}; choose fully or deeper")
        if self.cluster_space not in CLUSTER_SPACES:
            raise ConfigError(
                f"unknown cluster_space {self.cluster_space!r}; choose pixel or feature"
            )

    def fit(self, X, y, class_names=None) -> DissimilaritySpace:
        """Find the prototypes of the training images ``X`` (N, C, S, S) with labels ``y``."""
        self._check()
        km = SupervisedKMeans(k=self.k, per_class=self.per_class, random_state=self.random_state)
        deeper = self.space == "deeper"
        if self.cluster_space == "pixel":  # k-means on the input images (companion README)
            km.fit(np.asarray(X), y, class_names=class_names)
            self.prototypes_ = km.prototypes_
            feats = features(self.encoder.encode(self.prototypes_, deeper=deeper), self.space)
        else:  # ablation: k-means on the compared features themselves
            km.fit(features(self.encoder.encode(X, deeper=deeper), self.space).numpy(), y,
                   class_names=class_names)
            self.prototypes_ = None
            feats = torch.as_tensor(km.prototypes_)
        self.prototype_features_ = feats
        self.prototype_labels_ = km.prototype_labels_
        self.n_features_out_ = len(feats)
        return self

    def transform(self, X) -> np.ndarray:
        """The dissimilarity matrix (n_images, n_prototypes) of ``X``."""
        check_is_fitted(self, "prototype_features_")
        return self.transform_encoded(self.encoder.encode(X, deeper=self.space == "deeper"))

    def transform_encoded(self, enc: Encoding) -> np.ndarray:
        """Like :meth:`transform` from an :class:`Encoding` computed once by the encoder."""
        check_is_fitted(self, "prototype_features_")
        return self.encoder.compare(self.space, features(enc, self.space),
                                    self.prototype_features_).numpy()
