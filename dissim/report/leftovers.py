"""What a killed book run leaves behind, and how a later run sweeps it (book: How the book is
built).

Ctrl-C and SIGTERM end ``dissim book run`` in order (:mod:`dissim.report.kernels` removes the
kernel's files, :func:`dissim.report.book.execute` its temporary page). SIGKILL, an OOM kill or
a power cut leave no chance to: the kernel's connection file (its ports and the HMAC key that
signs every message), its IPC sockets and the page being written stay.

So every such file carries its owner in its name, ``<pid>-<host>``: the process id of the run
and four hex digits of the SHA-256 of the machine's host name (a runtime folder in a home
folder shared by several machines holds files of processes of each). :func:`sweep` removes
those of a name that says so, whose owner is a process of this machine that is gone: nothing
of a run still alive, of another machine or of any other program.

>>> pattern = re.compile(rf"kernel-dissim-{OWNER}[0-9a-f]{{4}}\\.json")
>>> sweep(Path(jupyter_runtime_dir()).iterdir(), pattern)            # doctest: +SKIP
[PosixPath('/home/me/.local/share/jupyter/runtime/kernel-dissim-4242-3f1c9e0d.json')]
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from collections.abc import Iterable
from pathlib import Path

__all__ = ["OWNER", "dead", "host_tag", "owner", "sweep"]

#: The owner part of a name (:func:`owner`), as a regular expression with groups pid and host.
OWNER = r"(?P<pid>[0-9]+)-(?P<host>[0-9a-f]{4})"


def host_tag() -> str:
    """Four hex digits of the SHA-256 of this machine's host name."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:4]


def owner(pid: int | None = None) -> str:
    """``<pid>-<host>``: the owner of a file a run creates (this process by default)."""
    return f"{os.getpid() if pid is None else pid}-{host_tag()}"


def dead(pid: int) -> bool:
    """Whether no process ``pid`` exists on this machine (a live one, also another user's, or
    one not to be asked about, counts as alive: nothing of it is removed)."""
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (OSError, OverflowError):  # PermissionError: alive, another user's
        return False
    return False


def sweep(paths: Iterable[Path], pattern: re.Pattern) -> list[Path]:
    """Remove those of ``paths`` whose name matches ``pattern`` (with :data:`OWNER`'s groups)
    and whose owner is a process of this machine that is gone; return them.

    Folders are never removed, and a file that vanished meanwhile (a concurrent sweep) is
    skipped."""
    here, removed = host_tag(), []
    for path in paths:
        match = pattern.fullmatch(path.name)
        if match is None or match["host"] != here or not dead(int(match["pid"])):
            continue
        if path.is_dir() and not path.is_symlink():
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed
