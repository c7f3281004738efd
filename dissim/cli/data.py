"""``dissim data ...``: list, describe, check and fetch data sets.

Handlers return an exit code, 0 when all is well; a user error
(:class:`~dissim.errors.DissimError`) goes to :func:`dissim.cli.main`'s one error path. Problems
that ``check`` finds in the data are a user error too: the list on stdout, one
``dissim: error: N problems found in DIR`` line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from dissim.data import (
    DEFAULT_DATASET,
    FOLDER,
    check,
    check_folder,
    count_files,
    list_datasets,
    manifest,
)
from dissim.data.fetch import fetch
from dissim.data.loaders import scan_tree
from dissim.errors import DataError
from dissim.pipeline import validate

#: the k of ``--dataset folder``'s stratified k-fold (:func:`dissim.data.load_folder`)
FOLDER_SPLITS = 5


def _list(args: argparse.Namespace) -> int:
    rows = list_datasets()
    print(f"{'name':<14} {'kind':<6} {'where':<9} {'classes':>7} {'images':>7}  title")
    for r in rows:
        where = "embedded" if r["embedded"] else "folder"
        star = "*" if r["name"] == DEFAULT_DATASET else " "
        cls = "?" if r["classes"] is None else r["classes"]
        img = "?" if r["images"] is None else r["images"]
        print(f"{r['name'] + star:<14} {r['kind']:<6} {where:<9} {cls:>7} {img:>7}  {r['title']}")
    print("* default data set")
    return 0


def _info(args: argparse.Namespace) -> int:
    print(yaml.safe_dump(manifest(args.name), sort_keys=False, allow_unicode=True), end="")
    return 0


def _check(args: argparse.Namespace) -> int:
    if args.name == FOLDER:
        if args.root is None:
            raise DataError("`dissim data check folder` needs --root DIR")
        validate.existing_folder(args.root, "data folder", "pass --root an existing folder "
                                 "of class folders")
        problems = check_folder(args.root, n_splits=FOLDER_SPLITS)
    else:
        problems = check(args.name, args.root)
    for p in problems:
        print(p)
    if problems:
        sys.stdout.flush()  # the list first, then the one error line
        where = args.root if args.root is not None else args.name
        raise DataError(f"{len(problems)} problem{'s' if len(problems) > 1 else ''} found in "
                        f"{where} (listed above); fix or remove those files and check again")
    if args.name == FOLDER:
        classes, items = scan_tree(Path(args.root).expanduser(), problems=[])
        n, c = len(items), len(classes)
    else:
        n, c = count_files(args.name, args.root)
    print(f"OK: {n} images in {c} classes")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    if args.dest is not None:
        validate.writable_folder(args.dest, "destination folder", "--dest")
    path = fetch(args.name, args.dest)
    print(f"{args.name}: data in {path}; check it with `dissim data check {args.name} "
          f"--root {path}`")
    return 0


def add_parser(subparsers) -> None:
    """Add the ``data`` command (sub-commands list, info, check, fetch) to ``subparsers``."""
    p = subparsers.add_parser("data", help="list, describe, check and fetch data sets")
    sub = p.add_subparsers(dest="data_command", required=True)
    s = sub.add_parser("list", help="the known data sets")
    s.set_defaults(func=_list)
    s = sub.add_parser("info", help="a data set's manifest")
    s.add_argument("name")
    s.set_defaults(func=_info)
    s = sub.add_parser("check", help="check a data folder (use NAME 'folder' for any tree)")
    s.add_argument("name")
    s.add_argument("--root", default=None, help="the data folder (default $DISSIM_DATA/NAME)")
    s.set_defaults(func=_check)
    s = sub.add_parser("fetch", help="download a data set with a public archive")
    s.add_argument("name")
    s.add_argument("--dest", default=None, help="target folder (default $DISSIM_DATA/NAME)")
    s.set_defaults(func=_fetch)
