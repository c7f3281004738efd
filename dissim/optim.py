"""Adam and the two Adam variants of the paper: DGrad and DecayDGrad.

Paper Section 2.3 (Adam), 2.3.1 (DGrad), 2.3.2 (DecayDGrad); Section 4, 3.5 and 4. The
paper's equation numbers are lost in our text copy except "(12)", the DGrad update
``theta_{t+1} = theta_t - lambda * xi_t * m_hat_t / (sqrt(u_hat_t) + eps)`` that DecayDGrad
reuses.

Both variants keep Adam's moments and bias corrections and only scale the step element-wise by a
factor ``xi_t``; the class :class:`DGrad` computes it in one hook, :meth:`DGrad._multiplier`,
which :class:`DecayDGrad` overrides. Base Adam is :class:`torch.optim.Adam` itself (MATLAB's
``adamupdate`` has the same formula, with ``eps`` added to ``sqrt(u_hat)``).

Examples
--------
>>> model = torch.nn.Linear(4, 1)
>>> opt = create("decaydgrad", model.parameters(), lr=1e-4, total_steps=3000)
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import Tensor
from torch.optim import Optimizer

from dissim.errors import ConfigError

__all__ = [
    "NAMES",
    "PAPER_BETAS",
    "PAPER_EPS",
    "DGrad",
    "DecayDGrad",
    "create",
    "decay_curves",
    "get",
    "global_decay",
    "impulse",
]

#: Gradient and squared-gradient decay of every optimiser in the paper (Section 4).
PAPER_BETAS = (0.9, 0.99)
#: MATLAB ``adamupdate``'s default epsilon (Section 4, [INF]).
PAPER_EPS = 1e-8

Params = Iterable[Tensor] | Iterable[dict[str, Any]]


# --------------------------------------------------------------------------------------------
# DecayDGrad's schedule (paper Section 2.3.2, Figure 4; Section 2.3)
# --------------------------------------------------------------------------------------------


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"Invalid {name}: {value!r}; expected a positive integer")


def _check_c(c: Any) -> None:
    if isinstance(c, bool) or not isinstance(c, numbers.Real) or not 0.0 <= c <= 1.0:
        raise ValueError(f"Invalid c: {c!r}; expected a number in [0, 1]")


def _scalar_or_array(values: np.ndarray, t: ArrayLike) -> float | np.ndarray:
    return float(values) if np.ndim(t) == 0 else values


def impulse(t: ArrayLike, period: int = 10) -> float | np.ndarray:
    """Local periodic impulse ``imp_t = exp(-(2 * mod(t, s) / s)^2)``.

    Paper Section 2.3.2 (minus signs restored from the stated range, Section 2.3). It is 1 at every
    multiple of ``s`` and decays to ``exp(-(2 (s - 1) / s)^2)`` (0.039 for ``s = 10``) just
    before the next one.

    Parameters
    ----------
    t : int or array_like of int
        Iteration number(s); the paper counts from 1.
    period : int, default 10
        The period ``s``, in iterations.

    Returns
    -------
    float or ndarray
        A float for a scalar ``t``, else a float64 array of ``t``'s shape.

    Examples
    --------
    >>> round(impulse(13), 3)
    0.698
    """
    _check_positive_int("period", period)
    values = np.exp(-((2.0 * np.mod(t, period) / period) ** 2))
    return _scalar_or_array(values, t)


def global_decay(t: ArrayLike, total_steps: int, c: float = 0.25) -> float | np.ndarray:
    """Global decay ``d_t = exp(-2 (t - c * niter)^2 / niter^2)``.

    Paper Section 2.3.2: the factor peaks at 1 at ``t = c * niter`` (iteration 750 of
    3000) and falls to ``exp(-2 (1 - c)^2)`` (0.325) at the last iteration.

    Parameters
    ----------
    t : int or array_like of int
        Iteration number(s), from 1.
    total_steps : int
        ``niter``, the number of training iterations (3000 in the paper).
    c : float, default 0.25
        Where the peak lies, as a fraction of ``niter``.

    Returns
    -------
    float or ndarray
        A float for a scalar ``t``, else a float64 array.

    Examples
    --------
    >>> round(global_decay(1, 3000), 3)
    0.883
    """
    _check_positive_int("total_steps", total_steps)
    _check_c(c)
    shifted = np.asarray(t, dtype=np.float64) - c * total_steps
    values = np.exp(-2.0 * shifted**2 / float(total_steps) ** 2)
    return _scalar_or_array(values, t)


def decay_curves(
    total_steps: int = 3000, period: int = 10, c: float = 0.25
) -> dict[str, np.ndarray]:
    """The data of the paper's Figure 4: ``d_t`` and ``imp_t * d_t`` for ``t = 1..niter``.

    Parameters
    ----------
    total_steps, period, c
        As in :func:`global_decay` and :func:`impulse`.

    Returns
    -------
    dict of str to ndarray
        ``{"t": 1..niter (int64), "d": d_t, "imp_d": imp_t * d_t}``.
    """
    t = np.arange(1, total_steps + 1, dtype=np.int64)
    d = global_decay(t, total_steps, c)
    return {"t": t, "d": d, "imp_d": impulse(t, period) * d}


# --------------------------------------------------------------------------------------------
# Optimisers
# --------------------------------------------------------------------------------------------


def _check_adam(lr: float, betas: tuple[float, float], eps: float) -> None:
    if not lr >= 0.0:
        raise ValueError(f"Invalid learning rate: {lr}")
    if not eps >= 0.0:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if len(betas) != 2:
        raise ValueError(f"Invalid betas: {betas!r}; expected two numbers")
    for index, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {index}: {beta}")


class DGrad(Optimizer):
    r"""DGrad: Adam whose step is scaled by how far the gradient is from its moving average.

    Nanni, Maguolo and Lumini, "Exploiting Adam-like optimization algorithms to improve the
    performance of convolutional neural networks" (arXiv 2021), as described in Section 2.3.1
    of the Sensors 2021 paper (Section 2.3). With Adam's moments ``m_t``, ``u_t`` (Section 2.3):

    * ``Delta_t = |g_t - avg_t|``, ``avg_t`` = ``u_t`` (the paper's words: "the moving average of
      the component-wise squares of the gradient") or ``m_t``; both uncorrected, after the
      step-t update;
    * ``Delta_hat_t = Delta_t / (max(Delta_t) + max_eps)``, the max over each parameter tensor;
    * ``xi_t = Sig(4 Delta_hat_t)``, in ``[0.5, 0.982]``;
    * ``theta_t = theta_{t-1} - lr * xi_t * m_hat_t / (sqrt(u_hat_t) + eps)``, Eq. (12).

    The step count ``t`` starts at 1, as MATLAB's iteration counter. With ``xi_t`` replaced by
    1 the update is :class:`torch.optim.Adam`'s, computed in the same order, bit for bit
    (tested against both its single-tensor and its ``foreach`` paths, on CPU).

    Parameters
    ----------
    params : iterable of Tensor or of dict
        Parameters, or parameter groups (dicts that may override any argument below).
    lr : float, default 1e-4
        Learning rate ``lambda`` (the paper's 1e-4).
    betas : tuple of float, default (0.9, 0.99)
        ``(rho_1, rho_2)``, decay of the first and second moments, each in ``[0, 1)``.
    eps : float, default 1e-8
        Added to ``sqrt(u_hat)`` in the denominator, as in MATLAB ``adamupdate``.
    avg : {"u", "m"}, default "u"
        The moving average that ``g_t`` is compared with: ``u_t`` as the paper says, or ``m_t``
        (the natural generalisation of diffGrad). The original code is lost (Section 2.3, UNKNOWN).
    max_eps : float, default 1e-12
        Added to ``max(Delta_t)`` so that a tensor whose ``Delta`` is all zero gets
        ``xi = 0.5`` instead of NaN; 0 reproduces the printed formula literally.

    Examples
    --------
    >>> opt = DGrad(torch.nn.Linear(4, 1).parameters(), lr=1e-4)
    >>> # loss.backward(); opt.step(); opt.zero_grad()
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-4,
        betas: tuple[float, float] = PAPER_BETAS,
        eps: float = PAPER_EPS,
        avg: str = "u",
        max_eps: float = 1e-12,
    ) -> None:
        _check_adam(lr, betas, eps)
        if avg not in ("u", "m"):
            raise ValueError(f"Invalid avg: {avg!r}; choose 'u' or 'm'")
        if not max_eps >= 0.0:
            raise ValueError(f"Invalid max_eps value: {max_eps}")
        defaults = {"lr": lr, "betas": betas, "eps": eps, "avg": avg, "max_eps": max_eps}
        super().__init__(params, defaults)

    def _multiplier(
        self, group: dict[str, Any], state: dict[str, Any], delta_hat: Tensor
    ) -> Tensor:
        """The element-wise step factor ``xi_t = Sig(4 Delta_hat_t)``; the one subclass hook.

        ``state["step"]`` holds ``t`` (already incremented); the result is a new tensor.
        """
        return torch.sigmoid(4.0 * delta_hat)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Perform one update of every parameter that has a gradient.

        Parameters
        ----------
        closure : callable, optional
            Re-evaluates the model and returns the loss; called with gradients enabled.

        Returns
        -------
        float or None
            The closure's loss, if a closure was given.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()

        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None or p.numel() == 0:
                    continue
                grad = p.grad
                if grad.is_sparse:
                    raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")

                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                t = state["step"]
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]

                # Moments with the same kernels, in the same order, as torch.optim.Adam's
                # single-tensor path, so that xi = 1 reproduces it bit for bit.
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)

                reference = exp_avg_sq if group["avg"] == "u" else exp_avg
                delta = (grad - reference).abs_()
                delta_hat = delta.div_(delta.max() + group["max_eps"])
                xi = self._multiplier(group, state, delta_hat)

                step_size = group["lr"] / (1 - beta1**t)
                denom = (exp_avg_sq.sqrt() / (1 - beta2**t) ** 0.5).add_(group["eps"])
                p.addcdiv_(exp_avg * xi, denom, value=-step_size)

        return loss


