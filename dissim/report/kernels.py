"""A notebook kernel that leaves nothing behind, however its run ends (book: How the book is
built).

papermill starts a Jupyter kernel per page. Its connection file (ports and the HMAC key that
signs every message) and, over IPC, its socket files are removed when the kernel is shut down
in order; Ctrl-C or SIGTERM in the middle of a page used to skip that (or shut the busy kernel
down "gracefully": interrupted, then killed, with ipykernel's tracebacks on the terminal).

:func:`owned_kernel` gives papermill a kernel manager (``km=``) whose files are all named
``kernel-dissim-<pid>-<host><random>*`` in Jupyter's runtime folder
(:func:`jupyter_core.paths.jupyter_runtime_dir`, ``JUPYTER_RUNTIME_DIR``), never in the working
folder; the connection file is private to its user (``0600``) while it exists. When the page
ends the kernel is shut down as papermill would (a shutdown request, but no interrupt before
it: the kernel is idle, and ipykernel would report the interrupt); when an interrupt ends it,
the kernel's process group is killed at once (a dead kernel prints nothing), with further
signals held off until the clean-up is done. Either way the clients' channels are closed and
every file of that name is removed. A run killed outright (SIGKILL) cannot do that:
:func:`sweep_dead` removes, on the next run, the files of a name whose run is gone
(:mod:`dissim.report.leftovers`).

>>> with owned_kernel() as km:                                          # doctest: +SKIP
...     papermill.execute_notebook("page.ipynb", "out.ipynb", km=km)
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
from collections.abc import Iterator
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.paths import jupyter_runtime_dir
from jupyter_core.utils import run_sync

from dissim.errors import TERMINATING, signal_handlers
from dissim.report import leftovers

#: The prefix of every file a kernel of ours writes in the runtime folder.
PREFIX = "kernel-dissim-"
#: The files of one kernel: its connection file and its IPC sockets (``<ip>-<port>``, where
#: jupyter_client makes ``ip`` the connection file's name less ``.json``, plus ``-ipc``).
FILES = re.compile(rf"{PREFIX}{leftovers.OWNER}[0-9a-f]{{4}}(?:\.json|-ipc-[0-9]+)")


class _Kernel(AsyncKernelManager):
    """jupyter_client's manager, recording the clients it makes so they close with it."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.made_clients: list = []

    def client(self, **kwargs):
        kc = super().client(**kwargs)
        self.made_clients.append(kc)
        return kc

    def write_connection_file(self, **kwargs) -> None:
        """jupyter_client's, then the file made private (``0600``) also where its own secure
        write is relaxed (``JUPYTER_ALLOW_INSECURE_WRITES``): it holds the HMAC key."""
        super().write_connection_file(**kwargs)
        os.chmod(self.connection_file, 0o600)


def stem() -> str:
    """A new kernel's file name less its suffix: :data:`PREFIX`, the owner
    (:func:`dissim.report.leftovers.owner`) and four random hex digits."""
    return f"{PREFIX}{leftovers.owner()}{secrets.token_hex(2)}"


def sweep_dead(runtime: str | os.PathLike | None = None) -> list[Path]:
    """Remove the connection files and sockets of kernels whose run is gone (killed outright)
    from the runtime folder (Jupyter's, by default); return them."""
    folder = Path(runtime if runtime is not None else jupyter_runtime_dir())
    if not folder.is_dir():
        return []
    return leftovers.sweep(folder.glob(f"{PREFIX}*"), FILES)


@contextlib.contextmanager
def owned_kernel(kernel_name: str = "python3", transport: str = "ipc") -> Iterator[_Kernel]:
    """A kernel manager for one papermill run (``km=``): started by papermill, shut down and
    its files removed here, also on Ctrl-C, SIGTERM or SIGHUP (then it is killed at once)."""
    runtime = Path(jupyter_runtime_dir())
    runtime.mkdir(parents=True, exist_ok=True)
    name = stem()
    km = _Kernel(kernel_name=kernel_name, transport=transport,
                 connection_file=str(runtime / f"{name}.json"))
    interrupted = False
    try:
        yield km
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM / SIGHUP (dissim.errors.Terminated)
        interrupted = True
        raise
    finally:
        with _signals_held() if interrupted else contextlib.nullcontext():
            try:
                run_sync(_close)(km, now=interrupted)
            except KeyboardInterrupt:  # Ctrl-C during a graceful shutdown: kill it
                with _signals_held():
                    run_sync(_close)(km, now=True)
                raise
            finally:
                for path in runtime.glob(f"{name}*"):  # connection file, IPC sockets
                    path.unlink(missing_ok=True)


async def _close(km: _Kernel, now: bool) -> None:
    """Shut the kernel down (``now``: kill its process group, no interrupt first), close the
    clients' channels and release the manager's resources."""
    graceful = km.has_kernel and not now
    if graceful:
        # a shutdown request, as papermill's client sends, without jupyter_client's
        # shutdown_kernel's SIGINT first: the page has finished, so the kernel is idle, and an
        # interrupt would only make ipykernel print "KeyboardInterrupt caught in kernel."
        km.shutting_down = True
        km.stop_restarter()
        await km.request_shutdown()
        await km.finish_shutdown()  # waits for the kernel to exit, kills it if it does not
        await km.cleanup_resources()
    elif km.has_kernel:
        await km.provisioner.kill()
        await km.provisioner.wait()
    for kc in km.made_clients:
        kc.stop_channels()
    km.made_clients.clear()
    if not graceful:
        await km.cleanup_resources()


def _signals_held():
    """Ctrl-C, SIGTERM and SIGHUP are ignored while the block runs (outside the main thread,
    where no handler can be set, the block runs unchanged)."""
    return signal_handlers((signal.SIGINT, *TERMINATING), signal.SIG_IGN)
