"""Where training units run: this process, or Dask distributed (DESIGN.md "Scale").

:func:`run_units` computes units (:class:`dissim.experiment.Unit`, one network each) with the
pure task :func:`compute` and hands each result to a callback in the calling process, which
alone writes the results store; a failed unit goes to another callback with its traceback and
does not stop the others. Executors:

* ``local``: one unit after the other in this process;
* ``dask``: the scheduler at ``scheduler`` (else ``DASK_SCHEDULER_ADDRESS``), else a new
  ``LocalCluster`` of single-task worker processes (one per GPU on CUDA, else Dask's split of
  the cores). On CUDA, tasks request one ``GPU`` resource (``dask worker --resources GPU=1``).

``threads`` sets torch and BLAS threads per unit: equal ``threads`` give bit-identical scores
across executors (on the CPU, convolution and k-means sums depend on the thread count).
"""

from __future__ import annotations

import os
import traceback
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack, contextmanager
from typing import TextIO

from dissim.errors import ConfigError
from dissim.experiment import Entry, Options, Unit
from dissim.profiles import PROFILES, Profile
from dissim.profiles import get as get_profile

EXECUTORS = ("local", "dask")
OnDone = Callable[[Unit, list[Entry]], None]
OnError = Callable[[Unit, str], None]


# ---------------------------------------------------------------------------------------------
# one unit, wherever it runs
# ---------------------------------------------------------------------------------------------
@contextmanager
def _threads(n: int | None):
    """Torch, OpenMP and BLAS threads limited to ``n`` (None: leave them alone)."""
    if not n:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(n):
            yield
    finally:
        torch.set_num_threads(before)


def _worker_device(device: str | None) -> str | None:
    """On a ``LocalCluster`` worker, ``cuda`` means the GPU numbered like the worker."""
    if device not in (None, "cuda"):
        return device
    import torch

    if not torch.cuda.is_available():
        return device
    try:
        from distributed import get_worker

        name = get_worker().name
    except (ImportError, ValueError):  # not inside a Dask worker
        return device
    return f"cuda:{name % torch.cuda.device_count()}" if isinstance(name, int) else device


def compute(unit: Unit, options: Options, root: str | None, device: str | None,
            threads: int | None, profile: Profile | None = None) -> list[Entry]:
    """The task: :func:`dissim.experiment.compute_unit` with ``threads`` threads, no output.

    ``profile`` is the unit's profile as the client knows it, registered here so that a
    profile made in the client (:func:`dissim.grid.with_switches`) exists in a worker too.
    """
    from dissim import experiment  # looked up at call time, so tests can patch it

    if profile is not None and PROFILES.get(profile.name) != profile:
        PROFILES[profile.name] = profile
    with _threads(threads):
        return experiment.compute_unit(unit, options=options, root=root,
                                       device=_worker_device(device), progress=False)


# ---------------------------------------------------------------------------------------------
# running many
# ---------------------------------------------------------------------------------------------
def run_units(
    units: Sequence[Unit],
    on_done: OnDone,
    on_error: OnError,
    *,
    executor: str = "local",
    options: Options,
    root: str | None = None,
    device: str | None = None,
    threads: int | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    stream: TextIO,
) -> None:
    """Compute ``units``; call ``on_done(unit, entries)`` or ``on_error(unit, traceback)``.

    The callbacks run in this process, one at a time, as units finish. ``stream`` receives
    warnings; ``workers`` sizes a new ``LocalCluster`` (ignored with a ``scheduler``).
    """
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; choose local or dask")
    if not units:
        return
    run = _run_local if executor == "local" else _run_dask
    run(list(units), on_done, on_error, options=options, root=root, device=device,
        threads=threads, scheduler=scheduler, workers=workers, progress=progress,
        stream=stream)


def _bar(units: list[Unit], progress: bool):
    from tqdm import tqdm

    return tqdm(total=len(units), desc="networks", unit="net", disable=not progress)


def _run_local(units, on_done, on_error, *, options, root, device, threads, progress,
               **_) -> None:
    with _bar(units, progress) as bar:
        for unit in units:
            try:
                entries = compute(unit, options, root, device, threads)  # same process
            except Exception:
                on_error(unit, traceback.format_exc())
            else:
                on_done(unit, entries)
            bar.update()


def _local_cluster(n_units: int, device: str | None, workers: int | None,
                   threads: int | None):
    """A ``LocalCluster`` of single-task workers and the torch threads each task uses."""
    import logging

    import torch
    from dask.distributed import LocalCluster
    from distributed.deploy.utils import nprocesses_nthreads

    cores = os.cpu_count() or 1
    gpus = torch.cuda.device_count() if str(device or "cuda").startswith("cuda") else 0
    if workers is None:
        workers = gpus or (cores // threads if threads else nprocesses_nthreads(cores)[0])
    workers = max(1, min(workers, n_units))
    threads = threads or max(1, cores // workers)
    # memory_limit=0: torch's allocations are not Dask's to spill, and a worker restarted at a
    # share of the RAM would kill a large network that dissim.memory.check_fits let through.
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           memory_limit=0, dashboard_address=None, silence_logs=logging.ERROR,
                           resources={"GPU": 1} if gpus else None)
    return cluster, threads


def _wants_gpu(device: str | None, client, stream: TextIO) -> bool:
    """Tasks ask for a ``GPU`` unless the device is the CPU or no worker advertises one."""
    if device is not None and not str(device).startswith("cuda"):
        return False
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    if any(w.get("resources", {}).get("GPU") for w in workers):
        return True
    if device is not None:  # asking for a resource nobody has would wait forever
        print("dissim: warning: no Dask worker advertises a GPU resource (start them with "
              "--resources GPU=1); networks run on any worker", file=stream)
    return False


def _run_dask(units, on_done, on_error, *, options, root, device, threads, scheduler, workers,
              progress, stream) -> None:
    import dask
    from dask.distributed import Client, as_completed

    address = scheduler or dask.config.get("scheduler-address", None)
    with ExitStack() as stack:
        if address:
            client = stack.enter_context(Client(address))
        else:
            cluster, threads = _local_cluster(len(units), device, workers, threads)
            stack.enter_context(cluster)
            client = stack.enter_context(Client(cluster))
        resources = {"GPU": 1} if _wants_gpu(device, client, stream) else None
        futures = {
            client.submit(compute, unit, options, root, device, threads,
                          get_profile(unit.base.profile), pure=False,
                          resources=resources, key=f"unit-t{unit.base.topology}"
                          f"-fold{unit.base.fold}-{uuid.uuid4().hex[:12]}"): unit
            for unit in units
        }
        with _bar(units, progress) as bar:
            for future in as_completed(futures):
                unit = futures.pop(future)
                if future.status == "error":
                    exc, tb = future.exception(), future.traceback()
                    on_error(unit, "".join(traceback.format_exception(type(exc), exc, tb)))
                else:
                    on_done(unit, future.result())
                future.release()
                bar.update()
