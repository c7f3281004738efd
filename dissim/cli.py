"""The ``dissim`` command line.

    dissim data list | info NAME | check NAME --root DIR | fetch NAME
    dissim run --dataset NAME --profile quick --topology 1 --loss cross --optimizer adam \\
               --space fully --k 15 --fold 0
    dissim results ls [--results DIR]

Every user error is one line on stderr, ``dissim: error: <what and how to fix>``, exit status 2;
an internal error is one line too (exit status 1); ``--debug`` shows the traceback
(:mod:`dissim.boundary`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from dissim import validate

DEFAULT_RESULTS = os.environ.get("DISSIM_RESULTS", "results")


def _add_run(sub) -> None:
    from dissim.experiment import INPUTS, SPACE_NAMES
    from dissim.profiles import PROFILES

    p = sub.add_parser("run", help="run (or reuse) one member and print its accuracy")
    p.add_argument("--dataset", default=None, help="data set name (default: the embedded "
                   "one); 'folder' for any tree of class folders given by --root")
    p.add_argument("--root", default=None, help="folder holding the data set (paper sets, "
                   "'folder')")
    p.add_argument("--profile", default="quick", choices=sorted(PROFILES))
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--input", default="orig", choices=INPUTS)
    p.add_argument("--topology", type=int, default=1, choices=range(1, 9), metavar="1-8")
    p.add_argument("--loss", default="cross", choices=("cross", "triplet"))
    p.add_argument("--optimizer", default="adam", choices=("adam", "dgrad", "decaydgrad"))
    p.add_argument("--space", default="fully", choices=SPACE_NAMES)
    p.add_argument("--k", type=int, default=None, help="prototypes per class (default: the "
                   "profile's first k)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--results", default=DEFAULT_RESULTS, help="results store folder")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if present)")
    p.set_defaults(func=_cmd_run)


def _cmd_run(args) -> int:
    from dissim.data import DEFAULT_DATASET
    from dissim.experiment import Member, run_member
    from dissim.profiles import get as get_profile
    from dissim.store import ResultsStore

    validate.run_args(args)
    k = args.k if args.k is not None else get_profile(args.profile).k_values[0]
    member = Member(
        dataset=args.dataset or DEFAULT_DATASET, fold=args.fold, input=args.input,
        topology=args.topology, loss=args.loss, optimizer=args.optimizer, space=args.space,
        k=k, seed=args.seed, profile=args.profile,
    )
    validate.member_data(member, args.root)
    store = ResultsStore(args.results)
    result = run_member(member, store, root=args.root, device=args.device)
    t = result.meta.get("timings", {})
    print(f"{member.dataset} fold {member.fold} {member.input} topology {member.topology} "
          f"{member.method} {member.space} k={member.k} seed {member.seed} "
          f"[{member.profile}]: accuracy {100 * result.accuracy:.2f}% "
          f"(train {t.get('train_seconds', 0):.1f} s)")
    print(f"stored: {store.path(result.key)}")
    return 0


def _add_results(sub) -> None:
    p = sub.add_parser("results", help="inspect the results store")
    rs = p.add_subparsers(dest="results_cmd", required=True)
    ls = rs.add_parser("ls", help="list stored members")
    ls.add_argument("--results", default=DEFAULT_RESULTS)
    ls.set_defaults(func=_cmd_results_ls)


def _cmd_results_ls(args) -> int:
    from dissim.store import ResultsStore

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


def build_parser() -> argparse.ArgumentParser:
    from dissim.argparse_oneline import OneLineParser

    parser = OneLineParser(
        prog="dissim",
        description="Siamese dissimilarity spaces vs CNNs (Nanni et al., Sensors 2021).",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error "
                        "(anywhere on the line; or set DISSIM_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True)
    from dissim.data.cli import add_parser as add_data

    add_data(sub)
    _add_run(sub)
    _add_results(sub)
    from dissim.book import add_parser as add_book
    from dissim.classifier_cli import add_parsers as add_classifier
    from dissim.grid import add_parser as add_grid

    add_book(sub)
    add_grid(sub)
    add_classifier(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from dissim.boundary import run

    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
