"""The results store: one score matrix per member, content-addressed, atomic, resumable.

Every table of the paper is a fusion of stored score matrices (Section 4), so fusing never
retrains anything. An entry is a single ``.npz`` file named by the member's key (a SHA-256 of its
configuration, its options and the data fingerprint) holding:

* ``scores`` -- the (n_test, n_classes) SVM decision values on the test fold;
* ``y_true`` and ``test_index`` -- the test labels and their indices in the data set;
* ``meta`` -- a JSON document: config, profile, timings, training log, package versions, git
  commit, and the SHA-256 of the arrays (so a damaged entry is detected).

Writes go to a temporary file in the same folder, are flushed to disk and then renamed over the
final name (:func:`dissim.atomic.atomic_path`; ``os.replace`` is atomic on POSIX), so a run
killed mid-write leaves either the old entry or none, never a partial one; a failed write (a full
disk) removes its temporary file and is one :class:`~dissim.errors.WriteError` line. A corrupt
or partial entry is reported by :meth:`get` as missing, and the member is recomputed; listing
the store (:meth:`ResultsStore.__iter__`: ``dissim results ls``, ``results export``) skips it
with one warning line that counts the skipped entries and names the first. An entry whose key
is not the one its metadata makes (:func:`~dissim.pipeline.entry_keys.recorded_key`: a member
relabelled by an edit of ``meta.member``, with its arrays and checksum untouched) is refused by
:meth:`get` and :meth:`put` with a :class:`RelabelledEntry` line naming the file. A killed
write can leave its temporary file (``.<key>.npz.<random>.tmp``, never read as an entry);
:meth:`ResultsStore.clean_tmp` removes the stale ones.

Several processes may share one store (two grid runs, a grid and a notebook): :meth:`lock` is
a per-unit lock (an ``fcntl.flock`` on ``.locks/<name>.lock``, released by the kernel when its
holder dies, so a killed run never leaves a stale lock). The runner
(:func:`dissim.pipeline.runner.run`, behind ``dissim run``, ``dissim grid`` and the book) trains
each network under its lock and re-reads the store once it holds it, so a second run waiting on
the same network reuses the first run's entries instead of training again.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import socket
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dissim.atomic import atomic_path
from dissim.errors import DataError, ResourceError, warn
from dissim.pipeline.entry_keys import config_key, recorded_key

try:
    import fcntl as _fcntl  # POSIX only
except ImportError:  # pragma: no cover - Windows
    _fcntl = None

FORMAT_VERSION = 1
#: The results store of the command line, the runner and the book (``$DISSIM_RESULTS``).
DEFAULT_RESULTS = os.environ.get("DISSIM_RESULTS", "results")
#: Temporary files older than this (seconds) belong to a dead write (a write takes seconds).
STALE_TMP_SECONDS = 3600.0


__all__ = ["DEFAULT_RESULTS", "FORMAT_VERSION", "Result", "ResultsStore", "RelabelledEntry",
           "config_key"]


class RelabelledEntry(DataError):
    """A store entry whose key is not the one its own metadata makes (book: What can go
    wrong): its metadata was edited, or it was written under another entry's name."""