class DecayDGrad(DGrad):
    r"""DecayDGrad: DGrad whose factor is damped by a periodic impulse and a global decay.

    New in Nanni et al., Sensors 2021, Section 2.3.2:
    ``xi_t = Sig(4 Delta_hat_t) * imp_t * d_t`` with ``imp_t = exp(-(2 mod(t, s) / s)^2)``
    (:func:`impulse`) and ``d_t = exp(-2 (t - c niter)^2 / niter^2)`` (:func:`global_decay`);
    the update is DGrad's Eq. (12). Past ``total_steps`` the decay keeps falling.

    Parameters
    ----------
    params, lr, betas, eps, avg, max_eps
        As in :class:`DGrad`.
    period : int, default 10
        The impulse period ``s``, in iterations.
    c : float, default 0.25
        Position of the decay's peak as a fraction of ``total_steps``, in ``[0, 1]``.
    total_steps : int, default 3000
        ``niter``, the planned number of iterations (3000 in the paper).

    Examples
    --------
    >>> opt = DecayDGrad(torch.nn.Linear(4, 1).parameters(), lr=1e-4, total_steps=3000)
    >>> # loss.backward(); opt.step(); opt.zero_grad()
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-4,
        betas: tuple[float, float] = PAPER_BETAS,
        eps: float = PAPER_EPS,
        period: int = 10,
        c: float = 0.25,
        total_steps: int = 3000,
        avg: str = "u",
        max_eps: float = 1e-12,
    ) -> None:
        _check_positive_int("period", period)
        _check_c(c)
        _check_positive_int("total_steps", total_steps)
        super().__init__(params, lr=lr, betas=betas, eps=eps, avg=avg, max_eps=max_eps)
        schedule = {"period": period, "c": c, "total_steps": total_steps}
        self.defaults.update(schedule)  # later add_param_group calls fill these in too
        for group in self.param_groups:
            for key, value in schedule.items():
                group.setdefault(key, value)
            _check_positive_int("period", group["period"])
            _check_c(group["c"])
            _check_positive_int("total_steps", group["total_steps"])

    def _multiplier(
        self, group: dict[str, Any], state: dict[str, Any], delta_hat: Tensor
    ) -> Tensor:
        t = state["step"]
        damping = impulse(t, group["period"]) * global_decay(t, group["total_steps"], group["c"])
        return super()._multiplier(group, state, delta_hat).mul_(damping)


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------

_REGISTRY: dict[str, type[Optimizer]] = {
    "adam": torch.optim.Adam,
    "dgrad": DGrad,
    "decaydgrad": DecayDGrad,
}
#: Registered optimiser names, as accepted by :func:`get` (any case).
NAMES = tuple(_REGISTRY)


def get(name: str) -> type[Optimizer]:
    """The optimiser class registered under ``name`` (``adam``, ``dgrad``, ``decaydgrad``).

    Raises
    ------
    ConfigError
        For an unknown name.
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in _REGISTRY:
        raise ConfigError(f"unknown optimizer {name!r}; choose adam, dgrad or decaydgrad")
    return _REGISTRY[key]


