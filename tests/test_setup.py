"""The set-up files agree: one pinned source, wrapped by environment.yml and the Makefile."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements.txt must pin every package exactly: {line!r}"
            pins[re.sub(r"\[.*\]", "", name).lower()] = version
    return pins


def test_environment_yml_wraps_requirements_txt():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-r requirements.txt" in pip_section
    assert "python=3.11" in env["dependencies"]


def test_torch_pins_are_the_local_wheels():
    pins = _pins()
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    assert pins["jupyter-book"].startswith("1.")  # 2.x cannot render HTML offline


def test_make_installs_the_one_pinned_source_and_readme_names_the_two_commands():
    makefile = (ROOT / "Makefile").read_text()
    assert "-r requirements.txt" in makefile
    readme = (ROOT / "README.md").read_text()
    assert "make book" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
