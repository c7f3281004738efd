"""A notebook kernel that leaves nothing behind, however its run ends (book: How the book is
built).

papermill starts a Jupyter kernel per page. Its connection file (ports and the HMAC key that
signs every message) and, over IPC, its socket files are removed when the kernel is shut down
in order; Ctrl-C or SIGTERM in the middle of a page used to skip that (or shut the busy kernel
down "gracefully": interrupted, then killed, with ipykernel's tracebacks on the terminal).

:func:`owned_kernel` gives papermill a kernel manager (``km=``) whose files are all named
``kernel-dissim-<pid>-<random>*`` in Jupyter's runtime folder
(:func:`jupyter_core.paths.jupyter_runtime_dir`, ``JUPYTER_RUNTIME_DIR``), never in the working
folder. When the page ends the kernel is shut down as papermill would (a shutdown request, but
no interrupt before it: the kernel is idle, and ipykernel would report the interrupt);
when an interrupt ends it, the kernel's process group is killed at once (a dead kernel prints
nothing), with further signals held off until the clean-up is done. Either way the clients'
channels are closed and every file of that name is removed.

>>> with owned_kernel() as km:                                          # doctest: +SKIP
...     papermill.execute_notebook("page.ipynb", "out.ipynb", km=km)
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
from collections.abc import Iterator
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.paths import jupyter_runtime_dir
from jupyter_core.utils import run_sync

from dissim.errors import TERMINATING, signal_handlers

#: The prefix of every file a kernel of ours writes in the runtime folder.
PREFIX = "kernel-dissim-"


class _Kernel(AsyncKernelManager):
    """jupyter_client's manager, recording the clients it makes so they close with it."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.made_clients: list = []

    def client(self, **kwargs):
        kc = super().client(**kwargs)
        self.made_clients.append(kc)
        return kc


@contextlib.contextmanager
def owned_kernel(kernel_name: str = "python3", transport: str = "ipc") -> Iterator[_Kernel]:
    """A kernel manager for one papermill run (``km=``): started by papermill, shut down and
    its files removed here, also on Ctrl-C, SIGTERM or SIGHUP (then it is killed at once)."""
    runtime = Path(jupyter_runtime_dir())
    runtime.mkdir(parents=True, exist_ok=True)
    stem = f"{PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    km = _Kernel(kernel_name=kernel_name, transport=transport,
                 connection_file=str(runtime / f"{stem}.json"))
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
                for path in runtime.glob(f"{stem}*"):  # connection file, IPC sockets
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
