"""Tests of dissim.optim: a NumPy oracle of SPEC 4, the Adam limit case, schedules, registry.

The device comes from ``DISSIM_TEST_DEVICE`` (default ``cpu``), so the suite also runs on a GPU.
"""

from __future__ import annotations

import copy
import math
import os

import numpy as np
import pytest
import torch

from dissim.errors import ConfigError
from dissim.optim import (
    PAPER_BETAS,
    PAPER_EPS,
    DecayDGrad,
    DGrad,
    create,
    decay_curves,
    get,
    global_decay,
    impulse,
)

DEVICE = torch.device(os.environ.get("DISSIM_TEST_DEVICE", "cpu"))
SHAPES = [(3, 4), (5,)]


# ------------------------------------------------------------------------------ NumPy oracle


def _oracle(theta0, grads, lr, betas, eps, avg="u", schedule=None, per_tensor=True):
    """Independent float64 re-implementation of SPEC 4 (DGrad; DecayDGrad if ``schedule``).

    ``schedule = (s, c, niter)``; ``per_tensor=False`` takes the max over all tensors at once
    (the alternative reading, used to show that the tests can tell the two apart).
    """
    b1, b2 = betas
    theta = [x.copy() for x in theta0]
    m = [np.zeros_like(x) for x in theta0]
    u = [np.zeros_like(x) for x in theta0]
    for t, g_t in enumerate(grads, start=1):
        deltas = []
        for i, g in enumerate(g_t):
            m[i] = b1 * m[i] + (1 - b1) * g
            u[i] = b2 * u[i] + (1 - b2) * g**2
            deltas.append(np.abs(g - (u[i] if avg == "u" else m[i])))
        global_max = max(d.max() for d in deltas)
        for i, delta in enumerate(deltas):
            top = delta.max() if per_tensor else global_max
            xi = 1.0 / (1.0 + np.exp(-4.0 * delta / (top + 1e-12)))
            if schedule is not None:
                s, c, niter = schedule
                xi = xi * math.exp(-((2 * (t % s) / s) ** 2))
                xi = xi * math.exp(-2 * (t - c * niter) ** 2 / niter**2)
            m_hat = m[i] / (1 - b1**t)
            u_hat = u[i] / (1 - b2**t)
            theta[i] = theta[i] - lr * xi * m_hat / (np.sqrt(u_hat) + eps)
    return theta


def _random_problem(steps, seed=0):
    rng = np.random.default_rng(seed)
    theta0 = [rng.normal(1.0, 0.5, size=s) for s in SHAPES]
    # The second tensor's gradients are 30x larger: a global max would flatten its neighbour.
    grads = [[rng.normal(size=s) * scale for s, scale in zip(SHAPES, (1.0, 30.0), strict=True)]]
    grads += [
        [rng.normal(size=s) * scale for s, scale in zip(SHAPES, (1.0, 30.0), strict=True)]
        for _ in range(steps - 1)
    ]
    return theta0, grads


def _run_torch(opt_factory, theta0, grads, dtype=torch.float64):
    params = [torch.tensor(x, dtype=dtype, device=DEVICE, requires_grad=True) for x in theta0]
    opt = opt_factory(params)
    for g_t in grads:
        for p, g in zip(params, g_t, strict=True):
            p.grad = torch.tensor(g, dtype=dtype, device=DEVICE)
        opt.step()
    return [p.detach().cpu().numpy() for p in params]


@pytest.mark.parametrize("avg", ["u", "m"])
def test_dgrad_matches_numpy_oracle(avg):
    theta0, grads = _random_problem(steps=60)
    kw = {"lr": 1e-2, "betas": (0.9, 0.99), "eps": 1e-8}
    got = _run_torch(lambda ps: DGrad(ps, avg=avg, **kw), theta0, grads)
    want = _oracle(theta0, grads, avg=avg, **kw)
    for g, w, x0 in zip(got, want, theta0, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=0)
        assert np.abs(g - x0).max() > 0.05  # the parameters did move


@pytest.mark.parametrize("avg", ["u", "m"])
def test_decaydgrad_matches_numpy_oracle(avg):
    theta0, grads = _random_problem(steps=60, seed=1)
    kw = {"lr": 1e-2, "betas": (0.9, 0.99), "eps": 1e-8}
    schedule = (7, 0.3, 50)  # s, c, niter: the run goes past niter on purpose

    def factory(ps):
        return DecayDGrad(ps, period=7, c=0.3, total_steps=50, avg=avg, **kw)

    got = _run_torch(factory, theta0, grads)
    want = _oracle(theta0, grads, avg=avg, schedule=schedule, **kw)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=0)


