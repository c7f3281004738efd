"""The files of a result snapshot, schema 2: compact, deterministic, verified (book: Results on
real images).

A snapshot stores, per fold, the score matrices of every member scored on that fold's test
images, the test labels and indices once, and the members' metadata::

    index.json          schema, data set, profile, description, the entries (key, kind, member,
                        fold, file, row), every file's SHA-256, and the SHA-256 of the index
    scores/fold-0.npz   one NumPy ``.npz`` per fold (a zip, LZMA-compressed, fixed timestamps):
                        keys (n,), scores (n, n_test, n_classes), y_true, test_index, meta

Scores are kept as float32 (``precision``; float64 where a snapshot asks for it), their bytes
stored plane by plane (``scores_planes``, shape ``(itemsize, n, n_test, n_classes)``: byte 0 of
every value, then byte 1, ...; HDF5's "shuffle" filter), which LZMA compresses about 10 % better
than the plain array; :func:`read_group` undoes it. The metadata of a fold's members is one JSON
list (``meta``, UTF-8 bytes), sorted keys, so members sharing a network share its long training
record in one compressed stream. Every file is written from sorted inputs with fixed zip
timestamps: the same entries give the same bytes.

Schema 1 (one ``.json`` and one float64 ``.npy`` per entry) is still read
(:func:`read_v1_entry`).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["PRECISIONS", "dumps", "group_file", "index_checksum", "read_group", "read_v1_entry",
           "sha256", "write_group"]

#: Score dtypes a snapshot can hold: float32 (the default) or float64 (lossless).
PRECISIONS = {"float32": "<f4", "float64": "<f8"}
#: Zip timestamps of every member of a snapshot file (the zip format's earliest date).
EPOCH = (1980, 1, 1, 0, 0, 0)
SCORES_DIR = "scores"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dumps(obj) -> bytes:
    """Canonical JSON bytes: sorted keys, one-space indent, ASCII, trailing newline."""
    return (json.dumps(obj, sort_keys=True, indent=1, ensure_ascii=True, allow_nan=True)
            + "\n").encode()


def index_checksum(index: dict) -> str:
    """SHA-256 of ``index`` without its own ``sha256`` field (canonical JSON): a changed
    label, description or entry row no longer matches it."""
    return sha256(dumps({k: v for k, v in index.items() if k != "sha256"}))


def group_file(fold: int, part: int) -> str:
    """``scores/fold-<fold>.npz`` (``-<part>`` from the second group of one fold on, for
    members of one fold scored on different test images)."""
    return f"{SCORES_DIR}/fold-{fold}{'' if part == 0 else f'-{part}'}.npz"


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def write_group(path: Path, keys: Sequence[str], scores: Sequence[np.ndarray],
                y_true: np.ndarray, test_index: np.ndarray, metas: Sequence[dict],
                precision: str = "float32") -> bytes:
    """Write one fold's members to ``path`` (see the module) and return the bytes written.

    ``keys``, ``scores`` and ``metas`` are in one order (the caller sorts them by key); every
    score matrix has the shape of the first.
    """
    dtype = np.dtype(PRECISIONS[precision])
    stack = np.stack([np.asarray(s, dtype=np.float64).astype(dtype) for s in scores])
    planes = stack.view(np.uint8).reshape(stack.shape + (dtype.itemsize,))
    planes = np.moveaxis(planes, -1, 0)
    arrays = {
        "keys": np.array(list(keys), dtype="<U64"),
        "scores_planes": planes,
        "y_true": np.asarray(y_true, dtype="<i8"),
        "test_index": np.asarray(test_index, dtype="<i8"),
        "meta": np.frombuffer(dumps(list(metas)), dtype=np.uint8),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=EPOCH)
            info.compress_type = zipfile.ZIP_LZMA
            info.external_attr = 0o644 << 16
            zf.writestr(info, _npy(arrays[name]))
    data = buf.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def read_group(data: bytes, limit: int) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray,
                                                   list[dict]]:
    """``(keys, scores (float64), y_true, test_index, metas)`` of a group file's bytes.

    Raises ``ValueError`` for anything that is not such a file, including a member that
    declares more than ``limit`` bytes (checked in the zip's directory before inflating).
    """
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        if sum(i.file_size for i in zf.infolist()) > limit:
            raise ValueError("declared sizes exceed the limit")
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        keys = [str(k) for k in z["keys"]]
        planes = z["scores_planes"]
        y_true, test_index = z["y_true"], z["test_index"]
        metas = json.loads(z["meta"].tobytes())
    if planes.dtype != np.uint8 or planes.ndim != 4 or planes.shape[0] not in (4, 8):
        raise ValueError("scores_planes is not a (itemsize, n, n_test, n_classes) byte array")
    dtype = np.dtype("<f4" if planes.shape[0] == 4 else "<f8")
    scores = np.ascontiguousarray(np.moveaxis(planes, 0, -1)).view(dtype)[..., 0]
    n, n_test = scores.shape[:2]
    if len(keys) != n or len(metas) != n or y_true.shape != (n_test,) \
            or test_index.shape != (n_test,):
        raise ValueError("array shapes disagree")
    return (keys, scores.astype(np.float64), y_true.astype(np.int64),
            test_index.astype(np.int64), metas)


def read_v1_entry(meta_bytes: bytes, scores_bytes: bytes) -> tuple[dict, np.ndarray, np.ndarray,
                                                                   np.ndarray]:
    """``(meta, scores, y_true, test_index)`` of a schema-1 entry (its ``.json`` and ``.npy``)."""
    body = json.loads(meta_bytes)
    scores = np.load(io.BytesIO(scores_bytes), allow_pickle=False)
    return (body["meta"], np.asarray(scores, dtype=np.float64),
            np.asarray(body["y_true"], dtype=np.int64),
            np.asarray(body["test_index"], dtype=np.int64))
