"""Which default earns its place: candidate configurations against the strongest control, on
real folders (book: Your own images, "Which default?").

``benchmarks/defaults.py`` runs ``dissim evaluate``'s protocol
(:func:`dissim.report.evaluation.evaluate`) for each candidate configuration on each folder, on
the same folds, and keeps every evaluation as ``{folder: {candidate label: evaluation dict}}``
(:meth:`~dissim.report.evaluation.Evaluation.to_dict`). This module reads that and applies the
rule:

* a candidate's **systems** are its trained ensemble and each of its CNN fusions (the paper's
  complete system, Section 4, "Fusion + eCNN"): each is judged on its own;
* a folder's **strongest control** is the control row with the highest mean accuracy among all
  the candidates' controls there (the untrained and pixel twins of each candidate, the plain SVM
  on standardised pixels, the frozen-CNN features at their chosen side);
* a system is **at least level** with it on a folder unless the claims code's paired test on the
  same test images (McNemar's exact test on the pooled decisions,
  :func:`dissim.report.paired.compare`) says it is worse;
* the **default** is the cheapest system (mean CPU seconds over the folders) that is at least
  level on most folders; None when no system qualifies, and then the page and ``evaluate``'s
  verdict name the control to prefer (:func:`preferred_controls`).

A fused system's cost is its ensemble's plus its CNN's; a frozen fusion also pays for the frozen
features and the side choice it shares with the frozen control (the control row's CPU seconds),
since a user fitting it alone computes them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from dissim.pipeline.defaults import DEFAULTS
from dissim.report import figstyle, typeset
from dissim.report.evaluation import ENSEMBLE, PIXELS, UNTRAINED, usage
from dissim.report.paired import FAILS, HOLDS, compare

#: The file the "Which default?" page reads: ``benchmarks/defaults.py --json`` of the five
#: folders, compacted (:func:`compact`).
COMMITTED = Path(__file__).resolve().parents[2] / "book" / "own_images" / "defaults.json"
#: What :func:`compact` keeps of each evaluation row.
ROW_KEYS = ("name", "mean", "sd", "fold_accuracy", "seconds", "cpu_seconds", "parts", "fused",
            "correct")
#: The words of a verdict against the strongest control.
STANDING = {HOLDS: "beats", FAILS: "is worse than"}
LEVEL = "is level with"


@dataclass(frozen=True)
class Standing:
    """One system on one folder against that folder's strongest control."""

    folder: str
    system: str  # "<candidate label>" or "<candidate label> + frozen efficientnet_lite0"
    candidate: str  # the candidate label it belongs to
    fusion: str | None  # None (the ensemble), "frozen" or "finetuned"
    accuracy: float  # mean over the folds run (0-1)
    cpu_seconds: float  # both folds, what fitting and scoring this system costs
    control: str  # the strongest control's name
    control_accuracy: float
    difference: float  # pooled accuracy difference, points (system minus control)
    p: float  # McNemar's exact test
    verdict: str  # the claims verdict: holds / does not hold / too close to call

    @property
    def level(self) -> bool:
        """At least level with the strongest control (not significantly worse)."""
        return self.verdict != FAILS

    @property
    def words(self) -> str:
        return STANDING.get(self.verdict, LEVEL)


@dataclass(frozen=True)
class Control:
    """A control row of a folder (candidate-specific twins carry the candidate's label)."""

    folder: str
    name: str
    accuracy: float
    cpu_seconds: float
    decisions: dict


@dataclass(frozen=True)
class Decision:
    """The rule applied (see the module): the systems at least level on most folders and the
    cheapest of them, None when none qualifies."""

    standings: tuple[Standing, ...]
    folders: tuple[str, ...]
    qualifying: tuple[str, ...]
    default: str | None
    cost: Mapping[str, float]  # system -> mean CPU seconds over folders
    level_on: Mapping[str, int]  # system -> folders where it is at least level

    def sentence(self) -> str:
        n = len(self.folders)
        if self.default is None:
            best = max(self.level_on.values(), default=0)
            return (f"No candidate is at least level with the strongest control on most of the "
                    f"{n} folders (the best manage {best} of {n}): the default stays the "
                    f"paper's ensemble, and the control to prefer depends on the images.")
        return (f"Default: {self.default}, the cheapest system at least level with the "
                f"strongest control on most folders ({self.level_on[self.default]} of {n}; "
                f"{self.cost[self.default]:.0f} CPU seconds per folder on average).")


