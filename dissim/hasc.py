"""HASC: Heterogeneous Auto-Similarities of Characteristics, and the HASC image.

The descriptor follows the original MATLAB toolbox of M. San Biagio (ICCV 2013) as vendored in
Nanni's ``ToolFR2015/hasc`` (ref. [19]); the HASC *image* fed to the Siamese networks is our
reconstruction of the lost code (Section 2; book: Assumptions, Option A: dense HASC).

Choices where the toolbox core is a MEX binary and ref. [19] is silent (documented, not known):

* covariance normalised by ``N - 1`` (MATLAB ``cov`` and ``np.cov`` default);
* matrix logarithm through ``eigh``, eigenvalues clamped at :data:`EIG_FLOOR` (a flat patch has
  a zero covariance, whose logarithm does not exist);
* entropy and mutual information in nats (natural log);
* histogram bin of a value ``v``: ``floor((v - min) / (max - min) * bins)`` clipped to
  ``[0, bins - 1]`` (so ``v == max`` lands in the last bin; values outside a given ``[min, max]``
  land in the edge bins; ``max == min`` puts everything in bin 0);
* both 6x6 matrices are vectorised by their upper triangle in **row-major** order,
  ``np.triu_indices(6)`` = (0,0), (0,1), ..., (0,5), (1,1), ... — see :data:`PAIRS`. (MATLAB's
  column-major walk would be (0,0), (0,1), (1,1), (0,2), ...; a fixed permutation, harmless for
  the Euclidean/RBF uses downstream.)

The HASC image (:func:`hasc_band`, :func:`hasc_image`): the 42-d HASC of the ``window x window``
patch around every pixel (:func:`dense_descriptors`, vectorised with box filters and a sorted
windowed entropy, exact against :func:`descriptor`), reduced to one grey value per pixel
(default: first principal component of the band's descriptors) and rescaled to 0-255.

Examples
--------
>>> import numpy as np
>>> descriptor(np.random.default_rng(0).random((16, 16))).shape
(42,)
>>> hasc_image(np.zeros((32, 32), np.uint8)).shape
(32, 32, 3)
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import correlate1d, uniform_filter

from dissim.errors import ConfigError

__all__ = [
    "EIG_FLOOR",
    "N_FEATURES",
    "PAIRS",
    "SCALARS",
    "dense_descriptors",
    "descriptor",
    "feature_maps",
    "hasc_band",
    "hasc_image",
]

N_FEATURES = 6
"""Low-level features: intensity, Ix, Iy, Ixx, Iyy, gradient magnitude (ref. [19] step 1)."""
BORDER = 2
"""Pixels cropped on each side after filtering (``featborder`` of ``GetFeatures.m``)."""
EIG_FLOOR = 1e-10
"""Floor on covariance eigenvalues before the log (ours; a flat patch gives ``log(1e-10)``)."""
PAIRS = tuple((int(a), int(b)) for a, b in zip(*np.triu_indices(N_FEATURES), strict=True))
"""The 21 (row, column) pairs of the upper triangle, in the order of the descriptor."""
_ROWS, _COLS = np.triu_indices(N_FEATURES)
_KERNEL = np.array([-1.0, 0.0, 1.0])  # hx = [-1 0 1]; hy = -hx' (correlation, zero padding)


def feature_maps(image: np.ndarray) -> np.ndarray:
    """Six HASC feature maps of a 2-D array, cropped by a 2-pixel border (ref. [19] step 1).

    Parameters
    ----------
    image : ndarray, shape (H, W)
        One grey band (any real dtype; used as float64, 0-255 stays 0-255).

    Returns
    -------
    ndarray, shape (6, H - 4, W - 4)
        Intensity, Ix, Iy, Ixx, Iyy, sqrt(Ix^2 + Iy^2), as MATLAB ``imfilter`` (correlation,
        zero padding, same size) computes them on the whole input, then cropped. After the crop
        every value depends on true neighbours only, so the maps of a sub-window equal the
        crop of the maps of the whole image.
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2 or min(img.shape) <= 2 * BORDER:
        raise ConfigError(f"HASC needs a 2-D band larger than 4x4, got shape {img.shape}")
    ix = correlate1d(img, _KERNEL, axis=1, mode="constant")
    iy = correlate1d(img, -_KERNEL, axis=0, mode="constant")
    ixx = correlate1d(ix, _KERNEL, axis=1, mode="constant")
    iyy = correlate1d(iy, -_KERNEL, axis=0, mode="constant")
    maps = np.stack([img, ix, iy, ixx, iyy, np.sqrt(ix**2 + iy**2)])
    return maps[:, BORDER:-BORDER, BORDER:-BORDER]


