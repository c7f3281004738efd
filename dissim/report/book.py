"""Run the book's notebooks with papermill: ``dissim book run --profile quick [--dataset NAME]``.

Each notebook in ``notebooks/`` has one papermill ``parameters`` cell. The runner executes it
per data set into ``book/results/<dataset>/<notebook>.ipynb`` (data-set independent notebooks,
like Figure 4, into ``book/results/<notebook>.ipynb``), which the book then shows without
re-executing. Results come from the results store, so a rerun only fuses stored score matrices.

Papermill only warns about a parameter that the notebook does not declare; this runner refuses
it, and a value whose type differs from the declared default, with a one-line error, before any
kernel starts (``dissim book run --notebooks table2 -p last_topology 4``: papermill's ``-p NAME
VALUE`` with papermill's type coercion). Data sets, the data folder, the seed and the results
store are checked before any kernel starts too, and so is every result snapshot whose pages
will be executed (as :func:`dissim.pipeline.snapshots.load` verifies it: one line naming a
damaged one). A failing notebook stops the run with the notebook and the error; its partial
output is kept outside the repository (``$TMPDIR/dissim-failed/``) for inspection, never
replaces a good page, and folders the run created (``book/results/<dataset>/``) are removed,
so a failed run leaves the repository as it was. Ctrl-C or SIGTERM undo only the page in
progress: the pages finished before it stay, and the next run keeps them.

A run killed outright (SIGKILL) cannot clean up: the next run removes the kernel files and the
temporary page it left, and nothing of a run still alive (:mod:`dissim.report.leftovers`).
The pages of a snapshot no longer in ``results_snapshots/`` are removed by every run.

Pages travel: the executed notebook names the results store relative to the repository, and
papermill's injected-parameters cell is hidden (the caption under each table states the values).

A page whose inputs did not change since it was executed (the notebook, its parameters, the
package and the committed snapshots, the data it reads, however its folder was found:
:mod:`dissim.report.page_cache`) is kept,
not executed again (``force=True``, ``dissim book run --force``: every page). Kernels talk to
the runner over IPC (Unix sockets), not TCP, so no kernel prints the "Kernel is running over
TCP without encryption" warning; each kernel's connection file and sockets are removed when
it ends, also on Ctrl-C or SIGTERM (:mod:`dissim.report.kernels`).

The repository URL and branch have one source, ``_config.yml`` (``repository:``): the book's
launch buttons read it, and :func:`install_cell` (the first cell of every notebook) and
:func:`readme_badges` are generated from it.
"""

from __future__ import annotations

import ast
import contextlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import yaml

from dissim.atomic import permissions
from dissim.data import DEFAULT_DATASET, FOLDER, manifest
from dissim.errors import ConfigError, DissimError
from dissim.pipeline.snapshots import SNAPSHOT_DIR, list_snapshots
from dissim.pipeline.snapshots import load as load_snapshot
from dissim.pipeline.store import DEFAULT_RESULTS
from dissim.profiles import get as get_profile
from dissim.report import kernels, leftovers, page_cache

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO / "notebooks"
OUT_DIR = REPO / "book" / "results"
PER_DATASET = ("training_health", "table1", "table2", "table3", "table4", "assumptions")
GLOBAL = ("figure4", "performance", "payoff", "defaults")
#: Run once per result snapshot (``results_snapshots/<name>/``) into
#: ``book/results/snapshots/<name>/``: the "Results on real images" part, read from the
#: committed snapshot (no data set, no training).
PER_SNAPSHOT = ("snapshot", "claims")
ALL_NOTEBOOKS = GLOBAL + PER_DATASET + PER_SNAPSHOT
SNAPSHOTS = REPO / SNAPSHOT_DIR
SNAPSHOT_PAGES = OUT_DIR / "snapshots"
_TYPES = {"int": int, "float": (int, float), "str": str, "bool": bool, "None": type(None)}
CONFIG = REPO / "_config.yml"
#: where the partial output of a failed notebook is kept (outside the repository)
FAILED_DIR = Path(tempfile.gettempdir()) / "dissim-failed"
INSTALL_TAG = "install"  # the tag (beside remove-cell) of each notebook's install cell
#: How papermill's kernels are reached: IPC (local Unix sockets) where the system has them, so
#: the kernel neither listens on TCP nor warns that it does so unencrypted.
KERNEL_TRANSPORT = "ipc" if os.name == "posix" else "tcp"
#: The name of a page being written, ``.<page>.dissim-<pid>-<host>.<random>.ipynb`` beside
#: the page: its owner in its name, so a later run removes it when its run was killed.
TEMPORARY_PAGE = re.compile(rf"\..+\.dissim-{leftovers.OWNER}\.[a-z0-9_]+\.ipynb")


