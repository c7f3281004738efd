"""``python -m dissim``: the command line (:func:`dissim.cli.main`)."""

import sys

from dissim.cli import main

if __name__ == "__main__":
    sys.exit(main())