def test_oracle_tells_per_tensor_max_from_global_max():
    theta0, grads = _random_problem(steps=50)
    kw = {"lr": 1e-2, "betas": (0.9, 0.99), "eps": 1e-8}
    got = _run_torch(lambda ps: DGrad(ps, **kw), theta0, grads)
    global_max = _oracle(theta0, grads, per_tensor=False, **kw)
    assert not np.allclose(got[0], global_max[0], rtol=1e-6, atol=0)


def test_decaydgrad_differs_from_dgrad():
    theta0, grads = _random_problem(steps=5)
    a = _run_torch(lambda ps: DGrad(ps, lr=1e-2), theta0, grads)
    b = _run_torch(lambda ps: DecayDGrad(ps, lr=1e-2), theta0, grads)
    assert not np.allclose(a[0], b[0])


# ------------------------------------------------------------------------------ Adam limit


class _UnitDGrad(DGrad):
    """DGrad with its factor forced to 1: must be Adam."""

    def _multiplier(self, group, state, delta_hat):
        return torch.ones_like(delta_hat)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dgrad_with_unit_factor_is_adam_bit_for_bit(dtype):
    theta0, grads = _random_problem(steps=20, seed=2)
    kw = {"lr": 1e-3, "betas": (0.9, 0.99), "eps": 1e-8}
    ours = _run_torch(lambda ps: _UnitDGrad(ps, **kw), theta0, grads, dtype)
    adam = _run_torch(lambda ps: torch.optim.Adam(ps, foreach=False, **kw), theta0, grads, dtype)
    for a, b in zip(ours, adam, strict=True):
        assert np.array_equal(a, b)


def _updates(opt_factory, grads, dtype):
    """Each step's update alone: parameters are put back to 0 before every step, so that the
    rounding of the update is not absorbed by a larger parameter (Adam's state ignores theta)."""
    params = [torch.zeros(s, dtype=dtype, device=DEVICE, requires_grad=True) for s in SHAPES]
    opt = opt_factory(params)
    out = []
    for g_t in grads:
        for p, g in zip(params, g_t, strict=True):
            p.grad = torch.tensor(g, dtype=dtype, device=DEVICE)
        with torch.no_grad():
            for p in params:
                p.zero_()
        opt.step()
        out.append([p.detach().cpu().numpy().copy() for p in params])
    states = [opt.state[p] for p in params]
    return out, [(s["exp_avg"], s["exp_avg_sq"]) for s in states]


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dgrad_with_unit_factor_has_adams_updates_bit_for_bit(dtype, foreach):
    _, grads = _random_problem(steps=20, seed=4)
    kw = {"lr": 1e-3, "betas": (0.9, 0.99), "eps": 1e-8}
    ours, our_state = _updates(lambda ps: _UnitDGrad(ps, **kw), grads, dtype)
    adam, adam_state = _updates(
        lambda ps: torch.optim.Adam(ps, foreach=foreach, **kw), grads, dtype
    )
    for step_ours, step_adam in zip(ours, adam, strict=True):
        for a, b in zip(step_ours, step_adam, strict=True):
            assert np.array_equal(a, b)
    for (m1, u1), (m2, u2) in zip(our_state, adam_state, strict=True):
        assert torch.equal(m1, m2) and torch.equal(u1, u2)


def test_factor_is_between_half_and_sigmoid_four():
    p = torch.zeros(50, dtype=torch.float64, device=DEVICE, requires_grad=True)
    seen = []

    class Spy(DGrad):
        def _multiplier(self, group, state, delta_hat):
            xi = super()._multiplier(group, state, delta_hat)
            seen.append(xi.clone())
            return xi

    opt = Spy([p], lr=1e-3)
    p.grad = torch.linspace(-1.0, 2.0, 50, dtype=torch.float64, device=DEVICE)
    opt.step()
    xi = seen[0]
    assert xi.min() >= 0.5 and math.isclose(xi.max().item(), 1 / (1 + math.exp(-4)), rel_tol=1e-9)


def test_zero_gradient_gives_factor_half_not_nan():
    p = torch.ones(4, device=DEVICE, requires_grad=True)
    opt = DGrad([p], lr=0.1)
    p.grad = torch.zeros(4, device=DEVICE)
    opt.step()
    assert torch.equal(p.detach(), torch.ones(4, device=DEVICE))


# ------------------------------------------------------------------------------ schedules


def test_impulse_values_over_one_period():
    expected = [1.000, 0.961, 0.852, 0.698, 0.527, 0.368, 0.237, 0.141, 0.077, 0.039]
    assert [round(impulse(t), 3) for t in range(10, 20)] == expected
    np.testing.assert_allclose(impulse(np.arange(10)), expected, atol=5e-4)
    assert impulse(30) == 1.0 and isinstance(impulse(3), float)


