"""Reliability, determinism and safe loading (issue 8).

Determinism of an ``orig`` FULLY/DEEPER member is ``test_experiment.py::
test_same_seed_bit_identical_other_seed_differs``; this file adds a HASC + DEEPER member on a
user folder, with every per-process cache cleared between the two runs.

Safe loading: no file ``dissim`` reads can run code. An AST scan of the package (and of the
book's notebooks) fails naming ``file:line`` for any call that may unpickle or evaluate: a
``torch.load`` without ``weights_only=True``, ``pickle``/``dill``/``joblib``/``marshal``
loads, ``numpy.load(allow_pickle=True)``, ``yaml.load`` without a safe loader, ``eval`` and
``exec``. Checksums before use are tested in ``test_reliability_inputs.py`` and
``test_data_fetch_cli.py``.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

import dissim
import dissim.train
from dissim.pipeline import experiment
from dissim.pipeline.experiment import Member
from dissim.pipeline.runner import ensure_member
from dissim.pipeline.store import ResultsStore

REPO = Path(dissim.__file__).resolve().parents[1]

#: Calls that unpickle or evaluate whatever they are given (full dotted names after imports).
ALWAYS_UNSAFE = {
    "pickle.load", "pickle.loads", "pickle.Unpickler", "_pickle.load", "_pickle.loads",
    "cPickle.load", "cPickle.loads", "dill.load", "dill.loads", "joblib.load",
    "marshal.load", "marshal.loads", "shelve.open", "pandas.read_pickle", "yaml.unsafe_load",
    "yaml.full_load", "torch.hub.load", "eval", "exec", "builtins.eval", "builtins.exec",
}
#: Calls that are safe only with a keyword set to a constant.
NEEDS_KEYWORD = {
    "torch.load": ("weights_only", True),
    "torch.hub.load_state_dict_from_url": ("weights_only", True),
    "numpy.load": ("allow_pickle", False),
}
SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"}


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Local name -> full dotted name, from every import in the module."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                names[a.asname or a.name.split(".")[0]] = a.name if a.asname else \
                    a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                names[a.asname or a.name] = f"{node.module}.{a.name}"
    return names


def _dotted(func: ast.AST, aliases: dict[str, str]) -> str | None:
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if not isinstance(func, ast.Name):
        return None
    parts.append(aliases.get(func.id, func.id))
    return ".".join(reversed(parts))


def unsafe_calls(source: str, filename: str) -> list[str]:
    """``file:line: call (why)`` for each call in ``source`` that may run code from a file."""
    tree = ast.parse(source, filename)
    aliases = _aliases(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func, aliases)
        if name is None:
            continue
        name = name.replace("np.", "numpy.", 1) if name.startswith("np.") else name
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        why = None
        if name in ALWAYS_UNSAFE:
            why = "may unpickle or evaluate its input"
        elif name in NEEDS_KEYWORD:
            key, want = NEEDS_KEYWORD[name]
            value = kw.get(key)
            if not (isinstance(value, ast.Constant) and value.value is want):
                if not (name == "numpy.load" and value is None):  # numpy's default is False
                    why = f"needs {key}={want}"
        elif name == "yaml.load":
            loader = kw.get("Loader", node.args[1] if len(node.args) > 1 else None)
            loader_name = _dotted(loader, aliases) if loader is not None else None
            if loader_name is None or loader_name.split(".")[-1] not in SAFE_YAML_LOADERS:
                why = "needs Loader=yaml.SafeLoader (or yaml.safe_load)"
        if why:
            found.append(f"{filename}:{node.lineno}: {name} ({why})")
    return found


def _sources() -> list[tuple[str, str]]:
    out = [(str(p.relative_to(REPO)), p.read_text())
           for p in sorted((REPO / "dissim").rglob("*.py"))]
    for nb in sorted((REPO / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        code = "\n".join(ln for ln in code.splitlines() if not ln.lstrip().startswith(("%", "!")))
        out.append((str(nb.relative_to(REPO)), code))
    return out


def test_scanner_finds_every_unsafe_pattern():
    bad = "\n".join([
        "import pickle, joblib, yaml, torch", "import numpy as np",
        "from pickle import loads as ld", "from torch import load",
        "pickle.load(f)", "ld(b)", "joblib.load(p)", "np.load(p, allow_pickle=True)",
        "torch.load(p)", "load(p, weights_only=False)", "yaml.load(s)",
        "yaml.load(s, Loader=yaml.Loader)", "eval('1')", "exec('x = 1')",
        "torch.hub.load_state_dict_from_url(u)",
        # safe ones
        "np.load(p)", "np.load(p, allow_pickle=False)", "torch.load(p, weights_only=True)",
        "yaml.safe_load(s)", "yaml.load(s, Loader=yaml.SafeLoader)", "net.eval()",
    ])
    found = unsafe_calls(bad, "bad.py")
    assert [int(f.split(":")[1]) for f in found] == list(range(5, 16)), found
    assert found[0] == "bad.py:5: pickle.load (may unpickle or evaluate its input)"


def test_no_unsafe_loading_in_the_package_or_the_notebooks():
    sources = _sources()
    assert any(name.startswith("dissim/data/") for name, _ in sources)  # the scan saw files
    found = [f for name, src in sources for f in unsafe_calls(src, name)]
    assert found == [], "unsafe loading:\n" + "\n".join(found)


def test_same_seed_hasc_deeper_member_is_bit_identical(tmp_path, fast_trainer):
    from test_reliability_inputs import make_tree

    root = str(make_tree(tmp_path / "data"))
    m = Member(dataset="folder", profile="smoke", topology=7, input="hasc", space="deeper", k=2)
    caches = (experiment.load_dataset, experiment.dataset_fingerprint,
              experiment.dataset_folds, experiment.network_inputs)
    runs = []
    for name in ("a", "b"):
        for cache in caches:  # a fresh process: data, folds and HASC inputs recomputed
            cache.cache_clear()
        runs.append(ensure_member(m, ResultsStore(tmp_path / name), root=root, progress=False,
                                  trainer=fast_trainer))
    a, b = runs
    assert a.key == b.key
    np.testing.assert_array_equal(a.scores, b.scores)
    assert a.meta["space_range"] == b.meta["space_range"]
    assert a.meta["train"]["loss_curve"] == b.meta["train"]["loss_curve"]


@pytest.mark.parametrize("name", [
    pytest.param("inflar", marks=pytest.mark.xfail(strict=True, reason=(
        "Zenodo record 1162784 publishes no SHA-256 (only an md5 in its API): fill "
        "archive.sha256 in data_manifests/inflar.yml from a download checked against it"))),
    "cat", "birdz", "rpe", "port",
])
def test_downloadable_archives_name_a_checksum(name):
    """A manifest with a download URL must give its SHA-256, so fetch can verify before use."""
    from dissim.data import manifest

    arch = manifest(name).get("archive") or {}
    if arch.get("url") and not arch.get("manual"):
        assert len(str(arch.get("sha256") or "")) == 64, f"{name}: archive without sha256"


class _Payload:
    """Unpickling this touches a marker file: the proof that a load ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_torchvision_weights_are_verified_and_never_unpickled(tmp_path, monkeypatch):
    import pickle

    import torch

    from dissim import baselines
    from dissim.baselines import registry
    from dissim.errors import DataError

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    weights = tmp_path / "checkpoints" / "googlenet-1378be20.pth"
    weights.parent.mkdir()
    marker = tmp_path / "code_ran"
    weights.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(DataError, match=f"checksum mismatch for {weights}: expected sha256 "
                                        "1378be20..., got "):
        baselines.create("googlenet", 3, download=False)
    # a file whose hash prefix matched all the same (32 bits) is still never unpickled
    monkeypatch.setattr(registry, "_verify_hub_file", lambda path: None)
    with pytest.raises(DataError, match=f"weights file {weights} holds more than tensors"):
        baselines.create("googlenet", 3, download=False)
    assert not marker.exists()


