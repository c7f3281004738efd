"""Saving and loading a fitted :class:`~dissim.classifier.DissimilarityClassifier`, pickle-free.

A model file is a zip archive holding

``manifest.json``
    ``format`` (``"dissim.classifier"``), ``schema_version`` (:data:`SCHEMA_VERSION`), the
    ``dissim_version`` that wrote it, ``entries`` (the SHA-256 and size of every other entry),
    the constructor parameters, the classes (values and numpy dtype), the k values used, one
    record per network (input, topology, method, loss, optimizer, input side, DEEPER tap,
    training log summary) and per member (network, space, k, number of classes), and the
    eCNN's name when there is one.
``networks.safetensors``
    Each Siamese network's ``state_dict``, keys prefixed ``n<j>.``.
``prototypes.safetensors``
    Member ``m<i>``'s prototype features (FULLY: embeddings; DEEPER: DCT codes).
``svms.npz``
    Member ``m<i>``'s one-vs-rest RBF SVMs as arrays (:class:`~dissim.classifier.RBFSVMs`):
    ``m<i>.c<c>.sv`` (support vectors), ``m<i>.c<c>.dual`` (dual coefficients),
    ``m<i>.intercept``, ``m<i>.gamma`` and, with feature scaling, ``m<i>.scale`` and
    ``m<i>.offset``. Read with ``np.load(..., allow_pickle=False)``.
``ecnn.safetensors``
    The fine-tuned CNN's ``state_dict`` (only with ``ecnn=``).

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
from pathlib import Path

import numpy as np
import torch

from dissim import validate
from dissim.atomic import atomic_path
from dissim.errors import DataError, DissimError

FORMAT = "dissim.classifier"
SCHEMA_VERSION = 2
FORMAT_VERSION = SCHEMA_VERSION  # the name before schema version 2
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 32 << 20
#: deflate cannot shrink real data by more than ~1000x; a larger claim is a zip bomb
MAX_RATIO = 1100


def _safetensors():
    try:
        from safetensors.torch import load, save
    except ImportError:  # pragma: no cover - a declared dependency
        raise DataError("saving and loading models needs safetensors: pip install safetensors"
                        ) from None
    return load, save


def _jsonable(value):
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def save(clf, path: str | Path) -> Path:
    """Write fitted ``clf`` to ``path`` (a zip, see the module docstring); return the path."""
    from sklearn.utils.validation import check_is_fitted

    from dissim import __version__
    from dissim.experiment import METHODS

    check_is_fitted(clf, "members_")
    _, st_save = _safetensors()
    path = Path(path).expanduser()
    validate.output_file(path, "model file", "--out")
    nets, protos, svms = {}, {}, {}
    for j, nw in enumerate(clf.networks_):
        for key, t in nw.net.state_dict().items():
            nets[f"n{j}.{key}"] = t.detach().cpu().contiguous()
    for i, m in enumerate(clf.members_):
        protos[f"m{i}"] = m.prototypes.detach().cpu().contiguous()
        s = m.svms
        svms[f"m{i}.intercept"] = s.intercept
        svms[f"m{i}.gamma"] = np.array(s.gamma)
        for c, (sv, a) in enumerate(zip(s.support, s.dual, strict=True)):
            svms[f"m{i}.c{c}.sv"], svms[f"m{i}.c{c}.dual"] = sv, a
        if s.scale is not None:
            svms[f"m{i}.scale"], svms[f"m{i}.offset"] = s.scale, s.offset
    blobs = {"svms.npz": _npz_bytes(svms), "networks.safetensors": st_save(nets),
             "prototypes.safetensors": st_save(protos)}
    if clf.ecnn_model_ is not None:
        blobs["ecnn.safetensors"] = st_save({k: t.detach().cpu().contiguous()
                                             for k, t in clf.ecnn_model_.state_dict().items()})
    manifest = {
        "format": FORMAT, "schema_version": SCHEMA_VERSION, "dissim_version": __version__,
        "entries": {name: {"sha256": hashlib.sha256(b).hexdigest(), "bytes": len(b)}
                    for name, b in blobs.items()},
        "params": {k: _jsonable(v) for k, v in clf.get_params(deep=False).items()},
        "classes": _jsonable(clf.classes_.tolist()), "classes_dtype": clf.classes_.dtype.str,
        "k_values": list(clf.k_values_),
        "networks": [{"input": nw.input, "topology": nw.topology, "method": nw.method,
                      "loss": METHODS[nw.method][0], "optimizer": METHODS[nw.method][1],
                      "input_size": nw.input_size, "deeper_layer": nw.net.backbone.deeper_layer,
                      "converged": log["converged"], "pair_accuracy": log["pair_accuracy"],
                      "train_seconds": log["seconds"]}
                     for nw, log in zip(clf.networks_, clf.train_logs_, strict=True)],
        "members": [{"network": m.network, "space": m.space, "k": m.k,
                     "n_classes": len(m.svms.support)} for m in clf.members_],
        "ecnn": {"name": clf.ecnn} if clf.ecnn_model_ is not None else None,
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


def _npz_bytes(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


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
_ENTRY = "manifest.json"


def _typed(record, keys: dict, where: str) -> None:
    """``record`` is a dict with exactly ``keys``, each of its type (bool is not an int)."""
    _need(isinstance(record, dict), _ENTRY, f"{where} is a {type(record).__name__}, not an "
          "object")
    missing = sorted(set(keys) - set(record))
    extra = sorted(set(record) - set(keys))
    _need(not missing, _ENTRY, f"{where} lacks {', '.join(missing)}")
    _need(not extra, _ENTRY, f"{where} has unknown key(s) {', '.join(extra)}")
    for key, want in keys.items():
        value = record[key]
        bad = not isinstance(value, want) or (isinstance(value, bool) and bool not in
                                               (want if isinstance(want, tuple) else (want,)))
        _need(not bad, _ENTRY, f"{where}.{key} has type {type(value).__name__}")


def _check_manifest(man, path: Path) -> set[str]:
    """Validate the manifest's schema; return the names of the entries it lists."""
    from dissim import __version__
    from dissim.classifier import DissimilarityClassifier

    _need(isinstance(man, dict), _ENTRY, f"the manifest is a {type(man).__name__}, not an "
          "object")
    _need(man.get("format") == FORMAT, _ENTRY, f"format {man.get('format')!r}, not {FORMAT!r}")
    version = man.get("schema_version", man.get("format_version"))
    if version != SCHEMA_VERSION:
        raise DataError(
            f"model file {path} has schema version {version!r} (written by dissim "
            f"{man.get('dissim_version')}); dissim {__version__} reads version "
            f"{SCHEMA_VERSION}: refit the model with `dissim fit` or use the dissim version "
            "that wrote it")
    _typed(man, _MANIFEST_KEYS, "manifest")
    known = set(DissimilarityClassifier().get_params(deep=False))
    params = man["params"]
    _need(not (set(params) - known), _ENTRY,
          f"unknown parameter(s) {', '.join(sorted(set(params) - known))}")
    _need(not (known - set(params)), _ENTRY,
          f"missing parameter(s) {', '.join(sorted(known - set(params)))}")
    classes = man["classes"]
    _need(len(classes) >= 2 and all(isinstance(c, str | int) and not isinstance(c, bool)
                                    for c in classes), _ENTRY,
          "classes must be at least two names or integers")
    _need(len(set(map(str, classes))) == len(classes), _ENTRY, "classes repeat")
    try:
        dtype = np.dtype(man["classes_dtype"])
    except TypeError:
        raise _Bad(_ENTRY, f"classes_dtype {man['classes_dtype']!r} is not a dtype") from None
    _need(dtype.kind in "iuU", _ENTRY, f"classes_dtype {dtype} is not integer or text")
    _need(len(man["k_values"]) > 0 and all(isinstance(k, int) and not isinstance(k, bool)
                                           and k > 0 for k in man["k_values"]), _ENTRY,
          "k_values must be positive integers")
    _need(len(man["networks"]) > 0 and len(man["members"]) > 0, _ENTRY,
          "no networks or no members")
    for j, rec in enumerate(man["networks"]):
        _typed(rec, _NETWORK_KEYS, f"networks[{j}]")
        _need(1 <= rec["topology"] <= 8 and rec["input_size"] > 0, _ENTRY,
              f"networks[{j}] has topology {rec['topology']}, input size {rec['input_size']}")
    for i, rec in enumerate(man["members"]):
        _typed(rec, _MEMBER_KEYS, f"members[{i}]")
        _need(0 <= rec["network"] < len(man["networks"]), _ENTRY,
              f"members[{i}].network {rec['network']} is not a network")
        _need(rec["n_classes"] == len(classes), _ENTRY,
              f"members[{i}] has {rec['n_classes']} classes, the model {len(classes)}")
    want = {"networks.safetensors", "prototypes.safetensors", "svms.npz"}
    if man["ecnn"] is not None:
        _need(set(man["ecnn"]) == {"name"} and isinstance(man["ecnn"]["name"], str), _ENTRY,
              "ecnn must be {\"name\": ...}")
        want.add("ecnn.safetensors")
    entries = man["entries"]
    _need(set(entries) == want, _ENTRY,
          f"lists entries {', '.join(sorted(entries))}; expected {', '.join(sorted(want))}")
    for name, rec in entries.items():
        _need(isinstance(rec, dict) and set(rec) == {"sha256", "bytes"}
              and isinstance(rec["sha256"], str) and len(rec["sha256"]) == 64
              and isinstance(rec["bytes"], int), _ENTRY, f"entries.{name} is malformed")
    return want


