"""Result snapshots: store entries as small, verified files in the repository (book: Results on
real images).

A snapshot is a folder, ``results_snapshots/<dataset>-<profile>/``, that carries what the
paper's tables need from a results store and nothing else: for every member its test-fold
score matrix, test labels and test indices, and its provenance (the member, the options, the
profile's settings, the data fingerprint and classes, the training record -- converged, pair
accuracies, loss curve --, the timings, the git commit, torch, machine and date of the run).
Never an image, never a network's weights.

Layout (deterministic: the same entries give the same bytes, so a recomputed snapshot can be
compared byte for byte and a changed one shows as a small diff)::

    index.json             schema, data set, profile, one line per entry: key, kind, member,
                           its two files and their SHA-256
    entries/<key>.json     the entry's metadata, y_true and test_index (text, sorted keys)
    entries/<key>.npy      the (n_test, n_classes) float64 scores (NumPy's .npy format)

:func:`export` writes one (each file to a temporary name, then ``os.replace``); :func:`load`
reads one back as results keyed by members, without any data set; :func:`import_` puts its
entries into a :class:`~dissim.pipeline.store.ResultsStore`, under their original keys, so the
runner reuses them. Reading verifies the schema version, every file's SHA-256 against the
index, the entries' own array checksums and keys, and that the folder holds nothing the index
does not list; anything else is refused with a one-line :class:`~dissim.errors.DataError`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dissim.errors import ConfigError, DataError
from dissim.pipeline.cnn import CNNMember
from dissim.pipeline.experiment import (
    DEFAULT_OPTIONS,
    Member,
    Options,
    dataset_fingerprint,
)
from dissim.pipeline.store import Result, ResultsStore, _digest
from dissim.profiles import PROFILES, Profile
from dissim.profiles import get as get_profile

__all__ = ["SCHEMA", "SNAPSHOT_DIR", "Snapshot", "export", "import_", "list_snapshots", "load",
           "select"]

#: The on-disk schema version of a snapshot (``index.json``'s ``schema``).
SCHEMA = 1
#: Where the repository keeps its snapshots (one sub-folder each).
SNAPSHOT_DIR = "results_snapshots"
INDEX = "index.json"
ENTRIES = "entries"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json_bytes(obj) -> bytes:
    return (json.dumps(obj, sort_keys=True, indent=1, ensure_ascii=True, allow_nan=True)
            + "\n").encode()


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a, dtype="<f8"), allow_pickle=False)
    return buf.getvalue()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------------------------
# members back from metadata
# ---------------------------------------------------------------------------------------------
def _profile_of(meta: dict) -> Profile:
    """The profile an entry was computed with: the registered one when its settings agree,
    else a :class:`Profile` rebuilt from the stored settings (e.g. ``paper+bf16``)."""
    settings = dict(meta["profile_settings"])
    name = settings.get("name")
    if name in PROFILES and PROFILES[name].to_dict() == settings:
        return PROFILES[name]
    for key in ("k_values", "cnns"):
        if key in settings:
            settings[key] = tuple(settings[key])
    try:
        return Profile(**settings)
    except TypeError as err:
        raise DataError(f"entry {meta.get('key', '?')[:12]}: profile settings not understood "
                        f"({err})") from None


def member_of(meta: dict) -> Member | CNNMember:
    """The :class:`Member` (or :class:`CNNMember`) a stored entry's metadata names."""
    prof = _profile_of(meta)
    if meta.get("kind") == "cnn":
        d = dict(meta["cnn_member"], profile=prof)
        return CNNMember(**d)
    d = dict(meta["member"], profile=prof)
    return Member(**d)


def _is_cnn(meta: dict) -> bool:
    return meta.get("kind") == "cnn"


