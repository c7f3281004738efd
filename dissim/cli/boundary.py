"""The command line's one error boundary: every failure is one ``dissim: error:`` line.

:func:`run` parses ``argv`` and runs the chosen command. A :class:`~dissim.errors.DissimError`
or a third-party exception that bad input causes prints one line and returns 2; an unexpected
exception prints one ``internal error`` line (with where to report it) and returns 1; Ctrl-C
returns 130, SIGTERM 143 and SIGHUP 129 (:class:`~dissim.errors.Terminated`: the same clean-up
as Ctrl-C, writes in progress undone). ``--debug`` (anywhere on the command line) or
``DISSIM_DEBUG=1`` prints the traceback before that line.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings
from collections.abc import Sequence

from dissim.errors import (
    ISSUES,
    DissimWarning,
    debug_enabled,
    describe,
    exit_status,
    terminations_interrupt,
)
from dissim.report.book import repository

DEBUG_FLAG = "--debug"
INTERRUPTED = 130


def issues_url() -> str:
    """Where to report an internal error: ``<repository url>/issues`` from ``_config.yml``."""
    try:
        return f"{repository()[0]}/issues"
    except Exception:  # noqa: BLE001 - an installed wheel has no _config.yml
        return ISSUES


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` with ``parser`` and call ``args.func(args)``; return the exit status."""
    argv = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    debug = debug_enabled() or DEBUG_FLAG in argv
    argv = [a for a in argv if a != DEBUG_FLAG]
    _one_line_warnings()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help (0) or a one-line argument error (2)
        return done.code if isinstance(done.code, int) else 0
    before = os.environ.get("DISSIM_DEBUG")
    if debug:  # what runs inside the command (a grid's failed networks) shows tracebacks too
        os.environ["DISSIM_DEBUG"] = "1"
    try:
        with terminations_interrupt():  # SIGTERM / SIGHUP end a command as Ctrl-C does
            return int(args.func(args) or 0)
    except KeyboardInterrupt as stop:
        print("dissim: interrupted; finished members are kept in the results store",
              file=sys.stderr)
        return exit_status(stop)
    except Exception as exc:  # noqa: BLE001 - the boundary: everything becomes one line
        message, status = describe(exc, issues_url())
        if debug:
            traceback.print_exc()
        print(f"dissim: error: {message}", file=sys.stderr)
        return status
    finally:
        if before is None:
            os.environ.pop("DISSIM_DEBUG", None)
        else:
            os.environ["DISSIM_DEBUG"] = before


def _one_line_warnings() -> None:
    """Show :class:`~dissim.errors.DissimWarning` as ``dissim: warning: <message>``."""
    shown = warnings.showwarning
    if getattr(shown, "_dissim", False):
        return

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, DissimWarning):
            print(f"dissim: warning: {message}", file=file or sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    show._dissim = True
    warnings.showwarning = show
