"""Installable: the wheel, installed offline into a fresh virtual environment, runs.

What ``pip install git+URL``, Binder images and Colab users get: the package alone, without the
repository around it. The heavy dependencies come from this interpreter's environment (made
visible to the new one by a ``.pth`` path), dissim only from the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DISSIM_MANIFESTS")}


def _run(cmd, env=None, **kw) -> subprocess.CompletedProcess:
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600,
                         env=env or CLEAN_ENV, **kw)
    assert out.returncode == 0, f"{cmd}\n{out.stdout}\n{out.stderr}"
    return out


def _manifest_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.yml"))}


@pytest.mark.slow
def test_wheel_installs_offline_and_runs_a_smoke_member(tmp_path):
    src = tmp_path / "src"  # build from a copy: no build/ or egg-info left in the checkout
    shutil.copytree(REPO / "dissim", src / "dissim",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(REPO / "data_manifests", src / "data_manifests")  # mapped into the wheel
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
          "-w", tmp_path / "dist", src])
    (wheel,) = (tmp_path / "dist").glob("dissim-*.whl")

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv])
    python = venv / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
                     ).stdout.strip())
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
          "-q", wheel])
    # then torch, scikit-learn, ...: this environment's packages, as plain paths (its .pth files,
    # among them the editable dissim of the checkout, are not processed)
    (site / "_dissim_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")

    env = dict(CLEAN_ENV,
               OMP_NUM_THREADS="1", DISSIM_RESULTS=str(tmp_path / "results"))
    work = tmp_path / "elsewhere"  # not the checkout: nothing found through the working folder
    work.mkdir()
    where = _run([python, "-c", "import dissim; print(dissim.__file__)"], cwd=work, env=env)
    assert where.stdout.strip().startswith(str(site)), where.stdout
    listed = _run([python, "-m", "dissim", "data", "list"], cwd=work, env=env).stdout
    assert "textures*" in listed and "inflar" in listed
    # the wheel's manifests are data_manifests/, byte for byte (one source, no second copy)
    shipped = Path(_run([python, "-c", "from dissim.data.manifest import manifests_dir; "
                         "print(manifests_dir())"], cwd=work, env=env).stdout.strip())
    assert shipped.is_relative_to(site), shipped
    assert _manifest_bytes(shipped) == _manifest_bytes(REPO / "data_manifests")
    assert "usage: dissim" in _run([python, "-m", "dissim", "--help"], cwd=work, env=env).stdout
    run = _run([python, "-m", "dissim", "run", "--profile", "smoke", "--topology", "7",
                "--k", "2", "--device", "cpu"], cwd=work, env=env).stdout
    assert "textures fold 0 orig topology 7 cross fully k=2" in run and "accuracy" in run
    assert list((tmp_path / "results").glob("*/*.npz"))