def load(path: str | Path = COMMITTED) -> dict:
    """The committed measurement (``benchmarks/defaults.py --commit``): ``titles`` (folder ->
    its name on the page), ``machine`` (CPU, cores, bfloat16 in hardware), ``command`` and
    ``evaluations`` (``{folder: {candidate label: evaluation dict}}``, what the functions
    below take as ``done``)."""
    m = json.loads(Path(path).read_text())
    missing = {"titles", "machine", "command", "evaluations"} - set(m)
    if missing:
        raise ValueError(f"{path}: not a defaults measurement (no {', '.join(sorted(missing))}); "
                         f"write it with benchmarks/defaults.py --commit")
    return m


def provenance(m: Mapping) -> str:
    """The page's provenance line: folders, folds, images per class, seed, machine, training
    arithmetic, dissim version and commit (the first evaluation's; all ran from one)."""
    evs = [ev for evs in m["evaluations"].values() for ev in evs.values()]
    first = evs[0]
    folds = first["folds"]
    params = first.get("params", {})
    env = first.get("environment", {})
    arith = sorted({ev.get("arithmetic", "") for ev in evs} - {""})
    mach = m["machine"]
    bf16 = "bfloat16 in hardware" if mach.get("bf16_hardware") else "no bfloat16 in hardware"
    return (f"**Provenance:** {len(m['evaluations'])} folders · {folds['run']} of "
            f"{folds['n_splits']} stratified folds · seed {params.get('seed', 0)} · "
            f"CPU {mach.get('cpu')} ({mach.get('cores')} cores, {bf16}) · {', '.join(arith)} · "
            f"dissim {env.get('dissim', '?')} at commit {str(env.get('git_commit', '?'))[:7]}")


def compact(done: Mapping[str, Mapping[str, dict]]) -> dict:
    """The evaluations without what the rule and the page do not read (confusion matrices,
    classification reports): the file committed for the book, a few hundred kB at most."""
    keep = ("name", "params", "folds", "seconds", "arithmetic", "environment", "notes")
    return {folder: {label: {**{k: ev[k] for k in keep if k in ev},
                             "rows": [{k: r[k] for k in ROW_KEYS if k in r}
                                      for r in ev["rows"]]}
                     for label, ev in evs.items()}
            for folder, evs in done.items()}


def _decisions(row: dict) -> dict[int, np.ndarray]:
    return {int(f): np.asarray(v, dtype=bool) for f, v in row["correct"].items()}


def systems(label: str, ev: dict) -> list[tuple[str, str | None, dict]]:
    """A candidate's systems in evaluation ``ev``: ``(name, fusion, row)`` for its ensemble
    (named by the candidate's configuration) and each fused row (``<configuration> + frozen
    efficientnet_lite0``)."""
    base = label.split(" + ")[0]
    ensemble = next(r for r in ev["rows"] if r["name"] == ENSEMBLE)
    out: list[tuple[str, str | None, dict]] = [(base, None, ensemble)]
    for r in ev["rows"]:
        if r.get("fused"):
            how = "finetuned" if "fine-tuned" in r["name"] else "frozen"
            cnn = r["name"].removeprefix("ensemble + ").removesuffix(" (z-score sum)")
            out.append((f"{base} + {cnn}", how, r))
    return out


def controls(folder: str, evs: Mapping[str, dict]) -> list[Control]:
    """Every control row of ``folder``: each candidate's untrained and pixel twins (named
    ``<configuration>: untrained networks`` / ``: pixels``), then the plain SVM and the frozen
    CNN once (they do not depend on the candidate)."""
    out: list[Control] = []
    shared: set[str] = set()
    for label, ev in evs.items():
        base = label.split(" + ")[0]
        for r in ev["rows"]:
            if r["name"] == ENSEMBLE or r.get("fused"):
                continue
            if r["name"] in (UNTRAINED, PIXELS):
                name = f"{base}: {r['name'].split(',')[0]}"
            else:
                name = r["name"]
                if name in shared:
                    continue
                shared.add(name)
            if any(c.name == name for c in out):
                continue
            out.append(Control(folder, name, float(r["mean"]), float(r["cpu_seconds"]),
                               _decisions(r)))
    return out


