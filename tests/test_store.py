"""The results store: round trip, atomic writes, corruption detection."""

from __future__ import annotations

import numpy as np

from dissim.pipeline.store import ResultsStore, config_key


def _put(store, key="ab" * 32):
    scores = np.array([[1.0, -1.0], [-0.5, 0.5], [0.2, 0.1]])
    # metadata that names no member: a raw entry, checked by its checksum only (an entry that
    # names a member must make its own key: test_reliability_issue33.py)
    return store.put(key, scores, [0, 1, 1], [4, 7, 9], {"note": {"dataset": "x"}})


def test_round_trip_and_accuracy(store):
    r = _put(store)
    got = store.get(r.key)
    np.testing.assert_array_equal(got.scores, r.scores)
    np.testing.assert_array_equal(got.test_index, [4, 7, 9])
    assert got.meta["note"] == {"dataset": "x"}
    assert got.accuracy == 2 / 3  # argmax [0, 1, 0] vs [0, 1, 1]
    assert r.key in store and list(store.keys()) == [r.key]


def test_config_key_is_order_independent_and_sensitive():
    a = config_key({"x": 1, "y": [1, 2]})
    assert a == config_key({"y": [1, 2], "x": 1})
    assert a != config_key({"x": 2, "y": [1, 2]})


def test_truncated_entry_is_treated_as_missing(store):
    r = _put(store)
    path = store.path(r.key)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert store.get(r.key) is None
    assert list(store) == []


def test_tampered_array_is_detected(store, tmp_path):
    r = _put(store)
    path = store.path(r.key)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["scores"] = arrays["scores"] * 2
    np.savez(path, **arrays)
    assert store.get(r.key) is None


def test_entry_under_the_wrong_name_is_rejected(store):
    r = _put(store)
    other = "cd" * 32
    store.path(other).parent.mkdir(parents=True, exist_ok=True)
    store.path(other).write_bytes(store.path(r.key).read_bytes())
    assert store.get(other) is None


def test_failed_write_leaves_no_partial_file(store, monkeypatch):
    import os

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    try:
        _put(store)
    except OSError:
        pass
    leftovers = list(store.root.rglob("*"))
    assert [p for p in leftovers if p.is_file()] == []


def test_table_lists_entries(tmp_path):
    store = ResultsStore(tmp_path)
    _put(store)
    table = store.table()
    assert len(table) == 1 and table.loc[0, "accuracy"] == 2 / 3
