"""Saving and loading a fitted :class:`~dissim.pipeline.classifier.DissimilarityClassifier`,
pickle-free and verified.

A model file is a zip archive holding

``manifest.json``
    ``format`` (``"dissim.classifier"``), ``schema_version`` (:data:`SCHEMA_VERSION`), the
    ``dissim_version`` that wrote it, ``entries`` (the SHA-256 and size of every other entry),
    the constructor parameters, the classes (values and numpy dtype), the k values used, one
    record per network (input, topology, method, loss, optimizer, input side, DEEPER tap,
    training log summary) and per member (network, space, k, number of classes), and the
    fused CNN (``ecnn``) when there is one: ``{"name": ...}`` for a fine-tuned CNN,
    ``{"name": ..., "fusion": "frozen", "input_size": side}`` for a frozen one (its ImageNet
    weights come from the installed package, as when it was fitted).
``networks.safetensors``
    Each Siamese network's ``state_dict``, keys prefixed ``n<j>.``.
``prototypes.safetensors``
    Member ``m<i>``'s prototype features (FULLY: embeddings; DEEPER: DCT codes).
``svms.npz``
    Member ``m<i>``'s one-vs-rest RBF SVMs as arrays (:class:`~dissim.fusion.RBFSVMs`):
    ``m<i>.c<c>.sv`` (support vectors), ``m<i>.c<c>.dual`` (dual coefficients),
    ``m<i>.intercept``, ``m<i>.gamma`` and, with feature scaling, ``m<i>.scale`` and
    ``m<i>.offset``. A frozen CNN's standardised SVM (:func:`dissim.pipeline.controls.frozen_svms`)
    is there too, its support vectors stored once for all classes: ``cnn.sv`` (the distinct
    support vectors), ``cnn.c<c>.index`` (class ``c``'s rows of ``cnn.sv``), ``cnn.c<c>.dual``,
    ``cnn.intercept``, ``cnn.gamma``, ``cnn.scale``, ``cnn.offset``. Read with
    ``np.load(..., allow_pickle=False)``.
``ecnn.safetensors``
    The fine-tuned CNN's ``state_dict`` (only with a fine-tuned ``ecnn``).

Loading verifies before it builds anything: the manifest's schema (types, required keys, no
unknown parameter, the class count against every SVM's shape), the exact set of entries, and
every entry's SHA-256, so a flipped byte, a swapped or missing entry, an edited weight with a
recomputed zip CRC or a pickle in place of an array is refused with one
:class:`~dissim.errors.DataError` line naming the file and the entry. Nothing is unpickled, so
a model file from someone else cannot run code. Tensors are read on the CPU and moved to the
requested device, so a model fitted on CUDA loads on a machine without it. The file is written
to a temporary name beside ``path`` and renamed when complete (:mod:`dissim.atomic`).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from dissim import __version__
from dissim.atomic import atomic_path
from dissim.baselines import MIN_INPUT_SIZE
from dissim.baselines import create as create_cnn
from dissim.baselines import get as get_cnn
from dissim.errors import DataError, DissimError
from dissim.fusion import RBFSVMs
from dissim.pipeline import validate
from dissim.pipeline.member import METHODS, ClassifierMember, Network, SpaceMember
from dissim.profiles import get as get_profile
from dissim.siamese import SiameseNet
from dissim.spaces import SPACE_NAMES, DissimilaritySpace, NetworkEncoder
from dissim.topologies import available as available_topologies
from dissim.topologies import create

FORMAT = "dissim.classifier"
SCHEMA_VERSION = 2
FORMAT_VERSION = SCHEMA_VERSION  # the name before schema version 2
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 32 << 20
#: deflate cannot shrink real data by more than ~1000x; a larger claim is a zip bomb (the
#: manifest, JSON text, is held to this and to :data:`MAX_MANIFEST_BYTES`)
MAX_RATIO = 1100
#: The most an array entry (weights, prototypes, SVMs) may inflate: :func:`save` stores the
#: safetensors entries uncompressed (ratio 1) and deflates ``svms.npz``, float64 support
#: vectors and dual coefficients that deflate by ~10 %; 4x is far beyond any real model, so a
#: small file that declares a huge member (consistently, in its manifest too) is refused before
#: anything is inflated, not inflated whole.
MAX_ARRAY_RATIO = 4
#: Bytes every entry may have beyond its ratio (headers, a tiny entry's zip overhead).
SLACK_BYTES = 1 << 20
#: Header bytes a network's ``safetensors`` record may add to its tensors (names, shapes).
HEADER_BYTES_PER_NETWORK = 64 << 10
#: Bytes read at a time from an entry.
CHUNK_BYTES = 1 << 20


def _jsonable(value):
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def save(path: str | Path, *, params: dict, classes: np.ndarray, k_values, networks: list[Network],
         members: list[ClassifierMember], train_logs: list[dict], ecnn=None,
         cnn: dict | None = None, cnn_svm: RBFSVMs | None = None) -> Path:
    """Write a fitted classifier's parts to ``path`` (a zip, see the module docstring).

    ``ecnn``: the fine-tuned CNN; ``cnn``: the manifest's record of the fused CNN (default
    ``{"name": params["ecnn"]}`` with ``ecnn``); ``cnn_svm``: a frozen CNN's SVM.

    ``path`` is checked (a file in an existing writable folder with room for the model) before
    anything is written, and appears only when complete.
    """
    path = Path(path).expanduser()
    validate.output_file(path, "model file", "--out")
    nets, protos, svms = {}, {}, {}
    for j, nw in enumerate(networks):
        for key, t in nw.net.state_dict().items():
            nets[f"n{j}.{key}"] = t.detach().cpu().contiguous()
    for i, m in enumerate(members):
        protos[f"m{i}"] = m.fitted.transformer.prototype_features_.detach().cpu().contiguous()
        s = m.fitted.svms
        svms[f"m{i}.intercept"] = s.intercept
        svms[f"m{i}.gamma"] = np.array(s.gamma)
        for c, (sv, a) in enumerate(zip(s.support, s.dual, strict=True)):
            svms[f"m{i}.c{c}.sv"], svms[f"m{i}.c{c}.dual"] = sv, a
        if s.scale is not None:
            svms[f"m{i}.scale"], svms[f"m{i}.offset"] = s.scale, s.offset
    if cnn is None and ecnn is not None:
        cnn = {"name": params.get("ecnn")}
    if cnn_svm is not None:
        svms.update(_cnn_svm_arrays(cnn_svm))
    blobs = {"svms.npz": _npz_bytes(svms), "networks.safetensors": st_save(nets),
             "prototypes.safetensors": st_save(protos)}
    if ecnn is not None:
        blobs["ecnn.safetensors"] = st_save({k: t.detach().cpu().contiguous()
                                             for k, t in ecnn.state_dict().items()})
    manifest = {
        "format": FORMAT, "schema_version": SCHEMA_VERSION, "dissim_version": __version__,
        "entries": {name: {"sha256": hashlib.sha256(b).hexdigest(), "bytes": len(b)}
                    for name, b in blobs.items()},
        "params": {k: _jsonable(v) for k, v in params.items()},
        "classes": _jsonable(classes.tolist()), "classes_dtype": classes.dtype.str,
        "k_values": list(k_values),
        "networks": [{"input": nw.input, "topology": nw.topology, "method": nw.method,
                      "loss": METHODS[nw.method][0], "optimizer": METHODS[nw.method][1],
                      "input_size": nw.input_size, "deeper_layer": nw.net.backbone.deeper_layer,
                      "converged": log["converged"], "pair_accuracy": log["pair_accuracy"],
                      "train_seconds": log["seconds"]}
                     for nw, log in zip(networks, train_logs, strict=True)],
        "members": [{"network": m.network, "space": m.space, "k": m.k,
                     "n_classes": len(m.fitted.svms.support)} for m in members],
        "ecnn": None if cnn is None else dict(cnn),
    }
    validate.output_file(path, "model file", "--out",
                         need_bytes=sum(map(len, blobs.values())) + (1 << 20))
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as z:
        z.writestr(MANIFEST, json.dumps(manifest, indent=1), compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("svms.npz", blobs["svms.npz"], compress_type=zipfile.ZIP_DEFLATED)
        # float weights barely deflate (~10 %) and deflating 100s of MB takes seconds: store
        for name in ("networks.safetensors", "prototypes.safetensors", "ecnn.safetensors"):
            if name in blobs:
                z.writestr(name, blobs[name], compress_type=zipfile.ZIP_STORED)
    return path


def _cnn_svm_arrays(s: RBFSVMs) -> dict[str, np.ndarray]:
    """A frozen CNN's SVM as ``cnn.*`` arrays, each distinct support vector once (one-vs-rest
    SVMs trained on the same features share most of them: a copy per class would multiply the
    file by the class count)."""
    stacked = np.concatenate(s.support)
    union, inverse = np.unique(stacked, axis=0, return_inverse=True)
    out = {"cnn.sv": union, "cnn.intercept": s.intercept, "cnn.gamma": np.array(s.gamma),
           "cnn.scale": s.scale, "cnn.offset": s.offset}
    start = 0
    for c, (sv, a) in enumerate(zip(s.support, s.dual, strict=True)):
        out[f"cnn.c{c}.index"] = inverse.reshape(-1)[start:start + len(sv)].astype(np.int64)
        out[f"cnn.c{c}.dual"] = a
        start += len(sv)
    return out


def _npz_bytes(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# verification
# ---------------------------------------------------------------------------------------------
class _Bad(Exception):
    """A failed check inside :func:`load`: which entry, and why."""

    def __init__(self, entry: str, reason: str) -> None:
        super().__init__(entry, reason)
        self.entry, self.reason = entry, reason


def _damaged(path: Path, entry: str, reason: str) -> DataError:
    return DataError(f"model file {path} is damaged or not a dissim model (entry {entry}: "
                     f"{reason}); refit it with `dissim fit`")


def _need(ok: bool, entry: str, reason: str) -> None:
    if not ok:
        raise _Bad(entry, reason)


_NUM = (int, float)
_MANIFEST_KEYS = {
    "format": str, "schema_version": int, "dissim_version": str, "entries": dict,
    "params": dict, "classes": list, "classes_dtype": str, "k_values": list,
    "networks": list, "members": list, "ecnn": (dict, type(None)),
}
_NETWORK_KEYS = {
    "input": str, "topology": int, "method": str, "loss": str, "optimizer": str,
    "input_size": int, "deeper_layer": str, "converged": bool,
    "pair_accuracy": (*_NUM, type(None)), "train_seconds": _NUM,
}
_MEMBER_KEYS = {"network": int, "space": str, "k": int, "n_classes": int}


def _typed(record, keys: dict, where: str) -> None:
    """``record`` is a dict with exactly ``keys``, each of its type (bool is not an int)."""
    _need(isinstance(record, dict), MANIFEST, f"{where} is a {type(record).__name__}, not an "
          "object")
    missing = sorted(set(keys) - set(record))
    extra = sorted(set(record) - set(keys))
    _need(not missing, MANIFEST, f"{where} lacks {', '.join(missing)}")
    _need(not extra, MANIFEST, f"{where} has unknown key(s) {', '.join(extra)}")
    for key, want in keys.items():
        value = record[key]
        bad = not isinstance(value, want) or (isinstance(value, bool) and bool not in
                                               (want if isinstance(want, tuple) else (want,)))
        _need(not bad, MANIFEST, f"{where}.{key} has type {type(value).__name__}")


def _check_manifest(man, path: Path) -> set[str]:
    """Validate the manifest's schema; return the names of the entries it lists."""
    _need(isinstance(man, dict), MANIFEST, f"the manifest is a {type(man).__name__}, not an "
          "object")
    _need(man.get("format") == FORMAT, MANIFEST, f"format {man.get('format')!r}, not {FORMAT!r}")
    version = man.get("schema_version", man.get("format_version"))
    if version != SCHEMA_VERSION:
        raise DataError(
            f"model file {path} has schema version {version!r} (written by dissim "
            f"{man.get('dissim_version')}); dissim {__version__} reads version "
            f"{SCHEMA_VERSION}: refit the model with `dissim fit` or use the dissim version "
            "that wrote it")
    _typed(man, _MANIFEST_KEYS, "manifest")
    classes = man["classes"]
    _need(len(classes) >= 2 and all(isinstance(c, str | int) and not isinstance(c, bool)
                                    for c in classes), MANIFEST,
          "classes must be at least two names or integers")
    _need(len(set(map(str, classes))) == len(classes), MANIFEST, "classes repeat")
    try:
        dtype = np.dtype(man["classes_dtype"])
    except TypeError:
        raise _Bad(MANIFEST, f"classes_dtype {man['classes_dtype']!r} is not a dtype") from None
    _need(dtype.kind in "iuU", MANIFEST, f"classes_dtype {dtype} is not integer or text")
    _need(len(man["k_values"]) > 0 and all(isinstance(k, int) and not isinstance(k, bool)
                                           and k > 0 for k in man["k_values"]), MANIFEST,
          "k_values must be positive integers")
    _need(len(man["networks"]) > 0 and len(man["members"]) > 0, MANIFEST,
          "no networks or no members")
    topologies = available_topologies()
    for j, rec in enumerate(man["networks"]):
        _typed(rec, _NETWORK_KEYS, f"networks[{j}]")
        _need(rec["topology"] in topologies and rec["input_size"] > 0, MANIFEST,
              f"networks[{j}] has topology {rec['topology']}, input size {rec['input_size']}")
        _need(rec["method"] in METHODS and METHODS[rec["method"]] == (rec["loss"],
                                                                      rec["optimizer"]),
              MANIFEST, f"networks[{j}] has method {rec['method']!r}, loss {rec['loss']!r}, "
              f"optimizer {rec['optimizer']!r}")
    for i, rec in enumerate(man["members"]):
        _typed(rec, _MEMBER_KEYS, f"members[{i}]")
        _need(0 <= rec["network"] < len(man["networks"]), MANIFEST,
              f"members[{i}].network {rec['network']} is not a network")
        _need(rec["space"] in SPACE_NAMES, MANIFEST,
              f"members[{i}].space {rec['space']!r} unknown")
        _need(rec["k"] > 0, MANIFEST, f"members[{i}].k {rec['k']} is not positive")
        _need(rec["n_classes"] == len(classes), MANIFEST,
              f"members[{i}] has {rec['n_classes']} classes, the model {len(classes)}")
    want = {"networks.safetensors", "prototypes.safetensors", "svms.npz"}
    rec = man["ecnn"]
    if rec is not None and set(rec) == {"name"}:  # fine-tuned: its weights are in the file
        _need(isinstance(rec["name"], str), MANIFEST, "ecnn.name must be a CNN name")
        want.add("ecnn.safetensors")
    elif rec is not None:  # frozen: the installed ImageNet weights and an SVM in svms.npz
        _need(set(rec) == {"name", "fusion", "input_size"} and isinstance(rec["name"], str)
              and rec["fusion"] == "frozen" and isinstance(rec["input_size"], int)
              and not isinstance(rec["input_size"], bool)
              and rec["input_size"] >= MIN_INPUT_SIZE, MANIFEST,
              "ecnn must be {\"name\": ...} or {\"name\": ..., \"fusion\": \"frozen\", "
              f"\"input_size\": >= {MIN_INPUT_SIZE}}}")
    entries = man["entries"]
    _need(set(entries) == want, MANIFEST,
          f"lists entries {', '.join(sorted(entries))}; expected {', '.join(sorted(want))}")
    for name, rec in entries.items():
        _need(isinstance(rec, dict) and set(rec) == {"sha256", "bytes"}
              and isinstance(rec["sha256"], str) and len(rec["sha256"]) == 64
              and isinstance(rec["bytes"], int), MANIFEST, f"entries.{name} is malformed")
    return want


