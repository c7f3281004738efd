"""Losses of the Siamese networks: binary cross-entropy on pairs and the triplet loss.

Paper Section 2.2 (2.2.1 Cross, 2.2.2 Triplet); Section 2.2. The Siamese forward pass that
produces the inputs lives elsewhere; these functions only reduce a batch to a scalar loss.

* :func:`pair_bce` takes the *logits* ``w . |F1 - F2| + b`` of the FC head and the pair labels
  (1 = same class), as in the MathWorks example the paper follows.
* :func:`triplet_loss` takes the sigmoid embeddings ``Y_A, Y_P, Y_N`` (no FC head) and the
  Euclidean distance with ``delta = 1e-6`` inside the square root (companion README [R]).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from dissim.errors import ConfigError
from dissim.siamese import euclidean

__all__ = ["TRIPLET_FORMS", "pair_bce", "triplet_loss", "triplet_loss_from_distances"]

#: The two readings of the triplet loss (Section 2.2): the formula as printed, and the usual one.
TRIPLET_FORMS = ("printed", "conventional")


def pair_bce(logits: Tensor, y: Tensor) -> Tensor:
    """Mean binary cross-entropy of ``p = sigmoid(logits)`` against pair labels ``y``.

    ``L = mean(-[y log p + (1 - y) log(1 - p)])`` (paper Section 2.2.1), evaluated in
    log-sigmoid form by :func:`torch.nn.functional.binary_cross_entropy_with_logits`, so it is
    finite for any finite logit.

    Parameters
    ----------
    logits : Tensor
        Pre-sigmoid outputs of the Siamese head, any shape, floating point.
    y : Tensor
        Labels of the same shape, 1 for a same-class pair and 0 otherwise (bool, int or float).

    Returns
    -------
    Tensor
        A scalar of ``logits.dtype``.

    Notes
    -----
    The MathWorks example computes ``p = sigmoid(z)`` first and clips it to ``[eps, 1 - eps]``
    (``eps`` = machine epsilon of the precision, 1.19e-7 in single) before taking the logs. The
    two agree to rounding while ``eps < p < 1 - eps``, i.e. ``|z| < log((1 - eps) / eps)``
    (about 15.9 in single precision). Beyond that, at saturation, the clipped loss is capped at
    ``-log(eps)`` (about 15.9) with zero gradient, whereas this one keeps growing linearly in
    ``|z|`` with gradient ``sigmoid(z) - y`` (tending to +-1 per sample), so a confidently
    wrong pair still pushes the weights.

    Examples
    --------
    >>> round(float(pair_bce(torch.tensor([0.0]), torch.tensor([1.0]))), 4)  # log 2
    0.6931
    """
    if logits.shape != y.shape:
        raise ValueError(
            f"logits and y must have the same shape, got {tuple(logits.shape)} and {tuple(y.shape)}"
        )
    return F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype), reduction="mean")


def triplet_loss(
    ya: Tensor, yp: Tensor, yn: Tensor, margin: float = 1.0, form: str = "printed"
) -> Tensor:
    """Triplet loss on sigmoid embeddings, in the printed or the conventional form.

    With ``d(a, b) = sqrt(sum((a - b)^2) + 1e-6)`` computed row by row (companion README [R];
    :func:`dissim.siamese.euclidean`, the distance FULLY-Triplet also uses),
    ``d_ap = d(Y_A, Y_P)`` and ``d_an = d(Y_A, Y_N)`` (paper Section 2.2.2):

    * ``"printed"`` (default, faithful to the paper's formula):
      ``L = mean(max(d_ap - d_an, margin))``;
    * ``"conventional"`` (the usual triplet loss, for the ablation):
      ``L = mean(max(d_ap - d_an + margin, 0))``.

    Parameters
    ----------
    ya, yp, yn : Tensor
        Anchor, positive and negative embeddings, shape ``(N, D)``, already passed through the
        sigmoid (the caller applies it, as the paper's ``Y = Sig(F)``).
    margin : float, default 1.0
        The paper's ``xi``; 1 was the best of the fixed margins the authors tried.
    form : {"printed", "conventional"}, default "printed"
        Which reading of the formula to use; the companion code that would settle it is lost.

    Returns
    -------
    Tensor
        A scalar of the embeddings' dtype (mean over the batch).

    Raises
    ------
    ConfigError
        For an unknown ``form``.
    ValueError
        If the three inputs do not share one ``(N, D)`` shape.

    Notes
    -----
    The printed form is the constant ``margin`` - with zero gradient - for every triplet where
    ``d_ap - d_an <= margin``; it only trains on triplets whose positive is farther from the
    anchor than the negative by more than the margin. With sigmoid embeddings in ``(0, 1)^D``
    every distance is below ``sqrt(D)`` (plus the 1e-6 under the root), so with ``D = 1`` the
    printed loss can never be active for ``margin = 1``, and for any ``D`` it needs
    ``d_ap > 1 + d_an``. At initialisation (narrow-normal weights) all embeddings sit near
    ``0.5``, the distances are close to 0 and the loss is flat: a network trained with the
    printed form rarely moves. The conventional form is active while ``d_ap - d_an > -margin``,
    which holds for every triplet at initialisation.

    Examples
    --------
    >>> ya, yp = torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]])
    >>> yn = torch.tensor([[1.0, 0.0]])
    >>> round(float(triplet_loss(ya, yp, yn)), 4)  # max(5 - 1, 1)
    4.0
    """
    if form not in TRIPLET_FORMS:
        raise ConfigError(f"unknown triplet form {form!r}; choose printed or conventional")
    if ya.ndim != 2 or ya.shape != yp.shape or ya.shape != yn.shape:
        raise ValueError(
            "ya, yp and yn must share one (N, D) shape, got "
            f"{tuple(ya.shape)}, {tuple(yp.shape)} and {tuple(yn.shape)}"
        )
    # delta = 1e-6 inside the root
    return triplet_loss_from_distances(euclidean(ya, yp), euclidean(ya, yn), margin, form)


def triplet_loss_from_distances(d_ap: Tensor, d_an: Tensor, margin: float = 1.0,
                                form: str = "printed") -> Tensor:
    """:func:`triplet_loss` from the anchor-positive and anchor-negative distances.

    The in-batch sampler (:mod:`dissim.sampling`) computes the distances of a batch once and
    reads every triplet's two distances from that matrix, instead of gathering three
    ``(n_triplets, D)`` embedding arrays.
    """
    if form not in TRIPLET_FORMS:
        raise ConfigError(f"unknown triplet form {form!r}; choose printed or conventional")
    gap = d_ap - d_an
    if form == "printed":
        return torch.clamp(gap, min=margin).mean()
    return torch.clamp(gap + margin, min=0.0).mean()