def test_atomic_writes_get_the_umasks_permissions_or_the_replaced_files(tmp_path):
    """A temporary file or folder is private (0o600, 0o700); what it becomes must not be: a
    new file gets 0o666 less the umask, as ``open`` gives, a new folder 0o777 less it, as
    ``mkdir`` gives, and a replaced file or folder keeps its own permissions."""
    import os
    import stat

    from dissim import atomic

    old = os.umask(0o027)
    try:
        atomic._UMASK = 0o027  # the module reads it once, at import
        new = atomic.write_bytes(tmp_path / "new.bin", b"x")
        assert stat.S_IMODE(new.stat().st_mode) == 0o640
        kept = tmp_path / "kept.bin"
        kept.write_bytes(b"old")
        kept.chmod(0o604)
        atomic.write_bytes(kept, b"new")
        assert stat.S_IMODE(kept.stat().st_mode) == 0o604 and kept.read_bytes() == b"new"
        with atomic.atomic_dir(tmp_path / "snap") as d:
            (d / "f").write_text("x")
        assert stat.S_IMODE((tmp_path / "snap").stat().st_mode) == 0o750
        (tmp_path / "snap").chmod(0o755)
        with atomic.atomic_dir(tmp_path / "snap", replace=True) as d:
            (d / "g").write_text("y")
        assert stat.S_IMODE((tmp_path / "snap").stat().st_mode) == 0o755
        assert [p.name for p in (tmp_path / "snap").iterdir()] == ["g"]
    finally:
        os.umask(old)
        atomic._UMASK = old
