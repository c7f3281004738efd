"""The files of a result snapshot, schemas 2 and 3: compact, deterministic, verified (book:
Results on real images).

A snapshot stores, per fold, the score matrices of every member scored on that fold's test
images, the test labels and indices once, and the members' metadata::

    index.json          schema, data set, profile, description, the entries (key, kind, member,
                        fold, file, row), every file's SHA-256, and the SHA-256 of the index
    scores/fold-0.npz   one NumPy ``.npz`` per fold (a zip, LZMA-compressed, fixed timestamps):
                        keys (n,), scores (n, n_test, n_classes), y_true, test_index, meta

Scores are kept as float16, float32 or float64 (``precision``; ``auto``: float16, and beside it
``exact_rows`` (member, row) with ``exact_scores``, the float32 rows of the test images whose
best classes rounding could reorder, :func:`exact_rows`; ``auto6``: the same with the float16
values rounded to 6 of their 10 mantissa bits, :func:`rounded`, whose low byte LZMA then
compresses, except the rows that 6 bits could reorder and float16 cannot, which keep all 10
bits (float32 only where float16 could reorder them: on the complete ORL grid this takes the
float32 rows of fold 0 from 2894 to 1026 and the snapshot from 5.55 to 4.82 MB); ``dissim
results export`` keeps the narrowest whose pages print as the float64 ones
do), their bytes stored plane by plane (``scores_planes``, shape ``(itemsize, n, n_test,
n_classes)``: byte 0 of every value, then byte 1, ...; HDF5's "shuffle" filter), which LZMA
compresses about 10 % better than the plain array; :func:`read_group` undoes it. On the
Omniglot snapshot float16 halves the scores' bytes (1.34 -> 0.60 MB a fold), and ``auto6``
takes a fold's file from 925 to 735 kB. The metadata of a fold's members is one JSON list
(``meta``, UTF-8 bytes), sorted keys, so members sharing a network share its long training
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

__all__ = ["AUTO", "AUTO6", "AUTOS", "PRECISIONS", "RangeError", "as_stored", "dumps",
           "exact_rows", "row_layout",
           "group_file", "index_checksum", "read_group", "read_v1_entry", "rounded",
           "sha256", "write_group"]

#: Score dtypes a snapshot can hold, narrowest first: float16 (relative error <= 2**-11, values
#: up to 65504), float32 (the default of :func:`dissim.pipeline.snapshots.export`) or float64
#: (lossless).
PRECISIONS = {"float16": "<f2", "float32": "<f4", "float64": "<f8"}
#: float16 scores, and float32 rows where rounding could reorder an image's best classes
#: (:func:`exact_rows`).
AUTO = "auto"
#: As :data:`AUTO`, with the float16 values rounded to 6 mantissa bits (relative error
#: <= 2**-7): a quarter smaller on the snapshots of real data, with more float32 rows.
AUTO6 = "auto6"
#: The mantissa bits each compact precision keeps of float16's 10.
AUTOS = {AUTO6: 6, AUTO: 10}
_BY_ITEMSIZE = {np.dtype(d).itemsize: np.dtype(d) for d in PRECISIONS.values()}
#: Zip timestamps of every member of a snapshot file (the zip format's earliest date).
EPOCH = (1980, 1, 1, 0, 0, 0)
SCORES_DIR = "scores"


class RangeError(ValueError):
    """Scores too large for the precision asked (float16's 65504)."""


def rounded(scores: np.ndarray, bits: int = 10) -> np.ndarray:
    """``scores`` as float16 values with ``bits`` of float16's 10 mantissa bits: each value
    rounded once, to nearest with ties to even, to ``bits + 1`` significant bits (so the
    relative error is at most ``2**-(bits + 1)``), then stored as float16, which holds it
    exactly above float16's smallest normal (``2**-14``); 10 is plain float16. Infinities and
    NaN are unchanged; a value beyond float16's range becomes infinite (a range the caller
    checks)."""
    if not 1 <= bits <= 10:
        raise ValueError(f"bits must be 1..10, got {bits}")
    x = np.asarray(scores, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        if bits == 10:
            return x.astype(np.float16)
        m, e = np.frexp(x)  # x = m 2**e, 0.5 <= |m| < 1
        q = np.where(np.isfinite(x), np.ldexp(np.round(np.ldexp(m, bits + 1)), e - bits - 1), x)
        return q.astype(np.float16)


def exact_rows(scores: np.ndarray, margin: float = 4.0, bits: int = 10) -> np.ndarray:
    """The rows (test images) of a score matrix that an ``auto`` snapshot keeps in float32:
    those where rounding to float16 could change the best classes (a tie stays the same tie,
    equal values round alike) or bring another class within ``margin`` times the row's largest
    rounding error of them, and rows beyond float16's range. A member's own table cell is an
    arg-max over its rows, so it cannot change; a fused cell sums the rounding errors of its
    members, which the margin bounds and ``dissim results export`` checks on the printed
    pages. ``bits``: the mantissa bits the float16 values keep (:func:`rounded`)."""
    s = np.asarray(scores, dtype=np.float64)
    half = rounded(s, bits).astype(np.float64)
    best = s == s.max(axis=1, keepdims=True)  # the best classes of each row, ties included
    top = np.where(best, half, np.inf).min(axis=1)
    rest = np.where(best, -np.inf, half).max(axis=1)  # -inf where every class ties
    same = np.all(np.where(best, half, top[:, None]) == top[:, None], axis=1)
    error = np.abs(half - s).max(axis=1)
    with np.errstate(invalid="ignore"):
        safe = same & (top > rest) & (top - rest > margin * error) & np.isfinite(half).all(axis=1)
    return np.flatnonzero(~safe)


def row_layout(scores: np.ndarray, margin: float = 4.0, bits: int = 10,
               kept: np.ndarray | Sequence[int] = ()) -> tuple[np.ndarray, np.ndarray]:
    """``(float32 rows, 10-bit rows)`` of one score matrix in an ``auto`` (``auto6``)
    snapshot: float32 where float16 could reorder the best classes (:func:`exact_rows`) and in
    the rows ``kept`` (a fusion's, :func:`dissim.report.printed.exact_images`); float16 with
    all 10 bits where ``bits`` could reorder them and 10 cannot; ``bits`` elsewhere."""
    risky = exact_rows(scores, margin, bits)
    wide = np.union1d(exact_rows(scores, margin, 10) if bits < 10 else risky,
                      np.asarray(kept, dtype=np.int64))
    return wide, np.setdiff1d(risky, wide)


def as_stored(scores: np.ndarray, margin: float = 4.0, bits: int = 10,
              kept: np.ndarray | Sequence[int] = ()) -> np.ndarray:
    """``scores`` (float64) as an ``auto`` (``auto6``) snapshot stores them and
    :func:`read_group` reads them back (:func:`row_layout`)."""
    s = np.asarray(scores, dtype=np.float64)
    wide, full = row_layout(s, margin, bits, kept)
    out = _float16(s, bits, full).astype(np.float64)
    out[wide] = s[wide].astype(np.float32).astype(np.float64)
    return out


def _float16(scores: np.ndarray, bits: int, full) -> np.ndarray:
    """``scores`` as the float16 planes hold them: ``bits`` mantissa bits, all 10 in the rows
    ``full`` (indices or a mask; :func:`row_layout`)."""
    out = rounded(scores, bits)
    out[full] = rounded(scores[full], 10)
    return out


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
                precision: str = "float32", margin: float = 4.0,
                exact_images: Sequence[Sequence[int]] = ()) -> bytes:
    """Write one fold's members to ``path`` (see the module) and return the bytes written.

    ``keys``, ``scores`` and ``metas`` are in one order (the caller sorts them by key); every
    score matrix has the shape of the first. Under ``auto6`` a row that 6 bits could reorder
    (:func:`exact_rows`) keeps float16's 10 bits, and one that float16 could reorder is
    float32. Under ``auto`` and ``auto6``, the rows of the test images in
    ``exact_images`` (per member, test indices: images whose fused decision float16 would
    move, see :func:`dissim.report.printed.exact_images`) are float32 as well.
    """
    wide = np.stack([np.asarray(s, dtype=np.float64) for s in scores])
    arrays = {
        "keys": np.array(list(keys), dtype="<U64"),
        "y_true": np.asarray(y_true, dtype="<i8"),
        "test_index": np.asarray(test_index, dtype="<i8"),
        "meta": np.frombuffer(dumps(list(metas)), dtype=np.uint8),
    }
    bits = AUTOS.get(precision, 10)
    full = np.zeros(wide.shape[:2], dtype=bool)  # rows kept at float16's 10 bits, not `bits`
    if precision in AUTOS:
        where = [np.flatnonzero(np.isin(test_index, np.asarray(list(e), dtype=np.int64)))
                 for e in exact_images] or [()] * len(wide)
        rows = []
        for m, s in enumerate(wide):
            f32, f16 = row_layout(s, margin, bits, where[m])
            rows += [(m, i) for i in f32]
            full[m, f16] = True
        exact = np.array(rows, dtype="<i8").reshape(-1, 2)
        arrays["exact_rows"] = exact
        arrays["exact_scores"] = wide[exact[:, 0], exact[:, 1]].astype("<f4")
        wide = wide.copy()
        wide[exact[:, 0], exact[:, 1]] = 0.0  # held in exact_scores
        precision = "float16"
    dtype = np.dtype(PRECISIONS[precision])
    with np.errstate(over="ignore"):
        stack = _float16(wide, bits, full) if dtype == np.float16 else wide.astype(dtype)
    if not np.array_equal(np.isfinite(stack), np.isfinite(wide)):  # rounded past the range
        far = np.abs(wide[np.isfinite(wide) & ~np.isfinite(stack)]).max()
        raise RangeError(f"scores beyond {precision}'s range ({far:.6g})")
    planes = stack.view(np.uint8).reshape(stack.shape + (dtype.itemsize,))
    arrays["scores_planes"] = np.moveaxis(planes, -1, 0)
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
        exact = (z["exact_rows"], z["exact_scores"]) if "exact_rows" in z.files else None
    if planes.dtype != np.uint8 or planes.ndim != 4 or planes.shape[0] not in _BY_ITEMSIZE:
        raise ValueError("scores_planes is not a (itemsize, n, n_test, n_classes) byte array")
    dtype = _BY_ITEMSIZE[planes.shape[0]]
    scores = np.ascontiguousarray(np.moveaxis(planes, 0, -1)).view(dtype)[..., 0]
    n, n_test = scores.shape[:2]
    if len(keys) != n or len(metas) != n or y_true.shape != (n_test,) \
            or test_index.shape != (n_test,):
        raise ValueError("array shapes disagree")
    scores = scores.astype(np.float64)
    if exact is not None:
        rows, values = exact
        if rows.ndim != 2 or rows.shape[1:] != (2,) \
                or values.shape != (len(rows), scores.shape[2]) \
                or (rows.size and (rows.min() < 0 or rows[:, 0].max() >= n
                                   or rows[:, 1].max() >= n_test)):
            raise ValueError("exact_rows does not index the scores")
        scores[rows[:, 0], rows[:, 1]] = values.astype(np.float64)
    return (keys, scores, y_true.astype(np.int64), test_index.astype(np.int64), metas)


def read_v1_entry(meta_bytes: bytes, scores_bytes: bytes) -> tuple[dict, np.ndarray, np.ndarray,
                                                                   np.ndarray]:
    """``(meta, scores, y_true, test_index)`` of a schema-1 entry (its ``.json`` and ``.npy``)."""
    body = json.loads(meta_bytes)
    scores = np.load(io.BytesIO(scores_bytes), allow_pickle=False)
    return (body["meta"], np.asarray(scores, dtype=np.float64),
            np.asarray(body["y_true"], dtype=np.int64),
            np.asarray(body["test_index"], dtype=np.int64))