def strongest(folder: str, evs: Mapping[str, dict]) -> Control:
    """The control with the highest mean accuracy on ``folder`` (the first listed on a tie)."""
    cs = controls(folder, evs)
    return max(cs, key=lambda c: c.accuracy)


def _frozen_cost(ev: dict) -> float:
    return sum(float(r["cpu_seconds"]) for r in ev["rows"]
               if r["name"].startswith("frozen ") and not r.get("fused"))


def standings(done: Mapping[str, Mapping[str, dict]]) -> list[Standing]:
    """Every system of every candidate on every folder against the folder's strongest
    control (folders and candidates in the order of ``done``)."""
    out = []
    for folder, evs in done.items():
        best = strongest(folder, evs)
        for label, ev in evs.items():
            for name, how, row in systems(label, ev):
                cpu = float(row["cpu_seconds"]) + (_frozen_cost(ev) if how == "frozen" else 0.0)
                cmp = compare(name, best.name, _decisions(row), best.decisions)
                out.append(Standing(folder, name, label.split(" + ")[0], how,
                                    float(row["mean"]), cpu, best.name, best.accuracy,
                                    cmp.pooled, cmp.p_mcnemar, cmp.verdict))
    return out


def decide(done: Mapping[str, Mapping[str, dict]]) -> Decision:
    """The rule (see the module) on the evaluations ``done``."""
    st = standings(done)
    folders = tuple(done)
    names = list(dict.fromkeys(s.system for s in st))
    level_on = {n: sum(s.level for s in st if s.system == n) for n in names}
    # a system measured on fewer folders cannot be "level on most" of all of them
    cost = {n: float(np.mean([s.cpu_seconds for s in st if s.system == n])) for n in names}
    qualifying = tuple(n for n in names if level_on[n] > len(folders) / 2)
    default = min(qualifying, key=lambda n: (cost[n], n)) if qualifying else None
    return Decision(tuple(st), folders, qualifying, default, cost, level_on)


def agreement(decision: Decision) -> str:
    """Whether the package's defaults (:data:`dissim.pipeline.defaults.DEFAULTS`) are the
    system the rule chose, in one sentence (the page says it; a test asserts it for the
    committed measurement)."""
    mine = DEFAULTS.label()
    if decision.default == mine:
        return (f"`dissim.pipeline.defaults.DEFAULTS` is this system ({mine}): "
                f"`DissimilarityClassifier()`, `dissim fit` and `dissim evaluate` use it.")
    return (f"`dissim.pipeline.defaults.DEFAULTS` ({mine}) is not the system the rule chose "
            f"({decision.default or 'none'}).")


def preferred_controls(done: Mapping[str, Mapping[str, dict]]) -> dict[str, str]:
    """``{folder: the name of its strongest control}``."""
    return {folder: strongest(folder, evs).name for folder, evs in done.items()}


