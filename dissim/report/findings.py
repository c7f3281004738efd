"""What we found, first: one table of every verdict of the committed evidence snapshots, on
the book's first page and at the top of the README (book: introduction, "What we found").

For each comparison of a claims page (the paper's headline, the training check, then the
paper's four claims; :func:`dissim.report.claims.evidence`) and each evidence snapshot, the
verdict (McNemar's test, :mod:`dissim.report.paired`) and the mean difference over folds,
linked to the snapshot's claims page; the same comparisons as a figure, fold by fold
(:func:`figure`, written to :data:`FIGURE`); and one generated paragraph on what the verdicts
mean and at which scale they were measured. Snapshots of the ``smoke`` and ``quick`` profiles
test the machinery and are left out.

The training budget is an axis: a data set with snapshots at two budgets or more (``medium``
and ``large``, :data:`dissim.profiles.PROFILES`) has its columns side by side, ordered by the
pairs seen per network (:func:`network_pairs`) and headed with the data set and the budget;
one sentence per two budgets says which verdicts moved (:func:`budget_moves`); and a second
figure draws each comparison's mean difference against the pairs seen (:func:`budget_figure`,
written to :data:`BUDGET_FIGURE`). A data set at one budget is shown as before, and without
a data set at two budgets the block and its outputs are what they were.

The block sits between :data:`MARKERS` in ``README.md`` and ``book/intro.md`` and is written
by ``make findings`` (``python -m dissim.report.findings``); ``--check`` exits 1 when a block
or the figure differs from what the snapshots give, and the tests check the same, so the
summary cannot go stale silently when the snapshots are recomputed.
"""

from __future__ import annotations

import argparse
import io
import sys
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import ScaledTranslation

from dissim import atomic
from dissim.pipeline import snapshots
from dissim.pipeline.spec import group_units
from dissim.profiles import _GPU_SWITCHES, base_name
from dissim.profiles import get as get_profile
from dissim.report import cost
from dissim.report.claims import UNTESTED, evidence, signed
from dissim.report.figstyle import caption, count_axis, human, legend_below, new_figure, styled
from dissim.report.paired import CLOSE, FAILS, HOLDS
from dissim.report.views import NBSP, _ranges

__all__ = ["BOOK_LINKS", "BUDGET_FIGURE", "COMPLETE", "FIGURE", "MARKERS", "MARKS",
           "README_LINKS", "SHORT_NAMES", "TARGETS", "block", "budget_caption", "budget_figure",
           "budget_figure_png", "budget_moves", "budgets", "counts_line", "evidence_snapshots",
           "figure", "figure_caption", "figure_png", "headline", "holdings",
           "holdings_markdown", "main", "markdown", "network_pairs", "summary_table",
           "training", "write"]

REPO = Path(__file__).resolve().parents[2]
MARKERS = ("<!-- findings:start -->", "<!-- findings:end -->")
#: Where a claims page and a tables page of a snapshot are, seen from the book's first page
#: (``book/intro.md``; the pages ``dissim book run`` writes into book/results/snapshots/).
BOOK_LINKS = {"claims": "results/snapshots/{name}/claims.html",
              "snapshot": "results/snapshots/{name}/snapshot.html",
              "figure": "figures/findings.png",
              "budget_figure": "figures/findings_budget.png"}
#: The same from the README: the built book's pages (``make book``), and the snapshot folder.
README_LINKS = {"claims": "_build/html/book/results/snapshots/{name}/claims.html",
                "snapshot": "results_snapshots/{name}/",
                "figure": "book/figures/findings.png",
                "budget_figure": "book/figures/findings_budget.png"}
#: The figure of the block (:func:`figure`), written beside the book's first page.
FIGURE = Path("book/figures/findings.png")
#: The budget figure (:func:`budget_figure`), beside it; written only where a data set has
#: snapshots at two budgets or more.
BUDGET_FIGURE = Path("book/figures/findings_budget.png")
#: The files that hold the block, and the links each uses.
TARGETS = {"README.md": README_LINKS, "book/intro.md": BOOK_LINKS}
NOT_EVIDENCE = ("smoke", "quick")


def evidence_snapshots(root: str | Path = REPO / snapshots.SNAPSHOT_DIR) -> list[Path]:
    """The snapshot folders under ``root`` whose profile is evidence (not smoke or quick)."""
    return [p for p in snapshots.list_snapshots(root)
            if base_name(snapshots.load(p).profile) not in NOT_EVIDENCE]


def summary_table(snapshot_dirs: Iterable[str | Path]) -> pd.DataFrame:
    """One row per snapshot and comparison: ``snapshot``, ``profile``, ``folds``, ``claim``
    (its number: ``0`` for the paper's headline, :func:`~dissim.report.claims.closes_gap`;
    ``C`` for the training check; 1-4), ``comparison`` (a few words),
    ``verdict``, ``mean`` (difference over folds, points), ``p_mcnemar``, ``p_folds``,
    ``diffs`` (the per-fold differences, points; empty when untested), the
    profile's ``iterations``, ``batch_size`` and ``input_size``, the ``devices`` the
    members were computed on, and the training budget: ``pairs``, the median over the
    snapshot's trained networks of the pairs (triplets) each sees (:func:`network_pairs`),
    and their smallest and largest, ``pairs_min`` and ``pairs_max`` (NaN without trained
    networks)."""
    rows = []
    for path in snapshot_dirs:
        snap = snapshots.load(path)
        prov = snap.provenance()
        settings = prov.get("profile_settings") or {}
        seen = network_pairs(snap.results)
        scale = {"snapshot": Path(path).name, "profile": snap.profile,
                 "folds": tuple(prov["folds"]), "iterations": settings.get("iterations"),
                 "batch_size": settings.get("batch_size"), "training": training(settings),
                 "input_size": settings.get("input_size"),
                 "devices": ", ".join(prov.get("devices") or ["unknown"]),
                 "pairs": float(np.median(seen)) if seen else float("nan"),
                 "pairs_min": float(min(seen)) if seen else float("nan"),
                 "pairs_max": float(max(seen)) if seen else float("nan")}
        for claim in evidence(snap.results, snap.cnn_results):
            if not claim.comparisons:
                rows.append({**scale, "claim": str(claim.number), "comparison": claim.statement,
                             "verdict": UNTESTED, "mean": float("nan"),
                             "p_mcnemar": float("nan"), "p_folds": float("nan"),
                             "diffs": ()})
            for cmp in claim.comparisons:
                rows.append({**scale, "claim": str(claim.number), "comparison": cmp.label,
                             "verdict": cmp.verdict, "mean": cmp.mean,
                             "p_mcnemar": cmp.p_mcnemar, "p_folds": cmp.p,
                             "diffs": tuple(float(d) for d in cmp.diffs)})
    return pd.DataFrame(rows, columns=["snapshot", "profile", "folds", "claim", "comparison",
                                       "verdict", "mean", "p_mcnemar", "p_folds", "diffs",
                                       "iterations", "batch_size", "input_size", "devices",
                                       "training", "pairs", "pairs_min", "pairs_max"])


