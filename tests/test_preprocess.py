"""Network inputs (SPEC 2.1): size, bands, range."""

from __future__ import annotations

import numpy as np
import pytest

from dissim.errors import ConfigError
from dissim.preprocess import to_network_input


def test_grey_is_replicated_and_range_kept():
    img = np.full((20, 30), 200, np.uint8)
    x = to_network_input([img], 48)
    assert x.shape == (1, 3, 48, 48) and x.dtype == np.float32
    np.testing.assert_allclose(x, 200.0)
    np.testing.assert_allclose(to_network_input([img], 48, pixel_range="unit"), 200 / 255,
                               rtol=1e-6)


def test_colour_bands_are_kept_in_order():
    img = np.zeros((10, 10, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = 10, 20, 30
    x = to_network_input([img], 16)
    np.testing.assert_allclose(x[0, :, 5, 5], [10, 20, 30])


def test_hasc_input_has_three_bands():
    rng = np.random.default_rng(0)
    x = to_network_input([rng.integers(0, 255, (40, 40), dtype=np.uint8)], 32,
                         representation="hasc")
    assert x.shape == (1, 3, 32, 32)
    np.testing.assert_array_equal(x[0, 0], x[0, 1])  # grey -> HASC band replicated
    assert 0 <= x.min() and x.max() <= 255


def test_bad_arguments():
    with pytest.raises(ConfigError, match="representation"):
        to_network_input([np.zeros((4, 4), np.uint8)], 8, representation="lbp")
    with pytest.raises(ConfigError, match="HxW"):
        to_network_input([np.zeros((4, 4, 4), np.uint8)], 8)