def frame(done: Mapping[str, Mapping[str, dict]],
          titles: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The measured table, long: one line per folder and system or control, with ``kind``
    (``system`` / ``control``), accuracy (%), CPU seconds, and for a system its standing
    (``beats`` / ``is level with`` / ``is worse than`` the strongest control, the pooled
    difference in points and McNemar's p). ``titles`` renames folders."""
    titles = dict(titles or {})
    by = {(s.folder, s.system): s for s in standings(done)}
    rows = []
    for folder, evs in done.items():
        best = strongest(folder, evs)
        for label, ev in evs.items():
            for name, _, _ in systems(label, ev):
                s = by[(folder, name)]
                rows.append({"folder": titles.get(folder, folder), "row": name,
                             "kind": "system", "accuracy (%)": 100 * s.accuracy,
                             "CPU s": s.cpu_seconds, "standing": s.words,
                             "difference (points)": s.difference, "p": s.p})
        for c in controls(folder, evs):
            rows.append({"folder": titles.get(folder, folder), "row": c.name, "kind": "control",
                         "accuracy (%)": 100 * c.accuracy, "CPU s": c.cpu_seconds,
                         "standing": "strongest control" if c.name == best.name else "",
                         "difference (points)": np.nan, "p": np.nan})
    return pd.DataFrame(rows)


def wide(done: Mapping[str, Mapping[str, dict]], titles: Mapping[str, str] | None = None,
         ) -> pd.DataFrame:
    """One line per system or control, one column per folder: ``accuracy (CPU s)`` for a
    system, with ``*`` where it is worse than the folder's strongest control; the strongest
    control's cell is marked ``best control``. Rows absent on a folder are empty."""
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for r in frame(done, titles).to_dict("records"):
        acc = r["accuracy (%)"]
        if r["kind"] == "system":
            mark = " *" if r["standing"] == STANDING[FAILS] else ""
            cell = f"{acc:.2f} ({r['CPU s']:.0f} s){mark}"
        else:
            cell = f"{acc:.2f}" + (" (best control)" if r["standing"] else "")
        cells.setdefault((r["kind"], r["row"]), {})[r["folder"]] = cell
    order = sorted(cells, key=lambda k: k[0] != "system")  # systems first, stable otherwise
    return pd.DataFrame([{"row": row, **cells[(kind, row)]} for kind, row in order]).fillna("")


def table(done: Mapping[str, Mapping[str, dict]], titles: Mapping[str, str] | None = None):
    """The measured table, set long (:func:`dissim.report.typeset.table`): one row group per
    folder, its systems then its controls, accuracy (%), CPU seconds and each system's
    standing against the folder's strongest control; the best accuracy of a folder in bold."""
    df = frame(done, titles)
    standing = []
    for r in df.to_dict("records"):
        if r["kind"] == "control":
            standing.append(r["standing"])
            continue
        p = "p < 0.001" if r["p"] < 1e-3 else f"p {r['p']:.2g}"
        standing.append(f"{r['standing']} ({r['difference (points)']:+.1f}, {p})")
    view = pd.DataFrame({"folder": df["folder"], "system or control": df["row"].map(_short),
                         "accuracy (%)": df["accuracy (%)"],
                         "CPU s": [f"{v:.0f}" for v in df["CPU s"]],
                         "against the strongest control": standing})
    best = typeset.best_rows(view["accuracy (%)"].tolist(), within=view["folder"].tolist())
    return typeset.table(
        view, groups="folder", stub="system or control", best={"accuracy (%)": best},
        numbers=["accuracy (%)", "CPU s"],
        notes=["Accuracy: mean of the two test folds (%). CPU s: both folds, the process's CPU "
               "time (all threads), fitting and scoring; a fused system's includes its "
               "ensemble's, a frozen fusion's the frozen features. Standing: the claims "
               "verdict of McNemar's exact test on the pooled test images (difference in "
               "points, system minus control). Bold: the best accuracy of a folder."])


def qualifying(decision: Decision):
    """Per system, where it is at least level with the strongest control, its mean CPU seconds
    per folder, and whether it qualifies and is the default (typeset)."""
    df = verdict_table(decision)
    df["system"] = df["system"].map(_short)
    df["CPU s per folder"] = [f"{v:.0f}" for v in df["CPU s per folder"]]
    return typeset.table(df, stub="system", numbers=["CPU s per folder"],
                         notes=["Qualifies: at least level with the strongest control on "
                                "most folders. The default: the cheapest that qualifies."])


def prefer(done: Mapping[str, Mapping[str, dict]], titles: Mapping[str, str] | None = None):
    """Per folder, the strongest control, its accuracy and how to use it (typeset)."""
    titles = dict(titles or {})
    rows = []
    for folder, evs in done.items():
        c = strongest(folder, evs)
        rows.append({"images": titles.get(folder, folder), "strongest control": _short(c.name),
                     "accuracy (%)": 100 * c.accuracy, "how to use it": usage(c.name)})
    return typeset.table(pd.DataFrame(rows), stub="images", numbers=["accuracy (%)"])


def figure(done: Mapping[str, Mapping[str, dict]], titles: Mapping[str, str] | None = None):
    """Each system's accuracy minus its folder's strongest control (points, pooled test
    images), one line of the figure per folder, one marker per system: filled where it is at
    least level (McNemar), hollow where it is worse. The strongest control is named under each
    folder's name."""
    titles = dict(titles or {})
    st = standings(done)
    folders = list(done)
    names = list(dict.fromkeys(s.system for s in st))
    markers = "osD^vP*X"
    fig, ax = figstyle.new_figure(height=0.9 + 0.55 * len(folders) + 0.25 * len(names))
    ax.axvline(0, color="black", lw=1)
    for i, name in enumerate(names):
        color = f"C{i % 10}"
        for s in (s for s in st if s.system == name):
            y = folders.index(s.folder) + (i - (len(names) - 1) / 2) * 0.12
            ax.plot([s.difference], [y], ls="", marker=markers[i % len(markers)], ms=7,
                    color=color, mfc=color if s.level else "white", mew=1.5)
    handles = [Line2D([], [], ls="", marker=markers[i % len(markers)], ms=7, color=f"C{i % 10}",
                      label=_short(name)) for i, name in enumerate(names)]
    handles.append(Line2D([], [], ls="", marker="o", ms=7, color="grey", mfc="white", mew=1.5,
                          label="hollow: significantly worse"))
    ax.set_yticks(range(len(folders)))
    ax.set_yticklabels([f"{titles.get(f, f)}\nvs {_short(strongest(f, done[f]).name)} "
                        f"({100 * strongest(f, done[f]).accuracy:.1f} %)" for f in folders])
    ax.invert_yaxis()

    ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel("accuracy minus the strongest control (points)")
    ax.set_title("Against the strongest control")
    figstyle.legend_below(fig, handles, ncol=2)
    return fig


def _short(name: str) -> str:
    """A legend-sized name: 'frozen efficientnet_lite0 features + SVM (224 px)' ->
    'frozen Lite0 + SVM (224 px)'."""
    out = name.replace("efficientnet_lite", "Lite").replace(" features", "")
    out = out.replace("plain SVM on standardised pixels", "plain SVM on pixels")
    return out.replace("fully+deeper ", "").replace(", same spaces and SVMs", "")


def caption(done: Mapping[str, Mapping[str, dict]],
            titles: Mapping[str, str] | None = None) -> str:
    """The figure's caption, computed: how many systems are at least level where, and the
    decision."""
    d = decide(done)
    titles = dict(titles or {})
    prefer = preferred_controls(done)
    kinds = "; ".join(f"{titles.get(f, f)}: {_short(c)}" for f, c in prefer.items())
    return figstyle.caption(
        "A marker right of the line beats the folder's strongest control; a hollow marker is "
        "significantly worse than it (McNemar's exact test, both folds' test images pooled).",
        d.sentence(), f"Strongest control per folder: {kinds}.")


def verdict_table(decision: Decision, titles: Mapping[str, str] | None = None
                  ) -> pd.DataFrame:
    """Per system: folders where it is at least level, mean CPU seconds, and whether it
    qualifies (level on most folders) and is the default."""
    rows = []
    for name in dict.fromkeys(s.system for s in decision.standings):
        rows.append({"system": name,
                     "at least level on": f"{decision.level_on[name]} of "
                                          f"{len(decision.folders)}",
                     "CPU s per folder": decision.cost[name],
                     "qualifies": "yes" if name in decision.qualifying else "no",
                     "default": "yes" if name == decision.default else ""})
    return pd.DataFrame(rows)


__all__ = ["COMMITTED", "Control", "Decision", "Standing", "agreement", "caption", "compact",
           "controls", "decide", "figure", "frame", "load", "prefer", "preferred_controls",
           "provenance", "qualifying", "standings", "strongest", "systems", "table", "usage",
           "verdict_table", "wide"]
