"""Downloading a paper data set where its manifest names a public archive (Section 3).

Only InfLar has a public archive (Zenodo record 1162784, ``FRAMES.zip``). CAT needs a signed-in
Kaggle download; BIRDz, RPE and Port have no known public copy. For those :func:`fetch` raises a
:class:`~dissim.errors.DataError` with the manual steps. Downloads go through :mod:`pooch`; the
SHA-256 is checked by ``dissim`` (so the message names file, expected and actual hash) whenever
the manifest gives one.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from urllib.parse import urlparse

from dissim.data.loaders import default_root, sha256_problem
from dissim.data.manifest import manifest
from dissim.errors import DataError


def _manual_message(name: str, m: dict, dest: Path) -> str:
    arch = m.get("archive") or {}
    how = " ".join(str(arch.get("instructions") or "get the data by hand").split())
    return (f"{name!r} cannot be downloaded automatically: {how}; put it in {dest} and run "
            f"`dissim data check {name} --root {dest}`")


def verify(path: Path, sha256: str | None) -> None:
    """Raise :class:`DataError` when ``path``'s SHA-256 differs from ``sha256`` (None: skip)."""
    problem = sha256_problem(path, sha256)
    if problem:
        raise DataError(problem)


def _download(url: str, fname: str, dest: Path) -> Path:
    import pooch

    try:
        return Path(pooch.retrieve(url, known_hash=None, fname=fname, path=dest,
                                   progressbar=False))
    except Exception as err:  # noqa: BLE001 - requests/pooch raise many kinds; all mean "no file"
        host = urlparse(url).netloc or url
        raise DataError(
            f"could not reach {host} ({err.__class__.__name__}); download {url} by hand into "
            f"{dest} and run `dissim data check`"
        ) from None


def _unzip(archive: Path, dest: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():  # refuse paths that would leave dest
                target = (dest / member).resolve()
                if not target.is_relative_to(dest.resolve()):
                    raise DataError(f"archive {archive} holds an unsafe path {member!r}")
            zf.extractall(dest)
    except zipfile.BadZipFile:
        raise DataError(f"archive {archive} is not a valid zip file; delete it and download "
                        "it again") from None


def fetch(name: str, dest: str | Path | None = None) -> Path:
    """Download, verify and unpack data set ``name``; return the folder to pass as ``root``.

    Parameters
    ----------
    name : str
        A manifest name with ``archive.url`` (InfLar).
    dest : str or Path, optional
        Target folder (default ``$DISSIM_DATA/<name>`` or ``~/.cache/dissim/data/<name>``).
        An archive already there (downloaded by hand) is verified and unpacked, offline.

    Raises
    ------
    DataError
        Manual-only data sets (instructions in the message), unreachable host, checksum mismatch,
        bad archive.
    """
    m = manifest(name)
    dest = Path(dest).expanduser() if dest is not None else default_root(name)
    if m.get("embedded"):
        raise DataError(f"{name!r} ships with a pip package; load it with no --root, no fetch")
    arch = m.get("archive") or {}
    url = arch.get("url")
    if arch.get("manual") or not url:
        raise DataError(_manual_message(name, m, dest))
    fname = arch.get("filename") or Path(urlparse(url).path).name
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / fname
    if not archive.is_file():
        archive = _download(url, fname, dest)
    verify(archive, arch.get("sha256"))
    if archive.suffix.lower() == ".zip":
        _unzip(archive, dest)
    return dest
