"""Run the book's notebooks with papermill: ``dissim book run --profile quick [--dataset NAME]``.

Each notebook in ``notebooks/`` has one papermill ``parameters`` cell. The runner executes it
per data set into ``book/results/<dataset>/<notebook>.ipynb`` (data-set independent notebooks,
like Figure 4, into ``book/results/<notebook>.ipynb``), which the book then shows without
re-executing. Results come from the results store, so a rerun only fuses stored score matrices.

Papermill only warns about a parameter that the notebook does not declare; this runner refuses
it, and a value whose type differs from the declared default, with a one-line error. A failing
notebook stops the run with the notebook and the error; its partial output is kept under
``_build/failed/`` for inspection and never replaces a good page.
"""

from __future__ import annotations

import ast
import os
import tempfile
import time
from pathlib import Path

import nbformat

from dissim.data import DEFAULT_DATASET
from dissim.errors import ConfigError, DissimError
from dissim.pipeline.store import DEFAULT_RESULTS
from dissim.profiles import get as get_profile

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO / "notebooks"
OUT_DIR = REPO / "book" / "results"
PER_DATASET = ("table1", "table2", "table3", "table4", "assumptions")
GLOBAL = ("figure4", "performance")
_TYPES = {"int": int, "float": (int, float), "str": str, "bool": bool, "None": type(None)}


def declared_parameters(notebook: str | Path) -> dict[str, dict]:
    """The parameters cell of a notebook: name -> {inferred_type_name, default, help}."""
    import papermill  # optional, heavy

    return papermill.inspect_notebook(str(notebook))


def check_parameters(notebook: str | Path, parameters: dict) -> None:
    """Refuse parameters the notebook does not declare, or of another type than declared."""
    declared = declared_parameters(notebook)
    name = Path(notebook).name
    for key, value in parameters.items():
        if key not in declared:
            raise ConfigError(
                f"notebook {name} has no parameter {key!r}; it declares "
                f"{', '.join(sorted(declared))}"
            )
        type_name = declared[key]["inferred_type_name"]
        default = declared[key]["default"]
        if type_name in ("None", "") and default != "None":
            # an unannotated cell (``seed = 0``): the type is that of the default literal
            try:
                type_name = type(ast.literal_eval(default)).__name__
            except (ValueError, SyntaxError):
                continue
        if default == "None" or type_name in ("None", "NoneType", ""):
            continue  # an optional value: any type
        want = _TYPES.get(type_name)
        if want is not None and (not isinstance(value, want) or
                                 (want is int and isinstance(value, bool))):
            raise ConfigError(
                f"parameter {key!r} of {name} must be {type_name} (default {default}); "
                f"got {value!r}"
            )


def execute(notebook: Path, output: Path, parameters: dict, *, timeout: int | None = None,
            log_output: bool = False) -> Path:
    """Execute one notebook with papermill; the output replaces ``output`` only on success.

    ``log_output`` streams the kernel's output (the progress bars) to this terminal.
    """
    import papermill  # optional, heavy

    check_parameters(notebook, parameters)
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".ipynb", dir=output.parent, prefix=f".{output.stem}.")
    os.close(fd)
    try:
        papermill.execute_notebook(
            str(notebook), tmp, parameters=parameters, kernel_name="python3",
            progress_bar=False, log_output=log_output, cwd=str(REPO),
            request_save_on_cell_execute=False,
            execution_timeout=timeout,
        )
    except Exception as err:
        failed = REPO / "_build" / "failed" / output.relative_to(OUT_DIR)
        failed.parent.mkdir(parents=True, exist_ok=True)
        if Path(tmp).exists():
            os.replace(tmp, failed)
        summary = str(err).strip().splitlines()
        raise DissimError(
            f"notebook {notebook.name} failed for {parameters.get('dataset', '-')}: "
            f"{summary[-1] if summary else type(err).__name__} (partial output: {failed})"
        ) from err
    if "dataset" in parameters:
        _title_with_dataset(Path(tmp), parameters["dataset"], parameters.get("profile"))
    os.replace(tmp, output)
    return output


def _title_with_dataset(path: Path, dataset: str, profile: str | None) -> None:
    """Name the data set and profile in the page title, so the book's sidebar tells the
    pages of several data sets apart ("Table 1: ... (textures, quick)")."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            first, _, rest = cell.source.partition("\n")
            tag = f" ({dataset}, {profile})" if profile else f" ({dataset})"
            cell.source = first + tag + ("\n" + rest if rest else "")
            break
    nbformat.write(nb, path)


def run(
    profile: str = "quick",
    datasets: list[str] | None = None,
    *,
    seed: int = 0,
    results_dir: str = DEFAULT_RESULTS,
    data_root: str | None = None,
    notebooks: list[str] | None = None,
    extra: dict | None = None,
    log_output: bool = True,
) -> list[Path]:
    """Execute the book's notebooks for each data set; return the pages written."""
    get_profile(profile)  # fail early on an unknown profile
    datasets = datasets or [DEFAULT_DATASET]
    chosen = notebooks or list(GLOBAL + PER_DATASET)
    unknown = [n for n in chosen if n not in GLOBAL + PER_DATASET]
    if unknown:
        raise ConfigError(
            f"unknown notebook {unknown[0]!r}; choose from {', '.join(GLOBAL + PER_DATASET)}"
        )
    results_dir = str(Path(results_dir).resolve())
    written = []
    for name in chosen:
        targets = [None] if name in GLOBAL else datasets
        for ds in targets:
            params = {"profile": profile, "seed": seed, "results_dir": results_dir}
            if ds is not None:
                params.update(dataset=ds, data_root=data_root)
            params.update(extra or {})
            out = OUT_DIR / (f"{name}.ipynb" if ds is None else f"{ds}/{name}.ipynb")
            t0 = time.perf_counter()
            print(f"[book] {name}" + (f" on {ds}" if ds else "") + f" ({profile}) ...",
                  flush=True)
            written.append(execute(NOTEBOOK_DIR / f"{name}.ipynb", out, params,
                                   log_output=log_output))
            print(f"[book] {name} done in {time.perf_counter() - t0:.0f} s -> "
                  f"{out.relative_to(REPO)}", flush=True)
    return written
