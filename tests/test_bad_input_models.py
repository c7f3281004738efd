"""Tampered model files (issue 15): every entry flipped, removed, swapped or replaced, and
every schema fault, is one line naming the file and the entry; nothing is unpickled.

One real smoke model is fitted once per session (a second or so).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import pickle
import zipfile
from pathlib import Path

import pytest
import torch
from bad_input import fails_once, make_tree, snapshot

from dissim.cli import main

ENTRIES = ("manifest.json", "networks.safetensors", "prototypes.safetensors", "svms.npz")


@pytest.fixture(scope="session")
def model(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("model")
    tree = make_tree(base / "t")
    out = base / "m.zip"
    assert main(["fit", str(tree), "--out", str(out), "--profile", "smoke", "--device", "cpu",
                 "--topologies", "8", "--methods", "cross", "--spaces", "fully,deeper",
                 "--k", "2"]) == 0
    return out


def _entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def _write(path: Path, entries: dict[str, bytes], *, reseal: bool = False) -> Path:
    """Write ``entries`` as a zip (fresh, valid CRCs); ``reseal`` recomputes the manifest's
    hashes, as someone who knows the format would."""
    if reseal:
        man = json.loads(entries["manifest.json"])
        for name in man["entries"]:
            if name in entries:
                b = entries[name]
                man["entries"][name] = {"sha256": hashlib.sha256(b).hexdigest(), "bytes": len(b)}
        entries = {**entries, "manifest.json": json.dumps(man).encode()}
    with zipfile.ZipFile(path, "w") as z:
        for n, b in entries.items():
            z.writestr(n, b)
    return path


def _flip(b: bytes, at: float = 0.5) -> bytes:
    a = bytearray(b)
    a[int(len(a) * at)] ^= 0x40
    return bytes(a)


def _manifest(model: Path, **change) -> dict[str, bytes]:
    entries = _entries(model)
    man = json.loads(entries["manifest.json"])
    for key, value in change.items():
        if value is ...:
            man.pop(key)
        else:
            man[key] = value(man) if callable(value) else value
    return {**entries, "manifest.json": json.dumps(man).encode()}


def predict_fails(path: Path, tree: Path, capsys) -> str:
    before = snapshot(path.parent)
    message = fails_once(main(["predict", str(path), str(tree)]), capsys.readouterr().err)
    assert snapshot(path.parent) == before
    assert str(path) in message
    return message


def cases(model: Path, tmp: Path) -> dict[str, tuple[Path, str]]:
    good = _entries(model)
    out: dict[str, tuple[Path, str]] = {}
    for name in ENTRIES:
        for at in (0.1, 0.5, 0.9):
            out[f"flip {name} {at}"] = (_write(tmp / f"f{name}{at}.zip",
                                               {**good, name: _flip(good[name], at)}), "")
        out[f"remove {name}"] = (_write(tmp / f"r{name}.zip",
                                        {k: v for k, v in good.items() if k != name}), name)
        if name != "manifest.json":
            out[f"pickle {name}"] = (_write(tmp / f"p{name}.zip", {
                **good, name: pickle.dumps({"x": torch.zeros(2)})}, reseal=True), name)
    for a, b in itertools.combinations(ENTRIES, 2):
        out[f"swap {a} {b}"] = (_write(tmp / f"s{a}{b}.zip", {**good, a: good[b], b: good[a]}),
                                "")
    out["extra entry"] = (_write(tmp / "x.zip", {**good, "evil.py": b"import os"}), "evil.py")
    out["manifest list"] = (_write(tmp / "ml.zip", {**good, "manifest.json": b"[1, 2]"}),
                            "is a list")
    out["manifest not json"] = (_write(tmp / "mj.zip", {**good, "manifest.json": b"\x80{"}),
                                "not JSON")
    schema = {
        "no params": ({"params": ...}, "lacks params"),
        "extra param": ({"params": lambda m: {**m["params"], "evil": 1}}, "unknown parameter"),
        "missing param": ({"params": lambda m: {k: v for k, v in m["params"].items()
                                                if k != "seed"}}, "missing parameter(s) seed"),
        "bad param": ({"params": lambda m: {**m["params"], "topologies": [42]}}, "topologies"),
        "wrong class count": ({"classes": lambda m: [*m["classes"], "zzz"]}, "classes"),
        "too few classes": ({"classes": ["a"]}, "at least two"),
        "classes as object dtype": ({"classes_dtype": "|O"}, "classes_dtype"),
        "no entries": ({"entries": ...}, "lacks entries"),
        "entries as list": ({"entries": []}, "entries has type list"),
        "member points nowhere": ({"members": lambda m: [{**m["members"][0], "network": 7}]},
                                  "not a network"),
        "network topology 0": ({"networks": lambda m: [{**m["networks"][0], "topology": 0}]},
                               "topology 0"),
        "bool as int": ({"k_values": [True]}, "k_values"),
        "other format": ({"format": "zip"}, "format 'zip'"),
    }
    for label, (change, want) in schema.items():
        out[label] = (_write(tmp / f"{label.replace(' ', '_')}.zip", _manifest(model, **change)),
                      want)
    out["svm class count"] = (_write(tmp / "svmc.zip", _svms_without_class(good), reseal=True),
                              "svms.npz")
    raw = model.read_bytes()
    (tmp / "truncated.zip").write_bytes(raw[: len(raw) // 2])
    out["truncated zip"] = (tmp / "truncated.zip", "not a zip archive")
    (tmp / "pickle.zip").write_bytes(pickle.dumps({"not": "a model"}))
    out["pickle file"] = (tmp / "pickle.zip", "not a zip archive")
    (tmp / "rawflip.zip").write_bytes(_flip(raw, 0.5))
    out["raw byte flip"] = (tmp / "rawflip.zip", "")
    return out


def _svms_without_class(good: dict[str, bytes]) -> dict[str, bytes]:
    import io

    import numpy as np

    arrays = dict(np.load(io.BytesIO(good["svms.npz"]), allow_pickle=False))
    arrays["m0.intercept"] = arrays["m0.intercept"][:2]
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return {**good, "svms.npz": buf.getvalue()}


def test_every_tampering_is_one_line_naming_file_and_entry(model, tmp_path, capsys,
                                                             monkeypatch):
    def no_unpickling(*args, **kwargs):
        raise AssertionError("something was unpickled")

    monkeypatch.setattr(pickle, "loads", no_unpickling)
    monkeypatch.setattr(pickle, "load", no_unpickling)
    tree = model.parent / "t" / "a"
    all_cases = cases(model, tmp_path)
    assert len(all_cases) >= 40
    for label, (path, want) in all_cases.items():
        message = predict_fails(path, tree, capsys)
        assert want in message, (label, message)
        if "not a zip" not in message and "schema version" not in message:
            assert "is damaged or not a dissim model (entry " in message, (label, message)
            assert message.endswith("refit it with `dissim fit`"), (label, message)


def test_old_schema_is_refused_with_the_fix(model, tmp_path, capsys):
    path = _write(tmp_path / "v1.zip", _manifest(model, schema_version=..., format_version=1))
    assert "has schema version 1" in predict_fails(path, model.parent / "t", capsys)


def test_a_model_fitted_on_cuda_loads_on_the_cpu(model, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the CUDA model would load on it")
    path = _write(tmp_path / "cuda.zip", _manifest(
        model, params=lambda m: {**m["params"], "device": "cuda"}))
    assert main(["predict", str(path), str(model.parent / "t" / "a")]) == 0
    assert "0.png" in capsys.readouterr().out


def test_the_manifest_records_schema_and_hashes(model):
    entries = _entries(model)
    man = json.loads(entries["manifest.json"])
    assert man["schema_version"] == 2
    assert set(man["entries"]) == set(ENTRIES) - {"manifest.json"}
    for name, rec in man["entries"].items():
        assert rec["sha256"] == hashlib.sha256(entries[name]).hexdigest()
