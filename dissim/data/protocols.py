"""Evaluation protocols: the train/test index splits of each data set (Section 3).

The manifest's ``protocol.kind`` picks one of:

``stratified_kfold``
    Stratified k-fold CV, shuffled with the seed (CAT, Port: 10-fold [P]).
``group_kfold``
    Stratified group k-fold: no group is split between train and test (RPE: sub-windows of one
    source image stay together, Section 3 default; the embedded ``textures`` set).
``fixed_folds``
    The data set's own folds, read from the fold folders into ``Dataset.groups``; leave one fold
    out (InfLar: Fold1..Fold3, split by patient [P]).
``repeated_runs``
    Repeated stratified hold-out (BIRDz: "ten runs" [P]; the split of its source paper is not
    public, so the test fraction defaults to ``DEFAULT_TEST_SIZE``, a ``dissim`` choice).

Folds must be fixed and shared by the Siamese runs and the eCNN baseline (Section 3): every
split here is a pure function of the data set and the seed.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.model_selection import (
    LeaveOneGroupOut,
    StratifiedGroupKFold,
    StratifiedKFold,
    StratifiedShuffleSplit,
)

from dissim.errors import DataError, warn

#: test fraction of ``repeated_runs`` when the manifest gives none ([UNKNOWN] for BIRDz).
DEFAULT_TEST_SIZE = 0.5
#: The protocol of a folder of class folders (``dissim.data.load_folder``).
FOLDER_PROTOCOL = {"kind": "stratified_kfold", "n_splits": 5}


def images_needed(protocol: dict | None) -> int:
    """Images per class that ``protocol`` (a manifest's ``protocol``) needs so that every fold
    trains and tests each class: ``n_splits`` for k-fold CV (Port, CAT: 10 [P]), two for
    repeated hold-out runs, one for fixed folds (the data set's own). A profile that caps the
    images per class (``max_per_class``: ``smoke`` keeps 8) keeps at least this many, so its
    pre-flight runs on the data set's own protocol."""
    proto = dict(protocol or FOLDER_PROTOCOL)
    kind = proto.get("kind", "stratified_kfold")
    if kind in ("stratified_kfold", "group_kfold"):
        return int(proto.get("n_splits") or 5)
    return 2 if kind == "repeated_runs" else 1


def cap_for(protocol: dict | None, max_per_class: int | None) -> int | None:
    """``max_per_class`` raised to what ``protocol``'s folds need (:func:`images_needed`);
    None (no cap) stays None."""
    if max_per_class is None:
        return None
    return max(int(max_per_class), images_needed(protocol))


def check_n_splits(n_splits: int, labels, name: str, kind: str = "stratified_kfold",
                   groups=None, option: str | None = None) -> None:
    """Refuse, in one line, a number of folds the data cannot give: fewer than 2, more images
    than a class has (stratified k-fold needs ``n_splits`` images in at least one class and
    tests each class in every fold only with that many in each), or more groups than there
    are (group k-fold). ``option`` names the flag that set ``n_splits`` (``--folds``), whose
    valid range the message gives; without it the fix is to add images."""
    y = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(y)
    counts = counts[counts > 0]
    if kind == "group_kfold" and groups is not None:
        units, most = "groups", len(np.unique(groups))
    else:
        units, most = "images in its largest class", int(counts.max()) if counts.size else 0
    if 2 <= n_splits <= most:
        return
    fix = (f"choose {option} 2-{most}" if option and most >= 2 else
           f"add images (at least {max(n_splits, 2)} per class)")
    raise DataError(f"cannot make {n_splits} {kind} splits of data set {name!r}: it has {most} "
                    f"{units} ({len(y)} images in all, {len(counts)} classes); {fix}")


def folds(dataset, *, seed: int = 0, n_splits: int | None = None
          ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train/test index pairs per the data set's manifest protocol.

    Parameters
    ----------
    dataset : Dataset
        Its ``manifest['protocol']`` names the protocol; ``groups`` is used by ``group_kfold``
        (required) and ``fixed_folds`` (the fold id of each sample).
    seed : int
        Shuffling seed (ignored by ``fixed_folds``).
    n_splits : int, optional
        Override the manifest's number of folds/runs (``fixed_folds``: at most the number of
        fold folders; the first ``n_splits`` folds are returned).

    Returns
    -------
    list of (numpy.ndarray, numpy.ndarray)
        Sorted ``int64`` train and test indices, disjoint.
    """
    proto = dict(dataset.manifest.get("protocol") or {})
    kind = proto.get("kind", "stratified_kfold")
    k = int(n_splits if n_splits is not None else proto.get("n_splits") or 5)
    y = np.asarray(dataset.labels)
    x = np.zeros((len(y), 1))
    groups = dataset.groups
    name = dataset.name
    if kind == "fixed_folds":
        if groups is None:
            raise DataError(f"data set {name!r} has fixed folds but no fold folders were read")
        splits = list(LeaveOneGroupOut().split(x, y, groups))
        return [(_i(tr), _i(te)) for tr, te in splits[:k]]
    if kind == "group_kfold" and groups is None:
        raise DataError(
            f"data set {name!r} needs groups (e.g. the source image of each sub-window) but has "
            "none; give protocol.group_regex in its manifest (DISSIM_MANIFESTS) or use "
            "load_folder(..., group_regex=...)"
        )
    if kind in ("stratified_kfold", "group_kfold"):  # scikit-learn's own text names no fix
        check_n_splits(k, y, name, kind, groups)
    try:
        if kind == "stratified_kfold":
            cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
            splits = cv.split(x, y)
        elif kind == "group_kfold":
            cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
            splits = cv.split(x, y, groups)
        elif kind == "repeated_runs":
            test_size = proto.get("test_size") or DEFAULT_TEST_SIZE
            cv = StratifiedShuffleSplit(n_splits=k, test_size=test_size, random_state=seed)
            splits = cv.split(x, y)
        else:
            raise DataError(f"data set {name!r}: unknown protocol kind {kind!r}")
        with warnings.catch_warnings():  # a class smaller than k: warned below, once
            warnings.filterwarnings("ignore", "The least populated class", UserWarning)
            out = [(_i(tr), _i(te)) for tr, te in splits]
    except ValueError as err:
        raise DataError(
            f"cannot make {k} {kind} splits of data set {name!r} ({len(y)} images): {err}"
        ) from None
    _check_training_sets(dataset, out, kind)
    return out


def small_classes(counts: dict[str, int], n_splits: int) -> list[str]:
    """Problems of k-fold on classes of ``counts`` images: a single image is only ever tested
    (never predicted right); fewer images than folds leaves folds that test none of it."""
    problems = []
    for c, n in counts.items():
        if n == 1:
            problems.append(
                f"class {c!r} has 1 image: with {n_splits} folds it is only in a test set, so "
                f"it can never be predicted; add images (at least {n_splits}) or remove it")
        elif 1 < n < n_splits:
            problems.append(
                f"class {c!r} has {n} images, fewer than the {n_splits} folds: {n_splits - n} "
                f"fold(s) test none of it; add images or use fewer folds")
    return problems


def _check_training_sets(dataset, splits, kind: str) -> None:
    """Refuse a split whose training set lacks a class (that class can never be predicted);
    warn, once, about classes with fewer images than folds (the protocol still holds)."""
    y = np.asarray(dataset.labels)
    present = np.unique(y)
    names = list(dataset.classes)
    for f, (tr, _) in enumerate(splits):
        lost = np.setdiff1d(present, y[tr])
        if len(lost):
            c = names[int(lost[0])] if int(lost[0]) < len(names) else int(lost[0])
            n = int(np.sum(y == lost[0]))
            raise DataError(
                f"class {c!r} of data set {dataset.name!r} has {n} image(s): fold {f} of "
                f"{len(splits)} ({kind}) has none of it to train on, so it can never be "
                f"predicted there; add images to it or remove it (evaluate: --min-images "
                f"{len(splits)})")
    if kind == "stratified_kfold":
        counts = {names[i] if i < len(names) else str(i): int(n)
                  for i, n in enumerate(np.bincount(y)) if n}
        for msg in small_classes(counts, len(splits)):
            warn(msg)


def _i(a) -> np.ndarray:
    return np.sort(np.asarray(a, dtype=np.int64))
