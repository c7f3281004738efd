"""``dissim run``, ``dissim grid`` and ``dissim results``: the runner on the command line.

Both ``run`` (one member) and ``grid`` (many) go through :func:`dissim.pipeline.runner.run`:
one way to expand members, find the missing ones, lock their networks and store them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from dissim.baselines import available as cnn_names
from dissim.cli import results
from dissim.cli.lists import ints, names, parse_ints, parse_names
from dissim.data import DEFAULT_DATASET
from dissim.errors import ConfigError
from dissim.optim import NAMES as OPTIMIZERS
from dissim.pipeline import runner, validate
from dissim.pipeline.cnn import CNNMember, cnn_key, ensure_cnn_members
from dissim.pipeline.executors import EXECUTORS, UnitTask, executor, limit_threads
from dissim.pipeline.experiment import (
    INPUTS,
    METHODS,
    SPACE_NAMES,
    Member,
    Options,
    fingerprint_of,
    key_of,
)
from dissim.pipeline.store import DEFAULT_RESULTS, ResultsStore
from dissim.profiles import PROFILES, default_amp
from dissim.profiles import get as get_profile
from dissim.topologies import available as available_topologies
from dissim.train import LOSSES, default_device, resolve_amp

__all__ = ["add_parsers", "parse_ints", "parse_names"]  # the list grammar: dissim.cli.lists


def _topology_range() -> str:
    known = available_topologies()
    return f"{min(known)}-{max(known)}"


# ---------------------------------------------------------------------------------------------
# dissim run
# ---------------------------------------------------------------------------------------------
def _add_run(sub) -> None:
    p = sub.add_parser("run", help="run (or reuse) one member and print its accuracy")
    p.add_argument("--dataset", default=None, help="data set name (default: the embedded "
                   "one); 'folder' for any tree of class folders given by --root")
    p.add_argument("--root", default=None, help="folder holding the data set (paper sets, "
                   "'folder')")
    p.add_argument("--profile", default="quick", choices=sorted(PROFILES))
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--input", default="orig", choices=INPUTS)
    p.add_argument("--topology", type=int, default=1, choices=available_topologies(),
                   metavar=_topology_range())
    p.add_argument("--loss", default="cross", choices=LOSSES)
    p.add_argument("--optimizer", default="adam", choices=OPTIMIZERS)
    p.add_argument("--space", default="fully", choices=SPACE_NAMES)
    p.add_argument("--k", type=int, default=None, help="prototypes per class (default: the "
                   "profile's first k)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--results", default=DEFAULT_RESULTS, help="results store folder")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if present)")
    p.set_defaults(func=_cmd_run)


def _cmd_run(args) -> int:
    validate.run_args(args)
    prof = get_profile(args.profile)
    k = args.k if args.k is not None else prof.k_values[0]
    member = Member(
        dataset=args.dataset or DEFAULT_DATASET, fold=args.fold, input=args.input,
        topology=args.topology, loss=args.loss, optimizer=args.optimizer, space=args.space,
        k=k, seed=args.seed, profile=prof,
    )
    validate.member_data(member, args.root)  # data and folds before the store is touched
    store = ResultsStore(args.results)
    if store.get(key_of(member, Options(), args.root)) is None:
        validate.results_store(args.results)  # a read-only store serves a stored member
    result = runner.ensure_members([member], store, root=args.root, device=args.device)[member]
    t = result.meta.get("timings", {})
    print(f"{member.dataset} fold {member.fold} {member.input} topology {member.topology} "
          f"{member.method} {member.space} k={member.k} seed {member.seed} "
          f"[{prof.name}]: accuracy {100 * result.accuracy:.2f}% "
          f"(train {t.get('train_seconds', 0):.1f} s)")
    print(f"stored: {store.path(key_of(member, Options(), args.root))}")
    return 0


# ---------------------------------------------------------------------------------------------
# dissim results
# ---------------------------------------------------------------------------------------------
def _add_results(sub) -> None:
    p = sub.add_parser("results", help="inspect the results store")
    rs = p.add_subparsers(dest="results_cmd", required=True)
    ls = rs.add_parser("ls", help="list stored members")
    ls.add_argument("--results", default=DEFAULT_RESULTS)
    ls.set_defaults(func=_cmd_results_ls)
    results.add_parsers(rs)  # export, import: result snapshots


def _cmd_results_ls(args) -> int:
    validate.results_ls_args(args)
    table = ResultsStore(args.results).table()
    if table.empty:
        print(f"no results in {args.results}")
        return 0
    cols = [c for c in ("key", "dataset", "fold", "input", "topology", "loss", "optimizer",
                        "space", "k", "seed", "profile", "accuracy", "train_seconds")
            if c in table]
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


# ---------------------------------------------------------------------------------------------
# dissim grid
# ---------------------------------------------------------------------------------------------
def _add_grid(sub) -> None:
    p = sub.add_parser(
        "grid", help="run a grid of members (sequentially or on Dask), skipping stored ones",
        description="Expand a grid of members, skip those already in the results store and "
                    "train the rest, one network per unit. A failed network is one line and "
                    "does not stop the others; exit status 2 if every failure was a user "
                    "error, else 1.",
    )
    p.add_argument("--dataset", default=None, help="data set name (default: the embedded one)")
    p.add_argument("--root", default=None, help="folder holding the data set (on every worker)")
    p.add_argument("--profile", default="quick", choices=sorted(PROFILES))
    p.add_argument("--topologies", default=_topology_range(), type=ints(available_topologies()),
                   metavar="LIST", help=f"e.g. {_topology_range()} or 1,3,7 (default: all)")
    p.add_argument("--methods", default=",".join(METHODS), type=names(METHODS), metavar="LIST",
                   help=f"comma list of {','.join(METHODS)} (default: all)")
    p.add_argument("--spaces", default=",".join(SPACE_NAMES), type=names(SPACE_NAMES),
                   metavar="LIST", help="fully,deeper (default)")
    p.add_argument("--k", default=None, type=ints(), metavar="LIST",
                   help="prototypes per class, e.g. 15,30 (default: the profile's k values)")
    p.add_argument("--inputs", default="orig", type=names(INPUTS), metavar="LIST",
                   help=f"{','.join(INPUTS)} (default orig)")
    p.add_argument("--folds", default=None, type=ints(), metavar="LIST",
                   help="e.g. 0-4 (default: every fold of the profile)")
    p.add_argument("--seeds", default="0", type=ints(), metavar="LIST",
                   help="e.g. 0-2 (default 0)")
    p.add_argument("--results", default=DEFAULT_RESULTS, help="results store folder")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if present)")
    p.add_argument("--amp", default=None, choices=("float32", "bf16", "auto"),
                   help="training arithmetic, as for fit and evaluate: bf16 trains under "
                   "bfloat16 autocast (profile name gets +bf16); auto is bf16 with "
                   "channels-last (+bf16+nhwc) where this machine's --device computes bfloat16 "
                   "in hardware, else float32 (default: auto for --profile large, else "
                   "float32, the arithmetic the stored results' keys name)")
    p.add_argument("--tf32", action="store_true", help="allow TensorFloat-32 on CUDA (+tf32)")
    p.add_argument("--channels-last", action="store_true", help="NHWC training (+nhwc)")
    p.add_argument("--executor", default="local", choices=EXECUTORS)
    p.add_argument("--scheduler", default=None, help="Dask scheduler address (default: env "
                   "DASK_SCHEDULER_ADDRESS, else a LocalCluster)")
    p.add_argument("--workers", type=int, default=None,
                   help="LocalCluster workers (default: one per GPU, else Dask's split)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch/BLAS threads per network (default: the cores per worker)")
    p.add_argument("--controls", action="store_true", help="also the controls: each "
                   "topology's untrained network (Cross) and the pixels, on the same folds and k")
    p.add_argument("--cnns", default=None, type=names((*cnn_names(), "profile")),
                   metavar="LIST", help="also fine-tune these CNNs on the same folds (comma "
                   "list, or 'profile' for the profile's eCNN members)")
    p.add_argument("--frozen-cnns", default=None, type=names((*cnn_names(), "profile")),
                   metavar="LIST", help="also the frozen reference of these CNNs on the same "
                   "folds: ImageNet features, no fine-tuning, through a standardised RBF SVM")
    p.add_argument("--dry-run", action="store_true", help="count the work and stop")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.set_defaults(func=_cmd_grid)


def _absolute(path: str | None) -> str | None:
    """``path`` made absolute (``~`` expanded) here: a Dask worker runs in a folder of its
    own, where a relative path names nothing (book: Scale)."""
    return None if path is None else str(Path(path).expanduser().absolute())


def _cmd_grid(args) -> int:
    validate.grid_args(args)
    if args.executor == "dask":  # paths shipped to the workers
        args.root, args.results = _absolute(args.root), _absolute(args.results)
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads must be >= 1; got {args.threads}")
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be >= 1; got {args.workers}")
    where = executor(args.executor, scheduler=args.scheduler, workers=args.workers,
                     progress=args.progress)
    args.amp = args.amp or default_amp(args.profile)
    amp = resolve_amp(None if args.amp == "float32" else args.amp,
                      args.device or default_device())
    profile = runner.with_switches(args.profile, amp=amp, tf32=args.tf32,
                                   channels_last=args.channels_last
                                   or (args.amp == "auto" and amp == "bf16"))
    members = runner.expand(
        args.dataset or DEFAULT_DATASET, profile,
        topologies=args.topologies, methods=args.methods, spaces=args.spaces, ks=args.k,
        inputs=args.inputs, folds=args.folds, seeds=args.seeds, root=args.root,
    )
    if args.controls:
        members += runner.controls_of(members)
    cnns = _cnn_members(args.cnns, members, profile)
    frozen = _cnn_members(args.frozen_cnns, members, profile, frozen=True)
    store = ResultsStore(args.results)
    if args.dry_run:
        todo = runner.missing(members, store, root=args.root)

        def missing(ms):
            return sum(store.get(cnn_key(m, fingerprint_of(m, args.root))) is None for m in ms)

        print(f"{len(members)} members, {len(members) - len(todo)} in {args.results}; "
              f"{len(runner.group_units(todo))} networks to train"
              + (f"; {missing(cnns)} of {len(cnns)} CNNs to fine-tune" if cnns else "")
              + (f"; {missing(frozen)} of {len(frozen)} frozen CNN references to fit"
                 if frozen else ""))
        return 0
    if runner.missing(members, store, root=args.root) or any(
            store.get(cnn_key(m, fingerprint_of(m, args.root))) is None
            for m in [*cnns, *frozen]):
        validate.results_store(args.results)  # a read-only store serves a finished grid
    task = UnitTask(root=args.root, device=args.device, threads=args.threads)
    report = runner.run(members, store, executor=where, task=task)
    print(report.summary(), file=sys.stderr if report.failures else sys.stdout)
    if report.failures:
        raise report.error()  # one dissim: error: line (exit 2 for a user error, else 1)
    if cnns or frozen:
        with limit_threads(args.threads):
            ensure_cnn_members([*cnns, *frozen], store, root=args.root, device=args.device,
                               progress=args.progress)
        print(f"{len(cnns) + len(frozen)} CNN members in {args.results}"
              + (f" ({len(frozen)} frozen references)" if frozen else ""))
    return 0


def _cnn_members(cnns: Sequence[str] | None, members: Sequence[Member],
                 profile, *, frozen: bool = False) -> list[CNNMember]:
    """``--cnns`` (``--frozen-cnns``): the CNN members on the folds (and seeds) of
    ``members``; ``profile`` among them stands for the profile's eCNN members."""
    if not cnns:
        return []
    chosen = list(dict.fromkeys(c for name in cnns
                                for c in (profile.cnns if name == "profile" else (name,))))
    runs = sorted({(m.dataset, m.seed, m.fold) for m in members})
    return [CNNMember(d, fold, cnn, seed, profile, frozen) for d, seed, fold in runs
            for cnn in chosen]


def add_parsers(sub) -> None:
    """Add ``run``, ``grid`` and ``results`` to the CLI's subparsers."""
    _add_run(sub)
    _add_results(sub)
    _add_grid(sub)