def repository() -> tuple[str, str]:
    """The repository URL and branch: ``_config.yml``'s ``repository:``, their one source."""
    repo = yaml.safe_load(CONFIG.read_text())["repository"]
    return str(repo["url"]).rstrip("/"), str(repo.get("branch", "main"))


def install_spec() -> str:
    """What pip installs on Colab: dissim from the repository with the ``colab`` extra.

    pyproject.toml names torch and torchvision unpinned, so pip keeps the ones Colab ships; the
    exact pins of requirements.txt are for ``make`` and Binder (environment.yml) only.
    """
    url, branch = repository()
    return f"dissim[colab] @ git+{url}@{branch}"


def install_cell() -> str:
    """The source of every notebook's install cell (tagged remove-cell, so never on a page).

    One line: it installs dissim only where it cannot be imported (Colab), and does nothing
    in a local, CI or Binder kernel, so a papermill run never downloads anything. The line is
    long and compound on purpose (a reader of Colab sees one step), so it tells ruff so.
    """
    return (
        "# Colab: install dissim over Colab's own torch. No-op where dissim imports "
        "(local, Binder).\n"
        'if __import__("importlib.util").util.find_spec("dissim") is None: '
        f'get_ipython().run_line_magic("pip", "install -q \'{install_spec()}\'")'
        "  # noqa: E501, E701"
    )


def sync_install_cells(notebooks: Iterable[Path] | None = None) -> list[Path]:
    """Rewrite the install cell of each notebook to :func:`install_cell`; return those changed."""
    import nbformat  # lazily: 2 s of import (jsonschema's format checks)

    changed = []
    for path in notebooks or sorted(NOTEBOOK_DIR.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        cell = next((c for c in nb.cells if INSTALL_TAG in c.metadata.get("tags", [])), None)
        if cell is None:
            cell = nbformat.v4.new_code_cell(metadata={"tags": ["remove-cell", INSTALL_TAG]})
            nb.cells.insert(1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0, cell)
        if cell.source != install_cell():
            cell.source = install_cell()
            nbformat.write(nb, path)
            changed.append(path)
    return changed


def _owner_name() -> str:
    url, _ = repository()
    return url.removeprefix("https://github.com/")


def colab_url(notebook: str) -> str:
    """Open ``notebooks/<notebook>.ipynb`` of the repository's branch in Colab."""
    _, branch = repository()
    return (f"https://colab.research.google.com/github/{_owner_name()}/blob/{branch}/"
            f"notebooks/{notebook}.ipynb")


def binder_url() -> str:
    """JupyterLab on ``notebooks/`` in Binder, which builds the pinned environment.yml."""
    _, branch = repository()
    return f"https://mybinder.org/v2/gh/{_owner_name()}/{branch}?urlpath=lab/tree/notebooks"


def readme_badges() -> str:
    """The README's launch badges (Markdown): Binder once, Colab per notebook."""
    lines = [f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder_url()})", ""]
    lines += ["| notebook | Colab |", "|---|---|"]
    for name in ALL_NOTEBOOKS:
        lines.append(f"| `{name}` | [![Open In Colab]"
                     f"(https://colab.research.google.com/assets/colab-badge.svg)]"
                     f"({colab_url(name)}) |")
    return "\n".join(lines)


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


def parse_parameters(notebook: str | Path, pairs: Iterable[tuple[str, str]]) -> dict:
    """``-p NAME VALUE`` pairs as papermill reads them, checked against the parameters cell.

    Values get papermill's own coercion (``True``/``False``/``None``, int, float, else text);
    a parameter declared as text keeps the text as typed (``-p dataset 2020`` stays "2020").
    Unknown names and values of another type raise :class:`ConfigError`, before any kernel.
    """
    from papermill.cli import _resolve_type

    declared = declared_parameters(notebook)
    params = {}
    for name, raw in pairs:
        value = _resolve_type(raw)
        entry = declared.get(name)
        if entry is not None and isinstance(value, int | float | bool) and _is_text(entry):
            value = raw
        params[name] = value
    check_parameters(notebook, params)
    return params


