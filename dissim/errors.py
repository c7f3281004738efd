"""User-facing errors.

Every mistake a user can make (a wrong name, a missing folder, a bad file, a parameter of the
wrong type) raises a :class:`DissimError` whose message is one line that names the culprit and
says what to do. The CLI prints that line and exits with status 2; nothing else is printed.
"""

from __future__ import annotations


class DissimError(Exception):
    """A problem the user can fix; ``str(err)`` is the one-line message shown to them."""


class DataError(DissimError):
    """A data set, folder, file, manifest or checksum problem."""


class ConfigError(DissimError, ValueError):
    """An unknown name or a parameter of the wrong type or range."""


class ResourceError(DissimError):
    """The requested computation cannot fit (memory) or cannot run (device) here."""
