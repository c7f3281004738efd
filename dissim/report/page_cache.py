"""A page is executed again only when its inputs changed (book: the rendered book, ``make book``).

``dissim book run`` executes each notebook into a page of the book. A page's inputs are:

* the notebook itself (its bytes) and the parameters it is run with;
* the package: its version and the content of every file of ``dissim/``, the manifests
  (``data_manifests/``), the committed result snapshots (``results_snapshots/``, the snapshot
  and claims pages read them), the committed payoff rows and benchmark results, and the
  versions of the libraries that compute and render (torch, numpy, scikit-learn, ...);
* the data a page reads (:func:`data_fingerprint`): for a data set read from a folder, the
  names, sizes and modification times of the files of the folder actually read, however it
  was found (``--root``, ``$DISSIM_DATA/<name>``, the data cache ``dissim data fetch`` fills),
  so changed images make the page run again; for an embedded set, the fingerprint of its
  images (:meth:`dissim.data.loaders.Dataset.fingerprint`, the results store's data key).

The results store is not an input: a page asks it for members by key, and a key is a hash of
the member, the options, the profile and the data content (Section 4; ``dissim.pipeline.keys``),
so a stored entry never changes, and a missing one is recomputed to the same scores.

:func:`inputs_key` hashes the inputs; the executed page carries its key in its metadata
(``metadata.dissim.inputs_key``, written by :func:`stamp`), and :func:`is_current` compares the
two, so the page is its own cache entry: no file beside it to go stale.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from importlib import metadata
from pathlib import Path

import nbformat

from dissim import __version__, data

__all__ = ["LIBRARIES", "REPOSITORY_INPUTS", "data_fingerprint", "folder_listing_digest",
           "inputs_key", "is_current", "repository_digest", "stamp", "stored_key"]

#: Folders of the repository whose content every page depends on (see the module docstring).
REPOSITORY_INPUTS = ("dissim", "data_manifests", "results_snapshots", "book/payoff",
                     "benchmarks")
#: Libraries whose version can change a page's numbers or its rendering.
LIBRARIES = ("torch", "torchvision", "numpy", "scipy", "scikit-learn", "scikit-image",
             "pandas", "matplotlib", "papermill", "nbformat")
_SKIP = ("__pycache__", ".ipynb_checkpoints")
_META = "dissim"


def _files(root: Path):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP and not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and not name.endswith(".pyc"):
                yield Path(dirpath) / name


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def repository_digest(repo: str | os.PathLike, folders=REPOSITORY_INPUTS) -> str:
    """SHA-256 of the content of every file under ``folders`` of ``repo`` (hidden files, caches
    and byte code left out), with their relative paths."""
    repo = Path(repo)
    h = hashlib.sha256()
    for folder in folders:
        for path in _files(repo / folder):
            h.update(f"{path.relative_to(repo).as_posix()}\0{_file_digest(path)}\n".encode())
    return h.hexdigest()


def folder_listing_digest(folder: str | os.PathLike) -> str:
    """SHA-256 of a data folder's listing: relative path, size and modification time of every
    file (a data set is too large to read on every build; a changed image changes its size or
    time)."""
    root = Path(folder).expanduser()
    h = hashlib.sha256()
    for path in _files(root):
        st = path.stat()
        h.update(f"{path.relative_to(root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def data_fingerprint(dataset: str, root: str | os.PathLike | None = None) -> str:
    """What a page of ``dataset`` reads, as one digest (Section 3's data sets; book: Data).

    Parameters
    ----------
    dataset : str
        A manifest name, or ``"folder"``.
    root : str or path, optional
        ``--root``; without it the folder is found as :func:`dissim.data.load` finds it
        (``$DISSIM_DATA/<name>``, else the data cache).

    Returns
    -------
    str
        ``folder:`` and :func:`folder_listing_digest` of the folder read, or ``embedded:`` and
        the fingerprint of an embedded set's images.

    Raises
    ------
    DataError
        A paper set whose folder is missing (one line: how to fetch it or pass ``--root``).
    """
    folder = data.data_folder(dataset, root)
    if folder is not None:
        return f"folder:{folder_listing_digest(folder)}"
    return f"embedded:{data.load(dataset, progress=False).fingerprint()}"


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version(), "dissim": __version__}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def inputs_key(notebook: str | os.PathLike, parameters: dict, repository: str,
               data_root: str | os.PathLike | None = None, *,
               data_digest: str | None = None) -> str:
    """The key of one page: the notebook's bytes, its parameters, ``repository``
    (:func:`repository_digest`, computed once per run), the library versions, when a data
    folder is given its listing, and ``data_digest`` (:func:`data_fingerprint`: the data the
    page reads, however its folder was found)."""
    doc = {
        "notebook": _file_digest(Path(notebook)),
        "parameters": parameters,
        "repository": repository,
        "versions": _versions(),
        "data_root": None if data_root is None else folder_listing_digest(data_root),
    }
    if data_digest is not None:  # absent for a page of no data set: its key stays as it was
        doc["data"] = data_digest
    blob = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def stored_key(page: str | os.PathLike) -> str | None:
    """The inputs key an executed page carries (None: no page, an unreadable one, or none)."""
    try:
        nb = nbformat.read(str(page), as_version=4)
    except (OSError, ValueError, KeyError, nbformat.reader.NotJSONError):
        return None
    return (nb.metadata.get(_META) or {}).get("inputs_key")


def is_current(page: str | os.PathLike, key: str) -> bool:
    """Whether ``page`` exists and was executed from inputs with this ``key``."""
    return stored_key(page) == key


def stamp(page: str | os.PathLike, key: str) -> None:
    """Record ``key`` in the executed ``page``'s metadata (before it replaces the old page)."""
    nb = nbformat.read(str(page), as_version=4)
    nb.metadata.setdefault(_META, {})["inputs_key"] = key
    nbformat.write(nb, str(page))