def _read(z: zipfile.ZipFile, name: str, limit: int | None = None,
          ratio: float = MAX_ARRAY_RATIO) -> bytes:
    """Entry ``name``, at most ``limit`` bytes and ``ratio`` times its compressed size (plus
    :data:`SLACK_BYTES`): a larger claim is refused before anything is inflated, and the entry
    is read in chunks that stop at the limit, so no entry inflates past it whatever its header
    says. A failed CRC or inflate is reported as damage."""
    try:
        info = z.getinfo(name)
    except KeyError:
        raise _Bad(name, "missing") from None
    cap = ratio * info.compress_size + SLACK_BYTES
    if limit is not None:
        cap = min(cap, limit)
    if info.file_size > cap:
        raise _Bad(name, f"claims {info.file_size} bytes from {info.compress_size}, more than "
                   f"the {int(cap)} a model needs")
    try:
        chunks, size = [], 0
        with z.open(info) as fh:
            while chunk := fh.read(min(CHUNK_BYTES, int(cap) + 1 - size)):
                chunks.append(chunk)
                size += len(chunk)
                if size > cap:
                    raise _Bad(name, f"inflates past the {int(cap)} bytes a model needs")
        return b"".join(chunks)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as err:
        raise _Bad(name, f"{err.__class__.__name__}: {err}") from None