def test_global_decay_shape():
    t = np.arange(1, 3001)
    d = global_decay(t, 3000)
    assert int(t[np.argmax(d)]) == 750 and global_decay(750, 3000) == 1.0
    assert round(global_decay(1, 3000), 3) == 0.883
    assert math.isclose(global_decay(3000, 3000), math.exp(-1.125), rel_tol=1e-15)
    assert math.isclose(global_decay(600, 1000, c=0.6), 1.0)


def test_decay_curves_is_figure_four_data():
    curves = decay_curves()
    assert set(curves) == {"t", "d", "imp_d"}
    assert curves["t"][0] == 1 and curves["t"][-1] == 3000 and len(curves["t"]) == 3000
    np.testing.assert_allclose(curves["imp_d"], impulse(curves["t"]) * curves["d"])
    assert np.all(curves["imp_d"] <= curves["d"]) and np.all(curves["imp_d"] > 0)
    assert decay_curves(100, 5, 0.5)["d"][49] == 1.0


# ------------------------------------------------------------------------------ validation


def _param():
    return [torch.zeros(2, requires_grad=True)]


@pytest.mark.parametrize("cls", [DGrad, DecayDGrad])
@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"lr": -1e-3}, "learning rate: -0.001"),
        ({"eps": -1.0}, "epsilon value: -1.0"),
        ({"betas": (1.0, 0.99)}, "index 0: 1.0"),
        ({"betas": (0.9, -0.1)}, "index 1: -0.1"),
        ({"betas": (0.9,)}, "betas"),
        ({"avg": "g"}, "avg: 'g'"),
        ({"max_eps": -1e-3}, "max_eps value: -0.001"),
    ],
)
def test_invalid_common_arguments(cls, kw, message):
    with pytest.raises(ValueError, match=message):
        cls(_param(), **kw)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"period": 0}, "period: 0"),
        ({"period": 2.5}, "period: 2.5"),
        ({"c": -0.1}, "c: -0.1"),
        ({"c": 1.5}, "c: 1.5"),
        ({"total_steps": 0}, "total_steps: 0"),
        ({"total_steps": 10.0}, "total_steps: 10.0"),
    ],
)
def test_invalid_schedule_arguments(kw, message):
    with pytest.raises(ValueError, match=message):
        DecayDGrad(_param(), **kw)


def test_invalid_group_schedule_rejected_at_construction():
    with pytest.raises(ValueError, match="period: 0"):
        DecayDGrad([{"params": _param(), "period": 0}])


def test_schedule_functions_validate():
    with pytest.raises(ValueError, match="period: -3"):
        impulse(1, period=-3)
    with pytest.raises(ValueError, match="total_steps: 0"):
        global_decay(1, 0)
    with pytest.raises(ValueError, match="c: 2"):
        decay_curves(c=2)


def test_sparse_gradient_rejected():
    p = torch.zeros(3, requires_grad=True)
    p.grad = torch.zeros(3).to_sparse()
    with pytest.raises(RuntimeError, match="sparse"):
        DGrad([p]).step()


# ------------------------------------------------------------------------------ convergence


