"""Images in: what :class:`~dissim.pipeline.classifier.DissimilarityClassifier` accepts as ``X``.

Everything becomes the ``uint8`` ``HxW`` (grey) or ``HxWx3`` (colour) arrays that
:mod:`dissim.data` produces and :func:`dissim.preprocess.to_network_input` resizes (Section 2).

>>> [a.shape for a in as_images([np.zeros((5, 7)), np.ones((4, 4, 4), np.float32)])]
[(5, 7), (4, 4, 3)]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from dissim.data.loaders import _composite_on_white, read_image, to_uint8
from dissim.errors import DataError

__all__ = ["as_images"]


# ---------------------------------------------------------------------------------------------
def _array_to_uint8(a: np.ndarray, i: int) -> np.ndarray:
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))) or min(a.shape[:2]) < 1:
        raise DataError(
            f"image {i} has shape {a.shape}; expected HxW (grey), HxWx3 (RGB) or HxWx4 (RGBA)"
        )
    if a.dtype != np.uint8:
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            raise DataError(f"image {i} has dtype {a.dtype}; expected numbers")
        f = a.astype(np.float64)
        if not np.isfinite(f).all():
            raise DataError(f"image {i} holds NaN or infinite pixels")
        if np.issubdtype(a.dtype, np.floating) and f.size and f.min() >= 0 and f.max() <= 1:
            f = f * 255.0  # floats in [0, 1] are unit-range pixels
        a = np.clip(np.rint(f), 0, 255).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 4:  # RGBA -> RGB on white, as dissim.data reads files
        a = _composite_on_white(a[..., :3], a[..., 3])
    return np.ascontiguousarray(a)


def as_images(X) -> list[np.ndarray]:
    """Turn ``X`` into a list of ``uint8`` images, ``HxW`` (grey) or ``HxWx3`` (colour).

    ``X`` is a sequence (list, tuple, object array or ``(N, H, W[, C])`` array) whose items are
    file paths (``str`` or :class:`~pathlib.Path`, read with Pillow by
    :func:`dissim.data.read_image`), Pillow images, or arrays ``HxW``, ``HxWx1``, ``HxWx3`` or
    ``HxWx4`` of any size. Integer pixels are 0-255; float pixels are 0-255, or 0-1 when every
    value lies in [0, 1]; RGBA is composited on white (the rule of :mod:`dissim.data.loaders`).
    """
    if isinstance(X, str | Path):
        raise DataError("X must be a sequence of images or paths, not a single path")
    if isinstance(X, np.ndarray) and X.dtype != object and X.ndim < 3:
        raise DataError(
            f"X has shape {X.shape}; pass a sequence of images (N, H, W[, C]) or file paths, "
            "not a feature matrix"
        )
    try:
        items = list(X)
    except TypeError:
        raise DataError(
            f"X must be a sequence of images or paths; got {type(X).__name__}"
        ) from None
    if not items:
        raise DataError("X holds no images")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, str | Path):
            out.append(read_image(item))
        elif isinstance(item, Image.Image):
            out.append(to_uint8(item))
        else:
            out.append(_array_to_uint8(np.asarray(item), i))
    return out
