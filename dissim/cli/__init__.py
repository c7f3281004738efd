"""The ``dissim`` command line: one parser, one error path.

    dissim data list | info NAME | check NAME --root DIR | fetch NAME
    dissim run --dataset NAME --profile quick --topology 1 --loss cross --optimizer adam \\
               --space fully --k 15 --fold 0
    dissim grid --profile quick --topologies 1-8 [--executor dask]
    dissim results ls [--results DIR]
    dissim fit | predict | evaluate ...
    dissim book run --profile quick

Every user error is one line on stderr, ``dissim: error: <what and how to fix>``, exit status 2.
Choices (profiles, topologies, losses, optimizers, spaces, executors) are read from their
registries; the results store defaults to ``$DISSIM_RESULTS`` or ``results``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from dissim.cli import book, data, model, run
from dissim.errors import DissimError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The ``dissim`` parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="dissim",
        description="Siamese dissimilarity spaces vs CNNs (Nanni et al., Sensors 2021).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    data.add_parser(sub)
    run.add_parsers(sub)
    book.add_parser(sub)
    model.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dissim`` with ``argv``; return the exit status (2 for a user error)."""
    parser = build_parser()
    args = parser.parse_args(None if argv is None else [str(a) for a in argv])
    try:
        return int(args.func(args) or 0)
    except DissimError as err:
        print(f"dissim: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dissim: interrupted; finished members are kept in the results store",
              file=sys.stderr)
        return 130
