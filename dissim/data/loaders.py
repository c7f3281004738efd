"""Reading data sets from folders: the :class:`Dataset` container, image decoding and checks.

A data set on disk is a tree of class-named folders (optionally inside fold folders, as InfLar's
``FRAMES/Fold{1,2,3}/{B,I,S,U}``, Section 3). Images are read with Pillow and normalised to
``uint8`` arrays, ``HxW`` (grey) or ``HxWx3`` (colour): RGBA and LA are composited on white,
palette images become RGB, 16-bit images are scaled by ``x / 257``. The paper's toolbox "works
with both gray level and color images" (the companion README, [R] 3), so grey images stay grey.

Every user mistake raises a :class:`~dissim.errors.DataError` that names the culprit file or
folder; :func:`check` collects the same problems as a list instead of raising.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from scipy.io import wavfile
from tqdm import tqdm

from dissim.data.protocols import small_classes
from dissim.data.spectrogram import cache_dir, cached_wav_image
from dissim.errors import ConfigError, DataError

IMAGE_EXTS = frozenset({
    ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".ppm", ".pgm", ".pbm",
})
AUDIO_EXTS = frozenset({".wav"})
#: Largest image decoded, in pixels (Pillow's own default, set here on purpose): a larger one is
#: refused as a possible decompression bomb. ``DISSIM_MAX_IMAGE_PIXELS`` raises it
#: (:func:`max_image_pixels`, read when an image is decoded).
MAX_IMAGE_PIXELS = 89_478_485
#: Folder names of a train/test split, which are not classes (the protocol makes its own folds).
SPLIT_NAMES = frozenset({"train", "training", "test", "testing", "val", "valid", "validation",
                         "trainval", "dev"})
#: Folders that archives and file browsers leave behind; never classes.
JUNK_DIRS = frozenset({"__MACOSX", "__pycache__", "@eaDir", "$RECYCLE.BIN",
                       "System Volume Information"})


@dataclass
class Dataset:
    """Images, labels and (optionally) groups of one data set.

    Parameters
    ----------
    name : str
        Data-set name (a manifest name, or ``folder`` for :func:`load_folder`).
    images : list of numpy.ndarray
        ``uint8`` arrays, ``HxW`` (grey) or ``HxWx3`` (colour), native size (resizing to the
        network input happens later, Section 2).
    labels : numpy.ndarray
        ``int64`` of shape ``(N,)``, index into ``classes``.
    classes : list of str
        Class names.
    groups : numpy.ndarray or None
        ``(N,)`` integer group ids (patient, fold folder or source image), or None.
    paths : list of str or None
        Source file of each image (None for embedded sets).
    manifest : dict
        The parsed manifest (protocol etc.).
    """

    name: str
    images: list[np.ndarray]
    labels: np.ndarray
    classes: list[str]
    groups: np.ndarray | None = None
    paths: list[str] | None = None
    manifest: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    def fingerprint(self) -> str:
        """SHA-256 over labels, image shapes and image bytes: the results-store key of the data."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.labels, dtype="<i8").tobytes())
        for img in self.images:
            h.update(repr(tuple(img.shape)).encode())
            h.update(np.ascontiguousarray(img, dtype=np.uint8).tobytes())
        return h.hexdigest()

    def subset(self, idx) -> Dataset:
        """A new :class:`Dataset` holding the samples at ``idx`` (indices or a boolean mask)."""
        idx = np.arange(len(self))[np.asarray(idx)]
        return Dataset(
            name=self.name,
            images=[self.images[i] for i in idx],
            labels=self.labels[idx],
            classes=list(self.classes),
            groups=None if self.groups is None else self.groups[idx],
            paths=None if self.paths is None else [self.paths[i] for i in idx],
            manifest=self.manifest,
        )

    def counts(self) -> dict[str, int]:
        """Number of images per class."""
        n = np.bincount(self.labels, minlength=len(self.classes))
        return {c: int(k) for c, k in zip(self.classes, n, strict=True)}


