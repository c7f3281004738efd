"""The papermill runner refuses parameters a notebook does not declare or of the wrong type."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dissim.errors import ConfigError
from dissim.report.book import GLOBAL, NOTEBOOK_DIR, PER_DATASET, check_parameters

NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def test_every_book_notebook_exists():
    assert {p.stem for p in NOTEBOOKS} == set(PER_DATASET + GLOBAL)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_literal_parameters_cell_and_no_outputs(nb: Path):
    cells = json.loads(nb.read_text())["cells"]
    params = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1
    for line in "".join(params[0]["source"]).splitlines():
        if line.strip() and not line.startswith("#"):
            assert "=" in line and "(" not in line.split("#")[0], line  # literals only
    assert all(not c.get("outputs") for c in cells if c["cell_type"] == "code")
    source = "".join("".join(c["source"]) for c in cells)
    assert 'matplotlib.use("Agg")' not in source and "use('Agg')" not in source


def test_unknown_parameter_is_refused():
    with pytest.raises(ConfigError, match="has no parameter 'k'"):
        check_parameters(NOTEBOOK_DIR / "table1.ipynb", {"k": 15})


def test_wrong_type_is_refused():
    with pytest.raises(ConfigError, match="'seed' of table1.ipynb must be int"):
        check_parameters(NOTEBOOK_DIR / "table1.ipynb", {"seed": "fifteen"})
    check_parameters(NOTEBOOK_DIR / "table1.ipynb", {"seed": 3, "data_root": "/x"})
