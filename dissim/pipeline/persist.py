"""Saving and loading a fitted :class:`~dissim.pipeline.classifier.DissimilarityClassifier`,
pickle-free.

A model file is a zip archive holding

``manifest.json``
    ``format`` (``"dissim.classifier"``), ``format_version`` (:data:`FORMAT_VERSION`), the
    ``dissim_version`` that wrote it, the constructor parameters, the classes (values and
    numpy dtype), the k values used, one record per network (input, topology, method, loss,
    optimizer, input side, DEEPER tap, training log summary) and per member (network, space, k),
    and the eCNN's name and input side when there is one.
``networks.safetensors``
    Each Siamese network's ``state_dict``, keys prefixed ``n<j>.``.
``prototypes.safetensors``
    Member ``m<i>``'s prototype features (FULLY: embeddings; DEEPER: DCT codes).
``svms.npz``
    Member ``m<i>``'s one-vs-rest RBF SVMs as arrays (:class:`~dissim.fusion.RBFSVMs`):
    ``m<i>.c<c>.sv`` (support vectors), ``m<i>.c<c>.dual`` (dual coefficients),
    ``m<i>.intercept``, ``m<i>.gamma`` and, with feature scaling, ``m<i>.scale`` and
    ``m<i>.offset``. Read with ``np.load(..., allow_pickle=False)``.
``ecnn.safetensors``
    The fine-tuned CNN's ``state_dict`` (only with ``ecnn=``).

Nothing is unpickled on load, so a model file from someone else cannot run code. A file of
another ``format_version`` is refused with one :class:`~dissim.errors.DataError` line.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from dissim import __version__
from dissim.errors import DataError
from dissim.fusion import RBFSVMs
from dissim.pipeline.member import METHODS, Member, Network, SpaceMember
from dissim.siamese import SiameseNet
from dissim.spaces import DissimilaritySpace, NetworkEncoder
from dissim.topologies import create

FORMAT = "dissim.classifier"
FORMAT_VERSION = 1


def _jsonable(value):
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def save(path: str | Path, *, params: dict, classes: np.ndarray, k_values, networks: list[Network],
         members: list[Member], train_logs: list[dict], ecnn=None) -> Path:
    """Write a fitted classifier's parts to ``path`` (a zip, see the module docstring)."""
    path = Path(path).expanduser()
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
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "dissim_version": __version__,
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
        "ecnn": None if ecnn is None else {"name": params.get("ecnn")},
    }
    npz = io.BytesIO()
    np.savez(npz, **svms)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest, indent=1))
        z.writestr("svms.npz", npz.getvalue())
        # float weights barely deflate (~10 %) and deflating 100s of MB takes seconds: store
        z.writestr("networks.safetensors", st_save(nets), compress_type=zipfile.ZIP_STORED)
        z.writestr("prototypes.safetensors", st_save(protos), compress_type=zipfile.ZIP_STORED)
        if ecnn is not None:
            state = {k: t.detach().cpu().contiguous() for k, t in ecnn.state_dict().items()}
            z.writestr("ecnn.safetensors", st_save(state), compress_type=zipfile.ZIP_STORED)
    tmp.replace(path)
    return path


def _read(z: zipfile.ZipFile, name: str, path: Path) -> bytes:
    try:
        return z.read(name)
    except KeyError:
        raise DataError(f"model file {path} lacks {name}; it is damaged, refit it") from None


def _prefixed(state: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


@dataclass
class Parts:
    """What :func:`load` reads: the classifier's parameters and fitted attributes."""

    params: dict
    classes: np.ndarray
    k_values: tuple[int, ...]
    networks: list[Network]
    train_logs: list[dict]
    members: list[tuple[int, SpaceMember]]
    ecnn_state: dict | None


def load(path: str | Path, *, device: str | None = None) -> Parts:
    """Read a model written by :func:`save`; ``device`` overrides the saved ``device``."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"model file {path} not found; write one with `dissim fit`")
    try:
        z = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise DataError(f"{path} is not a dissim model file (not a zip archive)") from None
    with z:
        try:
            man = json.loads(_read(z, "manifest.json", path))
        except json.JSONDecodeError:
            raise DataError(f"model file {path} has a corrupt manifest.json; refit it") from None
        if man.get("format") != FORMAT:
            raise DataError(f"{path} is not a dissim classifier model (format "
                            f"{man.get('format')!r})")
        if man.get("format_version") != FORMAT_VERSION:
            raise DataError(
                f"model file {path} has format version {man.get('format_version')!r} (written by "
                f"dissim {man.get('dissim_version')}); dissim {__version__} reads version "
                f"{FORMAT_VERSION}: refit the model or use the dissim version that wrote it")
        nets = st_load(_read(z, "networks.safetensors", path))
        protos = st_load(_read(z, "prototypes.safetensors", path))
        svms = np.load(io.BytesIO(_read(z, "svms.npz", path)), allow_pickle=False)
        ecnn_state = (st_load(_read(z, "ecnn.safetensors", path)) if man.get("ecnn") else None)
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in man["params"].items()}
    if device is not None:
        params["device"] = device
    dev = torch.device(params["device"]) if params["device"] else None
    networks, logs, encoders = [], [], []
    for j, rec in enumerate(man["networks"]):
        backbone = create(rec["topology"], in_channels=3, input_size=rec["input_size"],
                          deeper_layer=rec["deeper_layer"])
        net = SiameseNet(backbone, mode=rec["loss"])
        net.load_state_dict(_prefixed(nets, f"n{j}."), strict=True)
        net.eval()
        if dev is not None:
            net.to(dev)
        networks.append(Network(rec["input"], rec["topology"], rec["method"],
                                rec["input_size"], net))
        encoders.append(NetworkEncoder(net))
        logs.append({"converged": rec["converged"], "pair_accuracy": rec["pair_accuracy"],
                     "seconds": rec["train_seconds"]})
    members = []
    for i, rec in enumerate(man["members"]):
        c = range(rec["n_classes"])
        scaled = f"m{i}.scale" in svms.files
        s = RBFSVMs(float(svms[f"m{i}.gamma"]), [svms[f"m{i}.c{k}.sv"] for k in c],
                    [svms[f"m{i}.c{k}.dual"] for k in c], svms[f"m{i}.intercept"],
                    svms[f"m{i}.scale"] if scaled else None,
                    svms[f"m{i}.offset"] if scaled else None)
        space = DissimilaritySpace.from_prototypes(encoders[rec["network"]], rec["space"],
                                                   protos[f"m{i}"], k=rec["k"])
        members.append((rec["network"], SpaceMember(rec["space"], rec["k"], space, s)))
    classes = np.array(man["classes"], dtype=np.dtype(man["classes_dtype"]))
    return Parts(params, classes, tuple(man["k_values"]), networks, logs, members, ecnn_state)
