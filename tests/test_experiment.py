"""A whole smoke member end to end on an embedded data set, and the store's reuse."""

from __future__ import annotations

import numpy as np
import pytest

from dissim.data import DEFAULT_DATASET
from dissim.errors import ConfigError
from dissim.pipeline.experiment import Member, Options, group_units
from dissim.pipeline.runner import ensure_member, ensure_members
from dissim.train import train_siamese


class CountingTrainer:
    """The training step, passed in, counting the networks it trains."""

    def __init__(self):
        self.calls = []

    def __call__(self, *a, **k):
        self.calls.append(a[2])
        return train_siamese(*a, **k)

    def __len__(self):
        return len(self.calls)


@pytest.fixture
def count_trainings():
    return CountingTrainer()


def _members(**kw):
    base = dict(dataset=DEFAULT_DATASET, profile="smoke", topology=7, fold=0)
    base.update(kw)
    return [Member(**base, space=s, k=k) for s in ("fully", "deeper") for k in (2, 3)]


def test_smoke_members_share_one_network_and_are_reused(store, count_trainings):
    members = _members()
    results = ensure_members(members, store, progress=False, trainer=count_trainings)
    assert len(count_trainings) == 1  # one network serves both spaces and both k (smoke)
    for m, r in results.items():
        n_classes = len(r.meta["data"]["classes"])
        assert r.scores.shape == (r.meta["data"]["n_test"], n_classes)
        assert np.all(np.isfinite(r.scores)) and 0.0 <= r.accuracy <= 1.0
        assert r.meta["member"]["space"] == m.space and r.meta["member"]["k"] == m.k
        assert r.meta["environment"]["torch"]
        # FULLY has k*C features per image, stored as the value range of the space
        assert r.meta["timings"]["train_seconds"] > 0
    again = ensure_members(members, store, progress=False, trainer=count_trainings)
    assert len(count_trainings) == 1  # nothing recomputed
    for m in members:
        np.testing.assert_array_equal(again[m].scores, results[m].scores)


def test_same_seed_bit_identical_other_seed_differs(tmp_path):
    from dissim.pipeline.store import ResultsStore

    m = Member(dataset=DEFAULT_DATASET, profile="smoke", topology=7, space="deeper", k=2)
    a = ensure_member(m, ResultsStore(tmp_path / "a"), progress=False)
    b = ensure_member(m, ResultsStore(tmp_path / "b"), progress=False)
    np.testing.assert_array_equal(a.scores, b.scores)
    c = ensure_member(Member(**{**m.to_dict(), "seed": 1}), ResultsStore(tmp_path / "c"),
                   progress=False)
    assert not np.array_equal(a.scores, c.scores)


def test_options_change_the_key(store, count_trainings):
    m = _members()[0]
    ensure_member(m, store, progress=False, trainer=count_trainings)
    ensure_member(m, store, options=Options(svm_scaling="minmax"), progress=False,
                  trainer=count_trainings)
    assert len(count_trainings) == 2


def test_units_group_by_network():
    ms = _members() + _members(topology=6)
    assert len(group_units(ms)) == 2
    paper = [Member(dataset="x", profile="paper", k=k) for k in (15, 30)]
    assert len(group_units(paper)) == 2  # the paper trains one network per k


def test_member_validation():
    with pytest.raises(ConfigError, match="k must be an integer"):
        Member(dataset="x", k="fifteen")
    with pytest.raises(ConfigError, match="unknown input"):
        Member(dataset="x", input="sobel")


def test_missing_fold_is_a_clear_error(store):
    m = Member(dataset=DEFAULT_DATASET, profile="smoke", topology=7, fold=99)
    with pytest.raises(ConfigError, match="fold 99 does not exist"):
        ensure_member(m, store, progress=False)
