"""Names that say what they are: no two classes of the package share a name.

Two ``Member`` classes (a grid member's specification and a fitted classifier's member) once
lived in two modules of one layer; a reader importing one got the other. This scans every
module of the package, nested classes included.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import dissim
from dissim.pipeline import experiment

PACKAGE = Path(dissim.__file__).parent


def class_definitions(root: Path) -> dict[str, list[str]]:
    """Class name -> ``module:line`` of every ``class`` statement under ``root``."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                found[node.name].append(f"{path.relative_to(root.parent)}:{node.lineno}")
    return found


def test_no_two_classes_share_a_name():
    twice = {name: where for name, where in class_definitions(PACKAGE).items() if len(where) > 1}
    assert twice == {}, twice


def test_the_scan_sees_a_duplicate(tmp_path):
    """The oracle is not blind: two modules defining one name are reported."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "a.py").write_text("class Member:\n    pass\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    class Member:\n        pass\n")
    assert class_definitions(pkg)["Member"] == ["pkg/a.py:1", "pkg/sub/b.py:2"]


def test_experiment_keeps_its_public_names():
    """experiment.py was split into spec / keys / data_cache / compute; its names still work."""
    from dissim.pipeline import compute, data_cache, keys, spec

    assert experiment.Member is spec.Member and experiment.Unit is spec.Unit
    assert experiment.member_key is keys.member_key
    assert experiment.load_dataset is data_cache.load_dataset
    assert experiment.compute_unit is compute.compute_unit
    for name in experiment.__all__:
        assert getattr(experiment, name) is not None, name
