"""An :class:`argparse.ArgumentParser` whose errors are one line, without the usage block.

``dissim run --topology 9`` prints one line::

    dissim: error: argument --topology: invalid choice: 9 (choose from 1, 2, ..., 8) \
(see dissim run --help)

and exits with status 2. Sub-parsers created with ``add_subparsers`` inherit the class, so
setting it on the top-level parser covers every sub-command. Each parser also refuses a list
option written with spaces (:func:`dissim.cli.lists.refuse_spaced_lists`).
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from dissim.cli.lists import refuse_spaced_lists
from dissim.errors import USER_ERROR, one_line


class OneLineParser(argparse.ArgumentParser):
    """``error()`` prints ``dissim: error: <msg> (see <prog> --help)`` and exits with 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(USER_ERROR, f"dissim: error: {one_line(message)} (see {self.prog} --help)\n")

    def parse_known_args(self, args=None, namespace=None):
        """argparse's, after :func:`~dissim.cli.lists.refuse_spaced_lists` on the words."""
        args = sys.argv[1:] if args is None else list(args)
        refuse_spaced_lists(self, args)
        return super().parse_known_args(args, namespace)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            sys.stderr.write(message)
        raise SystemExit(status)
