"""Where training units run: this process, or Dask distributed (book: Scale).

An executor computes units (:class:`~dissim.pipeline.experiment.Unit`, one network each) with a
picklable task (:class:`UnitTask`, which calls
:func:`~dissim.pipeline.experiment.compute_unit`) and hands each result to a callback in the
calling process, which alone writes the results store; a failed unit goes to another callback
with its exception and traceback and does not stop the others. ``prepare(unit)`` runs in the
calling process just before a unit starts (the runner takes the network's store lock there)
and returns the unit to compute, or None to skip it. Executors:

* :class:`LocalExecutor`: one unit after the other in this process;
* :class:`DaskExecutor`: the scheduler at ``scheduler`` (else ``DASK_SCHEDULER_ADDRESS``), else
  a new ``LocalCluster`` of single-task worker processes (one per GPU on CUDA, else Dask's
  split of the cores). On CUDA, tasks request one ``GPU`` resource
  (``dask worker --resources GPU=1``).

``threads`` sets torch and BLAS threads per unit: equal ``threads`` give bit-identical scores
across executors (on the CPU, convolution and k-means sums depend on the thread count).
"""

from __future__ import annotations

import os
import traceback
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Protocol, TextIO

import torch
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from dissim.errors import ConfigError
from dissim.pipeline.experiment import Entry, Unit, compute_unit
from dissim.pipeline.member import DEFAULT_OPTIONS, Options, Trainer
from dissim.train import train_siamese

EXECUTORS = ("local", "dask")
#: How long a Dask client waits for its scheduler (Dask's default is 30 s).
SCHEDULER_CONNECT = "10s"
OnDone = Callable[[Unit, list[Entry]], None]
OnError = Callable[[Unit, BaseException, str], None]
Prepare = Callable[[Unit], "Unit | None"]


# ---------------------------------------------------------------------------------------------
# one unit, wherever it runs
# ---------------------------------------------------------------------------------------------
@contextmanager
def limit_threads(n: int | None):
    """Torch, OpenMP and BLAS threads limited to ``n`` (None: leave them alone)."""
    if not n:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(n):
            yield
    finally:
        torch.set_num_threads(before)


def _worker_device(device: str | None) -> str | None:
    """On a ``LocalCluster`` worker, ``cuda`` means the GPU numbered like the worker."""
    if device not in (None, "cuda") or not torch.cuda.is_available():
        return device
    try:
        from distributed import get_worker  # optional: only inside a Dask worker

        name = get_worker().name
    except (ImportError, ValueError):  # not inside a Dask worker
        return device
    return f"cuda:{name % torch.cuda.device_count()}" if isinstance(name, int) else device


@dataclass(frozen=True)
class UnitTask:
    """The task run for each unit, anywhere: :func:`compute_unit` with ``threads`` threads.

    Picklable: everything a worker needs travels with it and with the unit (whose members
    carry their profile), so a worker needs no registry and no shared file system but the data.
    """

    options: Options = DEFAULT_OPTIONS
    root: str | None = None
    device: str | None = None
    threads: int | None = None
    trainer: Trainer = train_siamese
    compute: Callable[..., list[Entry]] = compute_unit

    def __call__(self, unit: Unit) -> list[Entry]:
        with limit_threads(self.threads):
            return self.compute(unit, options=self.options, root=self.root,
                                device=_worker_device(self.device), progress=False,
                                trainer=self.trainer)


class Executor(Protocol):
    """Runs units; see the module docstring."""

    def run(self, units: Sequence[Unit], task: UnitTask, prepare: Prepare, on_done: OnDone,
            on_error: OnError) -> None: ...


def _bar(n: int, progress: bool):
    return tqdm(total=n, desc="networks", unit="net", disable=not progress)


# ---------------------------------------------------------------------------------------------
# in this process
# ---------------------------------------------------------------------------------------------
@dataclass
class LocalExecutor:
    """One unit after the other in this process.

    ``raise_errors``: a failing unit raises its exception here (after ``on_error``) instead of
    being reported and skipped; used where one member is asked for (``dissim run``, the book).
    """

    progress: bool = True
    raise_errors: bool = False

    def run(self, units, task, prepare, on_done, on_error) -> None:
        with _bar(len(units), self.progress and len(units) > 1) as bar:
            for unit in units:
                todo = prepare(unit)
                if todo is not None:
                    try:
                        entries = task(todo)
                    except Exception as exc:
                        on_error(todo, exc, traceback.format_exc())
                        if self.raise_errors:
                            raise
                    else:
                        on_done(todo, entries)
                bar.update()


# ---------------------------------------------------------------------------------------------
# on Dask distributed
# ---------------------------------------------------------------------------------------------
def _local_cluster(n_units: int, device: str | None, workers: int | None,
                   threads: int | None):
    """A ``LocalCluster`` of single-task workers and the torch threads each task uses."""
    import logging

    from dask.distributed import LocalCluster  # optional, heavy
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


@dataclass
class DaskExecutor:
    """Units on Dask distributed (see the module docstring).

    ``workers`` sizes a new ``LocalCluster`` (ignored with a ``scheduler``); ``stream``
    receives warnings.
    """

    scheduler: str | None = None
    workers: int | None = None
    progress: bool = True
    stream: TextIO | None = None

    def run(self, units, task, prepare, on_done, on_error) -> None:
        import dask  # optional, heavy
        from dask.distributed import Client, as_completed

        todo = [u for u in (prepare(unit) for unit in units) if u is not None]
        if not todo:
            return
        address = self.scheduler or dask.config.get("scheduler-address", None)
        with ExitStack() as stack:
            if address:  # checked before any work (dissim.pipeline.validate.scheduler)
                client = stack.enter_context(Client(address, timeout=SCHEDULER_CONNECT))
            else:
                cluster, threads = _local_cluster(len(todo), task.device, self.workers,
                                                  task.threads)
                stack.enter_context(cluster)
                client = stack.enter_context(Client(cluster))
                task = UnitTask(task.options, task.root, task.device, threads, task.trainer,
                                task.compute)
            gpu = _wants_gpu(task.device, client, self.stream)
            futures = {
                client.submit(task, unit, pure=False, resources={"GPU": 1} if gpu else None,
                              key=f"unit-t{unit.base.topology}-fold{unit.base.fold}-"
                                  f"{uuid.uuid4().hex[:12]}"): unit
                for unit in todo
            }
            with _bar(len(todo), self.progress) as bar:
                for future in as_completed(futures):
                    unit = futures.pop(future)
                    if future.status == "error":
                        exc, tb = future.exception(), future.traceback()
                        on_error(unit, exc,
                                 "".join(traceback.format_exception(type(exc), exc, tb)))
                    else:
                        on_done(unit, future.result())
                    future.release()
                    bar.update()


def executor(name: str, *, scheduler: str | None = None, workers: int | None = None,
             progress: bool = True, stream: TextIO | None = None) -> Executor:
    """The executor called ``name`` (``local`` or ``dask``)."""
    if name == "local":
        if scheduler or workers:
            raise ConfigError("--scheduler and --workers need --executor dask")
        return LocalExecutor(progress=progress)
    if name == "dask":
        return DaskExecutor(scheduler, workers, progress, stream)
    raise ConfigError(f"unknown executor {name!r}; choose {' or '.join(EXECUTORS)}")