def create(
    name: str, params: Params, lr: float = 1e-4, total_steps: int = 3000, **kw: Any
) -> Optimizer:
    """Build optimiser ``name`` with the paper's settings (Section 4, 3.5).

    ``betas = (0.9, 0.99)`` and ``eps = 1e-8`` for all three unless ``kw`` overrides them;
    ``total_steps`` is used by DecayDGrad only.

    Parameters
    ----------
    name : str
        ``"adam"``, ``"dgrad"`` or ``"decaydgrad"``, any case.
    params : iterable of Tensor or of dict
        Parameters or parameter groups.
    lr : float, default 1e-4
        Learning rate.
    total_steps : int, default 3000
        Planned number of iterations (DecayDGrad's ``niter``).
    **kw
        Further keyword arguments of the optimiser class.

    Examples
    --------
    >>> opt = create("Adam", torch.nn.Linear(2, 1).parameters())
    >>> opt.defaults["betas"], opt.defaults["eps"]
    ((0.9, 0.99), 1e-08)
    """
    cls = get(name)
    kw.setdefault("betas", PAPER_BETAS)
    kw.setdefault("eps", PAPER_EPS)
    if issubclass(cls, DecayDGrad):
        kw["total_steps"] = total_steps
    return cls(params, lr=lr, **kw)