def _composite_on_white(values: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.float64) / 255.0
    if values.ndim == 3:
        a = a[..., None]
    out = values.astype(np.float64) * a + 255.0 * (1.0 - a)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def to_uint8(img: Image.Image) -> np.ndarray:
    """Convert a Pillow image to a ``uint8`` array, ``HxW`` or ``HxWx3`` (rules in module doc)."""
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        a = np.asarray(img).astype(np.float64)
        return np.clip(np.rint(a / 257.0), 0, 255).astype(np.uint8)
    if mode == "F":
        return np.clip(np.rint(np.asarray(img)), 0, 255).astype(np.uint8)
    if mode == "1":
        return np.asarray(img.convert("L"), dtype=np.uint8)
    if mode == "LA":
        a = np.asarray(img)
        return _composite_on_white(a[..., 0], a[..., 1])
    if mode in ("RGBA", "RGBa", "PA"):
        a = np.asarray(img.convert("RGBA"))
        return _composite_on_white(a[..., :3], a[..., 3])
    if mode == "L":
        return np.asarray(img, dtype=np.uint8).copy()
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def max_image_pixels() -> int:
    """The decompression-bomb limit: ``$DISSIM_MAX_IMAGE_PIXELS`` (a whole number of pixels,
    read here, where it is used, so a bad value never breaks another command), else
    :data:`MAX_IMAGE_PIXELS`."""
    text = os.environ.get("DISSIM_MAX_IMAGE_PIXELS", "").strip()
    if not text:
        return MAX_IMAGE_PIXELS
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"DISSIM_MAX_IMAGE_PIXELS={text!r} is not a whole number of pixels "
                          "above 0; set it like DISSIM_MAX_IMAGE_PIXELS=200000000, or unset it "
                          f"for the default {MAX_IMAGE_PIXELS}")
    return value


