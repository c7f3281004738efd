"""The papermill runner refuses parameters a notebook does not declare or of the wrong type."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dissim.errors import ConfigError
from dissim.report.book import ALL_NOTEBOOKS, NOTEBOOK_DIR, check_parameters

NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def test_every_book_notebook_exists():
    assert {p.stem for p in NOTEBOOKS} == set(ALL_NOTEBOOKS)


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


# --- issue 17: one repository URL, one install line, -p parameters, pages that travel ---------

ROOT = Path(__file__).resolve().parents[1]


def _config_repository() -> tuple[str, str]:
    import yaml

    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    return repo["url"], repo["branch"]


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_install_cell_is_the_generated_one_and_names_the_config_url(nb: Path):
    from dissim.report.book import INSTALL_TAG, install_cell

    cells = json.loads(nb.read_text())["cells"]
    install = [c for c in cells if INSTALL_TAG in c.get("metadata", {}).get("tags", [])]
    assert len(install) == 1, "one install cell per notebook"
    assert "remove-cell" in install[0]["metadata"]["tags"]
    assert "".join(install[0]["source"]) == install_cell(), (
        "run: python -c 'from dissim.report.book import sync_install_cells; sync_install_cells()'")
    url, branch = _config_repository()
    assert f"git+{url}@{branch}" in install_cell()
    code = [ln for ln in install_cell().splitlines() if not ln.startswith("#")]
    assert len(code) == 1, "the install step is one line"
    assert "requirements.txt" not in install_cell()  # Colab keeps its own torch


def _run_install_cell(find_spec_result):
    import importlib.util

    from dissim.report.book import install_cell

    calls = []

    class Shell:
        def run_line_magic(self, name, line):
            calls.append((name, line))

    real = importlib.util.find_spec
    importlib.util.find_spec = lambda name, *a: find_spec_result(real, name, *a)
    try:
        exec(install_cell(), {"get_ipython": Shell})
    finally:
        importlib.util.find_spec = real
    return calls


def test_install_cell_is_a_no_op_where_dissim_imports():
    assert _run_install_cell(lambda real, name, *a: real(name, *a)) == []


def test_install_cell_installs_the_colab_extra_where_dissim_is_missing():
    from dissim.report.book import install_spec

    calls = _run_install_cell(lambda real, name, *a: None if name == "dissim" else real(name))
    url, branch = _config_repository()
    assert calls == [("pip", f"install -q '{install_spec()}'")]
    assert install_spec() == f"dissim[colab] @ git+{url}@{branch}"


def test_colab_path_pins_no_torch_and_the_extra_exists():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = project["dependencies"] + project["optional-dependencies"]["colab"]
    for req in names:
        assert not re.search(r"[<>=!~]", req), f"pyproject pins {req!r}; pins live in " \
                                               "requirements.txt only"
    assert not any(r.startswith("torch") for r in project["optional-dependencies"]["colab"])


def test_readme_badges_come_from_the_config():
    from dissim.report.book import readme_badges

    readme = (ROOT / "README.md").read_text()
    for line in filter(None, readme_badges().splitlines()):
        assert line in readme, f"README.md lacks {line!r} (dissim.report.book.readme_badges())"
    url, branch = _config_repository()
    owner_name = url.removeprefix("https://github.com/")
    assert f"mybinder.org/v2/gh/{owner_name}/{branch}" in readme
    for nb in NOTEBOOKS:
        assert f"colab.research.google.com/github/{owner_name}/blob/{branch}/notebooks/" \
               f"{nb.name}" in readme


def test_launch_buttons_open_the_source_notebook():
    from dissim.report.sphinx_launch import source_notebook_url

    assert source_notebook_url(
        "https://colab.research.google.com/github/o/r/blob/main/book/results/textures/"
        "table1.ipynb") == "https://colab.research.google.com/github/o/r/blob/main/" \
                          "notebooks/table1.ipynb"
    assert source_notebook_url(
        "https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/book/results/figure4.ipynb"
    ).endswith("urlpath=lab/tree/notebooks/figure4.ipynb")
    cfg = (ROOT / "_config.yml").read_text()
    assert "dissim.report.sphinx_launch" in cfg and "sphinx-mathjax-offline" in cfg


def test_parse_parameters_uses_papermills_coercion_and_the_declared_types():
    from dissim.report.book import parse_parameters

    nb = NOTEBOOK_DIR / "table2.ipynb"
    assert parse_parameters(nb, [("last_topology", "4"), ("inputs", "orig")]) == {
        "last_topology": 4, "inputs": "orig"}
    assert parse_parameters(nb, [("data_root", "None"), ("dataset", "2020")]) == {
        "data_root": None, "dataset": "2020"}  # text parameters keep the text typed
    with pytest.raises(ConfigError, match="has no parameter 'k'"):
        parse_parameters(nb, [("k", "15")])
    with pytest.raises(ConfigError, match="'last_topology' of table2.ipynb must be int"):
        parse_parameters(nb, [("last_topology", "4.5")])


@pytest.fixture
def no_kernel(monkeypatch):
    """Fail if the runner would start a kernel; record what it would have run."""
    from dissim.report import book

    ran = []
    monkeypatch.setattr(book, "execute", lambda nb, out, params, **kw: ran.append(
        (nb.stem, params)) or out)
    return ran


@pytest.mark.parametrize("argv, message", [
    (["-p", "k", "4"], "notebook table2.ipynb has no parameter 'k'"),
    (["-p", "last_topology", "four"], "parameter 'last_topology' of table2.ipynb must be int"),
])
def test_book_run_refuses_bad_parameters_in_one_line_before_a_kernel(
        argv, message, no_kernel, capsys):
    from dissim.cli import main

    assert main(["book", "run", "--notebook", "table2", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"dissim: error: {message}") and err.count("\n") == 1
    assert no_kernel == []


def test_book_run_gives_a_parameter_to_the_notebooks_that_declare_it(no_kernel, capsys):
    from dissim.cli import main

    assert main(["book", "run", "--notebooks", "figure4", "-p", "inputs", "orig"]) == 2
    assert "figure4.ipynb has no parameter 'inputs'" in capsys.readouterr().err
    assert main(["book", "run", "--notebooks", "figure4,performance", "-p", "k_values",
                 "2"]) == 2
    assert "no chosen notebook has a parameter 'k_values'" in capsys.readouterr().err
    assert no_kernel == []
    assert main(["book", "run", "--profile", "smoke", "--notebooks", "table1,figure4",
                 "-p", "k_values", "2,3", "--results", str(ROOT / "results")]) == 0
    params = dict(no_kernel)
    assert params["table1"]["k_values"] == "2,3" and "k_values" not in params["figure4"]
    no_kernel.clear()
    for bad in ("2,x", "0"):
        assert main(["book", "run", "--notebooks", "table1", "-p", "k_values", bad]) == 2
        err = capsys.readouterr().err
        assert err.startswith("dissim: error: k_values must be") and err.count("\n") == 1
    assert no_kernel == []


def test_book_run_passes_p_parameters_and_a_repository_relative_store(no_kernel):
    from dissim.cli import main

    assert main(["book", "run", "--profile", "smoke", "--notebook", "table2",
                 "-p", "last_topology", "4", "-p", "inputs", "orig",
                 "--results", str(ROOT / "results")]) == 0
    [(name, params)] = no_kernel
    assert name == "table2"
    assert params["last_topology"] == 4 and params["inputs"] == "orig"
    assert params["results_dir"] == "results"  # no absolute path of the build machine


def test_executed_notebook_hides_injected_parameters_and_build_paths(tmp_path):
    import nbformat

    from dissim.report.book import REPO, _for_readers

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('results_dir = "results"',
                                          metadata={"tags": ["injected-parameters"]}),
                nbformat.v4.new_code_cell('results_dir = "x"',
                                          metadata={"tags": ["parameters", "hide-input"]})]
    nb.metadata["papermill"] = {"input_path": str(REPO / "notebooks" / "table1.ipynb"),
                                "output_path": str(REPO / "book" / "results" / "t.ipynb")}
    path = tmp_path / "t.ipynb"
    nbformat.write(nb, path)
    _for_readers(path)
    out = nbformat.read(path, as_version=4)
    assert "hide-input" in out.cells[0].metadata["tags"]  # folded, not removed
    assert "remove-cell" not in out.cells[0].metadata["tags"]
    assert "remove-cell" in out.cells[1].metadata["tags"]  # the defaults it supersedes
    assert out.metadata["papermill"]["input_path"] == "notebooks/table1.ipynb"
    assert str(REPO) not in path.read_text()