# ---------------------------------------------------------------------------------------------
# choosing the entries of a store
# ---------------------------------------------------------------------------------------------
def select(store: ResultsStore, dataset: str, profile: str, *, root: str | None = None,
           seed: int = 0, inputs: Sequence[str] = ("orig",),
           options: Options = DEFAULT_OPTIONS) -> list[Result]:
    """The entries of ``store`` that one book run reads: the Siamese members (and controls) of
    ``dataset`` and ``profile`` with ``seed``, ``inputs`` and ``options``, and the eCNN
    members of the same data set, profile and seed, sorted by key.

    With ``root`` only entries of that folder's data (its fingerprint) are kept; without it the
    entries must all come from one data fingerprint (two folders both run as ``folder``
    would otherwise mix).
    """
    want_options = options.to_dict()
    picked = []
    for r in store:
        m = r.meta
        d = m.get("cnn_member") if _is_cnn(m) else m.get("member")
        if not d or d.get("dataset") != dataset or d.get("profile") != profile \
                or d.get("seed") != seed:
            continue
        if not _is_cnn(m) and (d.get("input") not in inputs or m.get("options") != want_options):
            continue
        if not _current_settings(m, profile):
            continue
        picked.append(r)
    if root is not None:
        prof = get_profile(profile)
        fp = dataset_fingerprint(dataset, root, prof.max_per_class, seed)
        picked = [r for r in picked if r.meta["data"]["fingerprint"] == fp]
    prints = sorted({r.meta["data"]["fingerprint"] for r in picked})
    if len(prints) > 1:
        raise ConfigError(
            f"the store {store.root} holds {dataset} / {profile} entries of {len(prints)} "
            f"different data sets (fingerprints {', '.join(p[:12] for p in prints)}); pass "
            "--root to choose one")
    if not picked:
        raise ConfigError(
            f"no entry of data set {dataset!r}, profile {profile!r}, seed {seed} in the store "
            f"{store.root}" + (f" for the data in {root}" if root else "")
            + "; run it first (dissim grid / dissim book run)")
    return sorted(picked, key=lambda r: r.key)


# ---------------------------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------------------------
def _describe(member: Member | CNNMember) -> str:
    if isinstance(member, CNNMember):
        return f"fold {member.fold} cnn {member.cnn}"
    enc = "" if member.encoder == "trained" else f" [{member.encoder}]"
    return (f"fold {member.fold} {member.input} topology {member.topology} {member.method} "
            f"{member.space} k={member.k}{enc}")


def export(results: Sequence[Result], out: str | os.PathLike, *, dataset: str,
           profile: str, description: str | None = None) -> Path:
    """Write ``results`` as a snapshot folder ``out`` and return its index path.

    ``description`` (one paragraph: what the data are, where they come from, the command that
    computed the entries) is stored in the index and shown on the snapshot's book pages.

    Files are written atomically (temporary name, then ``os.replace``), the index last, so a
    killed export never leaves an index naming a file that is not there. Entry files of an
    earlier snapshot in ``out`` that the new index does not list are removed.
    """
    out = Path(out)
    rows, keep = [], set()
    for r in sorted(results, key=lambda r: r.key):
        meta = {k: v for k, v in r.meta.items()}
        member = member_of(meta)
        body = {"meta": meta, "y_true": np.asarray(r.y_true, dtype=np.int64).tolist(),
                "test_index": np.asarray(r.test_index, dtype=np.int64).tolist()}
        files = {"meta": f"{ENTRIES}/{r.key}.json", "scores": f"{ENTRIES}/{r.key}.npy"}
        blobs = {"meta": _json_bytes(body), "scores": _npy_bytes(r.scores)}
        for part, rel in files.items():
            _write_atomic(out / rel, blobs[part])
            keep.add(rel)
        rows.append({"key": r.key, "kind": "cnn" if _is_cnn(meta) else "siamese",
                     "member": _describe(member), "files": files,
                     "sha256": {part: _sha256(blob) for part, blob in blobs.items()}})
    for stale in sorted((out / ENTRIES).glob("*")) if (out / ENTRIES).is_dir() else []:
        if f"{ENTRIES}/{stale.name}" not in keep:
            stale.unlink()
    index = {"schema": SCHEMA, "dataset": dataset, "profile": profile,
             "note": "dissim result snapshot: scores, labels, test indices and provenance of "
                     "stored members; no images, no weights (dissim results import)",
             "entries": rows}
    if description:
        index["description"] = description
    _write_atomic(out / INDEX, _json_bytes(index))
    return out / INDEX