def _tangent_vector(cov: np.ndarray) -> np.ndarray:
    """Log of SPD matrices (..., 6, 6), off-diagonals * sqrt(2), upper triangle (ref. [19] step 3).

    As ``GetTanProjection.m``: eigen-decomposition, log of eigenvalues (floored), rebuild.
    """
    w, v = np.linalg.eigh(cov)
    log_cov = (v * np.log(np.maximum(w, EIG_FLOOR))[..., None, :]) @ np.swapaxes(v, -1, -2)
    weight = np.where(_ROWS == _COLS, 1.0, np.sqrt(2.0))
    return log_cov[..., _ROWS, _COLS] * weight


def _bin_codes(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, bins: int) -> np.ndarray:
    """Histogram bin of every value of each feature map (axis 0), see the module notes."""
    lo = np.asarray(lo, dtype=np.float64).reshape(-1, *([1] * (values.ndim - 1)))
    hi = np.asarray(hi, dtype=np.float64).reshape(lo.shape)
    span = hi - lo
    scaled = np.divide(values - lo, span, out=np.zeros_like(values), where=span > 0)
    return np.clip(np.floor(scaled * bins), 0, bins - 1).astype(np.int32)


def _feature_minmax(maps: np.ndarray, minmax) -> tuple[np.ndarray, np.ndarray]:
    if minmax is None:
        flat = maps.reshape(N_FEATURES, -1)
        return flat.min(axis=1), flat.max(axis=1)
    lo, hi = (np.asarray(m, dtype=np.float64).reshape(-1) for m in minmax)
    if lo.shape != (N_FEATURES,) or hi.shape != (N_FEATURES,):
        raise ConfigError(f"minmax must be two arrays of 6 values, got {lo.shape} and {hi.shape}")
    return lo, hi


def _check_bins(bins: int) -> None:
    if not isinstance(bins, int | np.integer) or bins < 2:
        raise ConfigError(f"bins must be an integer >= 2, got {bins!r}")


