"""The one orchestrator: expand members, find what is missing, run it, store it (book: Scale).

Every entry point (``dissim run``, ``dissim grid``, the book's notebooks) goes through
:func:`run`:

1. :func:`expand` (or :meth:`Run.members`) lists the members of a grid;
2. :func:`missing` keeps those whose result is not (validly) in the store;
3. :func:`~dissim.pipeline.experiment.group_units` groups them into units (one network each);
4. an executor (:mod:`dissim.pipeline.executors`: this process or Dask) computes each unit with
   the pure :func:`~dissim.pipeline.experiment.compute_unit`; this process, which owns the
   store, takes the network's store lock before the unit starts, reads the store again under
   it (another run may have stored the members meanwhile), and writes each entry atomically
   as soon as its unit finishes.

So two runs sharing a store (two grids, a grid and a notebook) never train one network twice,
and a run killed at any moment resumes where it stopped. A failed unit is reported in one line,
its configuration and the error's one-line message (:func:`dissim.errors.describe`; the
traceback too under ``--debug`` or ``DISSIM_DEBUG=1``), and does not stop the others
(:func:`ensure` raises instead); :meth:`Report.error` is the run's one error line.

Scores are bit-identical across executors for the same ``threads`` (torch and BLAS threads per
training task; on the CPU, convolutions and k-means sum in a thread-dependent order).

>>> members = expand("textures", "smoke", topologies=[7], methods=["cross"], folds=[0])
>>> len(members), len(group_units(members))
(4, 1)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import TextIO

from tqdm import tqdm

from dissim.errors import USER_ERROR, ConfigError, DissimError, debug_enabled, one_line
from dissim.errors import describe as describe_error
from dissim.pipeline import validate
from dissim.pipeline.cnn import CNNMember, ensure_cnn_members
from dissim.pipeline.executors import Executor, LocalExecutor, UnitTask
from dissim.pipeline.experiment import (
    DEFAULT_OPTIONS,
    METHODS,
    SPACE_NAMES,
    Entry,
    Member,
    Options,
    Unit,
    dataset_of,
    fold_of,
    folds_of,
    group_units,
    key_of,
    network_lock_name,
)
from dissim.pipeline.member import Trainer
from dissim.pipeline.store import DEFAULT_RESULTS, Result, ResultsStore
from dissim.profiles import Profile, with_switches
from dissim.profiles import get as get_profile
from dissim.topologies import available as available_topologies
from dissim.train import train_siamese

__all__ = [
    "ABLATIONS", "PIXEL_TOPOLOGY", "Failure", "NetworkFailed", "Report", "Run", "controls_of",
    "describe", "ensure",
    "ensure_ablation", "ensure_cnns", "ensure_member", "ensure_members", "expand", "group_units",
    "missing", "run", "with_switches",
]


# ---------------------------------------------------------------------------------------------
# members
# ---------------------------------------------------------------------------------------------
def expand(
    dataset: str,
    profile: str | Profile,
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
    known = available_topologies()
    for t in topologies:
        if t not in known:
            raise ConfigError(f"topology {t} does not exist; choose from "
                              f"{min(known)}-{max(known)}")
    for m in methods:
        if m not in METHODS:
            raise ConfigError(f"unknown method {m!r}; choose from {','.join(METHODS)}")
    ks = tuple(ks) if ks is not None else prof.k_values
    members: list[Member] = []
    for seed in seeds:
        n_folds = len(folds_of(Member(dataset=dataset, seed=seed, profile=prof), root))
        for fold in range(n_folds) if folds is None else folds:
            if not 0 <= fold < n_folds:
                raise ConfigError(f"fold {fold} does not exist: {dataset} has {n_folds} folds "
                                  f"in profile {prof.name}; choose from 0-{n_folds - 1}")
            _check_k(Member(dataset=dataset, fold=fold, seed=seed, profile=prof), ks, root)
            for inp in inputs:
                for topology in topologies:
                    for method in methods:
                        loss, optimizer = METHODS[method]
                        members.extend(
                            Member(dataset=dataset, fold=fold, input=inp, topology=topology,
                                   loss=loss, optimizer=optimizer, space=space, k=k,
                                   seed=seed, profile=prof)
                            for k in ks for space in spaces
                        )
    return members


def _check_k(member: Member, ks: Sequence[int], root: str | None) -> None:
    """Refuse, before any training, a k that a class of the member's fold cannot support
    (k prototypes per class need k training images of that class; Section 2.2.1)."""
    if not ks:
        return
    ds = dataset_of(member, root)
    train_index, _ = fold_of(member, root)
    validate.k_supported(ks, ds.labels[train_index], ds.classes, member.fold,
                         member.profile.name)


#: The pixel control's key names this topology, whose input side it takes (book: Training
#: health): one pixel control per fold and k whichever topologies a grid runs, so grids that
#: split the topologies of one data set (1-4, then 5-8) compute and store it once.
PIXEL_TOPOLOGY = 1


def controls_of(members: Iterable[Member]) -> list[Member]:
    """The controls of a grid (book: Training health), on its folds and k values: the untrained
    network in the Cross configuration of each topology of ``members`` (FULLY and DEEPER), and
    the pixels (no network) at :data:`PIXEL_TOPOLOGY`'s input side. A grid of any method has
    them (a Triplet-only grid the same ones as a Cross grid of its topologies), so a grid split
    by method over two commands gets its controls from either."""
    cross = {replace(m, loss="cross", optimizer="adam"): None
             for m in members if m.encoder == "trained"}
    pixels = {replace(m, encoder="pixels", topology=PIXEL_TOPOLOGY): None for m in cross}
    return [replace(m, encoder="untrained") for m in cross] + list(pixels)


def missing(members: Iterable[Member], store: ResultsStore, *, options: Options = DEFAULT_OPTIONS,
            root: str | None = None) -> list[Member]:
    """The members whose result is not (validly) in ``store``."""
    return [m for m in members if store.get(key_of(m, options, root)) is None]


def describe(unit: Unit) -> str:
    """One line naming the network a unit trains and the members it builds."""
    m = unit.base
    return (f"{m.dataset} fold {m.fold} {m.input} topology {m.topology} {m.method} "
            f"seed {m.seed} [{m.profile.name}] k={','.join(map(str, unit.ks))} "
            f"spaces={','.join(unit.spaces)}")


# ---------------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Failure:
    """A failed unit: the network (:func:`describe`), the error's one-line message and exit
    status (:func:`dissim.errors.describe`: 2 for a user error) and its traceback."""

    network: str
    message: str
    status: int
    traceback: str


class NetworkFailed(Exception):
    """Networks of a run failed on something other than a user error (an internal error)."""


@dataclass
class Report:
    """What a run did: counts, the failed units, wall time."""

    members: int = 0
    reused: int = 0
    networks: int = 0
    stored: int = 0
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    def error(self) -> Exception:
        """The run's failure as one exception for the command line's boundary: a
        :class:`~dissim.errors.DissimError` (exit status 2) when every failed network failed
        on a user error, else :class:`NetworkFailed` (an internal error, status 1)."""
        n = f"{len(self.failures)} of {self.networks} networks failed"
        first = self.failures[0]
        if all(f.status == USER_ERROR for f in self.failures):
            return DissimError(f"{n} (the first: {first.network}): {first.message}; fix it and "
                               "run the grid again (stored members are reused)")
        internal = next(f for f in self.failures if f.status != USER_ERROR)
        return NetworkFailed(f"{n} (the first on an internal error: {internal.network}): "
                             f"{internal.message.removeprefix('internal error: ')}")

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


def run(
    members: Sequence[Member],
    store: ResultsStore,
    *,
    executor: Executor | None = None,
    task: UnitTask | None = None,
    stream: TextIO | None = None,
) -> Report:
    """Compute every member of ``members`` not yet in ``store`` and store it.

    Parameters
    ----------
    executor : Executor, optional
        Where units run (:mod:`dissim.pipeline.executors`); default this process.
    task : UnitTask, optional
        What runs for each unit: options, data root, device, threads per unit and the trainer.
    stream : text file, optional
        Where failures are written, one line each (the traceback too when debugging:
        :func:`dissim.errors.debug_enabled`); default ``sys.stderr``.
    """
    executor = executor or LocalExecutor()
    task = task or UnitTask()
    stream = stream or sys.stderr
    start = time.perf_counter()
    store.clean_tmp()  # temporary files of writes killed long ago
    todo = missing(members, store, options=task.options, root=task.root)
    units = group_units(todo)
    report = Report(members=len(members), reused=len(members) - len(todo), networks=len(units))
    locks: dict[int, ExitStack] = {}

    def prepare(unit: Unit) -> Unit | None:
        """Lock the unit's network, then keep only the members still missing."""
        stack = ExitStack()
        stack.enter_context(store.lock(network_lock_name(unit, task.options, task.root)))
        still = missing(unit.members, store, options=task.options, root=task.root)
        if not still:
            stack.close()
            report.reused += len(unit.members)
            return None
        if len(still) < len(unit.members):
            report.reused += len(unit.members) - len(still)
            unit = replace(unit, members=still)
        locks[id(unit)] = stack
        return unit

    def release(unit: Unit) -> None:
        locks.pop(id(unit)).close()

    def done(unit: Unit, entries: list[Entry]) -> None:
        wanted = set(unit.members)  # a unit may build siblings already stored: leave those
        try:
            for e in entries:
                if e.member in wanted:
                    store.put(e.key, e.scores, e.y_true, e.test_index, e.meta)
                    report.stored += 1
        finally:
            release(unit)

    def failed(unit: Unit, exc: BaseException, tb: str) -> None:
        release(unit)
        message, status = describe_error(exc)
        if status != USER_ERROR:  # the hint to rerun with --debug comes with the run's error
            message = f"internal error: {type(exc).__name__}: {one_line(str(exc))}"
        report.failures.append(Failure(describe(unit), message, status, tb))
        shown = f"{tb.rstrip()}\n" if debug_enabled() else ""
        tqdm.write(f"{shown}dissim: network failed: {describe(unit)}: {message}", file=stream)

    try:
        executor.run(units, task, prepare, done, failed)
    finally:
        for stack in locks.values():
            stack.close()
    report.seconds = time.perf_counter() - start
    return report


