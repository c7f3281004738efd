"""User-facing errors, and the one line that any exception becomes.

Every mistake a user can make (a wrong name, a missing folder, a bad file, a parameter of the
wrong type) raises a :class:`DissimError` whose message is one line that names the culprit and
says what to do. The CLI prints that line as ``dissim: error: <message>`` and exits with status
2; nothing else is printed.

Exceptions that bad input can raise inside a third-party library (Pillow, zipfile, zlib,
safetensors, numpy, json/yaml, torch's device parsing, papermill, an ``OSError`` of the file
system) are turned into such a line by :func:`describe`. Anything else is an ``internal error``:
one line that says where to report it (exit status 1). ``--debug`` or ``DISSIM_DEBUG=1`` shows
the traceback.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import warnings
import zipfile
import zlib
from collections.abc import Iterator


class DissimError(Exception):
    """A problem the user can fix; ``str(err)`` is the one-line message shown to them."""


class DataError(DissimError):
    """A data set, folder, file, manifest or checksum problem."""


class ConfigError(DissimError, ValueError):
    """An unknown name or a parameter of the wrong type or range."""


class ResourceError(DissimError):
    """The requested computation cannot fit (memory), cannot run (device) or cannot be written
    (disk full, read-only folder)."""


class WriteError(ResourceError, OSError):
    """A write that failed (disk full, read-only folder): one line for the command line, and
    still an :class:`OSError` for callers that catch one."""


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where Ctrl-C raises :class:`KeyboardInterrupt` (and caught
    wherever it is), so every write in progress is undone the same way; ``signum`` gives the
    exit status ``128 + signum`` (143, 129)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


#: The signals that end a command like Ctrl-C: SIGTERM (``kill``, a batch system's limit) and
#: SIGHUP (a closed terminal), where the platform has them.
TERMINATING = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))


@contextlib.contextmanager
def signal_handlers(signals, handler) -> Iterator[None]:
    """While the block runs, ``handler`` handles ``signals``; the previous handlers come back
    after it. Outside the main thread (where no handler can be set) the block runs unchanged."""
    old = {}
    try:
        for sig in signals:
            old[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


def terminations_interrupt():
    """While the block runs, SIGTERM and SIGHUP raise :class:`Terminated` (a
    ``KeyboardInterrupt``); the previous handlers come back after it (:func:`signal_handlers`)."""

    def interrupt(signum, frame):
        raise Terminated(signum)

    return signal_handlers(TERMINATING, interrupt)


def exit_status(interrupt: KeyboardInterrupt) -> int:
    """``128 + signal``: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP."""
    return 128 + getattr(interrupt, "signum", signal.SIGINT)


class DissimWarning(UserWarning):
    """Something the user may want to fix; the command line shows it as one
    ``dissim: warning:`` line and goes on."""


def warn(message: str) -> None:
    """Issue a :class:`DissimWarning` with a one-line ``message``."""
    warnings.warn(one_line(message), DissimWarning, stacklevel=2)


#: Exit status of a user error and of an internal error.
USER_ERROR, INTERNAL_ERROR = 2, 1
DEBUG_HINT = "rerun with --debug or DISSIM_DEBUG=1 for the traceback"


def debug_enabled() -> bool:
    """``DISSIM_DEBUG`` is set to something other than ``""``/``0``."""
    return os.environ.get("DISSIM_DEBUG", "") not in ("", "0")


def one_line(text: str) -> str:
    """``text`` with its lines joined by ``; `` (messages from libraries may span lines)."""
    return "; ".join(ln.strip() for ln in str(text).splitlines() if ln.strip())


#: Where an internal error is reported when the caller knows no better (an installed wheel);
#: the command line passes ``<repository url>/issues`` from ``_config.yml``.
ISSUES = "the dissim repository's issue tracker"


def _os_error(err: OSError) -> str:
    name = err.filename if err.filename is not None else "a file"
    what = err.strerror or err.__class__.__name__
    if err.errno == errno.ENOSPC:
        fix = "free some space or write somewhere else"
    elif err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "choose a folder you can write to, or fix its permissions"
    elif err.errno == errno.ENOENT:
        fix = "check the path"
    elif err.errno == errno.ENOTDIR:
        fix = "a part of the path is a file, not a folder; check the path"
    elif err.errno == errno.EISDIR:
        fix = "the path is a folder; name a file"
    else:
        fix = "check the path and the disk"
    return f"cannot access {name}: {what}; {fix}"


def describe(exc: BaseException, issues: str = ISSUES) -> tuple[str, int]:
    """The one-line message and exit status for ``exc``.

    A :class:`DissimError` is its own message (status 2). Known third-party exceptions that
    bad input causes get a message naming the library's complaint and a fix (status 2); any
    other exception is ``internal error: <type>: <message>`` with where to report it
    (``issues``; status 1).
    """
    if isinstance(exc, DissimError):
        return one_line(str(exc)), USER_ERROR
    kind = exc.__class__.__name__
    module = exc.__class__.__module__ or ""
    text = one_line(str(exc))
    if module.startswith("PIL"):  # by name: Pillow is not imported for this
        if kind == "DecompressionBombError":
            return (f"image too large to decode safely ({text}); shrink or remove it"
                    ), USER_ERROR
        if kind == "UnidentifiedImageError":
            return f"cannot read image ({text}); remove or replace it", USER_ERROR
    if isinstance(exc, zipfile.BadZipFile | zlib.error):
        return (f"a zip archive is damaged ({kind}: {text}); download or write it again"
                ), USER_ERROR
    if kind == "SafetensorError" or module.startswith("safetensors"):
        return (f"a weights file is damaged ({kind}: {text}); write or download it again"
                ), USER_ERROR
    if isinstance(exc, json.JSONDecodeError):
        return f"a JSON file is damaged ({text}); write it again", USER_ERROR
    if module.startswith("yaml"):
        return f"a YAML file is damaged ({kind}: {text}); fix its syntax", USER_ERROR
    if kind == "PapermillExecutionError":
        ename = getattr(exc, "ename", kind)
        evalue = one_line(getattr(exc, "evalue", ""))
        return f"a notebook failed: {ename}: {evalue}", USER_ERROR
    if isinstance(exc, RuntimeError) and _is_device_error(text):
        return (f"device problem ({text}); pass --device cpu, or cuda / cuda:N where CUDA "
                "is available"), USER_ERROR
    if isinstance(exc, MemoryError):
        return ("out of memory; use a smaller profile, fewer images (--max-per-class) or a "
                "machine with more memory"), USER_ERROR
    if isinstance(exc, OSError) and exc.errno is not None:
        return _os_error(exc), USER_ERROR
    return (f"internal error: {kind}: {text or '(no message)'}; {DEBUG_HINT}; "
            f"report it at {issues}"), INTERNAL_ERROR


def _is_device_error(text: str) -> bool:
    t = text.lower()
    return any(s in t for s in ("expected one of cpu", "invalid device string",
                                "torch not compiled with cuda", "no cuda gpus",
                                "cuda driver", "invalid device ordinal",
                                "cuda error: out of memory", "cuda out of memory"))
