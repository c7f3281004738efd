"""Grids of members at scale: sequential or on Dask distributed, resumable (DESIGN.md "Scale").

``dissim grid`` expands a grid of member names (data set, profile and lists of topologies,
methods, spaces, k, inputs, folds and seeds), skips the members already in the results store,
groups the rest into training units (:func:`dissim.experiment.group_units`: one network each)
and runs the units (:mod:`dissim.executors`)

* one after the other in this process (``--executor local``), or
* on Dask distributed (``--executor dask``): a ``LocalCluster`` sized to the machine, or any
  running scheduler (``--scheduler ADDRESS`` or ``DASK_SCHEDULER_ADDRESS``).

A unit is the pure function :func:`dissim.experiment.compute_unit`: it writes nothing, and its
entries come back to this process, which alone writes the store (workers need no shared file
system, only the data). Each entry is written atomically as soon as its unit finishes, so a run
killed at any moment resumes where it stopped. A failed unit is reported with its configuration
and traceback and does not stop the others; the exit status is 1 when any failed.

Scores are bit-identical across executors for the same ``threads`` (torch and BLAS threads per
training task; on the CPU, convolutions and k-means sum in a thread-dependent order).

>>> members = expand("textures", "smoke", topologies=[7], methods=["cross"], folds=[0])
>>> len(members), len(group_units(members))
(4, 1)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from dissim.errors import ConfigError
from dissim.executors import EXECUTORS, run_units
from dissim.experiment import (
    INPUTS,
    METHODS,
    SPACE_NAMES,
    Entry,
    Member,
    Options,
    Unit,
    dataset_fingerprint,
    dataset_folds,
    group_units,
    member_key,
)
from dissim.profiles import PROFILES
from dissim.profiles import get as get_profile
from dissim.store import ResultsStore

DEFAULT_OPTIONS = Options()


# ---------------------------------------------------------------------------------------------
# the grid
# ---------------------------------------------------------------------------------------------
def parse_ints(text: str, what: str) -> tuple[int, ...]:
    """``"1-3,7"`` -> ``(1, 2, 3, 7)``; a one-line :class:`ConfigError` names a bad item."""
    out: list[int] = []
    for item in str(text).split(","):
        lo, sep, hi = item.strip().partition("-")
        try:
            values = range(int(lo), int(hi) + 1) if sep else [int(lo)]
        except ValueError:
            raise ConfigError(f"--{what}: {item.strip()!r} is not an integer or a range "
                              f"like 1-8") from None
        out.extend(v for v in values if v not in out)
    if not out:
        raise ConfigError(f"--{what} is empty; give e.g. 1-8 or 0,2")
    return tuple(out)


def parse_names(text: str, allowed: Sequence[str], what: str) -> tuple[str, ...]:
    """``"cross,triplet"`` -> ``("cross", "triplet")``, each checked against ``allowed``."""
    names = tuple(dict.fromkeys(n.strip().lower() for n in str(text).split(",") if n.strip()))
    for name in names:
        if name not in allowed:
            raise ConfigError(f"--{what}: unknown {name!r}; choose from {','.join(allowed)}")
    if not names:
        raise ConfigError(f"--{what} is empty; choose from {','.join(allowed)}")
    return names


def expand(
    dataset: str,
    profile: str,
    *,
    topologies: Sequence[int] = tuple(range(1, 9)),
    methods: Sequence[str] = tuple(METHODS),
    spaces: Sequence[str] = SPACE_NAMES,
    ks: Sequence[int] | None = None,
    inputs: Sequence[str] = ("orig",),
    folds: Sequence[int] | None = None,
    seeds: Sequence[int] = (0,),
    root: str | None = None,
) -> list[Member]:
    """Every member of the grid, in a stable order (seed, fold, input, topology, method, k).

    ``ks=None`` takes the profile's k values; ``folds=None`` every fold the profile evaluates
    (loading the data set once to count them).
    """
    prof = get_profile(profile)
    for t in topologies:
        if not 1 <= t <= 8:
            raise ConfigError(f"topology {t} does not exist; choose from 1-8")
    for m in methods:
        if m not in METHODS:
            raise ConfigError(f"unknown method {m!r}; choose from {','.join(METHODS)}")
    ks = tuple(ks) if ks is not None else prof.k_values
    members: list[Member] = []
    for seed in seeds:
        n_folds = len(dataset_folds(dataset, root, prof.name, seed))
        for fold in range(n_folds) if folds is None else folds:
            if not 0 <= fold < n_folds:
                raise ConfigError(f"fold {fold} does not exist: {dataset} has {n_folds} folds "
                                  f"in profile {prof.name}; choose from 0-{n_folds - 1}")
            for inp in inputs:
                for topology in topologies:
                    for method in methods:
                        loss, optimizer = METHODS[method]
                        members.extend(
                            Member(dataset=dataset, fold=fold, input=inp, topology=topology,
                                   loss=loss, optimizer=optimizer, space=space, k=k,
                                   seed=seed, profile=prof.name)
                            for k in ks for space in spaces
                        )
    return members


def pending(members: Sequence[Member], store: ResultsStore, *, options: Options = DEFAULT_OPTIONS,
            root: str | None = None) -> list[Member]:
    """The members whose result is not (validly) in ``store``."""
    def key(m: Member) -> str:
        fingerprint = dataset_fingerprint(m.dataset, root, m.profile, m.seed)
        return member_key(m, options, get_profile(m.profile), fingerprint)

    return [m for m in members if store.get(key(m)) is None]


def with_switches(profile: str, *, amp: str | None = None, tf32: bool = False,
                  channels_last: bool = False) -> str:
    """Register ``profile`` with the GPU speed switches on and return its name.

    The name says which switches are on (``paper+bf16+tf32``), so tables never mistake such
    results for float32 ones; with every switch off it is ``profile`` itself.
    """
    prof = get_profile(profile)
    tags = [t for t, on in ((amp, bool(amp)), ("tf32", tf32), ("nhwc", channels_last)) if on]
    if not tags:
        return prof.name
    name = "+".join([prof.name, *tags])
    PROFILES[name] = prof.with_(name=name, amp=amp or prof.amp, tf32=tf32 or prof.tf32,
                                channels_last=channels_last or prof.channels_last)
    return name


def describe(unit: Unit) -> str:
    """One line naming the network a unit trains and the members it builds."""
    m = unit.base
    return (f"{m.dataset} fold {m.fold} {m.input} topology {m.topology} {m.method} "
            f"seed {m.seed} [{m.profile}] k={','.join(map(str, unit.ks))} "
            f"spaces={','.join(unit.spaces)}")


# ---------------------------------------------------------------------------------------------
# running a grid
# ---------------------------------------------------------------------------------------------
@dataclass
class GridReport:
    """What a grid run did: counts, the failed units with their tracebacks, wall time."""

    members: int = 0
    reused: int = 0
    networks: int = 0
    stored: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def returncode(self) -> int:
        return 1 if self.failures else 0

    def summary(self) -> str:
        line = (f"{self.members} members: {self.reused} reused from the store, {self.stored} "
                f"computed by {self.networks - len(self.failures)} networks "
                f"in {self.seconds:.1f} s")
        if self.failures:
            line += (f"; {len(self.failures)} of {self.networks} networks failed; "
                     "see above")
        return line


def run_grid(
    members: Sequence[Member],
    store: ResultsStore,
    *,
    executor: str = "local",
    options: Options = DEFAULT_OPTIONS,
    root: str | None = None,
    device: str | None = None,
    threads: int | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    stream: TextIO | None = None,
) -> GridReport:
    """Compute every member of ``members`` not yet in ``store`` and store it.

    Parameters
    ----------
    executor : {"local", "dask"}
        Run the units in this process, or on Dask distributed: the scheduler at ``scheduler``
        (else at ``DASK_SCHEDULER_ADDRESS``), else a new ``LocalCluster`` of ``workers``
        single-task workers (default: Dask's split of the cores, one per GPU on CUDA).
    threads : int, optional
        Torch and BLAS threads per unit. Default: torch's own (local, remote scheduler), the
        cores per worker (``LocalCluster``). Equal ``threads`` give bit-identical scores.
    device : str, optional
        ``cpu``, ``cuda``, ``cuda:1``; default CUDA where present. Dask tasks on CUDA request
        one ``GPU`` resource, so workers must advertise it (``dask worker --resources GPU=1``).
    stream : text file, optional
        Where failures (configuration and traceback) are written; default ``sys.stderr``.
    """
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; choose local or dask")
    stream = stream or sys.stderr
    start = time.perf_counter()
    store.clean_tmp()  # temporary files of writes killed long ago
    todo = pending(members, store, options=options, root=root)
    units = group_units(todo)
    report = GridReport(members=len(members), reused=len(members) - len(todo),
                        networks=len(units))

    def done(unit: Unit, entries: list[Entry]) -> None:
        wanted = set(unit.members)  # a unit may build siblings already stored: leave those
        for e in entries:
            if e.member in wanted:
                store.put(e.key, e.scores, e.y_true, e.test_index, e.meta)
                report.stored += 1

    def failed(unit: Unit, tb: str) -> None:
        from tqdm import tqdm

        report.failures.append((describe(unit), tb))
        tqdm.write(f"dissim: network failed: {describe(unit)}\n{tb.rstrip()}", file=stream)

    run_units(units, done, failed, executor=executor, options=options, root=root,
              device=device, threads=threads, scheduler=scheduler, workers=workers,
              progress=progress, stream=stream)
    report.seconds = time.perf_counter() - start
    return report


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
def add_parser(sub) -> None:
    """Add ``dissim grid`` to the CLI's subparsers."""
    from dissim.cli import DEFAULT_RESULTS
    from dissim.profiles import PROFILES

    p = sub.add_parser(
        "grid", help="run a grid of members (sequentially or on Dask), skipping stored ones",
        description="Expand a grid of members, skip those already in the results store and "
                    "train the rest, one network per unit. Exit status 1 if any network failed.",
    )
    p.add_argument("--dataset", default=None, help="data set name (default: the embedded one)")
    p.add_argument("--root", default=None, help="folder holding the data set (on every worker)")
    p.add_argument("--profile", default="quick", choices=sorted(PROFILES))
    p.add_argument("--topologies", default="1-8", help="e.g. 1-8 or 1,3,7 (default 1-8)")
    p.add_argument("--methods", default=",".join(METHODS),
                   help=f"comma list of {','.join(METHODS)} (default: all)")
    p.add_argument("--spaces", default=",".join(SPACE_NAMES), help="fully,deeper (default)")
    p.add_argument("--k", default=None, help="prototypes per class, e.g. 15,30 "
                   "(default: the profile's k values)")
    p.add_argument("--inputs", default="orig", help="orig,hasc (default orig)")
    p.add_argument("--folds", default=None, help="e.g. 0-4 (default: every fold of the profile)")
    p.add_argument("--seeds", default="0", help="e.g. 0-2 (default 0)")
    p.add_argument("--results", default=DEFAULT_RESULTS, help="results store folder")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if present)")
    p.add_argument("--amp", default=None, choices=("bf16",),
                   help="train under bfloat16 autocast (profile name gets +bf16)")
    p.add_argument("--tf32", action="store_true", help="allow TensorFloat-32 on CUDA (+tf32)")
    p.add_argument("--channels-last", action="store_true", help="NHWC training (+nhwc)")
    p.add_argument("--executor", default="local", choices=EXECUTORS)
    p.add_argument("--scheduler", default=None, help="Dask scheduler address (default: env "
                   "DASK_SCHEDULER_ADDRESS, else a LocalCluster)")
    p.add_argument("--workers", type=int, default=None,
                   help="LocalCluster workers (default: one per GPU, else Dask's split)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch/BLAS threads per network (default: the cores per worker)")
    p.add_argument("--dry-run", action="store_true", help="count the work and stop")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.set_defaults(func=_cmd_grid)


