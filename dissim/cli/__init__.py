"""The ``dissim`` command line: one parser, one error path.

    dissim data list | info NAME | check NAME --root DIR | fetch NAME
    dissim run --dataset NAME --profile quick --topology 1 --loss cross --optimizer adam \\
               --space fully --k 15 --fold 0
    dissim grid --profile quick --topologies 1-8 --methods cross,triplet [--executor dask]
    dissim results ls [--results DIR]
    dissim fit | predict | evaluate ... [--topologies 1,3 --methods cross,triplet --k 15,30]
    dissim book run --profile quick

Lists are one word of ranges and commas in every sub-command (:mod:`dissim.cli.lists`).
Every user error is one line on stderr, ``dissim: error: <what and how to fix>``, exit status 2,
found before any training or kernel starts (:mod:`dissim.pipeline.validate`); argument errors are
one line too (:class:`~dissim.cli.argparse_oneline.OneLineParser`). An internal error is one
line as well (exit status 1); ``--debug`` or ``DISSIM_DEBUG=1`` shows the traceback
(:mod:`dissim.cli.boundary`).
Choices (profiles, topologies, losses, optimizers, spaces, executors) are read from their
registries; the results store defaults to ``$DISSIM_RESULTS`` or ``results``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from dissim.cli import book, boundary, data, model, run
from dissim.cli.argparse_oneline import OneLineParser

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The ``dissim`` parser with every sub-command."""
    parser = OneLineParser(
        prog="dissim",
        description="Siamese dissimilarity spaces vs CNNs (Nanni et al., Sensors 2021).",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error "
                        "(anywhere on the line; or set DISSIM_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True)
    data.add_parser(sub)
    run.add_parsers(sub)
    book.add_parser(sub)
    model.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dissim`` with ``argv``; return the exit status (2 for a user error, 1 for an
    internal one, 130 for Ctrl-C)."""
    return boundary.run(build_parser(), argv)