def network_pairs(results: dict) -> list[int]:
    """The pairs (triplets, for the triplet loss) each trained Siamese network of ``results``
    sees in training, one number per network (the members that share a network, its spaces
    and, where the profile trains one network for every k, its k, count once:
    :func:`dissim.pipeline.spec.group_units`): its profile's iterations for its topology
    (:meth:`~dissim.profiles.Profile.iterations_for`) times the pairs (triplets) of one
    iteration, the ``planned_pairs`` of :func:`dissim.report.cost.networks` (the batch sampler
    counted at equal compute, like the paper's, as :func:`dissim.report.payoff.pairs_seen`
    does). Controls (untrained networks, pixels) are not trained and not counted."""
    trained = [m for m in results if getattr(m, "encoder", None) == "trained"]
    out = []
    for unit in group_units(trained):
        m = unit.members[0]
        pairs, _ = cost._per_iteration(m.profile, m.topology, m.method)
        out.append(m.profile.iterations_for(m.topology) * pairs)
    return out


#: The complete grid of an evidence snapshot (the issue "Evidence, complete"; Sections 2-4):
#: every fold of the protocol, Table 2's three methods on topologies 1-8, both controls, the
#: profile's CNNs fine-tuned (the eCNN) and frozen (the reference), at the profile's settings.
COMPLETE = {"methods": ("cross", "crossdd", "triplet"), "topologies": tuple(range(1, 9)),
            "controls": ("pixels", "untrained")}
METHOD_NAMES = {"cross": "Cross", "crossdd": "CrossDD", "triplet": "Triplet"}


def _cnn(name: str) -> str:
    """``efficientnet_lite1`` -> ``Lite1`` (other names unchanged)."""
    return name.replace("efficientnet_lite", "Lite")


def _protocol_folds(snap) -> int:
    """The number of folds of the snapshot's protocol, from its entries' train and test sizes
    (a k-fold split tests about 1/k of the images in each fold)."""
    data = [r.meta.get("data", {}) for r in snap.entries()]
    sizes = [(d["n_train"], d["n_test"]) for d in data if d.get("n_test")]
    return max(round((a + b) / b) for a, b in sizes) if sizes else 0


def _without_switches(meta: dict) -> dict:
    """``meta`` with its profile settings less the GPU speed switches (bfloat16 autocast,
    TF32, channels-last; :func:`dissim.profiles.with_switches`): a ``large+bf16+nhwc`` entry
    is at ``large``'s settings when the rest are ``large``'s."""
    settings = {k: v for k, v in (meta.get("profile_settings") or {}).items()
                if k not in _GPU_SWITCHES}
    return {**meta, "profile_settings": settings}


def holdings(snapshot_dirs: Iterable[str | Path]) -> pd.DataFrame:
    """One row per snapshot: what it holds against :data:`COMPLETE`. Columns ``snapshot``,
    ``folds`` ("5 of 5"), ``methods``, ``controls``, ``ecnn`` (the fine-tuned CNNs),
    ``frozen`` (the frozen references), ``hours`` (network and CNN training time),
    ``settings`` ("as now", or the profile changed since; GPU speed switches, as in
    ``large+bf16+nhwc``, are not a change: :func:`_without_switches`) and ``missing`` (what
    the complete grid still lacks, "nothing" when complete)."""
    rows = []
    for path in snapshot_dirs:
        snap = snapshots.load(path)
        prov = snap.provenance()
        base = base_name(snap.profile)
        n = _protocol_folds(snap)
        folds, methods = prov["folds"], prov["methods"]
        current = all(snapshots.current_settings(_without_switches(r.meta), base)
                      for r in snap.entries())
        missing = []
        if len(folds) < n:
            rest = sorted(set(range(n)) - set(folds))
            missing.append(f"fold{'s' if len(rest) > 1 else ''} {_ranges(rest)}")
        missing += [METHOD_NAMES.get(m, m) for m in COMPLETE["methods"] if m not in methods]
        if set(prov["topologies"]) != set(COMPLETE["topologies"]):
            missing.append("topologies " + _ranges(sorted(set(COMPLETE["topologies"])
                                                          - set(prov["topologies"]))))
        missing += [f"{c} control" for c in COMPLETE["controls"] if c not in prov["controls"]]
        lacking = [_cnn(c) for c in get_profile(base).cnns if c not in prov["cnns"]]
        if lacking:
            missing.append(", ".join(lacking) + " fine-tuned")
        if not prov["frozen_cnns"]:
            missing.append("the frozen references")
        if not current:
            missing.append(f"a recomputation at `{base}`'s current settings")
        rows.append({
            "snapshot": snap.name, "folds": f"{len(folds)} of {n}",
            "methods": ", ".join(METHOD_NAMES.get(m, m) for m in methods)
            + f" on topologies {_ranges(prov['topologies'])}",
            "controls": ", ".join(prov["controls"]) or "none",
            "ecnn": ", ".join(map(_cnn, prov["cnns"])) or "none",
            "frozen": ", ".join(map(_cnn, prov["frozen_cnns"])) or "none",
            "hours": prov["train_hours"] + prov["cnn_hours"],
            "settings": "as now" if current else "earlier (changed since)",
            "missing": "; ".join(missing) or "nothing"})
    return pd.DataFrame(rows, columns=["snapshot", "folds", "methods", "controls", "ecnn",
                                       "frozen", "hours", "settings", "missing"])