def _read(z: zipfile.ZipFile, name: str, limit: int | None = None) -> bytes:
    """Entry ``name``, refusing a zip bomb and reporting a failed CRC or inflate as damage."""
    try:
        info = z.getinfo(name)
    except KeyError:
        raise _Bad(name, "missing") from None
    if info.file_size > MAX_RATIO * info.compress_size + (1 << 20) or (
            limit is not None and info.file_size > limit):
        raise _Bad(name, f"claims {info.file_size} bytes from {info.compress_size}")
    try:
        return z.read(info)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as err:
        raise _Bad(name, f"{err.__class__.__name__}: {err}") from None


def _prefixed(state: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def _read_verified(path: Path) -> tuple[dict, dict, dict, np.lib.npyio.NpzFile, dict | None]:
    """Open, check and parse every entry of model file ``path`` (or raise :class:`_Bad`)."""
    st_load, _ = _safetensors()
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise DataError(f"{path} is not a dissim model file (not a zip archive: "
                        f"{err.__class__.__name__}); pass a file written by `dissim fit`"
                        ) from None
    with z:
        try:
            man = json.loads(_read(z, MANIFEST, MAX_MANIFEST_BYTES).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise _Bad(MANIFEST, f"not JSON ({err.__class__.__name__})") from None
        want = _check_manifest(man, path)
        names = set(z.namelist())
        extra = sorted(names - want - {MANIFEST})
        _need(not extra, extra[0] if extra else "", "not part of a dissim model")
        blobs = {}
        for name in sorted(want):
            blob = _read(z, name)
            rec = man["entries"][name]
            _need(len(blob) == rec["bytes"] and hashlib.sha256(blob).hexdigest() == rec["sha256"],
                  name, "SHA-256 differs from the manifest")
            blobs[name] = blob
    parsed = {}
    for name, blob in blobs.items():
        try:
            if name.endswith(".npz"):
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


def _svms(svms, i: int, n_classes: int, n_protos: int):
    """Member ``m<i>``'s SVM arrays, checked against the class and prototype counts."""
    from dissim.classifier import RBFSVMs

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


def load(path: str | Path, *, device: str | None = None):
    """Read and verify a model written by :func:`save`; ``device`` overrides the saved one.

    Raises
    ------
    DataError
        If the file is missing, not a model, of another schema version, or fails any check
        (the message names the entry); nothing is built from an unverified file.
    """
    from dissim.classifier import DissimilarityClassifier, Member, Network
    from dissim.experiment import METHODS, SPACE_NAMES
    from dissim.siamese import SiameseNet
    from dissim.topologies import create

    path = Path(path).expanduser()
    if path.is_dir():
        raise DataError(f"model file {path} is a folder; pass the file written by `dissim fit`")
    if not path.is_file():
        raise DataError(f"model file {path} not found; write one with `dissim fit`")
    try:
        man, nets, protos, svms, ecnn_state = _read_verified(path)
        params = {k: tuple(v) if isinstance(v, list) else v for k, v in man["params"].items()}
        params["device"] = _load_device(params.get("device"), device)
        try:
            clf = DissimilarityClassifier(**params)
            clf._check_params()
        except DissimError as err:
            raise _Bad(_ENTRY, str(err)) from None
        dev = torch.device(params["device"]) if params["device"] else None
        n_classes = len(man["classes"])
        clf.classes_ = np.array(man["classes"], dtype=np.dtype(man["classes_dtype"]))
        clf.k_values_ = tuple(man["k_values"])
        clf.networks_, clf.train_logs_ = [], []
        for j, rec in enumerate(man["networks"]):
            _need(rec["method"] in METHODS and METHODS[rec["method"]][0] == rec["loss"],
                  _ENTRY, f"networks[{j}] has method {rec['method']!r}, loss {rec['loss']!r}")
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
            clf.networks_.append(Network(rec["input"], rec["topology"], rec["method"],
                                         rec["input_size"], net))
            clf.train_logs_.append({"converged": rec["converged"],
                                    "pair_accuracy": rec["pair_accuracy"],
                                    "seconds": rec["train_seconds"]})
        _need(set(protos) == {f"m{i}" for i in range(len(man["members"]))},
              "prototypes.safetensors", "its tensors do not match the members")
        clf.members_, known = [], set()
        for i, rec in enumerate(man["members"]):
            _need(rec["space"] in SPACE_NAMES, _ENTRY,
                  f"members[{i}].space {rec['space']!r} unknown")
            p = protos[f"m{i}"]
            _need(p.ndim >= 2 and p.dtype.is_floating_point, "prototypes.safetensors",
                  f"m{i} has shape {tuple(p.shape)}")
            s = _svms(svms, i, n_classes, p.shape[0])
            clf.members_.append(Member(rec["network"], rec["space"], rec["k"], p, s))
            known.update(f"m{i}.{key}" for key in ("gamma", "intercept", "scale", "offset"))
            known.update(f"m{i}.c{c}.{key}" for c in range(n_classes) for key in ("sv", "dual"))
        unknown = sorted(set(svms.files) - known)
        _need(not unknown, "svms.npz", f"unknown array(s) {', '.join(unknown[:3])}")
        clf.ecnn_model_ = None
        if ecnn_state is not None:
            from dissim.baselines import create as create_cnn
            from dissim.profiles import get as get_profile

            prof_side = clf._ecnn_side(get_profile(clf.profile))
            try:
                model = create_cnn(man["ecnn"]["name"], n_classes, pretrained=False,
                                   input_size=prof_side)
                model.load_state_dict(ecnn_state, strict=True)
            except (DissimError, RuntimeError, ValueError, KeyError) as err:
                raise _Bad("ecnn.safetensors", _first_line(err)) from None
            clf.ecnn_model_ = model.eval().to(dev) if dev is not None else model.eval()
    except _Bad as bad:
        raise _damaged(path, bad.entry, bad.reason) from None
    return clf