def ensure_members(members: Sequence[Member], store: ResultsStore, *,
                   options: Options = DEFAULT_OPTIONS, root: str | None = None, device=None,
                   progress: bool = True, trainer: Trainer = train_siamese
                   ) -> dict[Member, Result]:
    """The result of every member, computing (in this process) only those ``store`` lacks.

    A failing member raises its error here (one line for a user error). ``trainer`` is the
    pipeline's training step (:func:`dissim.pipeline.member.fit_unit`).
    """
    task = UnitTask(options=options, root=root, device=device, trainer=trainer)
    run(members, store, executor=LocalExecutor(progress=progress, raise_errors=True), task=task,
        stream=_Silent())
    out = {}
    for m in members:
        hit = store.get(key_of(m, task.options, task.root))
        if hit is None:  # pragma: no cover - written above or raised
            raise ConfigError(f"member {m} was not stored")
        out[m] = hit
    return out


def ensure_member(member: Member, store: ResultsStore, **kw) -> Result:
    """The result of one member (see :func:`ensure_members`)."""
    return ensure_members([member], store, **kw)[member]


class _Silent:
    """A text stream that drops what it is given (errors are raised instead)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


# ---------------------------------------------------------------------------------------------
# what a page of the book needs
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """Which results a page is built from: data set, profile, seed and where they live."""

    dataset: str
    profile: str = "quick"
    seed: int = 0
    results_dir: str = DEFAULT_RESULTS
    data_root: str | None = None
    inputs: tuple[str, ...] = ("orig",)
    options: Options = DEFAULT_OPTIONS
    k_values: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.inputs, str):  # "orig+hasc", as a papermill parameter
            object.__setattr__(self, "inputs", tuple(self.inputs.split("+")))
        if isinstance(self.k_values, int):  # "-p k_values 8": papermill makes it an int
            object.__setattr__(self, "k_values", (self.k_values,))
        if isinstance(self.k_values, str):  # "2,4,6,8", as a papermill parameter
            try:
                ks = tuple(int(k) for k in self.k_values.split(",") if k.strip())
            except ValueError:
                raise ConfigError(f"k_values must be integers separated by commas, e.g. "
                                  f"2,4,6,8; got {self.k_values!r}") from None
            object.__setattr__(self, "k_values", ks or None)
        if self.k_values is not None and any(k < 1 for k in self.k_values):
            raise ConfigError(f"k_values must be >= 1 prototype per class; got "
                              f"{self.k_values!r}")

    @property
    def ks(self) -> tuple[int, ...]:
        """The k values of the page: ``k_values``, or the profile's."""
        return tuple(self.k_values) if self.k_values else self.prof.k_values

    @property
    def prof(self) -> Profile:
        return get_profile(self.profile)

    @property
    def store(self) -> ResultsStore:
        return ResultsStore(self.results_dir)

    def folds(self) -> list[int]:
        member = Member(dataset=self.dataset, seed=self.seed, profile=self.prof)
        return list(range(len(folds_of(member, self.data_root))))

    def members(self, topologies: Iterable[int], methods: Iterable[str]) -> list[Member]:
        """Every member of the grid (folds x inputs x topologies x methods x spaces x k)."""
        return expand(self.dataset, self.prof, topologies=tuple(topologies),
                      methods=tuple(methods), ks=self.ks, inputs=self.inputs,
                      seeds=(self.seed,), root=self.data_root)

    def control_members(self, topologies: Iterable[int]) -> list[Member]:
        """The controls of a page (book: Training health), on the same folds and k values:
        the untrained network of each topology in the Cross configuration (FULLY and DEEPER),
        and the pixels (no network) at :data:`PIXEL_TOPOLOGY`'s input side."""
        return controls_of(self.members(topologies, ("cross",)))

    def cnn_members(self) -> list[CNNMember]:
        """The profile's eCNN members on every fold."""
        return [CNNMember(self.dataset, fold, cnn, self.seed, self.prof)
                for fold in self.folds() for cnn in self.prof.cnns]

    def caption(self) -> str:
        """Who produced the numbers: shown under every table."""
        prof = self.prof
        nets = "one network per k" if prof.one_net_per_k else "one network shared by all k"
        n = len(self.folds())
        spread = ("mean ± standard deviation over folds" if n > 1
                  else "one fold, so no spread over folds")
        return (f"Ours: data set `{self.dataset}`, profile `{self.profile}` "
                f"({prof.input_size} px or the topology's minimum, {prof.iterations} iterations, "
                f"batch {prof.batch_size}, k = {', '.join(map(str, self.ks))}, {nets}), "
                f"inputs {' + '.join(self.inputs)}, seed {self.seed}, {n} fold"
                f"{'s' if n != 1 else ''}; {spread}.")


