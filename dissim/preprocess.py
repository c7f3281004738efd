"""Network inputs: resize, original or HASC bands, three channels (paper Section 2).

Every image is resized to the network's square input (224 x 224 in the paper) and presented as
three bands: colour images keep their bands; grey images are replicated three times. The HASC
input applies :func:`dissim.hasc.hasc_image` band by band ("If the original image is in color,
HASC is applied separately on each band; if it is grey level, the HASC image is replicated three
times", Section 2.1).

Choices the paper leaves open (Section 2, book chapter "Assumptions"):

* Resampling: bicubic with antialiasing, like MATLAB's ``imresize`` default (Pillow's bicubic
  filter widens its support when shrinking, i.e. antialiases).
* Pixel range: float32 in 0-255 with no normalisation, as MATLAB's ``imageInputLayer`` with
  ``Normalization='none'`` on ``uint8`` images; ``pixel_range="unit"`` divides by 255.
* Order of HASC and resizing: the image is resized to the network size first and HASC is
  computed on the resized bands (HASC on 1920 x 1072 InfLar frames would dominate the run time;
  the paper does not say which order it used).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image
from tqdm import tqdm

from dissim.errors import ConfigError
from dissim.hasc import hasc_image

REPRESENTATIONS = ("orig", "hasc")
PIXEL_RANGES = ("0-255", "unit")


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """Resize a uint8 ``HxW`` or ``HxWx3`` image to ``size x size`` (bicubic, antialiased)."""
    pil = Image.fromarray(np.ascontiguousarray(image))
    return np.asarray(pil.resize((size, size), Image.Resampling.BICUBIC))


def three_bands(image: np.ndarray) -> np.ndarray:
    """Return ``HxWx3``: grey is replicated three times, colour is kept (Section 2.1)."""
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise ConfigError(
        f"expected an HxW or HxWx3 image, got shape {image.shape}; load images with dissim.data"
    )


def to_network_input(
    images: Sequence[np.ndarray],
    size: int,
    *,
    representation: str = "orig",
    pixel_range: str = "0-255",
    progress: bool = False,
) -> np.ndarray:
    """Turn images into the network input tensor ``(N, 3, size, size)`` float32.

    Parameters
    ----------
    images : sequence of uint8 arrays
        ``HxW`` (grey) or ``HxWx3`` (colour) images of any size.
    size : int
        Square input side (224 in the paper, smaller in the ``quick``/``smoke`` profiles).
    representation : {"orig", "hasc"}
        The original bands, or the HASC image of each band (book: Assumptions; our reconstruction).
    pixel_range : {"0-255", "unit"}
        Unnormalised 0-255 floats (default, Section 2) or divided by 255.
    progress : bool
        Show a progress bar (HASC takes a fraction of a second per image).

    Examples
    --------
    >>> x = to_network_input([np.zeros((30, 40), np.uint8)], 48)
    >>> x.shape, x.dtype
    ((1, 3, 48, 48), dtype('float32'))
    """
    if representation not in REPRESENTATIONS:
        raise ConfigError(
            f"unknown input representation {representation!r}; choose one of "
            f"{', '.join(REPRESENTATIONS)}"
        )
    if pixel_range not in PIXEL_RANGES:
        raise ConfigError(
            f"unknown pixel_range {pixel_range!r}; choose one of {', '.join(PIXEL_RANGES)}"
        )
    out = np.empty((len(images), 3, size, size), dtype=np.float32)
    it = tqdm(images, desc=f"{representation} inputs", disable=not progress, leave=False)
    for i, image in enumerate(it):
        small = resize(image, size)
        bands = hasc_image(small) if representation == "hasc" else three_bands(small)
        out[i] = np.moveaxis(bands, 2, 0)
    if pixel_range == "unit":
        out /= 255.0
    return out