def _networks_bytes(networks: list[dict]) -> int:
    """The most bytes ``networks.safetensors`` can hold for the manifest's ``networks``: each
    network's ``state_dict``, built on torch's ``meta`` device (nothing allocated), plus
    :data:`HEADER_BYTES_PER_NETWORK`."""
    total = 0
    for j, rec in enumerate(networks):
        try:
            with torch.device("meta"):
                net = SiameseNet(create(rec["topology"], in_channels=3,
                                        input_size=rec["input_size"],
                                        deeper_layer=rec["deeper_layer"]), mode=rec["loss"])
        except (DissimError, RuntimeError, ValueError, KeyError) as err:
            raise _Bad(MANIFEST, f"networks[{j}]: {_first_line(err)}") from None
        total += sum(t.numel() * t.element_size() for t in net.state_dict().values())
        total += HEADER_BYTES_PER_NETWORK
    return total


def _inner_sizes(blob: bytes, name: str) -> None:
    """Refuse an ``.npz`` entry (itself a zip) whose arrays declare more bytes than it holds,
    from its central directory, before any array is inflated: :func:`save` stores them
    uncompressed (``np.savez``), so together they are never larger than the entry."""
    with zipfile.ZipFile(io.BytesIO(blob)) as inner:
        declared = sum(info.file_size for info in inner.infolist())
    if declared > len(blob):
        raise _Bad(name, f"its arrays declare {declared} bytes in {len(blob)}")


