"""What we found, first: one table of every verdict of the committed evidence snapshots, on
the book's first page and at the top of the README (book: introduction, "What we found").

For each comparison of a claims page (the paper's headline, the training check, then the
paper's four claims; :func:`dissim.report.claims.evidence`) and each evidence snapshot, the
verdict (McNemar's test, :mod:`dissim.report.paired`) and the mean difference over folds,
linked to the snapshot's claims page; the same comparisons as a figure, fold by fold
(:func:`figure`, written to :data:`FIGURE`); and one generated paragraph on what the verdicts
mean and at which scale they were measured. Snapshots of the ``smoke`` and ``quick`` profiles
test the machinery and are left out.

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

import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from dissim import atomic
from dissim.pipeline import snapshots
from dissim.profiles import get as get_profile
from dissim.report.claims import UNTESTED, evidence, signed
from dissim.report.figstyle import legend_below, new_figure, styled
from dissim.report.paired import CLOSE, FAILS, HOLDS
from dissim.report.views import NBSP, _ranges

__all__ = ["BOOK_LINKS", "COMPLETE", "FIGURE", "MARKERS", "MARKS", "README_LINKS", "SHORT_NAMES",
           "TARGETS", "block", "counts_line", "evidence_snapshots", "figure", "figure_caption",
           "headline", "figure_png", "holdings", "holdings_markdown",
           "main", "markdown", "summary_table", "training", "write"]

REPO = Path(__file__).resolve().parents[2]
MARKERS = ("<!-- findings:start -->", "<!-- findings:end -->")
#: Where a claims page and a tables page of a snapshot are, seen from the book's first page
#: (``book/intro.md``; the pages ``dissim book run`` writes into book/results/snapshots/).
BOOK_LINKS = {"claims": "results/snapshots/{name}/claims.html",
              "snapshot": "results/snapshots/{name}/snapshot.html",
              "figure": "figures/findings.png"}
#: The same from the README: the built book's pages (``make book``), and the snapshot folder.
README_LINKS = {"claims": "_build/html/book/results/snapshots/{name}/claims.html",
                "snapshot": "results_snapshots/{name}/",
                "figure": "book/figures/findings.png"}
#: The figure of the block (:func:`figure`), written beside the book's first page.
FIGURE = Path("book/figures/findings.png")
#: The files that hold the block, and the links each uses.
TARGETS = {"README.md": README_LINKS, "book/intro.md": BOOK_LINKS}
NOT_EVIDENCE = ("smoke", "quick")


def evidence_snapshots(root: str | Path = REPO / snapshots.SNAPSHOT_DIR) -> list[Path]:
    """The snapshot folders under ``root`` whose profile is evidence (not smoke or quick)."""
    return [p for p in snapshots.list_snapshots(root)
            if snapshots.load(p).profile.split("+")[0] not in NOT_EVIDENCE]


def summary_table(snapshot_dirs: Iterable[str | Path]) -> pd.DataFrame:
    """One row per snapshot and comparison: ``snapshot``, ``profile``, ``folds``, ``claim``
    (its number: ``0`` for the paper's headline, :func:`~dissim.report.claims.closes_gap`;
    ``C`` for the training check; 1-4), ``comparison`` (a few words),
    ``verdict``, ``mean`` (difference over folds, points), ``p_mcnemar``, ``p_folds``,
    ``diffs`` (the per-fold differences, points; empty when untested), the
    profile's ``iterations``, ``batch_size`` and ``input_size``, and the ``devices`` the
    members were computed on."""
    rows = []
    for path in snapshot_dirs:
        snap = snapshots.load(path)
        prov = snap.provenance()
        settings = prov.get("profile_settings") or {}
        scale = {"snapshot": Path(path).name, "profile": snap.profile,
                 "folds": tuple(prov["folds"]), "iterations": settings.get("iterations"),
                 "batch_size": settings.get("batch_size"), "training": training(settings),
                 "input_size": settings.get("input_size"),
                 "devices": ", ".join(prov.get("devices") or ["unknown"])}
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
                                       "training"])


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


def holdings(snapshot_dirs: Iterable[str | Path]) -> pd.DataFrame:
    """One row per snapshot: what it holds against :data:`COMPLETE`. Columns ``snapshot``,
    ``folds`` ("5 of 5"), ``methods``, ``controls``, ``ecnn`` (the fine-tuned CNNs),
    ``frozen`` (the frozen references), ``hours`` (network and CNN training time),
    ``settings`` ("as now", or the profile changed since) and ``missing`` (what the complete
    grid still lacks, "nothing" when complete)."""
    rows = []
    for path in snapshot_dirs:
        snap = snapshots.load(path)
        prov = snap.provenance()
        base = snap.profile.split("+")[0]
        n = _protocol_folds(snap)
        folds, methods = prov["folds"], prov["methods"]
        current = all(snapshots.current_settings(r.meta, base) for r in snap.entries())
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


def _short(snapshot: str, profile: str) -> str:
    """``omniglot_greek-medium`` -> ``Omniglot``: the data set's short name, the snapshot's
    name without its profile suffix."""
    stem = snapshot[:-len(profile) - 1] if snapshot.endswith(f"-{profile}") else snapshot
    return SHORT_NAMES.get(stem, stem)


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
    rows = table[(table["claim"] == "0") & (table["verdict"] != UNTESTED)]
    if rows.empty:
        return ""
    words = {HOLDS: "ahead of", FAILS: "behind", CLOSE: "level with"}
    per = "; ".join(f"{words[r['verdict']]} it on {_short(r['snapshot'], r['profile'])} "
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
    names = list(dict.fromkeys(table["snapshot"]))
    profile = dict(zip(table["snapshot"], table["profile"], strict=True))
    short = {n: _short(n, profile[n]) for n in names}
    if len(set(short.values())) < len(short):  # one data set at two profiles: say which
        short = {n: f"{s} ({profile[n]})" for n, s in short.items()}
    rows = _rows(table)
    header = ["claim"] + [
        f'<a href="{links["snapshot"].format(name=n)}">{short[n]}</a>' for n in names]
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
    held = holdings_markdown(held_table, links) if held_table is not None else ""
    picture = (f"![Each comparison of the table, fold by fold, per data set]({links['figure']})"
               f"\n\n{figure_caption(table)}\n\n" if "figure" in links else "")
    first = headline(table)
    return (f"**{counts_line(table)}**\n\n" + "\n".join(lines) + "\n\n" + legend + "\n\n"
            + picture + (f"{first}\n\n" if first else "") + text + _left_out(left_out)
            + (f"\n\n{held}" if held else ""))


def figure_caption(table: pd.DataFrame) -> str:
    """The figure's caption (markdown, italics): how to read it, and per data set how many
    comparisons hold, do not, or are too close."""
    per = []
    for name, d in table[table["verdict"] != UNTESTED].groupby("snapshot", sort=False):
        c = d["verdict"].value_counts()
        per.append(f"{_short(name, d['profile'].iloc[0])} {c.get(HOLDS, 0)} hold, "
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
    names = list(dict.fromkeys(table["snapshot"]))
    rows = _rows(table)
    labels = [textwrap.fill(f"({c}) {cmp}", 30) for c, cmp in rows]
    height = 1.6 + sum(0.19 * (1 + lab.count("\n")) + 0.12 for lab in labels)
    fig, axes = new_figure(1, len(names), height=height, pyplot=False, sharex=True,
                           sharey=True, squeeze=False)
    axes = axes[0]
    cell = _by_cell(table)
    profile = dict(zip(table["snapshot"], table["profile"], strict=True))
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
        ax.set_title(_short(name, profile[name]))
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
    :data:`FIGURE`, from the snapshots under ``snapshots_root`` (default
    ``root/results_snapshots``); return the files that changed (with ``check``, that would
    change, and write nothing)."""
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
