"""DCT reduction (SPEC §5.3) against scipy.fft.dctn, the MATLAB dct2 equivalent."""

from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.fft
import torch

from dissim import dct
from dissim.errors import ConfigError

DEVICE = torch.device(os.environ.get("DISSIM_TEST_DEVICE", "cpu"))


def oracle(x: np.ndarray, size: int = 9) -> np.ndarray:
    """Per-channel scipy loop; small channels zero-padded as MATLAB dct2(A, 9, 9)."""
    n, c, h, w = x.shape
    out = np.empty((n, c, size, size))
    for i in range(n):
        for j in range(c):
            a = np.zeros((max(h, size), max(w, size)))
            a[:h, :w] = x[i, j]
            out[i, j] = scipy.fft.dctn(a, type=2, norm="ortho")[:size, :size]
    return out.reshape(n, -1)


@pytest.mark.parametrize("shape", [(2, 3, 7, 7), (2, 3, 9, 9), (3, 4, 19, 19), (2, 2, 22, 30)])
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_reduce_equals_scipy_dctn(shape, dtype, tol):
    x = np.random.default_rng(0).standard_normal(shape)
    got = dct.reduce(torch.tensor(x, dtype=dtype, device=DEVICE))
    assert got.shape == (shape[0], shape[1] * 81) and got.dtype == dtype
    np.testing.assert_allclose(got.cpu().double().numpy(), oracle(x), atol=tol, rtol=tol)


def test_concatenation_order_is_channel_row_column():
    x = torch.zeros(1, 2, 9, 9, dtype=torch.float64)
    x[0, 1] = torch.from_numpy(scipy.fft.idctn(np.eye(9)[2:3].T @ np.eye(9)[4:5], norm="ortho"))
    got = dct.reduce(x)[0]
    expected = np.zeros(162)
    expected[81 + 2 * 9 + 4] = 1.0  # channel 1, row 2, column 4
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-12)


def test_other_block_size_and_rectangular_padding():
    x = np.random.default_rng(1).standard_normal((1, 2, 3, 12))
    got = dct.reduce(torch.from_numpy(x), size=4)
    np.testing.assert_allclose(got.numpy(), oracle(x, 4), atol=1e-10)


def test_dct_matrix_is_orthonormal_and_cached():
    d = dct.dct_matrix(13, torch.float64)
    np.testing.assert_allclose((d @ d.T).numpy(), np.eye(13), atol=1e-14)
    assert dct.dct_matrix(13, torch.float64) is d
    assert dct.dct_matrix(13, torch.float32) is not d
    np.testing.assert_allclose(
        d.numpy(), scipy.fft.dct(np.eye(13), norm="ortho", axis=0), atol=1e-14
    )


def test_works_on_meta_device():
    got = dct.reduce(torch.empty(5, 64, 19, 19, device="meta"))
    assert got.shape == (5, 64 * 81) and got.device.type == "meta"


def test_gradients_flow():
    x = torch.randn(1, 2, 10, 10, dtype=torch.float64, requires_grad=True)
    dct.reduce(x).sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape


@pytest.mark.parametrize(
    "call",
    [
        lambda: dct.reduce(torch.zeros(2, 9, 9)),
        lambda: dct.reduce(torch.zeros(1, 1, 9, 9, dtype=torch.int64)),
        lambda: dct.reduce(torch.zeros(1, 1, 9, 9), size=0),
        lambda: dct.dct_matrix(0),
    ],
)
def test_bad_input_raises_config_error(call):
    with pytest.raises(ConfigError):
        call()