def check_key(key: str, meta: dict, where: str, fix: str) -> None:
    """Refuse ``meta`` unless the key it makes (:func:`recorded_key`) is ``key``.

    ``where`` names the entry in the message (``results store entry <file>``), ``fix`` says
    what to do. Metadata that names no member (a raw entry) has no key to compute: only its
    checksum vouches for it.
    """
    try:
        made = recorded_key(meta)
    except ValueError as err:
        raise RelabelledEntry(f"{where} cannot be checked against its key {key[:12]}: {err}; "
                              f"{fix}") from None
    if made is not None and made != key:
        member = meta.get("cnn_member") or meta.get("member") or {}
        said = ", ".join(f"{k} {v}" for k, v in member.items() if k != "profile")
        raise RelabelledEntry(
            f"{where} is stored under key {key[:12]} but its metadata ({said}) makes key "
            f"{made[:12]}: it was edited or copied under another name; {fix}")


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
        """Write an entry atomically and return it; metadata that makes another key than
        ``key`` is refused (:class:`RelabelledEntry`) before anything is written."""
        check_key(key, meta, f"entry {key[:12]} to be written to results store {self.root}",
                  "write it under the key its metadata makes, or fix the metadata")
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
        with atomic_path(final) as tmp:  # flushed to disk, then renamed; removed on any error
            tmp.write_bytes(buf.getvalue())
        return Result(key, scores, y_true, test_index, meta)

    def get(self, key: str) -> Result | None:
        """The entry for ``key``, or None when absent, partial or corrupt.

        Raises
        ------
        RelabelledEntry
            When the entry is intact but its metadata makes another key (an edited member).
        """
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:
                scores, y_true, test_index = z["scores"], z["y_true"], z["test_index"]
                meta = json.loads(str(z["meta"]))
        except Exception:  # truncated zip, bad JSON, missing array: treat as absent
            return None
        if meta.get("key") != key or meta.get("sha256") != _digest(scores, y_true, test_index):
            return None
        check_key(key, meta, f"results store entry {path}",
                  f"delete {path} and run the member again to recompute it")
        return Result(key, scores, y_true, test_index, meta)

    def clean_tmp(self, older_than: float = STALE_TMP_SECONDS) -> list[Path]:
        """Remove temporary files left by killed writes; return the paths removed.

        Parameters
        ----------
        older_than : float
            Only files last modified more than this many seconds ago are removed, so a write
            in progress in another process is never touched. ``0`` removes every one (safe only
            when no other process writes to the store).
        """
        if not self.root.is_dir():
            return []
        now = time.time()
        removed = []
        for tmp in self.root.glob("*/.*.tmp"):
            try:
                if now - tmp.stat().st_mtime >= older_than:
                    tmp.unlink()
                    removed.append(tmp)
            except OSError:  # renamed or removed meanwhile by its writer, or read-only
                continue
        return removed

    @contextlib.contextmanager
    def lock(self, name: str, *, timeout: float | None = None,
             poll: float = 0.2) -> Iterator[Path]:
        """Hold the store-wide lock ``name`` (e.g. the key of a network) for a ``with`` block.

        Processes on one machine (or on a file system with working ``flock``, such as a local
        disk or NFSv4) that lock the same name run their blocks one at a time. The lock dies
        with its holder, so a killed run never leaves a stale lock; the lock file records the
        holder's host and pid, which a timed-out wait reports. Where no lock can be had (no
        ``fcntl``, or a file system without locks) the block runs unlocked, with a warning.

        Parameters
        ----------
        name : str
            Any file-name-safe string; :func:`config_key` output is typical.
        timeout : float, optional
            Give up after this many seconds with a :class:`~dissim.errors.ResourceError`
            (None: wait as long as it takes).
        poll : float
            Seconds between tries while waiting.

        >>> import tempfile
        >>> store = ResultsStore(tempfile.mkdtemp())
        >>> with store.lock("abc"):
        ...     pass
        """
        folder = self.root / ".locks"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.lock"
        fcntl = _fcntl
        start = time.monotonic()
        while fcntl is not None:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if timeout is not None and time.monotonic() - start > timeout:
                    raise ResourceError(
                        f"results store {self.root} is busy: lock {name[:12]} is held by "
                        f"{_lock_holder(path)} for more than {timeout:g} s; wait for that "
                        "run to finish or stop it"
                    ) from None
                time.sleep(poll)
                continue
            except OSError as err:  # e.g. ENOLCK: a network file system without locks
                os.close(fd)
                warnings.warn(f"results store {self.root} cannot be locked ({err.strerror}); "
                              "runs sharing it may train the same network twice",
                              stacklevel=3)
                fcntl = None
                break
            # The previous holder unlinks the file before it unlocks: a lock taken on an
            # unlinked file is no lock, so take it again on the current file.
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        if fcntl is None:  # no lock to be had: run unlocked, as a single run would
            yield path
            return
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{socket.gethostname()} {os.getpid()}\n".encode())
            yield path
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            os.close(fd)  # closing releases the flock

    def keys(self) -> Iterator[str]:
        if not self.root.is_dir():
            return iter(())
        return (p.stem for p in sorted(self.root.glob("*/*.npz")))

    def __iter__(self) -> Iterator[Result]:
        """Every valid entry, by key. Damaged ones (truncated, failing their checksum, under
        another entry's name) are skipped with one warning line at the end that counts them
        and names the first; a relabelled one raises :class:`RelabelledEntry`."""
        damaged = []
        for key in self.keys():
            result = self.get(key)
            if result is None:
                damaged.append(self.path(key))
            else:
                yield result
        if damaged:
            warn(_skipped(self.root, damaged))

    def table(self) -> pd.DataFrame:
        """A pandas DataFrame with one row per valid entry: config fields, accuracy, timings."""
        rows = []
        for r in self:
            row = dict(r.meta.get("member", {}))
            row.update(key=r.key[:12], accuracy=r.accuracy,
                       train_seconds=r.meta.get("timings", {}).get("train_seconds"),
                       profile=r.meta.get("member", {}).get("profile"))
            rows.append(row)
        return pd.DataFrame(rows)


def _skipped(root: Path, damaged: list[Path]) -> str:
    """The warning for ``damaged`` entries skipped while listing the store at ``root``."""
    n = len(damaged)
    them = "it" if n == 1 else "them"
    return (f"skipped {n} damaged entr{'y' if n == 1 else 'ies'} of results store {root} "
            f"(the first: {damaged[0]}; truncated, or not matching its checksum or its name); "
            f"delete {them}, and run the member{'s' if n > 1 else ''} again to recompute "
            f"{them}")


def _lock_holder(path: Path) -> str:
    """``host pid`` written in a lock file by its holder (``unknown`` while it writes)."""
    try:
        text = path.read_text().strip()
    except OSError:
        text = ""
    return f"process {text.replace(' ', ':')}" if text else "another process"
