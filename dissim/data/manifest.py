"""Data-set manifests: one YAML file per data set (Section 3; book: Data).

A manifest names a data set's source, licence, layout, classes with expected counts and its
evaluation protocol. Unknown facts stay ``unknown`` or ``null`` (the companion README): nothing is
guessed. Their one source is the repository's top-level ``data_manifests/`` folder; the wheel maps
it into the package as ``dissim/data/manifests/`` at build time (``pyproject.toml``'s
``package-dir``), where :mod:`importlib.resources` finds it, so an installed wheel has them and
a checkout or an editable install reads ``data_manifests/`` itself. The environment variable
``DISSIM_MANIFESTS`` points to another folder.

>>> manifest("inflar")["protocol"]["kind"]
'fixed_folds'
"""

from __future__ import annotations

import copy
import os
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import yaml

from dissim.errors import DataError

#: Protocol kinds understood by :func:`dissim.data.protocols.folds`.
PROTOCOL_KINDS = ("stratified_kfold", "group_kfold", "fixed_folds", "repeated_runs")
_REQUIRED = ("name", "title", "kind", "licence", "source", "protocol")


#: The manifests' one source in a checkout (and in an editable install): the repository's
#: top-level folder, beside the package.
REPO_MANIFESTS = Path(__file__).resolve().parents[2] / "data_manifests"


def manifests_dir() -> Path:
    """The folder holding the manifests: ``DISSIM_MANIFESTS``, else the wheel's package data
    (``dissim/data/manifests/``, mapped from ``data_manifests/`` at build time), else the
    checkout's ``data_manifests/``."""
    env = os.environ.get("DISSIM_MANIFESTS")
    if env:
        return Path(env).expanduser()
    shipped = Path(str(files("dissim.data") / "manifests"))
    return shipped if shipped.is_dir() else REPO_MANIFESTS


def names() -> list[str]:
    """Sorted names of the known data sets (one per ``*.yml`` manifest)."""
    folder = manifests_dir()
    if not folder.is_dir():
        raise DataError(
            f"manifest folder {folder} not found; set DISSIM_MANIFESTS to a folder of manifests"
        )
    return sorted(p.stem for p in folder.glob("*.yml"))


@lru_cache(maxsize=64)
def _parse(path: str, mtime: float) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            m = yaml.safe_load(fh)
    except yaml.YAMLError as err:
        raise DataError(f"manifest {path} is not valid YAML ({err.__class__.__name__})") from None
    if not isinstance(m, dict):
        raise DataError(f"manifest {path} is not a mapping; see data_manifests/inflar.yml")
    missing = [k for k in _REQUIRED if k not in m]
    if missing:
        raise DataError(f"manifest {path} lacks the key(s) {', '.join(missing)}")
    kind = (m.get("protocol") or {}).get("kind")
    if kind not in PROTOCOL_KINDS:
        raise DataError(
            f"manifest {path}: protocol kind {kind!r} is not one of {', '.join(PROTOCOL_KINDS)}"
        )
    if m["kind"] not in ("image", "audio"):
        raise DataError(f"manifest {path}: kind {m['kind']!r} is not 'image' or 'audio'")
    return m


def manifest(name: str) -> dict:
    """Return the parsed manifest of data set ``name`` (a fresh copy).

    Raises
    ------
    DataError
        For an unknown name: the message says how to list the known ones.
    """
    path = manifests_dir() / f"{name}.yml"
    if not isinstance(name, str) or not name or not path.is_file():
        raise DataError(f"unknown data set {name!r}; `dissim data list` shows the known ones")
    return copy.deepcopy(_parse(str(path), path.stat().st_mtime))


def class_names(m: dict) -> list[str] | None:
    """Class names in manifest order, or None where the manifest does not list them."""
    classes = m.get("classes")
    if not classes:
        return None
    return [str(c["name"]) if isinstance(c, dict) else str(c) for c in classes]


def expected_counts(m: dict) -> dict[str, int]:
    """Expected image count per class where the manifest gives one (unknown counts are left out)."""
    out = {}
    for c in m.get("classes") or []:
        if isinstance(c, dict) and c.get("count") is not None:
            out[str(c["name"])] = int(c["count"])
    return out


def list_datasets() -> list[dict]:
    """One summary row per known data set.

    Returns
    -------
    list of dict
        Keys ``name``, ``title``, ``kind`` (image | audio), ``embedded`` (bool: ships in a pip
        package, loads offline), ``classes`` (number of classes or None) and ``images`` (total
        or None).
    """
    rows = []
    for n in names():
        m = manifest(n)
        cls = class_names(m)
        rows.append({
            "name": n,
            "title": m["title"],
            "kind": m["kind"],
            "embedded": bool(m.get("embedded", False)),
            "classes": len(cls) if cls else m.get("n_classes"),
            "images": m.get("images"),
        })
    return rows
