"""``python -m dissim`` and the ``dissim`` command (:func:`dissim.cli.main`).

:func:`run` loads the command line itself, so Ctrl-C, SIGTERM or SIGHUP while torch and the
other modules load is the same one ``dissim: interrupted`` line (exit status 130, 143, 129)
as during a command, not an import traceback.
"""

import importlib
import sys

from dissim.errors import exit_status, terminations_interrupt


def run() -> int:
    """Load :mod:`dissim.cli` and run ``dissim`` with ``sys.argv``; return the exit status."""
    try:
        with terminations_interrupt():
            cli = importlib.import_module("dissim.cli")
    except KeyboardInterrupt as stop:
        print("dissim: interrupted", file=sys.stderr)
        return exit_status(stop)
    return cli.main()


if __name__ == "__main__":
    sys.exit(run())
