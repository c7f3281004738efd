"""The manifests' one source and the package list the wheel is built from (pyproject.toml).

``data_manifests/`` at the top of the repository is where a reader looks for the data sets; the
wheel maps it into the package as ``dissim/data/manifests/`` (``package-dir``), so there is no
second copy to drift. The wheel test (tests/test_wheel.py) checks the shipped bytes.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import dissim
from dissim.data.manifest import manifests_dir, names

REPO = Path(__file__).resolve().parents[1]
PACKAGE = Path(dissim.__file__).parent
SETUPTOOLS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_manifests_have_one_source_at_the_top():
    top = sorted(p.name for p in (REPO / "data_manifests").glob("*.yml"))
    assert len(top) >= 8 and "inflar.yml" in top
    assert not (PACKAGE / "data" / "manifests").exists(), "a second copy inside the package"
    assert manifests_dir() == REPO / "data_manifests"
    assert names() == [n.removesuffix(".yml") for n in top]


def test_wheel_maps_data_manifests_into_the_package():
    assert SETUPTOOLS["package-dir"] == {"dissim.data.manifests": "data_manifests"}
    assert SETUPTOOLS["package-data"]["dissim.data.manifests"] == ["*.yml"]


def test_package_list_names_every_subpackage():
    """Packages are listed (find cannot see the mapped folder): a new subpackage must be added."""
    found = {".".join(p.parent.relative_to(PACKAGE.parent).parts)
             for p in PACKAGE.rglob("__init__.py")}
    assert set(SETUPTOOLS["packages"]) == found | {"dissim.data.manifests"}
