"""The results store: one score matrix per member, content-addressed, atomic, resumable.

Every table of the paper is a fusion of stored score matrices, so fusing never retrains anything
(DESIGN.md). An entry is a single ``.npz`` file named by the member's key (a SHA-256 of its
configuration, its options and the data fingerprint) holding:

* ``scores`` -- the (n_test, n_classes) SVM decision values on the test fold;
* ``y_true`` and ``test_index`` -- the test labels and their indices in the data set;
* ``meta`` -- a JSON document: config, profile, timings, training log, package versions, git
  commit, and the SHA-256 of the arrays (so a damaged entry is detected).

Writes go to a temporary file in the same folder, are flushed to disk and then renamed over the
final name (``os.replace`` is atomic on POSIX), so a run killed mid-write leaves either the old
entry or none, never a partial one. A corrupt or partial entry is reported by :meth:`get` as
missing, and the member is recomputed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1


def config_key(config: dict) -> str:
    """Stable SHA-256 hex key of a JSON-serialisable configuration."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


@dataclass
class Result:
    """One stored member: its scores on the test fold and what produced them."""

    key: str
    scores: np.ndarray
    y_true: np.ndarray
    test_index: np.ndarray
    meta: dict

    @property
    def accuracy(self) -> float:
        """Arg-max accuracy of :attr:`scores` (the paper's metric)."""
        return float(np.mean(np.argmax(self.scores, axis=1) == self.y_true))


class ResultsStore:
    """A folder of results, one atomic ``.npz`` file per member key.

    Parameters
    ----------
    root : path
        The folder (created on first write). Default for the CLI: ``results/``.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def put(self, key: str, scores, y_true, test_index, meta: dict) -> Result:
        """Write an entry atomically and return it."""
        scores = np.asarray(scores, dtype=np.float64)
        y_true = np.asarray(y_true, dtype=np.int64)
        test_index = np.asarray(test_index, dtype=np.int64)
        meta = dict(meta, key=key, format=FORMAT_VERSION, sha256=_digest(scores, y_true,
                                                                          test_index))
        buf = io.BytesIO()
        np.savez(buf, scores=scores, y_true=y_true, test_index=test_index,
                 meta=np.array(json.dumps(meta, default=str)))
        final = self.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key[:12]}.", suffix=".tmp", dir=final.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(buf.getvalue())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return Result(key, scores, y_true, test_index, meta)

    def get(self, key: str) -> Result | None:
        """The entry for ``key``, or None when absent, partial or corrupt."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                scores, y_true, test_index = z["scores"], z["y_true"], z["test_index"]
                meta = json.loads(str(z["meta"]))
        except Exception:  # truncated zip, bad JSON, missing array: treat as absent
            return None
        if meta.get("key") != key or meta.get("sha256") != _digest(scores, y_true, test_index):
            return None
        return Result(key, scores, y_true, test_index, meta)

    def keys(self) -> Iterator[str]:
        if not self.root.is_dir():
            return iter(())
        return (p.stem for p in sorted(self.root.glob("*/*.npz")))

    def __iter__(self) -> Iterator[Result]:
        for key in self.keys():
            result = self.get(key)
            if result is not None:
                yield result

    def table(self):
        """A pandas DataFrame with one row per valid entry: config fields, accuracy, timings."""
        import pandas as pd

        rows = []
        for r in self:
            row = dict(r.meta.get("member", {}))
            row.update(key=r.key[:12], accuracy=r.accuracy,
                       train_seconds=r.meta.get("timings", {}).get("train_seconds"),
                       profile=r.meta.get("member", {}).get("profile"))
            rows.append(row)
        return pd.DataFrame(rows)
