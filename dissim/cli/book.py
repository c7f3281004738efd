"""``dissim book run``: execute the book's notebooks (:mod:`dissim.report.book`)."""

from __future__ import annotations

from dissim.cli.lists import names, words
from dissim.pipeline import validate
from dissim.pipeline.runner import Run
from dissim.pipeline.store import DEFAULT_RESULTS
from dissim.profiles import PROFILES
from dissim.report import book


def add_parser(sub) -> None:
    """Add ``dissim book run`` to the CLI's subparsers."""
    p = sub.add_parser("book", help="execute the book's notebooks (papermill)")
    bs = p.add_subparsers(dest="book_cmd", required=True)
    r = bs.add_parser("run", help="run every table and figure notebook per data set")
    r.add_argument("--profile", default="quick", choices=sorted(PROFILES))
    r.add_argument("--dataset", "--datasets", action="append", default=None, type=words("LIST"),
                   metavar="LIST", help="data sets, e.g. textures,digits (default: the "
                   "embedded default)")
    r.add_argument("--root", default=None, help="data folder for paper data sets")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--results", default=DEFAULT_RESULTS, help="results store folder")
    r.add_argument("--notebooks", "--notebook", default=None, metavar="LIST",
                   type=names(book.ALL_NOTEBOOKS, what="notebook"),
                   help="a subset, e.g. table1,figure4 (default: all)")
    r.add_argument("--force", action="store_true", help="execute every page, also those "
                   "whose inputs (notebook, parameters, package, snapshots) did not change")
    r.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                   metavar=("NAME", "VALUE"),
                   help="a notebook parameter, as papermill's -p (repeatable), e.g. "
                        "-p last_topology 4; checked against each notebook's parameters cell")
    r.set_defaults(func=_cmd_run)


def _cmd_run(args) -> int:
    if args.dataset:  # --dataset a,b (given twice: both lists)
        args.dataset = list(dict.fromkeys(n for group in args.dataset for n in group))
    validate.book_args(args)  # data sets, folder, seed, store: before any kernel starts
    notebooks = list(args.notebooks) if args.notebooks else None
    extra = book.book_parameters(notebooks, [tuple(p) for p in args.parameter])
    if "k_values" in extra:  # parsed as the pages will parse it, before any kernel starts
        Run(dataset="", k_values=extra["k_values"])
    book.run(args.profile, args.dataset, seed=args.seed, results_dir=args.results,
             data_root=args.root, notebooks=notebooks, extra=extra, force=args.force)
    return 0
