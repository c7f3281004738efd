"""Result snapshots: store entries as small, verified files in the repository (book: Results on
real images).

A snapshot is a folder, ``results_snapshots/<dataset>-<profile>/``, that carries what the
paper's tables need from a results store and nothing else: for every member its test-fold
score matrix, test labels and test indices, and its provenance (the member, the options, the
profile's settings, the data fingerprint and classes, the training record -- converged, pair
accuracies, loss curve --, the timings, the git commit, torch, machine and date of the run).
Never an image, never a network's weights. The files (schema 3: float16 scores with float32
rows where rounding would move a decision, one compressed file per fold; schema 2 the same
files without those rows) are described in :mod:`dissim.pipeline.snapshot_files`; schema 1
(float64, two files per entry) is still read.

:func:`export` writes one (deterministic: the same entries give the same bytes; into a
temporary folder beside the target, renamed when complete); :func:`load` reads one back as
results keyed by members, without any data set; :func:`import_` puts its entries into a
:class:`~dissim.pipeline.store.ResultsStore`, under their original keys, so the runner reuses
them. Reading verifies the schema version, the index's own SHA-256 and every file's, that the
index's labels (data set, profile, each entry's key, kind, member and fold) are those of the
entries' own metadata, and that the folder holds nothing the index does not list; anything else
is refused with a one-line :class:`~dissim.errors.DataError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dissim.atomic import atomic_dir
from dissim.errors import ConfigError, DataError
from dissim.pipeline import snapshot_files as files
from dissim.pipeline.cnn import CNNMember, cnn_settings
from dissim.pipeline.experiment import (
    DEFAULT_OPTIONS,
    Member,
    Options,
    dataset_fingerprint,
)
from dissim.pipeline.store import Result, ResultsStore, _digest
from dissim.profiles import PROFILES, Profile, base_name, settings_for
from dissim.profiles import get as get_profile

__all__ = ["SCHEMA", "SNAPSHOT_DIR", "Snapshot", "by_member", "current_settings", "export",
           "import_", "list_snapshots", "load", "refuse_target", "select"]

#: The on-disk schema version :func:`export` writes (``index.json``'s ``schema``); :func:`load`
#: reads it, schema 2 (the same files, one precision per file, no exact rows; a reader of
#: schema 2 would take exact rows for zeros, so the version says they may be there) and 1.
SCHEMA = 3
SCHEMAS = (1, 2, 3)
#: Where the repository keeps its snapshots (one sub-folder each).
SNAPSHOT_DIR = "results_snapshots"
INDEX = "index.json"
ENTRIES = "entries"
NOTE = ("dissim result snapshot: scores, labels, test indices and provenance of stored members; "
        "no images, no weights (dissim results import)")
#: Store fields of an entry's metadata that a snapshot leaves out: ``sha256`` checks the
#: store's float64 arrays and is computed again on reading.
STORE_ONLY = ("sha256",)
#: The most bytes one snapshot file may inflate to (declared sizes, checked before reading).
MAX_FILE_BYTES = 1 << 30


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json_bytes(obj) -> bytes:
    return files.dumps(obj)


# ---------------------------------------------------------------------------------------------
# members back from metadata
# ---------------------------------------------------------------------------------------------
def _profile_of(meta: dict) -> Profile:
    """The profile an entry was computed with: the registered one when its settings agree,
    else a :class:`Profile` rebuilt from the stored settings (e.g. ``paper+bf16``)."""
    settings = dict(meta["profile_settings"])
    name = settings.get("name")
    if name in PROFILES and _same_training(meta, PROFILES[name].to_dict(), settings):
        return PROFILES[name]
    for key in ("k_values", "cnns"):
        if key in settings:
            settings[key] = tuple(settings[key])
    if isinstance(settings.get("topology_iterations"), dict):
        settings["topology_iterations"] = tuple(
            (int(t), int(n)) for t, n in sorted(settings["topology_iterations"].items()))
    if isinstance(settings.get("triplet_topology_lr"), dict):
        settings["triplet_topology_lr"] = tuple(
            (int(t), float(v)) for t, v in sorted(settings["triplet_topology_lr"].items()))
    try:
        return Profile(**settings)
    except TypeError as err:
        raise DataError(f"entry {meta.get('key', '?')[:12]}: profile settings not understood "
                        f"({err})") from None


def _same_training(meta: dict, now: dict, stored: dict) -> bool:
    """Whether an entry's stored settings are the registered profile's for its own network:
    a Siamese member's settings as its topology and loss see them
    (:func:`dissim.profiles.settings_for`), a CNN's CNN and data settings; so an entry kept
    across a retuning that did not touch its network reads as the profile it was stored under."""
    if _is_cnn(meta):
        frozen = bool((meta.get("cnn_member") or {}).get("frozen"))
        return cnn_settings(now, frozen) == cnn_settings(stored, frozen)
    member = meta.get("member") or {}
    t, loss = member.get("topology"), member.get("loss")
    return settings_for(now, t, loss) == settings_for(stored, t, loss)


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
    members and frozen-CNN references of the same data set, profile and seed, sorted by key.

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
        if not current_settings(m, profile):
            continue
        picked.append(r)
    if root is not None:  # a switched profile (large+bf16+nhwc) caps images as its base does
        prof = get_profile(base_name(profile))
        fp = dataset_fingerprint(dataset, root, prof.max_per_class, seed)
        picked = [r for r in picked if r.meta["data"]["fingerprint"] == fp]
    prints = sorted({r.meta["data"]["fingerprint"] for r in picked})
    if len(prints) > 1:
        raise ConfigError(
            f"the store {store.root} holds {dataset} / {profile} entries of {len(prints)} "
            f"different data sets (fingerprints {', '.join(p[:12] for p in prints)}); pass "
            "--root to choose one")
    seen: dict[str, str] = {}
    for r in picked:  # two settings of one member would both be fused into a table cell
        name = _describe(member_of(r.meta))
        if name in seen:
            raise ConfigError(
                f"the store {store.root} holds member {name} of {dataset} / {profile} twice, "
                f"computed with different settings (entries {seen[name][:12]} and "
                f"{r.key[:12]}, files <key>.npz in the store); delete the one that is not "
                "the profile's")
        seen[name] = r.key
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
        return f"fold {member.fold} cnn {member.cnn}" + (" [frozen]" if member.frozen else "")
    enc = "" if member.encoder == "trained" else f" [{member.encoder}]"
    return (f"fold {member.fold} {member.input} topology {member.topology} {member.method} "
            f"{member.space} k={member.k}{enc}")


def refuse_target(out: str | os.PathLike) -> None:
    """Refuse, before any work, an export target that is a file, a non-empty folder that is
    not an earlier snapshot, or an earlier snapshot that holds a file not its own (a snapshot
    replaces only a snapshot, and never deletes a file someone put beside it)."""
    out = Path(out)
    if out.is_file() or out.is_symlink() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; name a folder for the snapshot")
    if out.is_dir() and any(out.iterdir()) and not (out / INDEX).is_file():
        raise ConfigError(f"--out {out} is a folder that holds files and is not a snapshot; "
                          "name a new or empty folder, or an earlier snapshot to replace")
    foreign = _foreign_files(out) if out.is_dir() else []
    if foreign:
        more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
        raise ConfigError(f"--out {out} holds {foreign[0]}{more}, which is not part of the "
                          "snapshot there and would be deleted with it; move it out of the "
                          "folder, or name a new or empty folder")


#: The names :func:`export` gives score files (:func:`dissim.pipeline.snapshot_files.group_file`).
_GROUP_FILE = re.compile(rf"{files.SCORES_DIR}/fold-[0-9]+(?:-[0-9]+)?\.npz")


def _own_files(path: Path) -> set[str]:
    """The files of the snapshot ``path`` by its index: the index and the files it lists
    (only the index when it cannot be read)."""
    try:
        index = json.loads((path / INDEX).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return {INDEX}
    if not isinstance(index, dict):
        return {INDEX}
    sums, rows = index.get("files"), index.get("entries")
    listed = set(sums) if isinstance(sums, dict) else set()
    for row in rows if isinstance(rows, list) else ():
        where = row.get("files") if isinstance(row, dict) else None
        if isinstance(where, dict):  # schema 1: a metadata and a scores file per entry
            listed.update(str(v) for v in where.values())
    return {INDEX, *listed}


def _foreign_files(path: Path) -> list[str]:
    """Files under the snapshot folder ``path`` that are not its own (:func:`_own_files`, or a
    score file of :func:`export`'s naming), relative, sorted."""
    own = _own_files(path)
    found = (p.relative_to(path).as_posix() for p in path.rglob("*")
             if p.is_file() or p.is_symlink())
    return sorted(f for f in found if f not in own and not _GROUP_FILE.fullmatch(f))


#: ``export``'s float16 scores with float32 rows where rounding could reorder an image's best
#: classes (:mod:`dissim.pipeline.snapshot_files`); ``AUTO6`` the same at 6 mantissa bits.
AUTO, AUTO6 = files.AUTO, files.AUTO6


def export(results: Sequence[Result], out: str | os.PathLike, *, dataset: str,
           profile: str, description: str | None = None,
           precision: str = AUTO, margin: float = 4.0,
           exact_images: dict[str, set[int]] | None = None) -> Path:
    """Write ``results`` as a snapshot folder ``out`` (schema 3) and return its index path.

    ``description`` (one paragraph: what the data are, where they come from, the command that
    computed the entries) is stored in the index and shown on the snapshot's book pages.
    ``precision`` is the scores' dtype: ``float16``, ``float32``, ``float64`` (lossless), or
    ``auto``: float16, with the rows of the test images whose best classes rounding could
    reorder kept in float32 (:func:`dissim.pipeline.snapshot_files.exact_rows`), and the rows
    of the test images in ``exact_images`` (``{entry key: test indices}``), or ``auto6``: the
    same with float16 values of 6 mantissa bits (:func:`~dissim.pipeline.snapshot_files.rounded`);
    ``dissim results export`` keeps the narrowest choice whose pages print as float64's do.

    The snapshot is written into a temporary folder beside ``out`` and renamed to ``out`` when
    complete, replacing an earlier snapshot there: a killed or failed export (a full disk: one
    line naming the path) leaves ``out`` as it was. A non-empty ``out`` that is not a snapshot,
    or a snapshot that holds a file not its own, is refused (:func:`refuse_target`) before
    anything is written, and again before the old snapshot is replaced.
    """
    if precision not in (*files.PRECISIONS, *files.AUTOS):
        raise ConfigError(f"snapshot precision {precision!r}: choose "
                          f"{', '.join((*files.PRECISIONS, *files.AUTOS))}")
    out = Path(out)
    refuse_target(out)
    groups: dict[tuple, list[tuple[Result, dict]]] = {}
    for r in sorted(results, key=lambda r: r.key):
        meta = {k: v for k, v in r.meta.items() if k not in STORE_ONLY}
        member = member_of(meta)
        if member.dataset != dataset or member.profile.name != profile:
            raise ConfigError(f"entry {r.key[:12]} is of data set {member.dataset!r}, profile "
                              f"{member.profile.name!r}, not {dataset!r} / {profile!r}")
        y = np.asarray(r.y_true, dtype=np.int64)
        idx = np.asarray(r.test_index, dtype=np.int64)
        shape = np.shape(r.scores)
        groups.setdefault((member.fold, shape, y.tobytes(), idx.tobytes()), []).append(
            (r, meta))
    rows, sums, parts = [], {}, {}
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(out, replace=True) as tmp:
        for (fold, *_), members in sorted(groups.items(), key=lambda g: (g[0][0],
                                                                         g[1][0][0].key)):
            part = parts[fold] = parts.get(fold, -1) + 1
            rel = files.group_file(fold, part)
            first = members[0][0]
            data = files.write_group(tmp / rel, [r.key for r, _ in members],
                                     [r.scores for r, _ in members], first.y_true,
                                     first.test_index, [m for _, m in members], precision,
                                     margin, [sorted((exact_images or {}).get(r.key, ()))
                                              for r, _ in members])
            sums[rel] = _sha256(data)
            for row, (r, meta) in enumerate(members):
                rows.append({"key": r.key, "kind": "cnn" if _is_cnn(meta) else "siamese",
                             "member": _describe(member_of(meta)), "fold": fold,
                             "file": rel, "row": row})
        index = {"schema": SCHEMA, "dataset": dataset, "profile": profile, "note": NOTE,
                 "precision": precision, "files": sums,
                 "entries": sorted(rows, key=lambda row: row["key"])}
        if description:
            index["description"] = description
        index["sha256"] = files.index_checksum(index)
        (tmp / INDEX).write_bytes(files.dumps(index))
        for p in tmp.rglob("*"):
            if p.is_file():
                with open(p, "rb+") as fh:
                    os.fsync(fh.fileno())
        refuse_target(out)  # again, at the end: a file put there meanwhile is not deleted
    return out / INDEX


def current_settings(meta: dict, profile: str) -> bool:
    """Whether an entry was computed with the settings ``profile`` has now (the Siamese
    settings for a Siamese member, the CNN ones for a CNN): a profile retuned after some
    entries were stored leaves those entries out of its snapshot. A profile name this dissim
    does not register (a GPU-switched one) is not checked."""
    if profile not in PROFILES:
        return True
    now, stored = PROFILES[profile].to_dict(), meta.get("profile_settings", {})
    if not _is_cnn(meta):  # a Siamese member is judged by the Siamese settings only

        def siamese(d: dict) -> dict:
            return {k: v for k, v in d.items() if k != "name" and not k.startswith("cnn")}

        now, stored = siamese(now), siamese(stored)
    return _same_training(meta, now, stored)


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
    #: The frozen-CNN references (ImageNet features + SVM), apart from the eCNN members.
    frozen_results: dict[CNNMember, Result] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    def entries(self) -> list[Result]:
        return [*self.results.values(), *self.cnn_results.values(),
                *self.frozen_results.values()]

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
            "folds": sorted({m.fold for m in (*self.results, *self.cnn_results,
                                              *self.frozen_results)}),
            # the settings as of the newest entry: an entry stored before a retuning is in a
            # snapshot only where its own network's settings did not change (current_settings)
            "profile_settings": max(self.entries(), key=lambda r: str(r.meta.get("created")))
            .meta.get("profile_settings", {}) if first else {},
            "description": self.description,
            "k_values": sorted({m.k for m in self.results}),
            "topologies": self.topologies(),
            "methods": sorted({m.method for m in self.results if m.encoder == "trained"}),
            "controls": sorted({m.encoder for m in self.results if m.encoder != "trained"}),
            "cnns": sorted({m.cnn for m in self.cnn_results}),
            "frozen_cnns": sorted({m.cnn for m in self.frozen_results}),
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


def by_member(results: Sequence[Result]) -> tuple[dict, dict, dict]:
    """``(results, cnn_results, frozen_results)`` of store entries keyed by the members their
    metadata name, as a :class:`Snapshot` holds them (what the tables take)."""
    siamese, cnn, frozen = {}, {}, {}
    for r in results:
        member = member_of(r.meta)
        _target(member, siamese, cnn, frozen)[member] = r
    return siamese, cnn, frozen


def _target(member, siamese: dict, cnn: dict, frozen: dict) -> dict:
    if isinstance(member, CNNMember):
        return frozen if member.frozen else cnn
    return siamese


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
    if not isinstance(index, dict) or index.get("schema") not in SCHEMAS:
        got = index.get("schema") if isinstance(index, dict) else None
        raise DataError(f"snapshot {path} has schema {got!r}; this dissim reads schema "
                        f"{' and '.join(map(str, SCHEMAS))}")
    for name in ("dataset", "profile", "entries"):
        if name not in index:
            raise _refuse(path, f"{INDEX} lacks {name!r}")
    if index["schema"] >= 2 and index.get("sha256") != files.index_checksum(index):
        raise _refuse(path, f"has an {INDEX} that does not match its own SHA-256 (an edited "
                            "label, description or entry)")
    return index


def _safe_file(path: Path, rel) -> Path:
    """``path / rel`` for a relative path inside the snapshot that is a file, else refused."""
    if not isinstance(rel, str) or Path(rel).is_absolute() or ".." in Path(rel).parts \
            or not (path / rel).is_file():
        raise _refuse(path, f"lacks {rel}, listed in its index")
    return path / rel


def _read_verified(path: Path, rel, digest) -> bytes:
    file = _safe_file(path, rel)
    if file.stat().st_size > MAX_FILE_BYTES:
        raise _refuse(path, f"file {rel} is larger than {MAX_FILE_BYTES >> 20} MiB")
    data = file.read_bytes()
    if _sha256(data) != digest:
        raise _refuse(path, f"file {rel} does not match its SHA-256 in the index")
    return data


def _entries_v2(path: Path, index: dict) -> tuple[list[tuple[dict, Result]], set[str]]:
    """``[(index row, result)]`` of a schema-2 snapshot, every file verified."""
    sums = index.get("files")
    if not isinstance(sums, dict):
        raise _refuse(path, f"{INDEX} has a malformed entry")
    by_file: dict[str, dict[str, Result]] = {}
    for rel, digest in sorted(sums.items()):
        data = _read_verified(path, rel, digest)
        try:
            keys, scores, y_true, test_index, metas = files.read_group(data, MAX_FILE_BYTES)
        except Exception as err:  # noqa: BLE001 - any decoding failure is a damaged file
            raise _refuse(path, f"file {rel} cannot be read ({type(err).__name__})") from None
        by_file[rel] = {}
        for key, s, meta in zip(keys, scores, metas, strict=True):
            if not isinstance(meta, dict) or meta.get("key") != key:
                raise _refuse(path, f"entry {key[:12]} does not match its own metadata")
            meta = dict(meta, sha256=_digest(s, y_true, test_index))
            by_file[rel][key] = Result(key, s, y_true, test_index, meta)
    out = []
    for row in index["entries"]:
        try:
            key, rel, at = row["key"], row["file"], row["row"]
            result = by_file[rel][key]
            if list(by_file[rel]).index(key) != at:
                raise KeyError(key)
        except (KeyError, TypeError, ValueError):
            raise _refuse(path, f"{INDEX} has a malformed entry") from None
        out.append((row, result))
    listed = {r.key for _, r in out}
    stored = {k for group in by_file.values() for k in group}
    if stored - listed:
        raise _refuse(path, f"holds entry {sorted(stored - listed)[0][:12]}, which its index "
                            "does not list")
    return out, set(sums)


def _entries_v1(path: Path, index: dict) -> tuple[list[tuple[dict, Result]], set[str]]:
    """``[(index row, result)]`` of a schema-1 snapshot (float64, two files per entry)."""
    out, listed = [], set()
    for row in index["entries"]:
        try:
            key, where, sums = row["key"], row["files"], row["sha256"]
            blobs = {}
            for part in ("meta", "scores"):
                listed.add(where[part])
                blobs[part] = _read_verified(path, where[part], sums[part])
        except (KeyError, TypeError):
            raise _refuse(path, f"{INDEX} has a malformed entry") from None
        try:
            meta, scores, y_true, test_index = files.read_v1_entry(blobs["meta"],
                                                                   blobs["scores"])
        except Exception as err:  # noqa: BLE001 - any decoding failure is a damaged file
            raise _refuse(path, f"entry {key[:12]} cannot be read "
                                f"({type(err).__name__})") from None
        if meta.get("key") != key or meta.get("sha256") != _digest(scores, y_true, test_index):
            raise _refuse(path, f"entry {key[:12]} does not match its own checksum")
        out.append((row, Result(key, scores, y_true, test_index, meta)))
    return out, listed


def _cross_check(path: Path, index: dict, row: dict, member: Member | CNNMember) -> None:
    """The index's labels of an entry (and its data set and profile) are those of the entry's
    own metadata: an edited label is refused even with a recomputed checksum."""
    kind = "cnn" if isinstance(member, CNNMember) else "siamese"
    said = {"data set": (index["dataset"], member.dataset),
            "profile": (index["profile"], member.profile.name),
            "kind": (row.get("kind"), kind), "member": (row.get("member"), _describe(member))}
    if "fold" in row or index["schema"] >= 2:
        said["fold"] = (row.get("fold"), member.fold)
    for what, (label, own) in said.items():
        if label != own:
            raise _refuse(path, f"labels entry {row.get('key', '?')[:12]} with {what} "
                                f"{label!r}, but the entry itself says {own!r}")


def load(path: str | os.PathLike) -> Snapshot:
    """Read and verify the snapshot folder ``path`` (no data set, no training needed)."""
    path = Path(path)
    index = _read_index(path)
    if not isinstance(index["entries"], list):
        raise _refuse(path, f"{INDEX} has a malformed entry")
    read = _entries_v2 if index["schema"] >= 2 else _entries_v1
    entries, listed = read(path, index)
    description = index.get("description")
    snap = Snapshot(path, str(index["dataset"]), str(index["profile"]),
                    str(description) if description else None)
    named: set[str] = set()
    for row, result in entries:
        try:
            member = member_of(result.meta)
        except (KeyError, TypeError, AttributeError):
            raise _refuse(path, f"entry {result.key[:12]} has malformed metadata") from None
        _cross_check(path, index, row, member)
        target = _target(member, snap.results, snap.cnn_results, snap.frozen_results)
        if _describe(member) in named:  # also one member under two settings
            raise _refuse(path, f"holds member {_describe(member)} twice")
        named.add(_describe(member))
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
