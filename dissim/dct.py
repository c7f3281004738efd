"""Low-frequency DCT reduction of activation maps for the DEEPER space (Section 2.1).

Each H x W channel of an internal-layer activation is replaced by the top-left ``size x size``
block of its orthonormal 2-D DCT-II (MATLAB ``dct2`` = ``scipy.fft.dctn(a, type=2,
norm="ortho")``); "most information is located in the low-frequency coefficients" [paper].

Only the first ``size`` rows of each 1-D DCT matrix are needed, so the block is computed as two
batched matrix products ``D_H[:size] @ X @ D_W[:size].T`` — no full transform, any device,
autograd-friendly. (Hand-written because ``torch`` has no DCT; ``scipy.fft.dctn`` is the test
oracle; a per-channel ``dctn`` loop is ~100x slower, see ``benchmarks/dct.py``.)

Caveat [Section 2.1, UNKNOWN]: had the original code literally called ``dct2(A, 9, 9)`` on a
channel larger than 9 x 9, MATLAB would have *cropped* A to its top-left 9 x 9 pixels before the
transform, a different result. We implement the low-frequency block, which is what the paper's
sentence describes. Channels smaller than ``size`` are zero-padded (bottom/right) to ``size``
before the DCT, which is exactly ``dct2(A, 9, 9)`` for small inputs.

Examples
--------
>>> import torch
>>> reduce(torch.ones(2, 64, 19, 19)).shape
torch.Size([2, 5184])
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor

from dissim.errors import ConfigError

__all__ = ["dct_matrix", "reduce"]


@lru_cache(maxsize=64)
def _dct_matrix_cached(n: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    k = torch.arange(n, dtype=torch.float64).unsqueeze(1)
    i = torch.arange(n, dtype=torch.float64).unsqueeze(0)
    mat = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    mat[0] /= math.sqrt(2.0)
    return mat.to(dtype=dtype, device=device)


def dct_matrix(
    n: int, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> Tensor:
    """Orthonormal DCT-II matrix ``D`` (n x n), so that ``D @ x`` is the DCT of a column ``x``.

    ``D[k, i] = c_k sqrt(2/n) cos(pi (2i + 1) k / (2n))`` with ``c_0 = 1/sqrt(2)``, ``c_k = 1``
    otherwise (Section 2.1; the printed formula lost this factor). Built in float64, then cast;
    cached per (n, dtype, device). Treat the result as read-only.

    Parameters
    ----------
    n : int
        Signal length, >= 1.
    dtype : torch.dtype, default torch.float32
    device : torch.device or str, optional
        Default: the CPU.
    """
    if not isinstance(n, int) or n < 1:
        raise ConfigError(f"DCT length must be a positive integer, got {n!r}")
    return _dct_matrix_cached(n, dtype, torch.device(device if device is not None else "cpu"))


def reduce(x: Tensor, size: int = 9) -> Tensor:
    """Top-left ``size x size`` block of the orthonormal 2-D DCT-II of every channel (Section 2.1).

    Parameters
    ----------
    x : Tensor, shape (N, C, H, W)
        Activations of one internal layer, floating point, any device.
    size : int, default 9
        Block side (9 in the paper). Channels with H or W below ``size`` are zero-padded.

    Returns
    -------
    Tensor, shape (N, C * size * size)
        Concatenated channel-major, then DCT row (vertical frequency), then column (horizontal
        frequency): entry ``c * size**2 + u * size + v`` is coefficient (u, v) of channel c.
    """
    if not isinstance(size, int) or size < 1:
        raise ConfigError(f"DCT block size must be a positive integer, got {size!r}")
    if x.ndim != 4:
        raise ConfigError(f"reduce expects activations of shape (N, C, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ConfigError(f"reduce expects a floating-point tensor, got {x.dtype}")
    n, c, h, w = x.shape
    if h < size or w < size:  # dct2(A, size, size) semantics: zero-pad bottom/right
        x = torch.nn.functional.pad(x, (0, max(size - w, 0), 0, max(size - h, 0)))
        h, w = x.shape[-2:]
    rows = dct_matrix(h, x.dtype, x.device)[:size]  # (size, H)
    cols = dct_matrix(w, x.dtype, x.device)[:size]  # (size, W)
    block = rows @ x @ cols.T  # (N, C, size, size), broadcast over N and C
    return block.reshape(n, c * size * size)