def _prefixed(state: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def _read_verified(path: Path) -> tuple[dict, dict, dict, np.lib.npyio.NpzFile, dict | None]:
    """Open, check and parse every entry of model file ``path`` (or raise :class:`_Bad`)."""
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise DataError(f"{path} is not a dissim model file (not a zip archive: "
                        f"{err.__class__.__name__}); pass a file written by `dissim fit`"
                        ) from None
    with z:
        try:
            man = json.loads(_read(z, MANIFEST, MAX_MANIFEST_BYTES, MAX_RATIO).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise _Bad(MANIFEST, f"not JSON ({err.__class__.__name__})") from None
        want = _check_manifest(man, path)
        limits = {name: man["entries"][name]["bytes"] for name in want}
        limits["networks.safetensors"] = min(limits["networks.safetensors"],
                                             _networks_bytes(man["networks"]))
        names = set(z.namelist())
        extra = sorted(names - want - {MANIFEST})
        _need(not extra, extra[0] if extra else "", "not part of a dissim model")
        blobs = {}
        for name in sorted(want):  # declared sizes first: nothing is inflated beyond them
            declared = z.getinfo(name).file_size if name in names else None
            _need(declared in (None, man["entries"][name]["bytes"]), name,
                  f"declares {declared} bytes, the manifest {man['entries'][name]['bytes']}")
        for name in sorted(want):
            blob = _read(z, name, limits[name])
            rec = man["entries"][name]
            _need(len(blob) == rec["bytes"] and hashlib.sha256(blob).hexdigest() == rec["sha256"],
                  name, "SHA-256 differs from the manifest")
            blobs[name] = blob
    parsed = {}
    for name, blob in blobs.items():
        try:
            if name.endswith(".npz"):
                _inner_sizes(blob, name)
                parsed[name] = np.load(io.BytesIO(blob), allow_pickle=False)
            else:
                parsed[name] = st_load(blob)  # CPU tensors, whatever device wrote them
        except Exception as err:  # noqa: BLE001 - any decoder failure is damage
            raise _Bad(name, f"{err.__class__.__name__}: {_first_line(err)}") from None
    return (man, parsed["networks.safetensors"], parsed["prototypes.safetensors"],
            parsed["svms.npz"], parsed.get("ecnn.safetensors"))


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else "(no message)"


def _svms(svms, i: int, n_classes: int, n_protos: int) -> RBFSVMs:
    """Member ``m<i>``'s SVM arrays, checked against the class and prototype counts."""
    entry = "svms.npz"

    def get(key: str, ndim: int) -> np.ndarray:
        _need(key in svms.files, entry, f"{key} missing")
        a = svms[key]
        _need(a.ndim == ndim and a.dtype.kind == "f", entry,
              f"{key} has shape {a.shape} and dtype {a.dtype}")
        return a

    scaled = f"m{i}.scale" in svms.files
    sv = [get(f"m{i}.c{c}.sv", 2) for c in range(n_classes)]
    dual = [get(f"m{i}.c{c}.dual", 1) for c in range(n_classes)]
    intercept = get(f"m{i}.intercept", 1)
    _need(intercept.shape == (n_classes,), entry,
          f"m{i}.intercept has {intercept.shape[0]} classes, the model {n_classes}")
    for c, (s, a) in enumerate(zip(sv, dual, strict=True)):
        _need(s.shape[0] == a.shape[0] and s.shape[1] == n_protos, entry,
              f"m{i}.c{c} shapes {s.shape}, {a.shape} do not fit {n_protos} prototypes")
    scale = get(f"m{i}.scale", 1) if scaled else None
    offset = get(f"m{i}.offset", 1) if scaled else None
    return RBFSVMs(float(get(f"m{i}.gamma", 0)), sv, dual, intercept, scale, offset)


def _cnn_svm(svms, n_classes: int) -> RBFSVMs:
    """The frozen CNN's SVM from its ``cnn.*`` arrays, checked against the class count and
    against each other (indices inside ``cnn.sv``, widths equal)."""
    entry = "svms.npz"

    def get(key: str, ndim: int, kind: str = "f") -> np.ndarray:
        _need(key in svms.files, entry, f"{key} missing")
        a = svms[key]
        _need(a.ndim == ndim and a.dtype.kind in kind, entry,
              f"{key} has shape {a.shape} and dtype {a.dtype}")
        return a

    union = get("cnn.sv", 2)
    width = union.shape[1]
    intercept = get("cnn.intercept", 1)
    _need(intercept.shape == (n_classes,), entry,
          f"cnn.intercept has {intercept.shape[0]} classes, the model {n_classes}")
    scale, offset = get("cnn.scale", 1), get("cnn.offset", 1)
    _need(scale.shape == offset.shape == (width,), entry,
          f"cnn.scale and cnn.offset do not fit {width} features")
    support, dual = [], []
    for c in range(n_classes):
        index, a = get(f"cnn.c{c}.index", 1, "iu"), get(f"cnn.c{c}.dual", 1)
        _need(index.shape == a.shape and (not len(index) or (index.min() >= 0 and
                                                               index.max() < len(union))),
              entry, f"cnn.c{c}: {len(index)} indices into {len(union)} support vectors, "
              f"{len(a)} coefficients")
        support.append(union[index])
        dual.append(a)
    return RBFSVMs(float(get("cnn.gamma", 0)), support, dual, intercept, scale, offset)


def _load_device(saved: str | None, device: str | None) -> str | None:
    """``device`` if given (checked), else the saved one where it exists here, else None."""
    if device is not None:
        validate.device(device)
        return device
    try:
        validate.device(saved, "the model's device")
    except DissimError:
        return None  # fitted on CUDA, loaded without it: the default (the CPU here)
    return saved


@dataclass
class Parts:
    """What :func:`load` reads: the classifier's parameters and fitted attributes."""

    params: dict
    classes: np.ndarray
    k_values: tuple[int, ...]
    networks: list[Network]
    train_logs: list[dict]
    members: list[tuple[int, SpaceMember]]
    ecnn: torch.nn.Module | None
    cnn: dict | None = None  # the manifest's record of the fused CNN
    cnn_svm: RBFSVMs | None = None  # a frozen CNN's SVM


def load(path: str | Path, *, device: str | None = None,
         check_params: Callable[[dict], None] | None = None) -> Parts:
    """Read and verify a model written by :func:`save`; ``device`` overrides the saved one.

    ``check_params(params)`` (the classifier's) raises a :class:`~dissim.errors.DissimError`
    for parameters it does not accept; that makes the file damaged, too.

    Raises
    ------
    DataError
        If the file is missing, not a model, of another schema version, or fails any check
        (the message names the entry); nothing is built from an unverified file.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise DataError(f"model file {path} is a folder; pass the file written by `dissim fit`")
    if not path.is_file():
        raise DataError(f"model file {path} not found; write one with `dissim fit`")
    try:
        man, nets, protos, svms, ecnn_state = _read_verified(path)
        params = {k: tuple(v) if isinstance(v, list) else v for k, v in man["params"].items()}
        if check_params is not None:
            try:
                check_params(params)
            except DissimError as err:
                raise _Bad(MANIFEST, str(err)) from None
        params["device"] = _load_device(params.get("device"), device)
        dev = torch.device(params["device"]) if params["device"] else None
        n_classes = len(man["classes"])
        networks, logs, encoders = [], [], []
        for j, rec in enumerate(man["networks"]):
            try:
                backbone = create(rec["topology"], in_channels=3, input_size=rec["input_size"],
                                  deeper_layer=rec["deeper_layer"])
                net = SiameseNet(backbone, mode=rec["loss"])
                net.load_state_dict(_prefixed(nets, f"n{j}."), strict=True)
            except (DissimError, RuntimeError, ValueError, KeyError) as err:
                raise _Bad("networks.safetensors",
                           f"network n{j}: {_first_line(err)}") from None
            net.eval()
            if dev is not None:
                net.to(dev)
            networks.append(Network(rec["input"], rec["topology"], rec["method"],
                                    rec["input_size"], net))
            encoders.append(NetworkEncoder(net))
            logs.append({"converged": rec["converged"], "pair_accuracy": rec["pair_accuracy"],
                         "seconds": rec["train_seconds"]})
        _need(set(protos) == {f"m{i}" for i in range(len(man["members"]))},
              "prototypes.safetensors", "its tensors do not match the members")
        members, known = [], set()
        for i, rec in enumerate(man["members"]):
            p = protos[f"m{i}"]
            _need(p.ndim >= 2 and p.dtype.is_floating_point, "prototypes.safetensors",
                  f"m{i} has shape {tuple(p.shape)}")
            s = _svms(svms, i, n_classes, p.shape[0])
            space = DissimilaritySpace.from_prototypes(encoders[rec["network"]], rec["space"],
                                                       p, k=rec["k"])
            members.append((rec["network"], SpaceMember(rec["space"], rec["k"], space, s)))
            known.update(f"m{i}.{key}" for key in ("gamma", "intercept", "scale", "offset"))
            known.update(f"m{i}.c{c}.{key}" for c in range(n_classes) for key in ("sv", "dual"))
        cnn_svm = None
        if man["ecnn"] is not None and man["ecnn"].get("fusion") == "frozen":
            try:
                get_cnn(man["ecnn"]["name"])
            except DissimError as err:
                raise _Bad(MANIFEST, _first_line(err)) from None
            cnn_svm = _cnn_svm(svms, n_classes)
            known.update(f"cnn.{key}" for key in ("sv", "intercept", "gamma", "scale", "offset"))
            known.update(f"cnn.c{c}.{key}" for c in range(n_classes) for key in ("index", "dual"))
        unknown = sorted(set(svms.files) - known)
        _need(not unknown, "svms.npz", f"unknown array(s) {', '.join(unknown[:3])}")
        ecnn = None
        if ecnn_state is not None:
            try:
                prof = get_profile(params.get("profile", "quick"))
                ecnn = create_cnn(man["ecnn"]["name"], n_classes, pretrained=False,
                                  input_size=prof.cnn_input_size)
                ecnn.load_state_dict(ecnn_state, strict=True)
            except (DissimError, RuntimeError, ValueError, KeyError) as err:
                raise _Bad("ecnn.safetensors", _first_line(err)) from None
            ecnn = ecnn.eval().to(dev) if dev is not None else ecnn.eval()
    except _Bad as bad:
        raise _damaged(path, bad.entry, bad.reason) from None
    classes = np.array(man["classes"], dtype=np.dtype(man["classes_dtype"]))
    return Parts(params, classes, tuple(man["k_values"]), networks, logs, members, ecnn,
                 man["ecnn"], cnn_svm)
