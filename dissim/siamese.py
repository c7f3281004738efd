"""The Siamese network around one Appendix A subnetwork (Section 2.2, 5.2; paper Figure 2).

Both branches share the subnetwork f, whose embedding is squashed by a sigmoid,
``F = sigmoid(f(x))`` [MW].  Two modes:

* ``"cross"`` (binary cross-entropy, the MathWorks example): a fully connected head maps
  ``Z = |F1 - F2|`` to one logit, ``p = sigmoid(w . Z + b)`` is the probability that the two
  images share a class -- a *similarity* in (0, 1).
* ``"triplet"``: no head [R]; the score of a pair is the Euclidean distance with
  delta = 1e-6 inside the root, ``sqrt(sum((F1 - F2)^2) + 1e-6)`` [R] -- a *distance*.

:meth:`SiameseNet.score_matrix` scores every image against every prototype from embeddings
computed once, which is how the FULLY space is built (Section 2.1).

>>> from dissim.topologies import create
>>> net = SiameseNet(create(6, in_channels=1, input_size=58), mode="cross")
>>> x = torch.rand(2, 1, 58, 58)
>>> net(x, x).shape
torch.Size([2])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dissim.errors import ConfigError
from dissim.topologies import Backbone

__all__ = ["MODES", "SiameseNet", "euclidean"]

MODES = ("cross", "triplet")
DELTA = 1e-6  # inside the square root of the triplet distance [R, Section 2.2]


def euclidean(a: Tensor, b: Tensor, delta: float = DELTA) -> Tensor:
    """Row-wise ``sqrt(sum((a - b)^2) + delta)`` over the last axis (Section 2.2 [R]).

    The delta keeps the gradient finite when ``a == b``: ``euclidean(a, a) == sqrt(delta)``.
    """
    return torch.sqrt(((a - b) ** 2).sum(-1) + delta)


class SiameseNet(nn.Module):
    """A Siamese network: a shared :class:`~dissim.topologies.Backbone` plus the pair score.

    Parameters
    ----------
    backbone : Backbone
        The subnetwork f (one of the eight topologies of Appendix A).
    mode : str
        ``"cross"`` (FC head + sigmoid, a similarity) or ``"triplet"`` (Euclidean distance, no
        head).  The head's weights and bias start at ``0.01 * randn`` as in the MathWorks
        example (Section 4).

    Attributes
    ----------
    head : nn.Linear or None
        ``nn.Linear(D, 1)`` in cross mode, None in triplet mode.
    """

    def __init__(self, backbone: Backbone, mode: str = "cross") -> None:
        super().__init__()
        if mode not in MODES:
            raise ConfigError(f"unknown Siamese mode {mode!r}; choose one of {', '.join(MODES)}")
        self.backbone, self.mode = backbone, mode
        self.head: nn.Linear | None = None
        if mode == "cross":
            device = next(backbone.parameters()).device
            self.head = nn.Linear(backbone.embedding_dim, 1, device=device)
            with torch.no_grad():
                nn.init.normal_(self.head.weight, 0.0, 0.01)
                nn.init.normal_(self.head.bias, 0.0, 0.01)

    def embed(self, x: Tensor) -> Tensor:
        """``sigmoid(f(x))``, shape (N, D)."""
        return torch.sigmoid(self.backbone(x))

    def pair_logits(self, e1: Tensor, e2: Tensor) -> Tensor:
        """Cross mode: the head's logit ``w . |e1 - e2| + b``, shape (N,), from embeddings.

        Feed it to ``binary_cross_entropy_with_logits`` for a numerically stable loss.
        """
        if self.head is None:
            raise ConfigError("pair_logits exists only in cross mode; this network is triplet")
        return self.head(torch.abs(e1 - e2)).squeeze(-1)

    def pair_score(self, e1: Tensor, e2: Tensor) -> Tensor:
        """Score of each row pair, (N,): cross -> similarity in (0, 1); triplet -> distance."""
        if self.mode == "cross":
            return torch.sigmoid(self.pair_logits(e1, e2))
        return euclidean(e1, e2)

    def score_matrix(self, E: Tensor, P: Tensor, chunk: int | None = None) -> Tensor:
        """Scores of every row of ``E`` (N, D) against every row of ``P`` (K, D): (N, K).

        The backbone is not re-run.  Both modes form ``|E_i - P_j|`` for a chunk of rows of E
        at a time (``chunk`` rows; default: about 2**24 numbers per chunk), so memory stays
        bounded and the triplet distance has no cancellation: the expansion
        ``|e|^2 + |p|^2 - 2 e.p`` loses ~1e-4 in float32 for D = 4096, far more than the
        delta = 1e-6 under the root.
        """
        if E.dim() != 2 or P.dim() != 2 or E.shape[1] != P.shape[1]:
            raise ConfigError(
                f"score_matrix needs (N, D) and (K, D) embeddings; got {tuple(E.shape)} and "
                f"{tuple(P.shape)}"
            )
        n, k = E.shape[0], P.shape[0]
        if chunk is None:
            chunk = max(1, 2**24 // max(1, k * E.shape[1]))
        if chunk < 1:
            raise ConfigError(f"chunk must be a positive integer; got {chunk!r}")
        rows = []
        for start in range(0, n, chunk):
            diff = E[start:start + chunk, None, :] - P[None, :, :]  # (c, K, D)
            if self.head is not None:
                rows.append(torch.sigmoid(self.head(diff.abs()).squeeze(-1)))
            else:
                rows.append(torch.sqrt((diff**2).sum(-1) + DELTA))
        return torch.cat(rows) if rows else E.new_empty(0, k)

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        """``pair_score(embed(x1), embed(x2))``, shape (N,)."""
        return self.pair_score(self.embed(x1), self.embed(x2))
