"""HASC descriptor and image (SPEC §2.2, §2.3) against slow, independently written references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg

from dissim import hasc
from dissim.errors import ConfigError


def reference_features(patch: np.ndarray) -> np.ndarray:
    """GetFeatures.m by slicing a zero-padded copy (no scipy filters), then the 2-pixel crop."""
    img = patch.astype(np.float64)
    h, w = img.shape

    def dx(a):  # correlation with [-1 0 1], zero padding
        p = np.pad(a, ((0, 0), (1, 1)))
        return p[:, 2:] - p[:, :-2]

    def dy(a):  # correlation with -[-1 0 1]^T
        p = np.pad(a, ((1, 1), (0, 0)))
        return p[:-2, :] - p[2:, :]

    ix, iy = dx(img), dy(img)
    maps = [img, ix, iy, dx(ix), dy(iy), np.sqrt(ix * ix + iy * iy)]
    return np.stack([m[2 : h - 2, 2 : w - 2] for m in maps])


def reference_descriptor(patch: np.ndarray, bins: int = 28, minmax=None) -> np.ndarray:
    feats = reference_features(patch).reshape(6, -1)
    n = feats.shape[1]
    centred = feats - feats.mean(axis=1, keepdims=True)
    cov = centred @ centred.T / (n - 1)
    log_cov = np.real(scipy.linalg.logm(cov))
    cov_vec = [
        log_cov[i, j] * (1.0 if i == j else math.sqrt(2.0)) for i in range(6) for j in range(i, 6)
    ]

    lo = feats.min(axis=1) if minmax is None else minmax[0]
    hi = feats.max(axis=1) if minmax is None else minmax[1]
    labels = np.zeros((6, n), dtype=int)
    for f in range(6):
        for s in range(n):
            if hi[f] > lo[f]:
                b = math.floor((feats[f, s] - lo[f]) / (hi[f] - lo[f]) * bins)
                labels[f, s] = min(max(b, 0), bins - 1)
    emi = np.zeros((6, 6))
    for a in range(6):
        for b in range(a, 6):
            joint = np.zeros((bins, bins))
            for s in range(n):
                joint[labels[a, s], labels[b, s]] += 1.0 / n
            pa, pb = joint.sum(axis=1), joint.sum(axis=0)
            if a == b:
                emi[a, b] = -sum(p * math.log(p) for p in pa if p > 0)
            else:
                emi[a, b] = sum(
                    joint[u, v] * math.log(joint[u, v] / (pa[u] * pb[v]))
                    for u in range(bins)
                    for v in range(bins)
                    if joint[u, v] > 0
                )
    emi_vec = [emi[i, j] for i in range(6) for j in range(i, 6)]
    return np.array(cov_vec + emi_vec)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def test_feature_maps_match_reference(rng):
    patch = rng.integers(0, 256, (12, 15)).astype(np.uint8)
    np.testing.assert_allclose(hasc.feature_maps(patch), reference_features(patch), atol=1e-12)


def test_descriptor_matches_reference_on_random_patches(rng):
    for _ in range(5):
        patch = rng.integers(0, 256, (16, 16)).astype(np.uint8)
        got = hasc.descriptor(patch)
        assert got.shape == (42,)
        np.testing.assert_allclose(got, reference_descriptor(patch), rtol=1e-8, atol=1e-8)


def test_descriptor_with_given_minmax_and_other_bins(rng):
    patch = rng.random((14, 19)) * 100
    feats = reference_features(patch).reshape(6, -1)
    # a range narrower than the data: outside values go to the edge bins
    minmax = (np.quantile(feats, 0.2, axis=1), np.quantile(feats, 0.8, axis=1))
    got = hasc.descriptor(patch, bins=7, minmax=minmax)
    np.testing.assert_allclose(got, reference_descriptor(patch, 7, minmax), rtol=1e-8, atol=1e-8)


def test_flat_patch_is_finite():
    got = hasc.descriptor(np.full((10, 10), 7.0))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got[21:], 0.0)  # one bin: zero entropy and zero MI


def test_vectorisation_order_is_row_major():
    assert hasc.PAIRS[:7] == ((0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (1, 1))
    assert len(hasc.PAIRS) == 21


def _padded_windows_reference(band, window, pixels, bins=28):
    r = window // 2
    padded = np.pad(band.astype(np.float64), r, mode="symmetric")
    maps = hasc.feature_maps(padded).reshape(6, -1)
    minmax = (maps.min(axis=1), maps.max(axis=1))
    return {
        (i, j): hasc.descriptor(padded[i : i + window, j : j + window], bins=bins, minmax=minmax)
        for i, j in pixels
    }


@pytest.mark.parametrize("window", [7, 9, 11])
def test_dense_descriptors_equal_descriptor_on_windows(rng, window):
    band = rng.integers(0, 256, (21, 26)).astype(np.uint8)
    dense = hasc.dense_descriptors(band, window=window)
    assert dense.shape == (21, 26, 42)
    pixels = [(0, 0), (0, 25), (20, 0), (20, 25), (10, 13), (3, 17)]
    for (i, j), ref in _padded_windows_reference(band, window, pixels).items():
        np.testing.assert_allclose(dense[i, j], ref, rtol=1e-8, atol=1e-8)


def test_dense_with_many_bins_matches_descriptor(rng):
    band = rng.random((12, 13))
    dense = hasc.dense_descriptors(band, window=11, bins=300)
    ref = _padded_windows_reference(band, 11, [(6, 6)], bins=300)[(6, 6)]
    np.testing.assert_allclose(dense[6, 6, 21:], ref[21:], rtol=1e-8, atol=1e-8)


def test_emi_stride_is_exact_on_the_grid_and_repeated_between(rng):
    band = rng.integers(0, 256, (17, 20)).astype(np.uint8)
    exact = hasc.dense_descriptors(band)
    strided = hasc.dense_descriptors(band, emi_stride=2)
    np.testing.assert_allclose(strided[..., :21], exact[..., :21])  # covariance untouched
    np.testing.assert_allclose(strided[::2, ::2, 21:], exact[::2, ::2, 21:], atol=1e-12)
    np.testing.assert_array_equal(strided[1::2, ::2, 21:], strided[:-1:2, ::2, 21:])


def test_hasc_band_norm_is_min_max_scaled(rng):
    band = rng.integers(0, 256, (24, 30)).astype(np.uint8)
    out = hasc.hasc_band(band, scalar="norm", clip=0.0)
    assert out.shape == band.shape and out.dtype == np.uint8
    assert out.min() == 0 and out.max() == 255
    norm = np.linalg.norm(hasc.dense_descriptors(band), axis=-1)
    expected = np.rint((norm - norm.min()) / (norm.max() - norm.min()) * 255)
    np.testing.assert_array_equal(out, expected.astype(np.uint8))


def test_hasc_band_emi_norm_with_clipping(rng):
    band = rng.integers(0, 256, (24, 30)).astype(np.uint8)
    emi = np.linalg.norm(hasc.dense_descriptors(band)[..., 21:], axis=-1)
    lo, hi = np.percentile(emi, [5, 95])
    expected = np.rint(np.clip((emi - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)
    np.testing.assert_array_equal(hasc.hasc_band(band, scalar="emi_norm", clip=5.0), expected)


def test_hasc_band_pca_matches_svd_by_hand(rng):
    band = rng.integers(0, 256, (20, 26)).astype(np.uint8)
    dense = hasc.dense_descriptors(band)
    x = dense.reshape(-1, 42)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    score = x @ np.linalg.svd(x, full_matrices=False)[2][0]
    entropy = sum(dense[..., 21 + k].ravel() for k, (a, b) in enumerate(hasc.PAIRS) if a == b)
    score *= np.sign(np.corrcoef(score, entropy)[0, 1])
    expected = (score - score.min()) / (score.max() - score.min()) * 255
    got = hasc.hasc_band(band, clip=0.0).astype(float).ravel()
    np.testing.assert_allclose(got, expected, atol=0.51)


def test_constant_band_gives_zeros():
    out = hasc.hasc_band(np.full((20, 20), 3, np.uint8))
    assert out.dtype == np.uint8 and not out.any()


def test_hasc_image_grey_is_replicated(rng):
    grey = rng.integers(0, 256, (20, 22)).astype(np.uint8)
    out = hasc.hasc_image(grey)
    assert out.shape == (20, 22, 3) and out.dtype == np.uint8
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], hasc.hasc_band(grey))
    np.testing.assert_array_equal(hasc.hasc_image(grey[..., None]), out)


def test_small_band_uses_padding(rng):
    assert hasc.hasc_band(rng.random((4, 5))).shape == (4, 5)


def test_hasc_image_colour_bands_are_independent(rng):
    img = rng.integers(0, 256, (18, 21, 3)).astype(np.uint8)
    out = hasc.hasc_image(img, window=7)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], hasc.hasc_band(img[..., c], window=7))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window": 8},
        {"window": 5},
        {"bins": 1},
        {"emi_stride": 0},
        {"scalar": "mean"},
        {"clip": 50.0},
    ],
)
def test_bad_parameters_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        hasc.hasc_band(np.zeros((16, 16)), **kwargs)


@pytest.mark.parametrize("shape", [(16, 16, 4), (16,), (2, 16, 16, 3)])
def test_bad_shapes_raise_config_error(shape):
    with pytest.raises(ConfigError):
        hasc.hasc_image(np.zeros(shape))
