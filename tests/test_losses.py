"""Tests of dissim.losses against values computed by hand on tiny, hand-placed inputs.

The device comes from ``DISSIM_TEST_DEVICE`` (default ``cpu``), so the suite also runs on a GPU.
"""

from __future__ import annotations

import math
import os

import pytest
import torch

from dissim.errors import ConfigError
from dissim.losses import pair_bce, triplet_loss

DEVICE = torch.device(os.environ.get("DISSIM_TEST_DEVICE", "cpu"))
DTYPES = [torch.float32, torch.float64]
DELTA = 1e-6


def _t(values, dtype, requires_grad: bool = False) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype, device=DEVICE, requires_grad=requires_grad)


def _tol(dtype: torch.dtype) -> dict[str, float]:
    return {"rel_tol": 1e-6, "abs_tol": 1e-7} if dtype == torch.float32 else {"rel_tol": 1e-12}


# ------------------------------------------------------------------------------ pair_bce


@pytest.mark.parametrize("dtype", DTYPES)
def test_pair_bce_equals_hand_formula(dtype):
    logits = [-2.0, -0.5, 0.3, 1.7]
    labels = [0.0, 1.0, 1.0, 0.0]
    terms = []
    for z, y in zip(logits, labels, strict=True):
        p = 1.0 / (1.0 + math.exp(-z))
        terms.append(-(y * math.log(p) + (1.0 - y) * math.log(1.0 - p)))
    expected = sum(terms) / len(terms)

    loss = pair_bce(_t(logits, dtype), _t(labels, dtype))

    assert loss.dtype == dtype and loss.ndim == 0
    assert math.isclose(loss.item(), expected, **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_pair_bce_accepts_integer_and_bool_labels(dtype):
    logits = _t([0.4, -1.2, 2.0], dtype)
    as_float = pair_bce(logits, _t([1.0, 0.0, 1.0], dtype))
    as_int = pair_bce(logits, torch.tensor([1, 0, 1], device=DEVICE))
    as_bool = pair_bce(logits, torch.tensor([True, False, True], device=DEVICE))
    assert torch.equal(as_float, as_int) and torch.equal(as_float, as_bool)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pair_bce_finite_at_saturation(dtype):
    # Confidently wrong pairs cost |z| (= 100), confidently right ones cost exp(-100) ~ 0.
    logits = _t([100.0, 100.0, -100.0, -100.0], dtype, requires_grad=True)
    labels = _t([0.0, 1.0, 1.0, 0.0], dtype)

    loss = pair_bce(logits, labels)
    loss.backward()

    assert torch.isfinite(loss)
    assert math.isclose(loss.item(), 50.0, rel_tol=1e-6)
    # d/dz = (sigmoid(z) - y) / N, i.e. +-1/4 for the wrong pairs and ~0 for the right ones.
    expected = _t([0.25, 0.0, -0.25, 0.0], dtype)
    torch.testing.assert_close(logits.grad, expected, atol=1e-7, rtol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pair_bce_gradient_is_sigmoid_minus_label(dtype):
    logits = _t([-1.0, 0.5, 3.0], dtype, requires_grad=True)
    labels = _t([1.0, 0.0, 1.0], dtype)
    pair_bce(logits, labels).backward()
    expected = (torch.sigmoid(logits.detach()) - labels) / 3
    torch.testing.assert_close(logits.grad, expected)


def test_pair_bce_rejects_shape_mismatch():
    with pytest.raises(ValueError, match=r"\(3, 1\) and \(3,\)"):
        pair_bce(torch.zeros(3, 1), torch.zeros(3))


@pytest.mark.parametrize("dtype", DTYPES)
def test_triplet_distance_has_delta_inside_root_and_finite_gradient(dtype):
    # Anchor == positive: d_ap = sqrt(1e-6) = 1e-3, and the gradient is 0, not NaN.
    ya = _t([[0.2, 0.7]], dtype, requires_grad=True)
    yp = _t([[0.2, 0.7]], dtype, requires_grad=True)
    yn = _t([[0.5, 0.3]], dtype, requires_grad=True)  # d_an = sqrt(0.25 + 1e-6)

    loss = triplet_loss(ya, yp, yn, form="conventional")
    loss.backward()

    expected = math.sqrt(DELTA) - math.sqrt(0.25 + DELTA) + 1.0
    assert math.isclose(loss.item(), expected, **_tol(dtype))
    assert all(torch.isfinite(y.grad).all() for y in (ya, yp, yn))
    assert torch.count_nonzero(yp.grad) == 0


# ------------------------------------------------------------------------------ triplet

# Three hand-placed triplets in 2-D (N = 3, D = 2):
#   0: a=(0,0) p=(3,4) n=(1,0)   d_ap = 5, d_an = 1    gap  4.0  -> both forms active
#   1: a=(0,0) p=(1,0) n=(0,1.5) d_ap = 1, d_an = 1.5  gap -0.5  -> only conventional active
#   2: a=(0,0) p=(0,1) n=(3,0)   d_ap = 1, d_an = 3    gap -2.0  -> neither active
ANCHORS = [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
POSITIVES = [[3.0, 4.0], [1.0, 0.0], [0.0, 1.0]]
NEGATIVES = [[1.0, 0.0], [0.0, 1.5], [3.0, 0.0]]


def _hand_gaps() -> list[float]:
    def dist(u, v):
        return math.sqrt(sum((x - y) ** 2 for x, y in zip(u, v, strict=True)) + DELTA)

    return [dist(a, p) - dist(a, n) for a, p, n in zip(ANCHORS, POSITIVES, NEGATIVES, strict=True)]


def _triplets(dtype):
    return (
        _t(ANCHORS, dtype, requires_grad=True),
        _t(POSITIVES, dtype, requires_grad=True),
        _t(NEGATIVES, dtype, requires_grad=True),
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_triplet_printed_matches_hand_values(dtype):
    gaps = _hand_gaps()
    expected = sum(max(g, 1.0) for g in gaps) / 3  # ~ (4 + 1 + 1) / 3
    loss = triplet_loss(*_triplets(dtype))
    assert loss.dtype == dtype and loss.ndim == 0
    assert math.isclose(loss.item(), expected, **_tol(dtype))
    assert math.isclose(expected, 2.0, rel_tol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_triplet_conventional_matches_hand_values(dtype):
    gaps = _hand_gaps()
    expected = sum(max(g + 1.0, 0.0) for g in gaps) / 3  # ~ (5 + 0.5 + 0) / 3
    loss = triplet_loss(*_triplets(dtype), form="conventional")
    assert math.isclose(loss.item(), expected, **_tol(dtype))
    assert math.isclose(expected, 5.5 / 3, rel_tol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_triplet_margin_argument(dtype):
    gaps = _hand_gaps()
    printed = triplet_loss(*_triplets(dtype), margin=0.25)
    conventional = triplet_loss(*_triplets(dtype), margin=0.25, form="conventional")
    assert math.isclose(printed.item(), sum(max(g, 0.25) for g in gaps) / 3, **_tol(dtype))
    assert math.isclose(
        conventional.item(), sum(max(g + 0.25, 0.0) for g in gaps) / 3, **_tol(dtype)
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("form", "active_rows"), [("printed", [0]), ("conventional", [0, 1])])
def test_triplet_gradient_flows_only_through_active_triplets(dtype, form, active_rows):
    ya, yp, yn = _triplets(dtype)
    triplet_loss(ya, yp, yn, form=form).backward()

    for row in range(3):
        a, p, n = ya.detach()[row], yp.detach()[row], yn.detach()[row]
        d_ap = torch.sqrt(((a - p) ** 2).sum() + DELTA)
        d_an = torch.sqrt(((a - n) ** 2).sum() + DELTA)
        if row in active_rows:
            # dL/dp = (p - a) / (N d_ap), dL/dn = -(n - a) / (N d_an), dL/da = the rest.
            torch.testing.assert_close(yp.grad[row], (p - a) / (3 * d_ap))
            torch.testing.assert_close(yn.grad[row], -(n - a) / (3 * d_an))
            torch.testing.assert_close(ya.grad[row], -(yp.grad[row] + yn.grad[row]))
        else:
            zero = torch.zeros(2, dtype=dtype, device=DEVICE)
            for grad in (ya.grad, yp.grad, yn.grad):
                assert torch.equal(grad[row], zero)


def test_printed_form_is_flat_for_sigmoid_embeddings_near_init():
    # Sigmoid outputs of a narrow-normal network sit near 0.5: every distance is tiny, so the
    # printed loss is the constant margin and no gradient reaches the network.
    gen = torch.Generator().manual_seed(0)
    logits = 0.01 * torch.randn(3, 16, 64, generator=gen, dtype=torch.float64)
    ya, yp, yn = (torch.sigmoid(x).to(DEVICE).requires_grad_() for x in logits)

    loss = triplet_loss(ya, yp, yn)
    loss.backward()

    assert loss.item() == 1.0
    assert all(torch.count_nonzero(y.grad) == 0 for y in (ya, yp, yn))
    conventional = triplet_loss(ya, yp, yn, form="conventional")
    assert 0.9 < conventional.item() < 1.1  # active everywhere


def test_printed_form_cannot_activate_in_one_dimension():
    # In (0, 1)^1 every distance is below 1 = margin, so the printed loss is always 1.
    grid = torch.linspace(0.001, 0.999, 11, dtype=torch.float64)
    a, p, n = torch.meshgrid(grid, grid, grid, indexing="ij")
    loss = triplet_loss(a.reshape(-1, 1), p.reshape(-1, 1), n.reshape(-1, 1))
    assert loss.item() == 1.0


def test_triplet_unknown_form_raises_config_error():
    x = torch.zeros(2, 3)
    with pytest.raises(ConfigError, match="unknown triplet form 'hinge'"):
        triplet_loss(x, x, x, form="hinge")


@pytest.mark.parametrize(
    "shapes", [((2, 3), (2, 3), (2, 4)), ((2, 3), (3, 3), (2, 3)), ((6,), (6,), (6,))]
)
def test_triplet_rejects_bad_shapes(shapes):
    with pytest.raises(ValueError, match="share one"):
        triplet_loss(*(torch.zeros(s) for s in shapes))
