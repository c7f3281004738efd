"""A member's data, cached per process: the data set, its fingerprint, folds and network inputs.

A grid reuses the loaded data set and the preprocessed network inputs across its members
(Section 3's protocols; book: Data). Every function takes plain values or a member (Siamese or
CNN) and is cached with :func:`functools.lru_cache`; ``cache_clear`` gives a fresh process.
"""

from __future__ import annotations

import functools

import numpy as np

from dissim import data
from dissim.data.protocols import FOLDER_PROTOCOL, cap_for
from dissim.errors import ConfigError
from dissim.preprocess import to_network_input

__all__ = ["dataset_fingerprint", "dataset_folds", "dataset_of", "fingerprint_of", "fold_of",
           "folds_of", "load_dataset", "network_inputs"]


def protocol_of(name: str) -> dict:
    """The evaluation protocol of data set ``name`` (a folder's: stratified 5-fold)."""
    if name == data.FOLDER:
        return dict(FOLDER_PROTOCOL)
    return dict(data.manifest(name).get("protocol") or {})


@functools.lru_cache(maxsize=4)
def load_dataset(name: str, root: str | None, max_per_class: int | None, seed: int):
    """The data set subsampled to ``max_per_class`` images per class, but never below what
    its protocol's folds need (:func:`dissim.data.protocols.cap_for`: the ``smoke`` profile's 8
    become 10 on a 10-fold set), cached per process."""
    cap = cap_for(protocol_of(name), max_per_class)
    return data.load(name, root, max_per_class=cap, seed=seed, progress=False)


@functools.lru_cache(maxsize=4)
def dataset_fingerprint(name: str, root: str | None, max_per_class: int | None,
                        seed: int) -> str:
    """The data content hash that keys the results store (computed once per process)."""
    return load_dataset(name, root, max_per_class, seed).fingerprint()


@functools.lru_cache(maxsize=4)
def dataset_folds(name: str, root: str | None, max_per_class: int | None,
                  max_folds: int | None, seed: int):
    """The protocol's folds (train, test index arrays), at most ``max_folds``."""
    folds = data.folds(load_dataset(name, root, max_per_class, seed), seed=seed)
    return folds[:max_folds] if max_folds else folds


def fingerprint_of(member, root: str | None) -> str:
    """The data fingerprint of a member (Siamese or CNN) as its profile subsamples the set."""
    return dataset_fingerprint(member.dataset, root, member.profile.max_per_class, member.seed)


def folds_of(member, root: str | None) -> list:
    """The folds a member's profile evaluates on its data set."""
    prof = member.profile
    return dataset_folds(member.dataset, root, prof.max_per_class, prof.max_folds, member.seed)


def dataset_of(member, root: str | None):
    """The data set of a member, subsampled as its profile says."""
    return load_dataset(member.dataset, root, member.profile.max_per_class, member.seed)


def fold_of(member, root: str | None) -> tuple[np.ndarray, np.ndarray]:
    """``(train_index, test_index)`` of the member's fold; a one-line error when absent."""
    folds = folds_of(member, root)
    if not 0 <= member.fold < len(folds):
        raise ConfigError(
            f"fold {member.fold} does not exist: {member.dataset} has {len(folds)} folds in "
            f"profile {member.profile.name}"
        )
    return folds[member.fold]


@functools.lru_cache(maxsize=8)
def network_inputs(name, root, max_per_class, seed, representation, size,
                   pixel_range) -> np.ndarray:
    """All images of the data set as network inputs (N, 3, size, size) (cached per process)."""
    ds = load_dataset(name, root, max_per_class, seed)
    return to_network_input(ds.images, size, representation=representation,
                            pixel_range=pixel_range, progress=representation == "hasc")