def _cmd_grid(args) -> int:
    from dissim import validate
    from dissim.data import DEFAULT_DATASET

    validate.grid_args(args)
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads must be >= 1; got {args.threads}")
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be >= 1; got {args.workers}")
    if args.executor == "local" and (args.scheduler or args.workers):
        raise ConfigError("--scheduler and --workers need --executor dask")
    profile = with_switches(args.profile, amp=args.amp, tf32=args.tf32,
                            channels_last=args.channels_last)
    members = expand(
        args.dataset or DEFAULT_DATASET, profile,
        topologies=parse_ints(args.topologies, "topologies"),
        methods=parse_names(args.methods, tuple(METHODS), "methods"),
        spaces=parse_names(args.spaces, SPACE_NAMES, "spaces"),
        ks=parse_ints(args.k, "k") if args.k else None,
        inputs=parse_names(args.inputs, INPUTS, "inputs"),
        folds=parse_ints(args.folds, "folds") if args.folds else None,
        seeds=parse_ints(args.seeds, "seeds"), root=args.root,
    )
    store = ResultsStore(args.results)
    if args.dry_run:
        todo = pending(members, store, root=args.root)
        print(f"{len(members)} members, {len(members) - len(todo)} in {args.results}; "
              f"{len(group_units(todo))} networks to train")
        return 0
    report = run_grid(members, store, executor=args.executor, root=args.root,
                      device=args.device, threads=args.threads, scheduler=args.scheduler,
                      workers=args.workers, progress=args.progress)
    print(report.summary(), file=sys.stderr if report.failures else sys.stdout)
    return report.returncode