def descriptor(
    patch: np.ndarray,
    *,
    bins: int = 28,
    minmax: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """The 42-d HASC descriptor of one grey patch (ref. [19]; toolbox ``demo.m``).

    Parameters
    ----------
    patch : ndarray, shape (H, W), at least 5 x 6
        One grey band. (The toolbox would silently take channel 1 of a colour patch; we refuse.)
    bins : int, default 28
        Histogram bins per feature for the EMI part (``opt.bin``).
    minmax : (min, max) of 6 values each, optional
        Histogram range per feature. Default: the patch's own min/max (as ``demo.m`` does);
        the toolbox intends min/max over all training images (``GetFeatNormalization.m``).

    Returns
    -------
    ndarray, shape (42,)
        21 tangent-space covariance values, then 21 EMI values (entropy on the diagonal, mutual
        information off it), both in :data:`PAIRS` order.
    """
    _check_bins(bins)
    maps = feature_maps(patch)
    samples = maps.reshape(N_FEATURES, -1)
    if samples.shape[1] < 2:
        raise ConfigError(f"HASC needs at least 2 pixels after the 2-pixel crop, got {patch.shape}")
    cov_part = _tangent_vector(np.cov(samples))
    codes = _bin_codes(samples, *_feature_minmax(maps, minmax), bins).astype(np.intp)
    n = samples.shape[1]
    marg = np.stack([np.bincount(c, minlength=bins) for c in codes]) / n
    emi = np.empty((N_FEATURES, N_FEATURES))
    entropy = np.array([-np.sum(p[p > 0] * np.log(p[p > 0])) for p in marg])
    for a, b in PAIRS:
        if a == b:
            emi[a, a] = entropy[a]
            continue
        joint = np.bincount(codes[a] * bins + codes[b], minlength=bins * bins) / n
        nz = joint > 0
        emi[a, b] = entropy[a] + entropy[b] + np.sum(joint[nz] * np.log(joint[nz]))
    return np.concatenate([cov_part, emi[_ROWS, _COLS]])


def _window_entropy(codes: np.ndarray, m: int, stride: int) -> np.ndarray:
    """Entropy (nats) of the codes in every m x m window (top-left anchored, step ``stride``).

    Hand-written because no library does windowed entropy of discrete maps: each window's codes
    are sorted, and ``sum(c log c)`` over its bins is accumulated along the sorted rows (the
    j-th repeat of a value adds ``j log j - (j-1) log(j-1)``); ``H = log n - sum(c log c) / n``.
    The cost does not depend on the number of bins (box-filtering 28x28 joint-bin indicator
    maps would take ~12k filters per band).
    """
    win = sliding_window_view(codes, (m, m))[::stride, ::stride]
    shape, n = win.shape[:2], m * m
    ordered = win.reshape(-1, n)  # a copy: the windows overlap
    ordered.sort(axis=1)
    columns = np.ascontiguousarray(ordered.T)
    j = np.arange(1, n + 1)
    step = np.zeros(n + 1)
    step[1:] = j * np.log(j) - (j - 1) * np.log(np.maximum(j - 1, 1))
    repeat = np.ones(columns.shape[1], dtype=np.intp)
    total = np.zeros(columns.shape[1])
    for col in range(1, n):
        repeat = np.where(columns[col] == columns[col - 1], repeat + 1, 1)
        total += step[repeat]
    return (np.log(n) - total / n).reshape(shape)


def dense_descriptors(
    band: np.ndarray,
    *,
    window: int = 9,
    bins: int = 28,
    minmax: tuple[np.ndarray, np.ndarray] | None = None,
    emi_stride: int = 1,
) -> np.ndarray:
    """HASC of the ``window x window`` patch centred on every pixel of a band (book: Assumptions).

    The band is padded by ``window // 2`` pixels by reflection (``np.pad`` mode ``"symmetric"``
    = ``scipy.ndimage`` mode ``"reflect"`` = MATLAB ``padarray(..., 'symmetric')``), the six
    feature maps are computed once on the padded band, and for each pixel the statistics run
    over the inner ``(window - 4)^2`` feature pixels of its window: exactly what
    :func:`descriptor` sees for that window (the feature maps of a window equal the crop of the
    global ones). Covariances come from box filters of the 6 maps and their 21 products;
    entropies from :func:`_window_entropy`.

    Parameters
    ----------
    band : ndarray, shape (H, W)
    window : int, default 9
        Odd, >= 7 (the covariance then has at least 9 samples).
    bins : int, default 28
    minmax : (min, max) of 6 values each, optional
        Histogram range per feature, shared by all windows. Default: min/max of the band's
        feature maps (one range per band; per-window ranges would defeat the shared binning).
        With the same ``minmax``, pixel (i, j) equals ``descriptor(padded window, minmax=...)``.
    emi_stride : int, default 1
        EMI computed every ``emi_stride`` pixels in each direction and repeated (nearest
        neighbour) in between: an approximation trading ~``emi_stride^2`` less EMI work.
        ``1`` is exact.

    Returns
    -------
    ndarray, shape (H, W, 42)
    """
    if not isinstance(window, int | np.integer) or window < 7 or window % 2 == 0:
        raise ConfigError(f"window must be an odd integer >= 7, got {window!r}")
    if not isinstance(emi_stride, int | np.integer) or emi_stride < 1:
        raise ConfigError(f"emi_stride must be a positive integer, got {emi_stride!r}")
    _check_bins(bins)
    band = np.asarray(band, dtype=np.float64)
    if band.ndim != 2:
        raise ConfigError(f"hasc expects one 2-D band, got shape {band.shape}")
    height, width = band.shape
    maps = feature_maps(np.pad(band, window // 2, mode="symmetric"))
    m, n = window - 2 * BORDER, (window - 2 * BORDER) ** 2
    lo, hi = _feature_minmax(maps, minmax)

    # Covariance part: windowed means by box filters; centring first keeps E[ab]-E[a]E[b] exact.
    centred = maps - maps.reshape(N_FEATURES, -1).mean(axis=1)[:, None, None]
    off = m // 2  # uniform_filter centres an odd m-window; the valid windows start there

    def box_mean(x: np.ndarray) -> np.ndarray:
        return uniform_filter(x, size=m, mode="constant")[off : off + height, off : off + width]

    means = np.stack([box_mean(f) for f in centred], axis=-1)
    cov = np.empty((height, width, N_FEATURES, N_FEATURES))
    for a, b in PAIRS:
        cov[..., a, b] = box_mean(centred[a] * centred[b]) - means[..., a] * means[..., b]
        cov[..., b, a] = cov[..., a, b]
    cov *= n / (n - 1)
    out = np.empty((height, width, 2 * len(PAIRS)))
    out[..., : len(PAIRS)] = _tangent_vector(cov)

    # EMI part: MI(a, b) = H(a) + H(b) - H(a, b) from windowed entropies of bin codes.
    # int16 codes sort fastest; joint codes need bins**2 distinct values
    codes = _bin_codes(maps, lo, hi, bins).astype(np.int16 if bins * bins < 2**15 else np.int32)
    entropy = [_window_entropy(c, m, emi_stride) for c in codes]
    for k, (a, b) in enumerate(PAIRS):
        if a == b:
            value = entropy[a]
        else:
            joint = _window_entropy(codes[a] * bins + codes[b], m, emi_stride)
            value = entropy[a] + entropy[b] - joint
        if emi_stride > 1:
            value = value.repeat(emi_stride, axis=0).repeat(emi_stride, axis=1)
        out[..., len(PAIRS) + k] = value[:height, :width]
    return out


SCALARS = ("pca", "norm", "emi_norm")
"""Ways to reduce a pixel's 42-d descriptor to the grey value of the HASC image."""
_ENTROPY_COLUMNS = [len(PAIRS) + k for k, (a, b) in enumerate(PAIRS) if a == b]


def _first_component(dense: np.ndarray) -> np.ndarray:
    """Scores on the first principal component of the band's standardised 42-d descriptors.

    Sign fixed so that the scores grow with the summed entropies (busy texture is bright).
    """
    x = dense.reshape(-1, dense.shape[-1])
    x = x - x.mean(axis=0)
    std = x.std(axis=0)
    x = x / np.where(std > 0, std, 1.0)
    _, vectors = np.linalg.eigh(x.T @ x)
    score = x @ vectors[:, -1]
    entropy = dense[..., _ENTROPY_COLUMNS].sum(axis=-1).ravel()
    if np.dot(score, entropy - entropy.mean()) < 0:
        score = -score
    return score.reshape(dense.shape[:-1])


def _to_uint8(values: np.ndarray, clip: float) -> np.ndarray:
    """Rescale to 0-255 between the ``clip`` and ``100 - clip`` percentiles, clipping outside."""
    lo, hi = np.percentile(values, [clip, 100.0 - clip])
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):  # percentiles tie: fall back to the full range
        lo, hi = values.min(), values.max()
        if hi - lo <= 1e-12 * max(1.0, abs(hi)):
            return np.zeros(values.shape, dtype=np.uint8)
    return np.rint(np.clip((values - lo) / (hi - lo), 0.0, 1.0) * 255.0).astype(np.uint8)


def hasc_band(
    band: np.ndarray,
    *,
    window: int = 9,
    bins: int = 28,
    emi_stride: int = 1,
    scalar: str = "pca",
    clip: float = 1.0,
) -> np.ndarray:
    """HASC image of one band: dense HASC reduced to one scalar per pixel, 0-255 (book).

    A reconstruction: the original code is lost (book: Assumptions; unknown). Scalars (``scalar``):

    * ``"pca"`` (default): score on the first principal component of the band's standardised
      42-d descriptors, signed so that texture is bright. It uses every covariance and EMI
      term with the weights that explain most of their variation in this band.
    * ``"norm"``: L2 norm of the 42-vector (our choice). Not monotone in contrast: the
      log-covariance terms are large both for strong texture (log of large eigenvalues) and for
      flat areas (log of :data:`EIG_FLOOR`), so saturated regions turn white.
    * ``"emi_norm"``: L2 norm of the 21 EMI values; bounded, a fixed function of the window.

    On natural and texture images ``"pca"`` and ``"emi_norm"`` give crisp texture/edge maps,
    ``"norm"`` is dominated by flat areas. The PCA direction is fitted per band (not per data
    set), so no training state is needed; it acts like the per-band contrast rescaling.

    Parameters
    ----------
    band : ndarray, shape (H, W)
    window, bins, emi_stride
        See :func:`dense_descriptors`.
    scalar : {"pca", "norm", "emi_norm"}, default "pca"
    clip : float, default 1.0
        Percent of pixels clipped at each end before the linear rescale to 0-255 (0 = plain
        min-max). A constant result gives zeros.

    Returns
    -------
    ndarray of uint8, shape (H, W)
    """
    if scalar not in SCALARS:
        raise ConfigError(f"unknown HASC scalar {scalar!r}; choose one of {', '.join(SCALARS)}")
    if not 0.0 <= clip < 50.0:
        raise ConfigError(f"clip must be a percentage in [0, 50), got {clip!r}")
    dense = dense_descriptors(band, window=window, bins=bins, emi_stride=emi_stride)
    if scalar == "pca":
        values = _first_component(dense)
    elif scalar == "norm":
        values = np.linalg.norm(dense, axis=-1)
    else:
        values = np.linalg.norm(dense[..., len(PAIRS) :], axis=-1)
    return _to_uint8(values, clip)


def hasc_image(img: np.ndarray, **kwargs) -> np.ndarray:
    """HASC image fed to the Siamese networks (Section 2, §2.3).

    "If the original image is in color, HASC is applied separately on each band; if it is grey
    level, the HASC image is replicated three times" [paper].

    Parameters
    ----------
    img : ndarray, shape (H, W), (H, W, 1) or (H, W, 3)
    **kwargs
        Passed to :func:`hasc_band` (``window``, ``bins``, ``emi_stride``, ``scalar``,
        ``clip``).

    Returns
    -------
    ndarray of uint8, shape (H, W, 3)
    """
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        return np.repeat(hasc_band(img, **kwargs)[..., None], 3, axis=2)
    if img.ndim == 3 and img.shape[2] == 3:
        return np.stack([hasc_band(img[..., c], **kwargs) for c in range(3)], axis=2)
    raise ConfigError(f"hasc_image expects an HxW or HxWx3 image, got shape {img.shape}")
