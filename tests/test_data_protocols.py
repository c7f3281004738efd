"""Train/test splits per protocol (dissim.data.protocols; SPEC section 8)."""

from __future__ import annotations

import numpy as np
import pytest

from dissim.data import Dataset, folds
from dissim.errors import DataError


def _ds(kind, n_per=12, n_classes=3, groups=None, **proto):
    labels = np.repeat(np.arange(n_classes), n_per)
    images = [np.full((2, 2), i % 256, np.uint8) for i in range(len(labels))]
    return Dataset("toy", images, labels, [str(c) for c in range(n_classes)], groups, None,
                   {"protocol": {"kind": kind, **proto}})


def _assert_partition(splits, n):
    for tr, te in splits:
        assert tr.dtype == np.int64 and len(np.intersect1d(tr, te)) == 0
        assert len(tr) + len(te) == n


@pytest.mark.parametrize("kind", ["stratified_kfold", "group_kfold"])
def test_kfold_covers_each_sample_once_and_is_deterministic(kind):
    groups = np.arange(36) // 3 if kind == "group_kfold" else None
    ds = _ds(kind, groups=groups, n_splits=4)
    splits = folds(ds, seed=7)
    assert len(splits) == 4
    _assert_partition(splits, 36)
    test_all = np.concatenate([te for _, te in splits])
    assert sorted(test_all.tolist()) == list(range(36))
    again = folds(ds, seed=7)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(splits, again, strict=True))
    other = folds(ds, seed=8)
    assert any(not np.array_equal(a[1], b[1]) for a, b in zip(splits, other, strict=True))
    for _, te in splits:  # stratified: each test fold holds every class equally
        assert list(np.bincount(ds.labels[te], minlength=3)) == [3, 3, 3]


def test_group_kfold_never_splits_a_group():
    groups = np.repeat(np.arange(18), 2)
    ds = _ds("group_kfold", groups=groups, n_splits=3)
    for tr, te in folds(ds, seed=1):
        assert not set(groups[tr]) & set(groups[te])


def test_group_kfold_without_groups_is_a_data_error():
    with pytest.raises(DataError, match="needs groups"):
        folds(_ds("group_kfold", n_splits=3))


def test_fixed_folds_leave_one_fold_out():
    groups = np.tile(np.arange(3), 12)
    splits = folds(_ds("fixed_folds", groups=groups, n_splits=3), seed=123)
    assert len(splits) == 3
    _assert_partition(splits, 36)
    for k, (_, te) in enumerate(splits):
        assert set(groups[te].tolist()) == {k}
    assert len(folds(_ds("fixed_folds", groups=groups), n_splits=2)) == 2


def test_repeated_runs_hold_out():
    ds = _ds("repeated_runs", n_splits=10, test_size=0.25)
    splits = folds(ds, seed=0)
    assert len(splits) == 10
    _assert_partition(splits, 36)
    assert all(len(te) == 9 for _, te in splits)
    assert all(list(np.bincount(ds.labels[te])) == [3, 3, 3] for _, te in splits)
    assert len({tuple(te) for _, te in splits}) > 1
    default = folds(_ds("repeated_runs", n_splits=2))
    assert len(default[0][1]) == 18  # DEFAULT_TEST_SIZE = 0.5


def test_n_splits_override_and_too_many_splits():
    ds = _ds("stratified_kfold", n_per=4, n_splits=10)
    assert len(folds(ds, n_splits=2)) == 2
    with pytest.raises(DataError, match="cannot make 10 stratified_kfold splits"):
        folds(ds)