def read_image(path: str | Path, *, max_side: int | None = None) -> np.ndarray:
    """Read one image file as ``uint8`` (first frame of multi-frame files).

    ``max_side`` shrinks larger images (aspect kept, Pillow's antialiased ``thumbnail``) while
    reading, so that big frames (InfLar: 1920x1072) do not all sit in memory at full size.

    Raises
    ------
    DataError
        If Pillow cannot decode the file; the message names it and says "remove or replace it".
    """
    limit = Image.MAX_IMAGE_PIXELS = max_image_pixels()
    try:
        with warnings.catch_warnings():
            # between 1x and 2x the limit Pillow only warns: refuse those too
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()
                if max_side is not None and max(img.size) > max_side:
                    if img.mode in ("P", "1"):
                        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
                    img.thumbnail((int(max_side), int(max_side)), Image.LANCZOS)
                return to_uint8(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(
            f"image {path} has more than {limit} pixels (a possible decompression "
            "bomb); shrink or remove it, or raise DISSIM_MAX_IMAGE_PIXELS if you trust it"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as err:
        raise DataError(
            f"cannot read image {path} ({err.__class__.__name__}); remove or replace it"
        ) from None


def _visible(p: Path | str) -> bool:
    return not (p if isinstance(p, str) else p.name).startswith(".")


def scan_tree(
    root: Path,
    *,
    classes: list[str] | None = None,
    fold_dirs: list[str] | None = None,
    exts: frozenset[str] = IMAGE_EXTS,
    problems: list[str] | None = None,
) -> tuple[list[str], list[tuple[Path, int, int]]]:
    """List ``(file, class index, fold index)`` for a class-folder tree.

    With ``problems=None`` the first problem raises :class:`DataError`; otherwise every problem
    is appended to ``problems`` and scanning goes on. Top-level files (README, MANIFEST.md, ...)
    and hidden files are ignored; inside a class folder any non-hidden file must have an
    allowed extension.
    """

    def report(msg: str) -> None:
        if problems is None:
            raise DataError(msg)
        problems.append(msg)

    if not root.is_dir():
        report(f"data folder {root} not found")
        return [], []
    tops = [root / f for f in fold_dirs] if fold_dirs else [root]
    found_classes = classes
    if found_classes is None:
        seen: set[str] = set()
        for top in tops:
            if top.is_dir():
                seen.update(p.name for p in top.iterdir() if p.is_dir() and _visible(p))
        for junk in sorted(seen & JUNK_DIRS):
            report(f"folder {root / junk} is not a class (left by an archiver or file browser); "
                   "remove it")
        found_classes = sorted(seen - JUNK_DIRS)
        splits = sorted(c for c in found_classes if c.lower() in SPLIT_NAMES)
        if splits and (len(splits) >= 2 or len(found_classes) == 1):
            report(f"data folder {root} looks like a train/test split ({', '.join(splits)}), "
                   "not a folder of classes; merge the splits into one folder per class "
                   "(dissim makes its own folds)")
            found_classes = []
        elif not found_classes:
            report(f"data folder {root} has no class sub-folders; put one folder per class in it")
    items: list[tuple[Path, int, int]] = []
    for fi, top in enumerate(tops):
        if not top.is_dir():
            report(f"fold folder {top} not found")
            continue
        extra = sorted(
            p.name for p in top.iterdir()
            if p.is_dir() and _visible(p) and p.name not in found_classes
        )
        if extra and classes is not None:
            report(f"folder(s) {', '.join(extra)} in {top} are not classes of this data set "
                   f"(expected {', '.join(classes)})")
        for ci, cname in enumerate(found_classes):
            cdir = top / cname
            if not cdir.is_dir():
                report(f"class folder {cdir} not found")
                continue
            entries = [p for p in cdir.rglob("*")
                       if all(_visible(q) for q in p.relative_to(cdir).parts)]
            for p in entries:
                if p.is_symlink() and not p.exists():
                    report(f"file {p} is a broken link (to {os.readlink(p)}); fix or remove it")
            files = sorted(p for p in entries if p.is_file())
            good = []
            for p in files:
                if p.suffix.lower() in exts:
                    good.append(p)
                else:
                    report(f"file {p} is not an allowed data file "
                           f"({', '.join(sorted(exts))}); remove it")
            if not good:
                report(f"class folder {cdir} is empty; add images or remove the folder")
            items.extend((p, ci, fi) for p in good)
    return list(found_classes), items


def subsample(labels: np.ndarray, max_per_class: int | None, seed: int) -> np.ndarray:
    """Sorted indices keeping at most ``max_per_class`` per class, drawn with ``seed``."""
    labels = np.asarray(labels)
    if max_per_class is None:
        return np.arange(len(labels))
    if int(max_per_class) < 1:
        raise DataError(f"max_per_class must be a positive integer, got {max_per_class!r}")
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) > max_per_class:
            idx = np.sort(rng.choice(idx, size=int(max_per_class), replace=False))
        keep.append(idx)
    return np.sort(np.concatenate(keep)) if keep else np.arange(0)


def groups_from_names(paths: list[Path], regex: str) -> np.ndarray:
    """Integer group ids from file stems: group 1 of ``regex`` (or the whole match) is the key."""
    pat = re.compile(regex)
    keys = []
    for p in paths:
        m = pat.search(p.stem)
        if m is None:
            raise DataError(f"file name {p.name} does not match the group pattern {regex!r}")
        keys.append(m.group(1) if pat.groups else m.group(0))
    _, ids = np.unique(np.asarray(keys), return_inverse=True)
    return ids.astype(np.int64)


def read_items(items, *, audio: bool = False, progress: bool = False, desc: str = "",
               max_side: int | None = None, spectrogram: dict | None = None) -> list:
    """Decode the files of ``items`` (images, or WAV files turned into spectrogram images).

    ``spectrogram`` holds keyword arguments of :func:`dissim.data.spectrogram.wav_to_image`
    (a manifest's optional ``spectrogram:`` mapping).
    """
    out = []
    for p, _, _ in tqdm(items, desc=desc, disable=not progress, leave=False):
        if audio and p.suffix.lower() in AUDIO_EXTS:
            out.append(cached_wav_image(p, **(spectrogram or {})))
        else:
            out.append(read_image(p, max_side=max_side))
    return out


def load_folder(
    root: str | Path,
    *,
    name: str = "folder",
    max_per_class: int | None = None,
    seed: int = 0,
    group_regex: str | None = None,
    max_side: int | None = None,
    progress: bool = False,
) -> Dataset:
    """Load any tree of class-named sub-folders of images (classes sorted by name).

    Its protocol is stratified 5-fold CV, or stratified group 5-fold when ``group_regex`` gives
    groups (a ``dissim`` default, not a paper setting).

    >>> ds = load_folder("path/to/tree")                        # doctest: +SKIP
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"data folder {root} not found; pass an existing folder of class folders")
    max_image_pixels()  # a bad DISSIM_MAX_IMAGE_PIXELS is refused before any image is read
    classes, items = scan_tree(root)
    labels = np.array([c for _, c, _ in items], dtype=np.int64)
    keep = subsample(labels, max_per_class, seed)
    items = [items[i] for i in keep]
    paths = [p for p, _, _ in items]
    groups = groups_from_names(paths, group_regex) if group_regex else None
    proto = {"kind": "group_kfold" if groups is not None else "stratified_kfold", "n_splits": 5}
    m = {"name": name, "title": f"folder {root}", "kind": "image", "licence": "unknown",
         "source": {"path": str(root)}, "protocol": proto}
    images = read_items(items, progress=progress, desc=name, max_side=max_side)
    return Dataset(name, images, labels[keep], classes,
                   groups, [str(p) for p in paths], m)


def _verify_file(p: Path, problems: list[str]) -> None:
    """Decode ``p`` fully with the reader training uses (so truncated files are caught here)."""
    try:
        if p.suffix.lower() in AUDIO_EXTS:
            wavfile.read(p, mmap=True)
        else:
            read_image(p)
    except DataError as err:
        problems.append(str(err))
    except Exception as err:  # noqa: BLE001 - every decoder failure is a problem to report
        problems.append(f"cannot read {p} ({err.__class__.__name__}); remove or replace it")


def check_folder(root: str | Path, *, counts: dict[str, int] | None = None,
                 classes: list[str] | None = None, fold_dirs: list[str] | None = None,
                 exts: frozenset[str] = IMAGE_EXTS, n_splits: int | None = None) -> list[str]:
    """Problems of a class-folder tree (empty list = OK): folders, file types, broken links,
    full decoding, counts, and (with ``n_splits``) classes too small for k-fold."""
    problems: list[str] = []
    root = Path(root).expanduser()
    max_image_pixels()  # a bad DISSIM_MAX_IMAGE_PIXELS is the user's error, not the data's
    found, items = scan_tree(root, classes=classes, fold_dirs=fold_dirs, exts=exts,
                             problems=problems)
    for p, _, _ in items:
        _verify_file(p, problems)
    got = np.bincount([c for _, c, _ in items], minlength=len(found)) if found else []
    for cname, want in (counts or {}).items():
        if cname in found:
            n = int(got[found.index(cname)])
            if n != want:
                problems.append(f"class {cname}: {n} files, expected {want}")
    if n_splits and found:
        problems += small_classes(dict(zip(found, map(int, got), strict=True)), n_splits)
    return problems


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_problem(path: str | Path, expected: str | None, *, prefix: bool = False) -> str | None:
    """Why ``path`` fails its expected SHA-256 (None: it matches, or nothing is expected).

    The one checksum check of downloads, data folders and CNN weights. ``prefix``: ``expected``
    is only the first hex digits (as in torchvision's file names).
    """
    if not expected:
        return None
    actual = file_sha256(path)
    want = str(expected).lower()
    if (actual.startswith(want) if prefix else actual == want):
        return None
    return (f"checksum mismatch for {path}: expected sha256 {expected}{'...' if prefix else ''}, "
            f"got {actual}; delete the file and download it again")


def default_root(name: str) -> Path:
    """Where data set ``name`` lives by default: ``$DISSIM_DATA/<name>`` or the cache."""
    base = os.environ.get("DISSIM_DATA")
    if base:
        return Path(base).expanduser() / name
    return cache_dir() / "data" / name