def holdings_markdown(table: pd.DataFrame, links: dict[str, str] = BOOK_LINKS) -> str:
    """:func:`holdings` as a markdown table headed "What each snapshot holds"."""
    if table.empty:
        return ""
    head = ["snapshot", "folds", "Siamese networks", "CNNs fine-tuned (eCNN) / frozen",
            "training", "missing for the complete grid"]
    lines = ["**What each snapshot holds**, against the complete grid (every fold; Cross, "
             "CrossDD and Triplet on topologies 1-8; both controls, the untrained networks and "
             "the pixels; the profile's CNNs fine-tuned for the eCNN and frozen for the "
             "reference; the profile's current settings):", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in table.iterrows():
        name = f'<a href="{links["snapshot"].format(name=r["snapshot"])}">{r["snapshot"]}</a>'
        lines.append("| " + " | ".join([
            name, r["folds"], r["methods"], f"{r['ecnn']} / {r['frozen']}",
            f"{r['hours']:.1f} h", r["missing"]]) + " |")
    return "\n".join(lines)


#: The verdict of a cell as a mark and its colour (the legend line under the table names them).
MARKS = {HOLDS: ("✔", "#1a7f37"), FAILS: ("✘", "#cf222e"), CLOSE: ("≈", "#57606a"),
         UNTESTED: ("—", "#57606a")}
#: Short column heads for the data sets of the snapshots (the snapshot name's stem otherwise).
SHORT_NAMES = {"fsdd": "FSDD", "omniglot_greek": "Omniglot", "orl_faces": "ORL",
               "textures": "Textures"}


def _stem(snapshot: str, profile: str) -> str:
    """``omniglot_greek-medium`` -> ``omniglot_greek``: the snapshot's name without its
    profile suffix, the profile's name (``large+bf16+nhwc``) or its base (``large``); the
    data set a snapshot is of."""
    for suffix in (profile, base_name(profile)):
        if snapshot.endswith(f"-{suffix}"):
            return snapshot[:-len(suffix) - 1]
    return snapshot


def _short(snapshot: str, profile: str) -> str:
    """``omniglot_greek-medium`` -> ``Omniglot``: the data set's short name, the snapshot's
    name without its profile suffix."""
    stem = _stem(snapshot, profile)
    return SHORT_NAMES.get(stem, stem)


def budgets(table: pd.DataFrame) -> pd.DataFrame:
    """One row per snapshot of :func:`summary_table`, in the order of the block's columns:
    the data sets in the order they first appear, a data set's snapshots side by side by
    training budget (``pairs`` seen per network, then name). Columns ``snapshot``,
    ``dataset`` (the snapshot's name without its profile), ``profile``, ``budget`` (the
    profile's name without GPU switches: ``large`` for ``large+bf16+nhwc``), ``pairs``,
    ``pairs_min``, ``pairs_max`` (where the table lacks them, the profile's ``iterations`` x
    ``batch_size``), ``several`` (whether the data set has snapshots at two budgets or
    more), ``short`` (the data set's short name), ``label`` (the budget where ``several``,
    else empty), ``head`` (the column head: ``short``, followed by ``label``) and ``html``
    (the same with the budget on a line of its own)."""
    first = table.drop_duplicates("snapshot")
    rows = []
    for _, r in first.iterrows():
        fallback = (float(r["iterations"]) * float(r["batch_size"])
                    if pd.notna(r.get("iterations")) and pd.notna(r.get("batch_size"))
                    else float("nan"))
        pairs = float(r["pairs"]) if pd.notna(r.get("pairs")) else fallback
        rows.append({"snapshot": r["snapshot"], "dataset": _stem(r["snapshot"], r["profile"]),
                     "profile": r["profile"], "budget": base_name(r["profile"]),
                     "pairs": pairs,
                     "pairs_min": float(r["pairs_min"]) if pd.notna(r.get("pairs_min"))
                     else pairs,
                     "pairs_max": float(r["pairs_max"]) if pd.notna(r.get("pairs_max"))
                     else pairs})
    out = pd.DataFrame(rows, columns=["snapshot", "dataset", "profile", "budget", "pairs",
                                      "pairs_min", "pairs_max"])
    where = {d: i for i, d in enumerate(dict.fromkeys(out["dataset"]))}
    out = out.assign(_at=out["dataset"].map(where), _nan=out["pairs"].isna())
    out = out.sort_values(["_at", "_nan", "pairs", "snapshot"], kind="stable").drop(
        columns=["_at", "_nan"]).reset_index(drop=True)
    out["several"] = out.groupby("dataset")["pairs"].transform(
        lambda p: p.dropna().nunique() > 1).astype(bool)
    out["short"] = [_short(n, p) for n, p in zip(out["snapshot"], out["profile"], strict=True)]
    out["label"] = ""
    for _, d in out.groupby("dataset", sort=False):
        if bool(d["several"].iloc[0]):
            out.loc[d.index, "label"] = (d["budget"] if d["budget"].is_unique else
                                         d["profile"] if d["profile"].is_unique
                                         else d["snapshot"])
    out["head"] = [f"{s} {b}" if b else s for s, b in zip(out["short"], out["label"],
                                                         strict=True)]
    counts = out["head"].value_counts()  # one short name twice: say which profile
    out["head"] = [h if counts[h] == 1 else f"{h} ({p})"
                   for h, p in zip(out["head"], out["profile"], strict=True)]
    return out.assign(
        html=[h.replace(f"{s} ", f"{s}<br>", 1) if b else h
              for h, s, b in zip(out["head"], out["short"], out["label"], strict=True)])


def _ordered(table: pd.DataFrame) -> pd.DataFrame:
    """``table``'s rows with its snapshots in the order of :func:`budgets` (each snapshot's
    rows kept in their order)."""
    if table.empty:
        return table
    at = {n: i for i, n in enumerate(budgets(table)["snapshot"])}
    return table.iloc[sorted(range(len(table)), key=lambda i: at[table["snapshot"].iloc[i]])]


def _heads(table: pd.DataFrame) -> dict[str, str]:
    """The column head of each snapshot of ``table`` (:func:`budgets`), in column order."""
    b = budgets(table)
    return dict(zip(b["snapshot"], b["head"], strict=True))


def _cell(row: pd.Series, href: str) -> str:
    """'✔ +8.44': the verdict's mark, coloured and linked to the claims page (its title says
    the verdict in words), and the mean difference; a non-breaking space keeps it on one
    line."""
    mark, colour = MARKS[row["verdict"]]
    if row["verdict"] == UNTESTED:
        return f'<span title="{UNTESTED}">{mark}</span>'
    return (f'<a href="{href}" title="{row["verdict"]}"><span style="color:{colour}">{mark}'
            f'</span></a>{NBSP}{signed(row["mean"])}')


def _scale(table: pd.DataFrame) -> str:
    """Each profile's training scale against the paper's, and each snapshot's folds and
    devices, in words."""
    paper = get_profile("paper")
    many = table["training"].nunique() > 1
    profiles = "; ".join(
        f"profile `{r['profile']}`" + (f" as `{r['snapshot']}` ran it" if many else "")
        + f": {r['training']} (the paper: {paper.iterations} iterations of "
        f"{paper.batch_size} pairs, {paper.iterations * paper.batch_size} per network), inputs "
        f"of {r['input_size']} px or a topology's smallest valid size if larger (the "
        f"paper's: {paper.input_size} px)"
        for _, r in table.drop_duplicates("training").iterrows())
    parts = []
    for name, d in table.groupby("snapshot", sort=False):
        r = d.iloc[0]
        folds = r["folds"]
        parts.append(f"`{name}` on {len(folds)} fold{'s' if len(folds) != 1 else ''} "
                     f"({_ranges(folds)}), computed on {r['devices']}")
    return f"{profiles}; " + ", ".join(parts)


def training(settings: dict) -> str:
    """A profile's Siamese training in words, from its settings (:meth:`Profile.to_dict`):
    iterations and pairs, the sampler and learning rate of each loss, the topologies that
    train longer (book: Assumptions 11)."""
    it, b = settings.get("iterations"), settings.get("batch_size")
    if it is None or b is None:
        return "unknown training"
    lr, sampler = settings.get("lr", 1e-4), settings.get("sampler", "pairs")
    t_lr = settings.get("triplet_lr") or lr
    t_sampler = settings.get("triplet_sampler") or sampler
    per = settings.get("topology_iterations") or {}
    longer = (f" (topologies {', '.join(sorted(per))}: {min(per.values())}-"
              f"{max(per.values())})" if per else "")
    if sampler == t_sampler == "pairs" and lr == t_lr:
        return (f"{it} iterations{longer} of {b} pairs ({it * b} training pairs per network)"
                + (f", lr {lr:g}" if lr != 1e-4 else ""))

    t_per = settings.get("triplet_topology_lr") or {}

    def one(name: str, smp: str, rate: float, per_image: int, per_lr: dict) -> str:
        what = (f"{b} {'triplets' if per_image == 3 else 'pairs'}" if smp == "pairs" else
                f"every valid {'triplet' if per_image == 3 else 'pair'} of a "
                f"{per_image * b}-image batch")
        rates = {}
        for t, r in sorted(per_lr.items()):
            rates.setdefault(float(r), []).append(str(t))
        own = "".join(f" (topologies {', '.join(ts)}: {r:g})" for r, ts in rates.items())
        return f"{name} {what} at lr {rate:g}{own}"

    return (f"{it} iterations{longer}; {one('Cross', sampler, lr, 2, {})}, "
            f"{one('Triplet', t_sampler, t_lr, 3, t_per)}")


def _training_pays(rows: pd.DataFrame) -> bool:
    """Whether the trained networks beat both controls: the pixels, and the untrained
    networks, read on the whole ensemble where that row exists (it holds every method's
    networks), else on the Cross networks (like for like)."""
    if rows.empty:
        return False
    verdict = dict(zip(rows["comparison"], rows["verdict"], strict=True))
    untrained = [c for c in verdict if "ensemble" in c] or [
        c for c in verdict if "untrained" in c]
    pixels = [c for c in verdict if "pixels" in c]
    return bool(untrained and pixels) and all(
        verdict[c] == "holds" for c in (*untrained, *pixels))


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def counts_line(table: pd.DataFrame) -> str:
    """'Of N comparisons, H hold, F do not and C are too close to call.' (untested rows are
    not counted)."""
    tested = table[table["verdict"] != UNTESTED]
    counts = tested["verdict"].value_counts()
    return (f"Of {len(tested)} comparisons, {_count(counts.get(HOLDS, 0), 'holds', 'hold')}, "
            f"{_count(counts.get(FAILS, 0), 'does not', 'do not')} and "
            f"{_count(counts.get(CLOSE, 0), 'is', 'are')} too close to call.")


def _label(claim: str, comparison: str) -> str:
    """A row's first cell; the paper's headline (0) in bold."""
    return f"**({claim}) {comparison}**" if claim == "0" else f"({claim}) {comparison}"


def headline(table: pd.DataFrame) -> str:
    """Row (0) in words, per snapshot: the verdict and the mean difference (points)."""
    table = _ordered(table)
    rows = table[(table["claim"] == "0") & (table["verdict"] != UNTESTED)]
    if rows.empty:
        return ""
    heads = _heads(table)
    words = {HOLDS: "ahead of", FAILS: "behind", CLOSE: "level with"}
    per = "; ".join(f"{words[r['verdict']]} it on {heads[r['snapshot']]} "
                    f"({signed(r['mean'])} points)" for _, r in rows.iterrows())
    return (f"The trained Siamese ensemble against the best fine-tuned CNN (row 0): {per}. "
            "The CNN is the eCNN's member with the best mean accuracy over the folds, which "
            "are also the test folds: choosing the best on the test folds favours the CNN. "
            "The ensemble is the one of the rows C (Table 2's fused configuration on the "
            "largest fusion of topologies).")


def markdown(table: pd.DataFrame, links: dict[str, str] = BOOK_LINKS,
             left_out: Sequence[str] = (), held_table: pd.DataFrame | None = None) -> str:
    """The block: the count of verdicts first, in bold (:func:`counts_line`); the table (rows
    = comparisons, the paper's headline (0) first; columns = snapshots under short data set
    names; each cell the verdict's mark, linked to the claims page, and the mean difference in
    points) and the line that explains it; the figure (:func:`figure`) with its caption; the
    headline in words (:func:`headline`); one paragraph on what the verdicts mean and the
    scale; and, given ``held_table`` (:func:`holdings`), what each snapshot holds.
    ``left_out`` names the snapshots that are not evidence."""
    if table.empty:
        return ("No evidence snapshot is committed yet: `results_snapshots/` holds none of a "
                "profile at which networks learn (book: Results on real images)."
                + _left_out(left_out))
    table = _ordered(table)
    profile = dict(zip(table["snapshot"], table["profile"], strict=True))
    cols = budgets(table)  # a data set at two budgets: "Omniglot medium", "Omniglot large"
    short = dict(zip(cols["snapshot"], cols["head"], strict=True))
    names = list(short)
    rows = _rows(table)
    # the budget on a line of its own under the data set's name: a narrow column
    header = ["claim"] + [f'<a href="{links["snapshot"].format(name=n)}">{h}</a>'
                          for n, h in zip(cols["snapshot"], cols["html"], strict=True)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    cell = _by_cell(table)
    for claim, comparison in rows:
        cells = [_label(claim, comparison)]
        for n in names:
            hit = cell.get((n, claim, comparison))
            cells.append(_cell(hit, links["claims"].format(name=n)) if hit is not None
                         else "")
        lines.append("| " + " | ".join(cells) + " |")
    profiles = list(dict.fromkeys(profile.values()))
    legend = (
        f"{MARKS[HOLDS][0]} holds, {MARKS[FAILS][0]} does not hold, {MARKS[CLOSE][0]} too "
        f"close to call, {MARKS[UNTESTED][0]} not tested; beside the mark, the mean "
        "difference over folds in accuracy points (left side minus right side). Each mark "
        "links to the data set's claims page, each column head to its snapshot: "
        + ", ".join(f"{short[n]} = `{n}`" for n in names)
        + f" (profile{'s' if len(profiles) > 1 else ''} "
        + ", ".join(f"`{p}`" for p in profiles) + ").")
    weak = [n for n in names if not _training_pays(table[(table["snapshot"] == n)
                                                         & (table["claim"] == "C")])]
    text = (
        "**holds** / **does not hold**: McNemar's exact test on every test image of every "
        "fold, pooled, finds the claimed side right on significantly more (fewer) images than "
        "the other (p < 0.05); otherwise **too close to call**. The fold-level paired test is "
        "shown beside it on each claims page. "
        f"Scale: {_scale(table)}. The data sets stand in for the paper's, which are not "
        "redistributable (book: Results on real images). So a verdict says what this method "
        "does at this scale on these data, not what the paper's networks did.")
    if weak:
        text += (" On " + ", ".join(f"`{n}`" for n in weak) + " the trained networks do not "
                 "beat both of their controls (rows C): there, a verdict about ensembles of them "
                 "is weak evidence about the paper's method.")
    for moved in budget_moves(table):
        text += " " + moved
    held = holdings_markdown(held_table, links) if held_table is not None else ""
    picture = (f"![Each comparison of the table, fold by fold, per data set]({links['figure']})"
               f"\n\n{figure_caption(table)}\n\n" if "figure" in links else "")
    budget = (f"\n\n![Each comparison's mean difference against the pairs seen per network, "
              f"per data set]({links['budget_figure']})\n\n{budget_caption(table)}"
              if "budget_figure" in links and _several_budgets(table) else "")
    first = headline(table)
    return (f"**{counts_line(table)}**\n\n" + "\n".join(lines) + "\n\n" + legend + "\n\n"
            + picture + (f"{first}\n\n" if first else "") + text + _left_out(left_out)
            + budget + (f"\n\n{held}" if held else ""))


def figure_caption(table: pd.DataFrame) -> str:
    """The figure's caption (markdown, italics): how to read it, and per data set how many
    comparisons hold, do not, or are too close."""
    table = _ordered(table)
    heads = _heads(table)
    per = []
    for name, d in table[table["verdict"] != UNTESTED].groupby("snapshot", sort=False):
        c = d["verdict"].value_counts()
        per.append(f"{heads[name]} {c.get(HOLDS, 0)} hold, "
                   f"{c.get(FAILS, 0)} do not, {c.get(CLOSE, 0)} too close")
    return ("*The same comparisons fold by fold: a small dot is one fold's difference, the "
            "large dot the mean; filled green where the comparison holds, red where it does "
            "not, hollow grey where it is too close to call. " + "; ".join(per) + ".*")


#: How :func:`figure` draws a comparison's mean, by verdict: colour, and whether it is filled.
VERDICT_STYLE = {HOLDS: ("tab:green", True), FAILS: ("tab:red", True),
                 CLOSE: ("dimgrey", False)}


def _rows(table: pd.DataFrame) -> list[tuple[str, str]]:
    return list(dict.fromkeys(zip(table["claim"], table["comparison"], strict=True)))


def _by_cell(table: pd.DataFrame) -> dict[tuple[str, str, str], pd.Series]:
    """The table's rows by (snapshot, claim, comparison): one cell of the block's table."""
    return {(r["snapshot"], r["claim"], r["comparison"]): r for _, r in table.iterrows()}


@styled
def figure(table: pd.DataFrame):
    """The block's table as a figure, 6.8 in wide (:mod:`dissim.report.figstyle`): one panel
    per snapshot, one line per comparison; each fold's difference (points, left side minus
    right side) a small dot, the mean a large one, filled green where the comparison holds,
    red where it does not, hollow grey where it is too close to call; untested comparisons
    are left empty. Each mean's artist has the ``gid`` ``"mean|<snapshot>|<claim>|<comparison>"``
    and its folds' ``"folds|..."`` (the tests read them back)."""
    table = _ordered(table)
    heads = _heads(table)
    names = list(heads)
    rows = _rows(table)
    labels = [textwrap.fill(f"({c}) {cmp}", 30) for c, cmp in rows]
    height = 1.6 + sum(0.19 * (1 + lab.count("\n")) + 0.12 for lab in labels)
    fig, axes = new_figure(1, len(names), height=height, pyplot=False, sharex=True,
                           sharey=True, squeeze=False)
    axes = axes[0]
    cell = _by_cell(table)
    for ax, name in zip(axes, names, strict=True):
        for y, (claim, comparison) in enumerate(rows):
            r = cell.get((name, claim, comparison))
            if r is None or r["verdict"] not in VERDICT_STYLE:
                continue
            key = f"{name}|{claim}|{comparison}"
            diffs = list(r["diffs"])
            offsets = [0.09 * (j - (len(diffs) - 1) / 2) for j in range(len(diffs))]
            ax.scatter(diffs, [y + o for o in offsets], s=9, color="black", alpha=0.55,
                       linewidths=0, zorder=3, gid=f"folds|{key}")
            color, filled = VERDICT_STYLE[r["verdict"]]
            ax.scatter([r["mean"]], [y], s=60, facecolors=color if filled else "white",
                       edgecolors=color, linewidths=1.6, zorder=4, gid=f"mean|{key}")
        ax.axvline(0, color="grey", lw=0.8, zorder=1)
        ax.grid(axis="x", alpha=0.3)
        ax.set_title(heads[name])
        ax.xaxis.set_major_locator(MaxNLocator(4))
    axes[len(axes) // 2].set_xlabel("difference (accuracy points)")
    axes[0].set_yticks(range(len(rows)), labels)
    axes[0].set_ylim(len(rows) - 0.5, -0.5)
    handles = [Line2D([], [], ls="", marker="o", ms=8, markeredgewidth=1.6,
                      markerfacecolor=color if filled else "white", markeredgecolor=color,
                      label=f"mean: {verdict}")
               for verdict, (color, filled) in VERDICT_STYLE.items()]
    handles.append(Line2D([], [], ls="", marker="o", ms=3, color="black", alpha=0.55,
                          label="one fold"))
    legend_below(fig, handles, ncol=2)
    return fig


def figure_png(table: pd.DataFrame) -> bytes:
    """:func:`figure` as PNG bytes, the same bytes for the same table (no time stamp or
    software version in the file), so ``--check`` can compare them."""
    buf = io.BytesIO()
    figure(table).savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _several_budgets(table: pd.DataFrame) -> bool:
    """Whether a data set of ``table`` has snapshots at two budgets or more."""
    return not table.empty and bool(budgets(table)["several"].any())


def _pairs(value: float) -> str:
    """3200.0 -> '3,200'."""
    return f"{value:,.0f}"


def _said(row: pd.Series) -> str:
    """A cell in words: 'holds (+8.44)', 'not tested'."""
    return (row["verdict"] if row["verdict"] == UNTESTED
            else f"{row['verdict']} ({signed(row['mean'])})")


def _times(claims: Sequence[str]) -> str:
    """['C', '1', '1', '2'] -> '(C), (1) ×2, (2)'."""
    n = {c: claims.count(c) for c in dict.fromkeys(claims)}
    return ", ".join(f"({c})" + (f" ×{k}" if k > 1 else "") for c, k in n.items())


def _on_folds(row: pd.Series, folds: Sequence[int]) -> float | None:
    """A comparison's mean difference over ``folds`` only (its per-fold ``diffs`` follow the
    snapshot's ``folds``); None where they cannot be matched."""
    diffs, own = tuple(row["diffs"]), tuple(row["folds"])
    if len(diffs) != len(own):
        return None
    kept = [d for f, d in zip(own, diffs, strict=True) if f in set(folds)]
    return float(np.mean(kept)) if kept else None


def _folds_said(folds: Sequence[int]) -> str:
    return f"fold {folds[0]}" if len(folds) == 1 else f"folds {_ranges(folds)}"


def budget_moves(table: pd.DataFrame) -> list[str]:
    """For each data set with snapshots at two budgets (each two neighbouring budgets, where
    it has more), in words: the budgets and their pairs seen per network (the median over
    the snapshot's trained networks, :func:`network_pairs`); which comparisons changed
    verdict from the smaller budget to the larger, with the mean difference at each; and
    which kept theirs, by verdict. A comparison missing from either snapshot is left out.
    Where the two snapshots hold different folds (a grid still running), the sentence says
    so, each moved comparison also gets the smaller budget's mean difference on the folds
    both hold, and a warning that fewer test images make a verdict harder to reach.
    Empty where no data set has two budgets."""
    if not _several_budgets(table):
        return []
    table = _ordered(table)
    b = budgets(table)
    cell, rows = _by_cell(table), _rows(table)
    out = []
    for _, d in b[b["several"]].groupby("dataset", sort=False):
        for (_, lo), (_, hi) in zip(d.iloc[:-1].iterrows(), d.iloc[1:].iterrows(),
                                    strict=True):
            moved, kept = [], {}
            folds = {x: tuple(table.loc[table["snapshot"] == r["snapshot"], "folds"].iloc[0])
                     for x, r in (("lo", lo), ("hi", hi))}
            common = sorted(set(folds["lo"]) & set(folds["hi"]))
            uneven = folds["lo"] != folds["hi"]
            for claim, comparison in rows:
                a = cell.get((lo["snapshot"], claim, comparison))
                z = cell.get((hi["snapshot"], claim, comparison))
                if a is None or z is None:
                    continue
                if a["verdict"] != z["verdict"]:
                    same = _on_folds(a, common) if uneven and common else None
                    said = _said(a) if same is None or a["verdict"] == UNTESTED else (
                        f"{a['verdict']} ({signed(a['mean'])}; {signed(same)} on "
                        f"{_folds_said(common)})")
                    moved.append(f"({claim}) {comparison}, {said} at {lo['label']} → "
                                 f"{_said(z)} at {hi['label']}")
                else:
                    kept.setdefault(a["verdict"], []).append(claim)
            n = len(moved) + sum(map(len, kept.values()))
            head = (f"{lo['short']} at two budgets, {lo['label']} ({_pairs(lo['pairs'])} pairs "
                    f"per network, the median over its networks) and {hi['label']} "
                    f"({_pairs(hi['pairs'])})")
            if uneven:
                head += (f", {lo['label']} on {_folds_said(folds['lo'])} and {hi['label']} on "
                         f"{_folds_said(folds['hi'])} (a grid still running: with fewer test "
                         "images a verdict is harder to reach, so a verdict that becomes too "
                         "close to call may lack images rather than training)")
            head += ": "
            same = "; ".join(f"{v} at both for {_times(kept[v])}" for v in MARKS if v in kept)
            if not moved:
                out.append(f"{head}" + (f"none of its {n} verdicts moved" if n > 1 else
                                        "its one verdict did not move") + f" ({same}).")
            elif not kept:
                out.append(f"{head}" + (f"all {n} verdicts moved: " if n > 1 else
                                        "its one verdict moved: ") + "; ".join(moved) + ".")
            else:
                out.append(f"{head}{len(moved)} of {n} verdicts moved: " + "; ".join(moved)
                           + f". The other {n - len(moved)} did not: {same}.")
    return out


#: The paper's budget, pairs (triplets) per network (Section 3: 3000 iterations of 180).
PAPER_PAIRS = cost.PAPER_PAIRS


@styled
def budget_figure(table: pd.DataFrame):
    """The comparisons against the training budget, 6.8 in wide (:mod:`dissim.report.figstyle`),
    or None where no data set has snapshots at two budgets (:func:`budgets`): one panel per
    comparison (a row of the block's table), its mean difference over folds (points, left
    side minus right side) against the pairs (triplets) seen per network (``pairs``, the
    median over the snapshot's trained networks; a log axis), one colour per data set, its
    budgets joined by a line; a vertical bar from the lowest to the highest fold's
    difference; the dot filled where the comparison holds or does not hold, hollow where it
    is too close to call; untested cells left out. The data sets' dots are set a few points
    apart sideways (a display offset: their data x stay the pairs seen). The paper's budget
    (:data:`PAPER_PAIRS`) is a vertical dash-dotted line. Each data set's line has the
    ``gid`` ``"budget|<data set>|<claim>|<comparison>"`` (x: pairs, y: means, in budget
    order), its bars ``"spread|..."`` (the tests read them back)."""
    if not _several_budgets(table):
        return None
    table = _ordered(table)
    b = budgets(table).dropna(subset=["pairs"])
    cell = _by_cell(table)
    rows = [(c, cmp) for c, cmp in _rows(table)
            if any(cell[(n, c, cmp)]["verdict"] in VERDICT_STYLE for n in b["snapshot"]
                   if (n, c, cmp) in cell)]
    datasets = list(dict.fromkeys(b["dataset"]))
    short = dict(zip(b["dataset"], b["short"], strict=True))
    colours = [f"C{i}" for i in range(10)]
    ncols = min(2, len(rows))
    nrows = -(-len(rows) // ncols)
    fig, axes = new_figure(nrows, ncols, height=1.4 + 2.0 * nrows, pyplot=False,
                           sharex=True, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(rows):
            ax.set_visible(False)
            axes.flat[i - ncols].xaxis.set_tick_params(labelbottom=True)
    for ax, (claim, comparison) in zip(axes.flat, rows, strict=False):
        span = [0.0]  # the y the panel shows: zero, and every bar (the display offset keeps
        for i, ds in enumerate(datasets):  # matplotlib from reading the limits itself)
            pts = [(r["pairs"], cell[(r["snapshot"], claim, comparison)])
                   for _, r in b[b["dataset"] == ds].iterrows()
                   if (r["snapshot"], claim, comparison) in cell
                   and cell[(r["snapshot"], claim, comparison)]["verdict"] in VERDICT_STYLE]
            if not pts:
                continue
            shift = 5 * (i - (len(datasets) - 1) / 2) / 72  # inches
            at = ax.transData + ScaledTranslation(shift, 0, fig.dpi_scale_trans)
            xs = [x for x, _ in pts]
            span += [v for _, r in pts for v in (r["mean"], *r["diffs"])]
            colour = colours[i % len(colours)]
            key = f"{ds}|{claim}|{comparison}"
            ax.plot(xs, [r["mean"] for _, r in pts], color=colour, lw=1.2, transform=at,
                    label=short[ds], gid=f"budget|{key}", zorder=3)
            ax.vlines(xs, [min(r["diffs"]) for _, r in pts], [max(r["diffs"]) for _, r in pts],
                      color=colour, lw=1.0, alpha=0.7, transform=at, gid=f"spread|{key}",
                      zorder=2)
            for x, r in pts:
                filled = r["verdict"] in (HOLDS, FAILS)
                ax.plot([x], [r["mean"]], ls="", marker="o", ms=6, markeredgewidth=1.4,
                        markeredgecolor=colour, markerfacecolor=colour if filled else "white",
                        transform=at, zorder=4)
        ax.axhline(0, color="grey", lw=0.8, zorder=1)
        ax.axvline(PAPER_PAIRS, color="black", ls="-.", lw=1,
                   label=f"the paper's budget, {human(PAPER_PAIRS)} pairs per network")
        count_axis(ax)
        ax.set_xlim(float(b["pairs"].min()) / 2.5, PAPER_PAIRS * 2.5)
        lo, hi = min(span), max(span)
        pad = 0.08 * (hi - lo) or 1.0
        ax.set_ylim(lo - pad, hi + pad)
        ax.yaxis.set_major_locator(MaxNLocator(4))
        ax.grid(alpha=0.3)
        ax.set_title(textwrap.fill(f"({claim}) {comparison}", 38), fontsize=9)
    for ax in axes[:, 0]:
        ax.set_ylabel("difference (points)")
    for j in range(ncols):
        shown = [ax for ax in axes[:, j] if ax.get_visible()]
        shown[-1].set_xlabel("pairs seen per network")
    handles = [Line2D([], [], ls="", marker="o", ms=6, markeredgewidth=1.4, color="dimgrey",
                      label="mean over folds: holds or does not hold"),
               Line2D([], [], ls="", marker="o", ms=6, markeredgewidth=1.4,
                      markeredgecolor="dimgrey", markerfacecolor="white",
                      label="mean: too close to call"),
               Line2D([], [], ls="", marker="|", ms=10, markeredgewidth=1.2, color="dimgrey",
                      label="lowest to highest fold")]
    legend_below(fig, handles, ncol=2)
    return fig


def budget_caption(table: pd.DataFrame) -> str:
    """What :func:`budget_figure` shows (:func:`dissim.report.figstyle.caption`): how to read
    it, each budget's pairs per network (the median, and the range over its networks), per
    data set at two budgets how many verdicts moved, the data sets at one budget, and how far
    the largest budget drawn is from the paper's; empty where there is no figure."""
    if not _several_budgets(table):
        return ""
    table = _ordered(table)
    b = budgets(table).dropna(subset=["pairs"])
    per = "; ".join(
        f"{label} {_pairs(g['pairs'].iloc[0])} ("
        + (f"{_pairs(g['pairs_min'].min())}-{_pairs(g['pairs_max'].max())} over its networks)"
           if g["pairs_min"].min() < g["pairs_max"].max() else "every network)")
        for (label, _), g in b.groupby(["budget", "pairs"], sort=False))
    cell, rows = _by_cell(table), _rows(table)
    moved = []
    for _, d in b[b["several"]].groupby("dataset", sort=False):
        lo, hi = d.iloc[0], d.iloc[-1]
        pairs = [(cell.get((lo["snapshot"], *r)), cell.get((hi["snapshot"], *r)))
                 for r in rows]
        pairs = [(a, z) for a, z in pairs if a is not None and z is not None]
        n = sum(a["verdict"] != z["verdict"] for a, z in pairs)
        moved.append(f"{lo['short']}, {lo['label']} to {hi['label']}: {n} of {len(pairs)} "
                     f"verdict{'s' if len(pairs) != 1 else ''} moved")
    single = b[~b["several"]]
    one = (", ".join(single["head"]) + " at one budget ("
           + ", ".join(dict.fromkeys(single["budget"])) + ")") if len(single) else ""
    most = float(b["pairs"].max())
    return caption(
        "Each panel is one comparison of the table: its mean difference over folds (points, "
        "left side minus right side) against the training budget, the pairs (triplets) a "
        "network sees in training, the median over the snapshot's trained networks (log "
        f"scale): {per}.",
        "One colour per data set, its budgets joined by a line; the bar runs from the lowest "
        "to the highest fold's difference; the dot is filled where the comparison holds or "
        "does not hold, hollow where it is too close to call; the data sets at one budget are "
        "set a little apart sideways.",
        f"The dash-dotted line is the paper's budget, {human(PAPER_PAIRS)} pairs per network"
        + (f", {PAPER_PAIRS / most:.0f} times the largest drawn." if most < PAPER_PAIRS
           else "."),
        "; ".join(moved) + (f"; {one}" if one else "") + ".")


def budget_figure_png(table: pd.DataFrame) -> bytes | None:
    """:func:`budget_figure` as PNG bytes (the same bytes for the same table), None where
    there is no such figure."""
    fig = budget_figure(table)
    if fig is None:
        return None
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _left_out(names: Sequence[str]) -> str:
    if not names:
        return ""
    return (" Left out: " + ", ".join(f"`{n}`" for n in names) + " (a smoke or quick profile, "
            "which tests the machinery and is not evidence).")


def block(text: str) -> str:
    """What lies between the :data:`MARKERS` in ``text`` (stripped); ValueError if absent."""
    start, end = MARKERS
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ValueError(f"expected one {start} ... {end} block")
    return text[text.index(start) + len(start):text.index(end)].strip()


def _replaced(text: str, new: str) -> str:
    start, end = MARKERS
    block(text)  # checks the markers
    return text[:text.index(start) + len(start)] + "\n" + new + "\n" + text[text.index(end):]


def write(root: str | Path = REPO, snapshots_root: str | Path | None = None,
          check: bool = False) -> list[Path]:
    """Write the block into each of :data:`TARGETS` under ``root``, and its figure to
    :data:`FIGURE` (and, where a data set has snapshots at two budgets, the budget figure to
    :data:`BUDGET_FIGURE`; elsewhere a budget figure left there is removed), from the
    snapshots under ``snapshots_root`` (default ``root/results_snapshots``); return the files
    that changed (with ``check``, that would change, and write nothing)."""
    root = Path(root)
    snaps_root = Path(snapshots_root) if snapshots_root is not None else (
        root / snapshots.SNAPSHOT_DIR)
    every = snapshots.list_snapshots(snaps_root)
    chosen = evidence_snapshots(snaps_root)
    table = summary_table(chosen)
    left_out = [p.name for p in every if p not in chosen]
    held = holdings(chosen)
    changed = []
    if not table.empty:
        png, path = figure_png(table), root / FIGURE
        if not path.is_file() or path.read_bytes() != png:
            changed.append(path)
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic.write_bytes(path, png)
    png, path = (budget_figure_png(table) if not table.empty else None), root / BUDGET_FIGURE
    if png is None and path.is_file():  # no data set at two budgets any more
        changed.append(path)
        if not check:
            path.unlink()
    elif png is not None and (not path.is_file() or path.read_bytes() != png):
        changed.append(path)
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_bytes(path, png)
    for target, links in TARGETS.items():
        path = root / target
        text = path.read_text(encoding="utf-8")
        new = _replaced(text, markdown(table, links, left_out, held))
        if new != text:
            changed.append(path)
            if not check:
                path.write_text(new, encoding="utf-8")
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dissim.report.findings [--check]`` (``make findings``)."""
    parser = argparse.ArgumentParser(prog="python -m dissim.report.findings",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a block differs from the snapshots")
    args = parser.parse_args(argv)
    changed = write(check=args.check)
    for path in changed:
        print(f"{'stale' if args.check else 'wrote'}: {path.relative_to(REPO)}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