def ensure(run_: Run, topologies: Iterable[int], methods: Iterable[str], *, device=None,
           progress: bool = True) -> dict[Member, Result]:
    """All Siamese results of a page's grid, computing (and storing) the missing ones."""
    return ensure_members(run_.members(topologies, methods), run_.store, options=run_.options,
                          root=run_.data_root, device=device, progress=progress)


def ensure_controls(run_: Run, topologies: Iterable[int], *, device=None,
                    progress: bool = True) -> dict[Member, Result]:
    """The untrained-network and pixel controls of a page (:meth:`Run.control_members`)."""
    return ensure_members(run_.control_members(topologies), run_.store, options=run_.options,
                          root=run_.data_root, device=device, progress=progress)


def ensure_cnns(run_: Run, *, device=None, progress: bool = True) -> dict:
    """The profile's eCNN members of a page on every fold (fine-tuned or reused)."""
    return ensure_cnn_members(run_.cnn_members(), run_.store, root=run_.data_root, device=device,
                       progress=progress)


#: Each ablation of the Assumptions page: option -> (values, methods it concerns).
ABLATIONS: dict[str, tuple[tuple, tuple[str, ...]]] = {
    "triplet_form": (("printed", "conventional"), ("triplet",)),
    "svm_scaling": (("none", "minmax", "standard"), ("cross",)),
    "per_class": ((True, False), ("cross",)),
    "cluster_space": (("pixel", "feature"), ("cross",)),
    "pixel_range": (("0-255", "unit"), ("cross",)),
    "normalization": (("zerocenter", "none"), ("cross",)),
    "input": (("orig", "hasc"), ("cross",)),
    "sampler": (("pairs", "batch"), ("cross", "triplet")),
}


def ensure_ablation(run_: Run, option: str, values=None, methods=None, topology: int = 1, *,
                    device=None, progress: bool = True) -> dict[str, dict[Member, Result]]:
    """The results of each value of one open choice (book: Assumptions): ``{value: results}``.

    ``option`` is a field of :class:`~dissim.pipeline.member.Options` or ``"input"`` (orig vs
    HASC images).
    """
    if option not in ABLATIONS:
        raise ConfigError(f"unknown ablation {option!r}; choose from {', '.join(ABLATIONS)}")
    default_values, default_methods = ABLATIONS[option]
    out = {}
    for value in values or default_values:
        if option == "input":
            r = replace(run_, inputs=(value,))
        else:
            r = replace(run_, options=replace(run_.options, **{option: value}))
        out[str(value)] = ensure(r, [topology], methods or default_methods, device=device,
                                 progress=progress)
    return out
