"""Writes that are all or nothing: a temporary name in the destination folder, then a rename.

``os.replace`` within one folder is atomic on POSIX, so a reader sees the old file (or none) or
the complete new one, never a partial one. The temporary file (``.<name>.<random>.tmp``) is
removed on every error path, including a full disk, a read-only folder and Ctrl-C.

>>> with atomic_path("model.zip") as tmp:             # doctest: +SKIP
...     write_zip(tmp)                                 # model.zip appears only now
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from dissim.errors import WriteError, describe

#: The process's umask, read once at import (reading it means setting it, so not per write).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def permissions(path: Path, folder: bool = False) -> int:
    """The permissions the new file (``folder``) gets: those of the one it replaces, else what
    ``open`` (``mkdir``) would give a new one: ``0o666`` (``0o777``) less the umask.
    ``mkstemp`` and ``mkdtemp`` make theirs private (``0o600``, ``0o700``), which would leave
    results unreadable to the group a cluster or a shared machine reads them with."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return (0o777 if folder else 0o666) & ~_UMASK


#: Test hook: called with the temporary path of :func:`atomic_path` once it is written, before
#: the rename (the reliability tests pause there to send a signal at a known moment).
_before_rename: Callable[[Path], None] | None = None


def _unwritable(path: Path, err: OSError) -> WriteError:
    """One line naming ``path``: a :class:`~dissim.errors.ResourceError` and an ``OSError``."""
    if isinstance(err, WriteError):
        return err
    if err.errno is None:
        return WriteError(f"cannot write {path}: {err}; check the path and the disk")
    msg, _ = describe(OSError(err.errno, err.strerror, str(path)))
    return WriteError(msg.replace("cannot access", "cannot write", 1))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` when the block succeeds.

    The file gets the permissions of the one it replaces, or of a new file under the umask.
    An ``OSError`` while writing (``ENOSPC``, ``EACCES``, ``EROFS``) becomes a one-line
    :class:`~dissim.errors.WriteError` (a ``ResourceError`` that is still an ``OSError``) naming
    ``path``; the temporary file never stays.
    """
    path = Path(path)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise _unwritable(path, err) from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if _before_rename is not None:
            _before_rename(tmp)
        os.chmod(tmp, permissions(path))
        if fsync:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise _unwritable(path, err) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, *, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it becomes ``path`` when the block succeeds.

    ``path`` must not exist yet (a folder cannot replace another atomically), unless
    ``replace``: then an existing ``path`` is moved aside (``.<name>.<random>.old``) at the
    very end, the new folder renamed in, and the old one removed; a reader may find no folder
    for that instant, never a partial one. The folder gets the permissions of the one it
    replaces, or of a new folder under the umask. On any error (a full disk: one
    :class:`~dissim.errors.WriteError` line naming ``path``; Ctrl-C; SIGTERM) the temporary
    folder and everything in it are removed and ``path`` is left as it was.
    """
    path = Path(path)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as err:
        raise _unwritable(path, err) from None
    try:
        os.chmod(tmp, permissions(path, folder=True))
        yield tmp
        old = None
        if replace and path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old",
                                        dir=path.parent))
            os.replace(path, old)
        try:
            os.rename(tmp, path)
        except BaseException:
            if old is not None:
                os.replace(old, path)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _unwritable(path, err) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def removed_on_error(*paths: str | os.PathLike) -> Iterator[None]:
    """Remove those of ``paths`` that did not exist before the block, if the block fails.

    For folders a command creates on its way (``book/results/<ds>/``): on failure the tree is
    left as it was.
    """
    new = [Path(p) for p in paths if not Path(p).exists()]
    try:
        yield
    except BaseException:
        for p in new:
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            elif p.exists():
                p.unlink(missing_ok=True)
        raise