def _rosenbrock(xy):
    x, y = xy[0], xy[1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


@pytest.mark.parametrize(("name", "lr"), [("adam", 0.02), ("dgrad", 0.02), ("decaydgrad", 0.05)])
def test_converges_on_rosenbrock(name, lr):
    xy = torch.tensor([-1.5, 2.0], dtype=torch.float64, device=DEVICE, requires_grad=True)
    steps = 3000
    opt = create(name, [xy], lr=lr, total_steps=steps)

    def closure():
        opt.zero_grad()
        loss = _rosenbrock(xy)
        loss.backward()
        return loss

    start = _rosenbrock(xy).item()
    for _ in range(steps):
        opt.step(closure)
    assert _rosenbrock(xy).item() < 1e-3 * start
    torch.testing.assert_close(
        xy.detach(), torch.ones(2, dtype=torch.float64, device=DEVICE), atol=0.05, rtol=0
    )


@pytest.mark.parametrize("name", ["dgrad", "decaydgrad"])
def test_converges_on_ill_conditioned_quadratic(name):
    scales = torch.tensor([1.0, 10.0, 100.0], device=DEVICE)
    target = torch.tensor([1.0, -2.0, 0.5], device=DEVICE)
    x = torch.zeros(3, device=DEVICE, requires_grad=True)
    opt = create(name, [x], lr=0.05, total_steps=1000)
    for _ in range(1000):
        opt.zero_grad()
        (scales * (x - target) ** 2).sum().backward()
        opt.step()
    torch.testing.assert_close(x.detach(), target, atol=1e-2, rtol=0)


def test_step_returns_closure_loss():
    p = torch.ones(2, requires_grad=True)
    opt = DGrad([p])

    def closure():
        opt.zero_grad()
        loss = (p**2).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 2.0
    assert opt.step() is None


# ------------------------------------------------------------------------------ param groups


@pytest.mark.parametrize("cls", [DGrad, DecayDGrad])
def test_param_groups_with_different_lr(cls):
    a = torch.ones(4, dtype=torch.float64, device=DEVICE, requires_grad=True)
    b = torch.ones(4, dtype=torch.float64, device=DEVICE, requires_grad=True)
    frozen = torch.ones(4, dtype=torch.float64, device=DEVICE, requires_grad=True)
    opt = cls(
        [{"params": [a]}, {"params": [b], "lr": 2e-3}, {"params": [frozen], "lr": 0.0}], lr=1e-3
    )
    grad = torch.tensor([0.3, -1.0, 2.0, 0.01], dtype=torch.float64, device=DEVICE)
    for p in (a, b, frozen):
        p.grad = grad.clone()
    opt.step()
    torch.testing.assert_close(1 - b.detach(), 2 * (1 - a.detach()), rtol=1e-12, atol=0)
    assert torch.equal(frozen.detach(), torch.ones_like(frozen))
    assert [g["lr"] for g in opt.param_groups] == [1e-3, 2e-3, 0.0]


def test_decaydgrad_group_schedule_overrides():
    a = torch.zeros(2, requires_grad=True)
    b = torch.zeros(2, requires_grad=True)
    opt = DecayDGrad([{"params": [a]}, {"params": [b], "period": 4}], total_steps=100)
    assert [g["period"] for g in opt.param_groups] == [10, 4]
    assert all(g["total_steps"] == 100 and g["c"] == 0.25 for g in opt.param_groups)
    c = torch.zeros(2, requires_grad=True)
    opt.add_param_group({"params": [c]})
    assert opt.param_groups[-1]["period"] == 10


# ------------------------------------------------------------------------------ state_dict


@pytest.mark.parametrize("name", ["adam", "dgrad", "decaydgrad"])
def test_state_dict_round_trip(name):
    theta0, grads = _random_problem(steps=12, seed=3)
    reference = [torch.tensor(x, device=DEVICE, requires_grad=True) for x in theta0]
    opt = create(name, reference, lr=1e-2, total_steps=12)

    def feed(params, g_t):
        for p, g in zip(params, g_t, strict=True):
            p.grad = torch.tensor(g, device=DEVICE)

    for g_t in grads[:6]:
        feed(reference, g_t)
        opt.step()
    saved = copy.deepcopy(opt.state_dict())

    resumed = [p.detach().clone().requires_grad_() for p in reference]
    opt2 = create(name, resumed, lr=1e-2, total_steps=12)
    opt2.load_state_dict(saved)
    for g_t in grads[6:]:
        feed(reference, g_t)
        opt.step()
        feed(resumed, g_t)
        opt2.step()
    for p, q in zip(reference, resumed, strict=True):
        assert torch.equal(p, q)
    assert opt2.state_dict()["param_groups"] == opt.state_dict()["param_groups"]


# ------------------------------------------------------------------------------ registry


def test_get_is_case_insensitive():
    assert get("Adam") is torch.optim.Adam
    assert get("DGRAD") is DGrad
    assert get("DecayDGrad") is DecayDGrad


def test_get_unknown_name():
    with pytest.raises(ConfigError, match="unknown optimizer 'sgd'; choose adam, dgrad or"):
        get("sgd")


@pytest.mark.parametrize("name", ["adam", "dgrad", "decaydgrad"])
def test_create_uses_paper_settings(name):
    opt = create(name, _param())
    assert opt.defaults["betas"] == PAPER_BETAS == (0.9, 0.99)
    assert opt.defaults["eps"] == PAPER_EPS == 1e-8
    assert opt.defaults["lr"] == 1e-4


def test_create_passes_total_steps_and_overrides():
    opt = create("decaydgrad", _param(), lr=3e-4, total_steps=500, period=5, avg="m")
    assert (opt.defaults["total_steps"], opt.defaults["period"], opt.defaults["avg"]) == (
        500,
        5,
        "m",
    )
    assert create("adam", _param(), betas=(0.5, 0.9)).defaults["betas"] == (0.5, 0.9)