def _current_settings(meta: dict, profile: str) -> bool:
    """Whether an entry was computed with the settings ``profile`` has now (the Siamese
    settings for a Siamese member, the CNN ones for a CNN): a profile retuned after some
    entries were stored leaves those entries out of its snapshot. A profile name this dissim
    does not register (a GPU-switched one) is not checked."""
    if profile not in PROFILES:
        return True
    now = PROFILES[profile].to_dict()
    stored = meta.get("profile_settings", {})
    cnn = _is_cnn(meta)
    return all(stored.get(k) == v for k, v in now.items()
               if k != "name" and k.startswith("cnn") == cnn)


# ---------------------------------------------------------------------------------------------
# reading back
# ---------------------------------------------------------------------------------------------
@dataclass
class Snapshot:
    """A verified snapshot: its results as the tables take them, and its provenance."""

    path: Path
    dataset: str
    profile: str
    description: str | None = None
    results: dict[Member, Result] = field(default_factory=dict)
    cnn_results: dict[CNNMember, Result] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    def entries(self) -> list[Result]:
        return [*self.results.values(), *self.cnn_results.values()]

    def topologies(self) -> list[int]:
        """The topologies of its trained Siamese members."""
        return sorted({m.topology for m in self.results if m.encoder == "trained"})

    def provenance(self) -> dict:
        """Where, when and from which code its numbers come: commits, machines, devices, torch
        versions, the dates of the first and last entry, the data, the profile."""
        metas = [r.meta for r in self.entries()]

        def values(get) -> list:
            return sorted({str(v) for v in map(get, metas) if v not in (None, "")})

        env = [m.get("environment", {}) for m in metas]
        data = [m.get("data", {}) for m in metas]
        created = values(lambda m: m.get("created"))
        first = next(iter(self.entries()), None)
        return {
            "snapshot": self.name, "dataset": self.dataset, "profile": self.profile,
            "entries": len(metas), "siamese": len(self.results), "cnn": len(self.cnn_results),
            "commits": sorted({str(e.get("git_commit")) for e in env if e.get("git_commit")}),
            "machines": sorted({" ".join(str(e[k]) for k in ("machine", "processor", "cuda")
                                         if e.get(k)) for e in env}),
            "devices": values(lambda m: m.get("train", {}).get("device")),
            "torch": sorted({str(e.get("torch")) for e in env if e.get("torch")}),
            "dissim": sorted({str(e.get("dissim")) for e in env if e.get("dissim")}),
            "first": created[0] if created else None, "last": created[-1] if created else None,
            "fingerprints": sorted({d.get("fingerprint") for d in data if d.get("fingerprint")}),
            "classes": list(data[0].get("classes", [])) if data else [],
            "folds": sorted({m.fold for m in (*self.results, *self.cnn_results)}),
            "profile_settings": first.meta.get("profile_settings") if first else {},
            "description": self.description,
            "k_values": sorted({m.k for m in self.results}),
            "topologies": self.topologies(),
            "methods": sorted({m.method for m in self.results if m.encoder == "trained"}),
            "controls": sorted({m.encoder for m in self.results if m.encoder != "trained"}),
            "cnns": sorted({m.cnn for m in self.cnn_results}),
            "train_hours": _hours(self.results.values(), "train_total_seconds"),
            "cnn_hours": _hours(self.cnn_results.values(), "train_seconds"),
        }


def _hours(entries, timing: str) -> float:
    """Compute time behind ``entries`` in hours: the ``timing`` of each network counted once
    (members that differ only in space, or in k where the profile shares one network across
    k, share one training)."""
    seconds: dict[tuple, float] = {}
    for r in entries:
        m = r.meta.get("member") or r.meta.get("cnn_member") or {"key": r.key}
        shared = ("space", "k") if not r.meta.get("profile_settings", {}).get(
            "one_net_per_k", True) else ("space",)
        unit = tuple(sorted((k, str(v)) for k, v in m.items() if k not in shared))
        seconds[unit] = float(r.meta.get("timings", {}).get(timing, 0.0) or 0.0)
    return sum(seconds.values()) / 3600