def _is_text(entry: dict) -> bool:
    if entry["inferred_type_name"] == "str":
        return True
    try:
        return isinstance(ast.literal_eval(entry["default"]), str)
    except (ValueError, SyntaxError):
        return False


def _repo_relative(path: str) -> str:
    """``path`` relative to the repository (the kernels' working folder) when inside it."""
    p = Path(path).resolve()
    return str(p.relative_to(REPO)) if p.is_relative_to(REPO) else str(p)


def _for_readers(path: Path, output: Path | None = None) -> None:
    """Make an executed notebook travel: fold papermill's injected-parameters cell under a
    toggle (the values the page was computed with; the notebook's own defaults, which they
    supersede, are removed), and keep no path of the build machine in its metadata
    (``output``: the page's own path, not the temporary one it was written to)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    injected = any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "hide-input" not in tags:
            cell.metadata["tags"] = [*tags, "hide-input"]
        elif injected and "parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]  # superseded by the values used
    meta = nb.metadata.get("papermill", {})
    if meta.get("output_path") and output is not None:
        meta["output_path"] = str(output)
    for key in ("input_path", "output_path"):
        if meta.get(key):
            meta[key] = _repo_relative(meta[key])
    nbformat.write(nb, path)


def execute(notebook: Path, output: Path, parameters: dict, *, timeout: int | None = None,
            log_output: bool = False, inputs_key: str | None = None) -> Path:
    """Execute one notebook with papermill; the output replaces ``output`` only on success.

    ``log_output`` streams the kernel's output (the progress bars) to this terminal;
    ``inputs_key`` (:func:`dissim.report.page_cache.inputs_key`) is recorded in the page.
    """
    check_parameters(notebook, parameters)
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".ipynb", dir=output.parent,
                               prefix=f".{output.stem}.dissim-{leftovers.owner()}.")
    os.close(fd)
    try:
        _execute_into(notebook, tmp, output, parameters, timeout, log_output, inputs_key)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return output


def _execute_into(notebook: Path, tmp: str, output: Path, parameters: dict,
                  timeout: int | None, log_output: bool, inputs_key: str | None = None) -> None:
    import papermill  # optional, heavy

    try:
        with kernels.owned_kernel("python3", KERNEL_TRANSPORT) as km:  # nothing left on Ctrl-C
            papermill.execute_notebook(
                str(notebook), tmp, parameters=parameters, kernel_name="python3",
                progress_bar=False, log_output=log_output, cwd=str(REPO),
                request_save_on_cell_execute=False,
                execution_timeout=timeout, km=km,
            )
    except Exception as err:
        failed = FAILED_DIR / (output.relative_to(OUT_DIR) if output.is_relative_to(OUT_DIR)
                               else Path(output.name))
        try:
            failed.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(tmp, failed)
        except OSError:
            failed = Path("(not kept)")
        finally:
            Path(tmp).unlink(missing_ok=True)
        summary = str(err).strip().splitlines()
        raise DissimError(
            f"notebook {notebook.name} failed for {parameters.get('dataset', '-')}: "
            f"{summary[-1] if summary else type(err).__name__} (partial output: {failed})"
        ) from err
    _for_readers(Path(tmp), output)
    if "dataset" in parameters:
        _title_with_dataset(Path(tmp), parameters["dataset"], parameters.get("profile"))
    elif "snapshot" in parameters:
        _title_with_dataset(Path(tmp), Path(parameters["snapshot"]).name, None)
    if inputs_key is not None:
        page_cache.stamp(tmp, inputs_key)
    os.chmod(tmp, permissions(output))  # mkstemp's 0600 would hide the page from a group
    os.replace(tmp, output)


def _title_with_dataset(path: Path, dataset: str, profile: str | None) -> None:
    """Name the data set and profile in the page title, so the book's sidebar tells the
    pages of several data sets apart ("Table 1: ... (textures, quick)")."""
    import nbformat

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
    snapshots_dir: str | Path = SNAPSHOTS,
    force: bool = False,
) -> list[Path]:
    """Execute the book's notebooks for each data set, and the snapshot pages for each result
    snapshot under ``snapshots_dir``; return the pages executed.

    A page whose inputs did not change is kept as it is (:mod:`dissim.report.page_cache`);
    ``force`` executes every page. Before the first kernel starts, every parameter is checked,
    the data of each data set is fingerprinted (a missing folder: one line) and each snapshot
    whose pages will run is verified (a damaged one: one line naming it); then, the run not
    refused, the files of killed runs are swept and the pages of removed snapshots dropped."""
    get_profile(profile)  # fail early on an unknown profile
    datasets = datasets or [DEFAULT_DATASET]
    for ds in datasets:  # fail early on an unknown data set
        if ds != FOLDER:
            manifest(ds)
    chosen = notebooks or list(ALL_NOTEBOOKS)
    unknown = [n for n in chosen if n not in ALL_NOTEBOOKS]
    if unknown:
        raise ConfigError(
            f"unknown notebook {unknown[0]!r}; choose from {', '.join(ALL_NOTEBOOKS)}"
        )
    # relative to the repository (the kernels' working folder) where possible: pages travel
    results_dir = _repo_relative(results_dir)
    present = list_snapshots(snapshots_dir)
    snaps = present if set(chosen) & set(PER_SNAPSHOT) else []

    def targets(name: str) -> list[str | None]:
        if name in GLOBAL:
            return [None]
        return [_repo_relative(str(p)) for p in snaps] if name in PER_SNAPSHOT else datasets

    def params_for(name: str, target: str | None) -> dict:
        # each ``extra`` parameter goes to the notebooks that declare it (book_parameters)
        declared = declared_parameters(NOTEBOOK_DIR / f"{name}.ipynb")
        mine = {k: v for k, v in (extra or {}).items() if k in declared}
        if name in PER_SNAPSHOT:
            return {"snapshot": target, **mine}
        params = {"profile": profile, "seed": seed, "results_dir": results_dir}
        if target is not None:
            params.update(dataset=target, data_root=data_root)
        params.update(mine)
        return params

    # every notebook's parameters are checked before the first kernel starts
    for key in extra or {}:
        _takers([NOTEBOOK_DIR / f"{n}.ipynb" for n in chosen], key)
    pages = [(name, target, params_for(name, target)) for name in chosen
             for target in targets(name)]
    for name, _, params in pages:
        check_parameters(NOTEBOOK_DIR / f"{name}.ipynb", params)
    data = {ds: page_cache.data_fingerprint(ds, data_root) for ds in datasets} \
        if set(chosen) & set(PER_DATASET) else {}
    repository = page_cache.repository_digest(REPO)  # once: the package, snapshots, manifests
    plan = []
    for name, target, params in pages:
        notebook, out = NOTEBOOK_DIR / f"{name}.ipynb", _page_path(name, target)
        key = page_cache.inputs_key(notebook, params, repository, data_digest=data.get(target))
        plan.append((name, target, params, out, key,
                     force or not page_cache.is_current(out, key)))
    _verify_snapshots(target for name, target, *_, due in plan if name in PER_SNAPSHOT and due)
    _sweep_killed_runs()  # the run is not refused: what is gone may go
    _drop_stale_snapshot_pages({p.name for p in present})
    created = [OUT_DIR, *(OUT_DIR / ds for ds in datasets), SNAPSHOT_PAGES,
               *(SNAPSHOT_PAGES / p.name for p in snaps)]
    with _undone_on_error(created):  # a failed run leaves the repository as it was
        return [page for step in plan if (page := _page(*step, profile, log_output))]


def _page_path(name: str, target: str | None) -> Path:
    """Where page ``name`` of ``target`` (a data set, a snapshot, None) is written."""
    if name in PER_SNAPSHOT:
        return SNAPSHOT_PAGES / Path(target).name / f"{name}.ipynb"
    return OUT_DIR / (f"{name}.ipynb" if target is None else f"{target}/{name}.ipynb")


def _page(name: str, target: str | None, params: dict, out: Path, key: str, due: bool,
          profile: str, log_output: bool) -> Path | None:
    """Execute one page when ``due``, else say it is kept; return the page executed."""
    what = f" on {target}" if target else ""
    run_of = "" if name in PER_SNAPSHOT else f" ({profile})"
    if not due:
        print(f"[book] {name}{what}{run_of}: inputs unchanged, kept "
              f"{_repo_relative(str(out))}", flush=True)
        return None
    t0 = time.perf_counter()
    print(f"[book] {name}{what}{run_of} ...", flush=True)
    page = execute(NOTEBOOK_DIR / f"{name}.ipynb", out, params, log_output=log_output,
                   inputs_key=key)
    print(f"[book] {name} done in {time.perf_counter() - t0:.0f} s -> "
          f"{_repo_relative(str(out))}", flush=True)
    return page


def _verify_snapshots(paths: Iterable[str | None]) -> None:
    """Read and verify each snapshot as its pages will (:func:`dissim.pipeline.snapshots.load`):
    a damaged one is one line naming it, before any kernel starts. A snapshot whose pages are
    all kept needs no reading: their key holds its bytes, read without fault when they ran."""
    for path in dict.fromkeys(p for p in paths if p is not None):
        load_snapshot(path if Path(path).is_absolute() else REPO / path)


@contextlib.contextmanager
def _undone_on_error(paths: Iterable[Path]) -> Iterator[None]:
    """Folders of ``paths`` that this run creates are removed if it fails (the repository as it
    was); on Ctrl-C or SIGTERM only those that hold no finished page (the page in progress is
    undone by :func:`execute`), so the next run keeps the pages finished before."""
    new = [p for p in paths if not p.exists()]
    try:
        yield
    except KeyboardInterrupt:  # also dissim.errors.Terminated (SIGTERM, SIGHUP)
        for folder in sorted(new, key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only an empty one: a finished page keeps its folder
        raise
    except BaseException:
        for folder in new:
            shutil.rmtree(folder, ignore_errors=True)
        raise


def _sweep_killed_runs() -> None:
    """Remove what book runs killed outright (SIGKILL) left: their kernels' connection files and
    sockets, and their temporary pages; one line when there were any."""
    gone = kernels.sweep_dead()
    if OUT_DIR.is_dir():
        gone += leftovers.sweep((Path(d) / f for d, _, files in os.walk(OUT_DIR)
                                 for f in files), TEMPORARY_PAGE)
    if gone:
        print(f"[book] removed {len(gone)} file(s) that killed book runs left "
              f"({', '.join(sorted({p.name for p in gone})[:3])}"
              f"{', ...' if len(gone) > 3 else ''})", flush=True)


def _drop_stale_snapshot_pages(names: set[str]) -> None:
    """Remove the pages of snapshots that are no longer in the repository (the book would
    otherwise keep showing them), whichever pages the run executes: a run of the data sets'
    pages alone is the next run too."""
    if not SNAPSHOT_PAGES.is_dir():
        return
    for folder in SNAPSHOT_PAGES.iterdir():
        if folder.is_dir() and folder.name not in names:
            for page in folder.glob("*.ipynb"):
                page.unlink()
            with contextlib.suppress(OSError):
                folder.rmdir()


def _takers(paths: list[Path], key: str) -> list[Path]:
    """The notebooks among ``paths`` that declare parameter ``key``; none: a one-line error."""
    takers = [p for p in paths if key in declared_parameters(p)]
    if takers:
        return takers
    known = ", ".join(sorted({n for p in paths for n in declared_parameters(p)}))
    if len(paths) == 1:
        raise ConfigError(f"notebook {paths[0].name} has no parameter {key!r}; it declares "
                          f"{known}")
    raise ConfigError(f"no chosen notebook has a parameter {key!r}; they declare {known}")


def book_parameters(notebooks: list[str] | None, pairs: list[tuple[str, str]]) -> dict:
    """The ``-p`` pairs of ``dissim book run``, parsed and checked, before any kernel.

    A parameter goes to the chosen notebooks that declare it (``-p k_values 2,4,6,8`` reaches
    every per-data-set page and not Figure 4); one that no chosen notebook declares, or a
    value of another type than a notebook declares, is refused.
    """
    chosen = notebooks or list(ALL_NOTEBOOKS)
    paths = []
    for name in chosen:
        path = NOTEBOOK_DIR / f"{name}.ipynb"
        if not path.exists():
            raise ConfigError(
                f"unknown notebook {name!r}; choose from {', '.join(ALL_NOTEBOOKS)}")
        paths.append(path)
    extra: dict = {}
    for key, raw in pairs:
        for path in _takers(paths, key):
            extra.update(parse_parameters(path, [(key, raw)]))
    return extra