def _refuse(path: Path, what: str) -> DataError:
    return DataError(f"snapshot {path} {what}; export it again (dissim results export) or "
                     "restore it from git")


def _read_index(path: Path) -> dict:
    if not (path / INDEX).is_file():
        raise DataError(f"snapshot {path} has no {INDEX}; pass a folder written by "
                        "dissim results export")
    try:
        index = json.loads((path / INDEX).read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise _refuse(path, f"has an unreadable {INDEX} ({type(err).__name__})") from None
    if not isinstance(index, dict) or index.get("schema") != SCHEMA:
        got = index.get("schema") if isinstance(index, dict) else None
        raise DataError(f"snapshot {path} has schema {got!r}; this dissim reads schema "
                        f"{SCHEMA}")
    for name in ("dataset", "profile", "entries"):
        if name not in index:
            raise _refuse(path, f"{INDEX} lacks {name!r}")
    return index


def load(path: str | os.PathLike) -> Snapshot:
    """Read and verify the snapshot folder ``path`` (no data set, no training needed)."""
    path = Path(path)
    index = _read_index(path)
    listed = set()
    description = index.get("description")
    snap = Snapshot(path, str(index["dataset"]), str(index["profile"]),
                    str(description) if description else None)
    for row in index["entries"]:
        try:
            key, files, sums = row["key"], row["files"], row["sha256"]
            blobs = {}
            for part in ("meta", "scores"):
                rel = files[part]
                listed.add(rel)
                file = path / rel
                if Path(rel).is_absolute() or ".." in Path(rel).parts or not file.is_file():
                    raise _refuse(path, f"lacks {rel}, listed in its index")
                blobs[part] = file.read_bytes()
                if _sha256(blobs[part]) != sums[part]:
                    raise _refuse(path, f"file {rel} does not match its SHA-256 in the index")
        except (KeyError, TypeError):
            raise _refuse(path, f"{INDEX} has a malformed entry") from None
        try:
            body = json.loads(blobs["meta"])
            meta = body["meta"]
            y_true = np.asarray(body["y_true"], dtype=np.int64)
            test_index = np.asarray(body["test_index"], dtype=np.int64)
            scores = np.load(io.BytesIO(blobs["scores"]), allow_pickle=False)
        except Exception as err:  # noqa: BLE001 - any decoding failure is a damaged file
            raise _refuse(path, f"entry {key[:12]} cannot be read "
                                f"({type(err).__name__})") from None
        if meta.get("key") != key or meta.get("sha256") != _digest(
                scores.astype(np.float64), y_true, test_index):
            raise _refuse(path, f"entry {key[:12]} does not match its own checksum")
        member = member_of(meta)
        result = Result(key, scores, y_true, test_index, meta)
        target = snap.cnn_results if isinstance(member, CNNMember) else snap.results
        if member in target:
            raise _refuse(path, f"holds member {_describe(member)} twice")
        target[member] = result
    extra = sorted(p.relative_to(path).as_posix() for p in path.rglob("*")
                   if p.is_file() and p.name != INDEX)
    extra = [p for p in extra if p not in listed]
    if extra:
        raise _refuse(path, f"holds {extra[0]}, which its index does not list")
    return snap


def import_(path: str | os.PathLike, store: ResultsStore) -> Snapshot:
    """Verify the snapshot ``path`` and put its entries into ``store`` under their keys."""
    snap = load(path)
    for r in snap.entries():
        store.put(r.key, r.scores, r.y_true, r.test_index, r.meta)
    return snap


def list_snapshots(base: str | os.PathLike) -> list[Path]:
    """The snapshot folders (holding an ``index.json``) directly under ``base``, sorted."""
    base = Path(base)
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if (p / INDEX).is_file())
