"""Do the paper's claims hold here? Its four qualitative claims as paired comparisons over folds
(book: Results on real images, the claims pages).

The paper (Section 4, Tables 1-3) states, among others:

1. fusing Cross and Triplet beats each loss alone (Table 1);
2. FULLY + DEEPER beats FULLY alone (Tables 1 and 2: "on average DEEPER boosts performance");
3. fusing topologies beats the best single topology (Table 2; tested against the topology
   best on the test folds, as the paper reads its table, and against the topology chosen on
   the other folds, :func:`chosen_elsewhere`);
4. the Siamese ensemble added to the eCNN beats the eCNN (Table 3: "Fusion + eCNN beats eCNN
   alone on both data sets").

Each claim is a *paired* comparison of two fused classifiers on the same test images of the
same folds, fused with the tables' own rules (:func:`dissim.report.tables.fold_decisions`,
:func:`~dissim.report.tables.with_ecnn_decisions`). :mod:`dissim.report.paired` computes the
two tests, McNemar's exact test on the pooled per-image decisions (which gives the verdict)
and the fold-level paired test shown beside it, and says why McNemar's decides. A claim with
two comparisons (claim 1: against Cross, and against Triplet) holds when both hold and does
not hold when either does not.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dissim.report import typeset
from dissim.report.paired import (
    ALPHA,
    CLOSE,
    DECIDES,
    FAILS,
    HOLDS,
    UNTESTED,
    Comparison,
    compare,
    folds_equal,
    mcnemar,
    paired_test,
    verdict,
)
from dissim.report.tables import (
    CONTROLS,
    FUSIONS,
    TABLE1_COLUMNS,
    TABLE2_ROWS,
    bottom,
    configuration,
    convergence,
    fold_accuracies,
    fold_decisions,
    pixel_control,
    trained_methods,
    with_ecnn_decisions,
)
from dissim.report.typeset import Markup, Table
from dissim.report.views import NBSP, natural_key

__all__ = ["ALPHA", "DECIDES", "Claim", "Comparison", "chosen_elsewhere", "claims",
           "claims_frame", "claims_view", "closes_gap", "compare", "context", "context_frame",
           "evidence",
           "fold_p", "folds_view", "mcnemar", "paired_test", "summary", "summary_frame",
           "training_check", "verdict"]



@dataclass
class Claim:
    """One of the paper's claims, its comparisons, and the paper's own direction."""

    number: int | str
    statement: str
    table: str
    paper: str
    comparisons: list[Comparison] = field(default_factory=list)
    reason: str = ""  # why it was not tested

    @property
    def verdict(self) -> str:
        if not self.comparisons:
            return UNTESTED
        verdicts = [c.verdict for c in self.comparisons]
        if FAILS in verdicts:
            return FAILS
        return HOLDS if all(v == HOLDS for v in verdicts) else CLOSE


def signed(points: float) -> str:
    """``points`` with its sign and two decimals, a difference that rounds to zero as +0.00
    (never -0.00).

    >>> signed(-0.001), signed(-1.04), signed(7.5)
    ('+0.00', '-1.04', '+7.50')
    """
    return f"{round(float(points), 2) + 0.0:+.2f}"

def _fusion_of(topologies: Sequence[int]) -> tuple[str, tuple[int, ...]] | None:
    """The largest Fusion row of Table 2 whose topologies are all present; else the fusion of
    every present topology when there are two or more; else None."""
    present = set(topologies)
    for name, ts in reversed(list(FUSIONS.items())):
        if set(ts) <= present:
            return name, tuple(ts)
    if len(present) >= 2:
        ts = tuple(sorted(present))
        return f"Fusion of topologies {','.join(map(str, ts))}", ts
    return None


def _select(topology: int, methods: tuple[str, ...], spaces: tuple[str, ...]
            ) -> Callable[[object], bool]:
    return lambda m: m.topology == topology and m.method in methods and m.space in spaces


def _side(results: dict, keep) -> tuple[dict[int, tuple], tuple[int, int]]:
    """The per-image decisions of a side (``{fold: (correct, test_index)}``) and how many of
    its networks converged."""
    return fold_decisions(results, keep), convergence(results, keep)


def _mean_accuracy(decisions: dict[int, tuple]) -> float:
    return float(np.mean([correct.mean() for correct, _ in decisions.values()]))


def chosen_elsewhere(singles: dict[int, dict[int, tuple]]) -> dict[int, int]:
    """``{fold: topology}``: for each fold, the topology whose mean accuracy over the *other*
    folds is highest (ties: the first in ``singles``), from each topology's
    ``{fold: (correct, test_index)}``; empty with fewer than two common folds.

    Claim 3's "best single topology" is chosen on the test images it is then compared on,
    which favours it (the best of eight noisy accuracies is biased upwards); a topology chosen
    without its own fold's test images is what a user of a single network could pick."""
    folds = sorted(set.intersection(*(set(d) for d in singles.values()))) if singles else []
    if len(folds) < 2:
        return {}
    return {f: max(singles, key=lambda t: np.mean([singles[t][g][0].mean()
                                                   for g in folds if g != f]))
            for f in folds}


def claims(results: dict, cnn_results: dict | None = None,
           topologies: Sequence[int] | None = None, topology: int | None = None
           ) -> list[Claim]:
    """The paper's four claims tested on ``results`` (Siamese members, controls ignored) and
    ``cnn_results`` (eCNN members).

    ``topologies`` are those of Table 2 (default: every trained topology present);
    ``topology`` that of Table 1 (default: the smallest present). A claim whose members are
    absent is returned untested, with the reason.
    """
    trained = {m: r for m, r in results.items() if getattr(m, "encoder", "trained") == "trained"}
    present = sorted({m.topology for m in trained})
    topologies = sorted(topologies) if topologies is not None else present
    t1 = topology if topology is not None else (min(present) if present else 1)
    methods = {m.method for m in trained if m.topology == t1}
    out = []

    # (1) Table 1: Cross+Triplet F+D against each loss alone, F+D
    c1 = Claim(1, "Fusing Cross and Triplet beats each loss alone", "Table 1",
               "holds on InfLar, BIRDz, RPE and Port; not on CAT (Section 4)")
    fd = ("fully", "deeper")
    if {"cross", "triplet"} <= methods:
        both, both_conv = _side(trained, _select(t1, TABLE1_COLUMNS["Triplet+Cross"], fd))
        for single in ("Cross", "Triplet"):
            acc, conv = _side(trained, _select(t1, TABLE1_COLUMNS[single], fd))
            c1.comparisons.append(compare(
                f"Triplet+Cross F+D (topology {t1})", f"{single} F+D (topology {t1})",
                both, acc, left_converged=both_conv, right_converged=conv,
                label=f"Cross+Triplet beats {single}"))
    else:
        c1.reason = f"needs Cross and Triplet members of topology {t1}"
    out.append(c1)

    # (2) Tables 1-2: FULLY + DEEPER against FULLY, Triplet+Cross
    c2 = Claim(2, "FULLY + DEEPER beats FULLY", "Tables 1 and 2",
               "holds on average over the data sets (Table 2: \"on average DEEPER boosts "
               "performance\")")
    spaces = {m.space for m in trained if m.topology == t1}
    usable = tuple(m for m in ("cross", "triplet") if m in methods)
    if {"fully", "deeper"} <= spaces and usable:
        label = "+".join(m.capitalize() for m in reversed(usable))
        fdacc, fdconv = _side(trained, _select(t1, usable, fd))
        facc, fconv = _side(trained, _select(t1, usable, ("fully",)))
        c2.comparisons.append(compare(f"{label} F+D (topology {t1})",
                                      f"{label} F (topology {t1})", fdacc, facc,
                                      left_converged=fdconv, right_converged=fconv,
                                      label="FULLY + DEEPER beats FULLY"))
    else:
        c2.reason = f"needs FULLY and DEEPER members of topology {t1}"
    out.append(c2)

    # (3) Table 2: the largest fusion of topologies against the best single topology
    c3 = Claim(3, "Fusing topologies beats the best single topology", "Table 2",
               "holds on every data set (Fusion 1-8 above every topology row)")
    fusion = _fusion_of([t for t in topologies if t in present])
    if fusion is not None:
        name, ts = fusion
        config = configuration("Cross+Triplet+CrossDD F+D",
                               TABLE2_ROWS["Cross+Triplet+CrossDD F+D"][0],
                               trained_methods(trained))
        fused, fconv = _side(trained, bottom(ts))
        singles = {t: _side(trained, bottom((t,))) for t in ts}
        best = max(singles, key=lambda t: _mean_accuracy(singles[t][0]))
        c3.comparisons.append(compare(
            f"{name} ({config})", f"best single: topology {best} ({config})", fused,
            singles[best][0], left_converged=fconv, right_converged=singles[best][1],
            label="Fusing topologies beats the best single one"))
        chosen = chosen_elsewhere({t: d for t, (d, _) in singles.items()})
        if chosen:
            def keep(m, pick=chosen):
                return m.fold in pick and bottom((pick[m.fold],))(m)
            picked, pconv = _side(trained, keep)
            which = ", ".join(f"fold {f}: {t}" for f, t in sorted(chosen.items()))
            c3.comparisons.append(compare(
                f"{name} ({config})", f"the single topology chosen on the other folds "
                f"({which}; {config})", fused, picked, left_converged=fconv,
                right_converged=pconv,
                label="Fusing topologies beats the single topology chosen on the other folds"))
    else:
        c3.reason = "needs two or more topologies"
    out.append(c3)

    # (4) Table 3: Siamese fusion + eCNN against eCNN
    c4 = Claim(4, "The Siamese ensemble added to the eCNN beats the eCNN", "Table 3",
               "holds on InfLar and Port (Table 3: Fusion + eCNN above eCNN)")
    siamese = _fusion_of([t for t in topologies if t in present]) or (
        (f"Topology {present[0]}", (present[0],)) if present else None)
    if cnn_results and siamese is not None:
        name, ts = siamese
        keep = bottom(ts)
        both = with_ecnn_decisions(trained, cnn_results, keep)
        ecnn = fold_decisions(cnn_results, lambda m: True)
        c4.comparisons.append(compare(f"{name} + eCNN", "eCNN", both, ecnn,
                                      left_converged=convergence(trained, keep),
                                      label="Siamese ensemble + eCNN beats the eCNN"))
    else:
        c4.reason = "needs eCNN members" if not cnn_results else "needs Siamese members"
    out.append(c4)
    return out


def _conv(c: tuple[int, int] | None) -> str:
    return "" if c is None else f"{c[0]}/{c[1]}"


def _p(p: float) -> str:
    return "" if not np.isfinite(p) else f"{p:.3g}"


def claims_frame(found: list[Claim]) -> pd.DataFrame:
    """The details as text (the printed pages, :mod:`dissim.report.printed`), one row per
    comparison: the claim (its number and the comparison in a few words, as in
    :func:`summary`; an untested claim's statement), both sides, the verdict
    (McNemar's), the per-fold differences (points), their mean and sd, the fold test and its
    p value, the discordant images (left only / right only of all test images) and McNemar's
    p, the converged networks per side, and the paper's direction."""
    rows = []
    for c in found:
        if not c.comparisons:
            rows.append({"claim": f"({c.number}) {c.statement}", "comparison": c.reason,
                         "verdict": UNTESTED, "folds": "", "per-fold differences (points)": "",
                         "mean ± sd": "", "fold test": "", "p (folds)": "",
                         "one side right: left / right (of images)": "", "p (McNemar)": "",
                         "converged (left / right)": "", "paper [P]": c.paper})
            continue
        for cmp in c.comparisons:
            rows.append({
                "claim": f"({c.number}) {cmp.label}",
                "comparison": f"{cmp.left} − {cmp.right}",
                "verdict": cmp.verdict,
                "folds": len(cmp.folds),
                "per-fold differences (points)": ", ".join(signed(d) for d in cmp.diffs),
                "mean ± sd": (f"{signed(cmp.mean)}{NBSP}±{NBSP}{cmp.sd:.2f}" if len(cmp.diffs) > 1
                              else f"{signed(cmp.mean)}{NBSP}(1{NBSP}fold)"),
                "fold test": cmp.test or "none (1 fold)",
                "p (folds)": fold_p(cmp),
                "one side right: left / right (of images)": f"{cmp.b}{NBSP}/{NBSP}{cmp.c} "
                                                        f"(of{NBSP}{cmp.images})",
                "p (McNemar)": _p(cmp.p_mcnemar),
                "converged (left / right)": f"{_conv(cmp.left_converged)} / "
                                            f"{_conv(cmp.right_converged)}".strip(" /"),
                "paper [P]": c.paper,
            })
    return pd.DataFrame(rows)


def summary_frame(found: list[Claim]) -> pd.DataFrame:
    """As text (the printed pages), the compact table a claims page leads with, one row per
    comparison: the claim in a few words, the verdict (McNemar's, :data:`DECIDES`), the mean
    difference over folds (points) and both p values; an untested claim says why."""
    rows = []
    for c in found:
        if not c.comparisons:
            rows.append({"claim": f"({c.number}) {c.statement}", "verdict": UNTESTED,
                         "mean difference (points)": c.reason, "p (McNemar)": "",
                         "p (folds)": ""})
        for cmp in c.comparisons:
            rows.append({"claim": f"({c.number}) {cmp.label}", "verdict": cmp.verdict,
                         "mean difference (points)": signed(cmp.mean),
                         "p (McNemar)": _p(cmp.p_mcnemar), "p (folds)": fold_p(cmp)})
    return pd.DataFrame(rows, columns=["claim", "verdict", "mean difference (points)",
                                       "p (McNemar)", "p (folds)"])


def fold_p(cmp: Comparison) -> str:
    """The fold test's p as a page shows it: three significant digits; "1 fold" where there is
    one fold (no test), "n/a (every fold equal)" where every fold has the same difference
    (the paired t-test is undefined there, :func:`dissim.report.paired.folds_equal`)."""
    if len(cmp.diffs) == 1:
        return "1 fold"
    if cmp.test == "ttest_rel" and folds_equal(cmp.diffs):
        return "n/a (every fold equal)"
    return _p(cmp.p)


def _mean_diff(cmp: Comparison) -> Markup:
    """The mean difference over folds (points) ± its sd, one unbreakable unit; one fold says
    so ('1 fold', small)."""
    head = signed(cmp.mean)
    if len(cmp.diffs) == 1:
        return Markup(f'<span style="white-space:nowrap">{head}{NBSP}'
                      f'{typeset.small("1" + NBSP + "fold")}</span>', f"{head}{NBSP}1{NBSP}fold")
    text = f"{head}{NBSP}±{NBSP}{cmp.sd:.2f}" if len(cmp.diffs) > 1 else head
    return Markup(f'<span style="white-space:nowrap">{text}</span>', text)


def _muted(text: str) -> Markup:
    return Markup(typeset.small(text), text)


def _group(c: Claim) -> str:
    return f"({c.number}) {c.statement}. Paper [P]: {c.paper}"


TESTS_NOTE = ("Verdict: McNemar's exact test on the pooled per-image decisions (holds / does not "
              "hold at p < 0.05, else too close to call); p (folds): the paired t-test on the "
              "per-fold differences (2-5 folds; Wilcoxon from 6), shown beside it, never "
              "deciding. Differences are left minus right, in accuracy points.")


def summary(found: list[Claim]) -> Table:
    """The compact table a claims page leads with (book: Results on real images), one row per
    comparison: the claim in a few words, the verdict (McNemar's, :data:`DECIDES`), the mean
    difference over folds (points) and both p values; an untested claim says why
    (:func:`summary_frame` as text)."""
    rows = []
    for c in found:
        if not c.comparisons:
            rows.append({"claim": Markup(f"({c.number}) {html.escape(c.statement)}"
                                         f"<br>{typeset.small(c.reason)}",
                                         f"({c.number}) {c.statement}: {c.reason}"),
                         "verdict": UNTESTED, "mean difference (points)": "",
                         "p (McNemar)": "", "p (folds)": ""})
        for cmp in c.comparisons:
            rows.append({"claim": f"({c.number}) {cmp.label}", "verdict": cmp.verdict,
                         "mean difference (points)": _mean_diff(cmp),
                         "p (McNemar)": _p(cmp.p_mcnemar), "p (folds)": _fold_p_cell(cmp)})
    view = pd.DataFrame(rows, columns=["claim", "verdict", "mean difference (points)",
                                       "p (McNemar)", "p (folds)"])
    return typeset.table(view, numbers=["mean difference (points)", "p (McNemar)",
                                        "p (folds)"], notes=[TESTS_NOTE])


def _fold_p_cell(cmp: Comparison) -> str | Markup:
    text = fold_p(cmp)
    return text if text[:1].isdigit() else _muted(text)


def _only(found: list[Claim], numbers: Sequence | None) -> list[Claim]:
    """The claims of ``found`` whose number is in ``numbers`` (all of them when None)."""
    return found if numbers is None else [c for c in found if c.number in numbers]


def claims_view(found: list[Claim], numbers: Sequence | None = None) -> Table:
    """The comparisons set long (book: Results on real images, the claims pages): one row
    group per claim (its statement and the paper's direction), one row per comparison with
    both sides (left minus right) and how many of their networks converged, the mean
    difference over folds (points, sd small), McNemar's p, the fold test's p and the verdict;
    the fold-by-fold details are :func:`folds_view` (:func:`claims_frame` as text).
    ``numbers``: only the claims with these numbers (e.g. ``["C"]``, the training check)."""
    rows = []
    for c in _only(found, numbers):
        if not c.comparisons:
            rows.append({"claim": _group(c), "comparison": _muted(c.reason),
                         "mean difference (points)": "", "p (McNemar)": "", "p (folds)": "",
                         "verdict": UNTESTED})
            continue
        for cmp in c.comparisons:
            conv = [f"{side} {_conv(x)} converged" for side, x in
                    (("left", cmp.left_converged), ("right", cmp.right_converged)) if x]
            detail = f"{cmp.left} − {cmp.right}" + (f" ({', '.join(conv)})" if conv else "")
            rows.append({
                "claim": _group(c),
                "comparison": Markup(f"{html.escape(cmp.label)}<br>"
                                     f"{typeset.small(detail)}", f"{cmp.label}: {detail}"),
                "mean difference (points)": _mean_diff(cmp),
                "p (McNemar)": _p(cmp.p_mcnemar), "p (folds)": _fold_p_cell(cmp),
                "verdict": cmp.verdict})
    view = pd.DataFrame(rows, columns=["claim", "comparison", "mean difference (points)",
                                       "p (McNemar)", "p (folds)", "verdict"])
    return typeset.table(view, stub="comparison", groups="claim",
                         numbers=["mean difference (points)", "p (McNemar)", "p (folds)"],
                         labels={"comparison": "comparison: left − right"},
                         stubhead="comparison: left − right", notes=[TESTS_NOTE])


def folds_view(found: list[Claim], numbers: Sequence | None = None) -> Table:
    """Fold by fold (book: Results on real images, the claims pages): one row group per
    comparison, one row per fold with both sides' accuracy (%), their difference (points) and
    the images only one side gets right (McNemar's discordant pairs) of the fold's test
    images; a last row over all folds (mean accuracies, mean ± sd difference, pooled
    counts). ``numbers``: only the claims with these numbers (as :func:`claims_view`)."""
    rows = []
    for c in _only(found, numbers):
        for cmp in c.comparisons:
            group = f"({c.number}) {cmp.label}"
            for f, d in zip(cmp.folds, cmp.diffs, strict=True):
                a, r = cmp.left_correct[f], cmp.right_correct[f]
                rows.append({"group": group, "fold": f"fold {f}", "left (%)": 100 * a.mean(),
                             "right (%)": 100 * r.mean(), "difference": signed(d),
                             "left only": int((a & ~r).sum()),
                             "right only": int((~a & r).sum()), "images": int(a.size)})
            if len(cmp.folds) > 1:
                lefts = [100 * cmp.left_correct[f].mean() for f in cmp.folds]
                rights = [100 * cmp.right_correct[f].mean() for f in cmp.folds]
                rows.append({"group": group, "fold": "all folds", "left (%)": np.mean(lefts),
                             "right (%)": np.mean(rights), "difference": _mean_diff(cmp),
                             "left only": cmp.b, "right only": cmp.c, "images": cmp.images})
    cols = ["group", "fold", "left (%)", "right (%)", "difference", "left only",
            "right only", "images"]
    view = pd.DataFrame(rows, columns=cols)
    return typeset.table(
        view, stub="fold", groups="group", numbers=cols[2:],
        spanners={"accuracy (%)": ["left (%)", "right (%)"],
                  "images only one side gets right": ["left only", "right only"]},
        labels={"left (%)": "left", "right (%)": "right", "difference": "difference (points)",
                "images": "test images"},
        notes=["Left and right as in the table above; all folds: mean accuracies, the mean "
               "± sd of the differences, and the counts pooled over folds (McNemar's)."])


def training_check(results: dict, topologies: Sequence[int] | None = None) -> Claim:
    """Does training help? The trained networks against their controls, paired over folds:
    not a claim of the paper (whose networks trained for 3000 iterations at 224 px) but the
    first question of a reproduction: a claim about Siamese ensembles means little where the
    trained networks are not above the same networks untrained, or above the pixels.

    Up to three comparisons, each on the largest fusion of topologies present (or the one
    topology): the trained Cross F+D against the same networks untrained (like for like),
    Table 2's fused configuration (Cross+Triplet+CrossDD F+D, with what was run) against the
    untrained networks (where more than one method was trained: what all the training
    bought), and the same configuration against the pixels.
    """
    trained = {m: r for m, r in results.items() if getattr(m, "encoder", "trained") == "trained"}
    present = sorted({m.topology for m in trained})
    ts_all = sorted(topologies) if topologies is not None else present
    check = Claim("C", "Trained networks beat their controls", "Tables 2-3 controls",
                  "not stated (the paper has no controls); expected of networks that learned")
    if not present:
        check.reason = "needs trained Siamese members"
        return check
    name, ts = _fusion_of([t for t in ts_all if t in present]) or (
        f"Topology {present[0]}", (present[0],))
    fd = ("fully", "deeper")
    cross = lambda m: m.topology in ts and m.method == "cross" and m.space in fd  # noqa: E731
    if any(getattr(m, "encoder", "") == "untrained" for m in results) and any(
            m.method == "cross" for m in trained):
        acc, conv = _side(trained, cross)
        untrained = fold_decisions(results, lambda m: m.topology in ts, "untrained")
        check.comparisons.append(compare(f"{name}, Cross F+D, trained",
                                         f"{name}, Cross F+D, untrained", acc, untrained,
                                         left_converged=conv, label="Training helps: "
                                         "trained beats the same networks untrained"))
    config = configuration("Cross+Triplet+CrossDD F+D",
                           TABLE2_ROWS["Cross+Triplet+CrossDD F+D"][0], trained_methods(trained))
    if any(getattr(m, "encoder", "") == "untrained" for m in results) and len(
            trained_methods(trained)) > 1:
        # the whole ensemble (every method) against the untrained networks: what all the
        # training bought, where the Cross row above isolates the Cross networks
        acc, conv = _side(trained, bottom(ts))
        untrained = fold_decisions(results, lambda m: m.topology in ts, "untrained")
        check.comparisons.append(compare(f"{name} ({config}), trained",
                                         f"{name}, F+D, untrained", acc, untrained,
                                         left_converged=conv,
                                         label="Training helps: the trained ensemble beats "
                                               "the networks untrained"))
    if any(getattr(m, "encoder", "") == "pixels" for m in results):
        acc, conv = _side(trained, bottom(ts))
        pixels = fold_decisions(results, pixel_control(results), "pixels")
        check.comparisons.append(compare(f"{name} ({config}), trained", "pixels, F+D",
                                         acc, pixels, left_converged=conv,
                                         label="Training helps: trained beats the pixels"))
    if not check.comparisons:
        check.reason = "needs the controls (dissim grid --controls)"
    return check


def closes_gap(results: dict, cnn_results: dict | None = None,
               topologies: Sequence[int] | None = None) -> Claim:
    """The paper's headline, its title: the best Siamese ensemble closes the gap to a
    standalone fine-tuned CNN (Section 4, Table 3: Fusion 1-4 at 92.78 % on InfLar "closes the
    gap" with the CNNs; not on Port).

    One comparison: the trained ensemble, the largest fusion of topologies present in Table
    2's fused configuration (the same side as :func:`training_check`'s "trained ensemble"
    rows), against the best single fine-tuned CNN of the eCNN, best by its mean accuracy over
    the folds, which are also the test folds: that choice favours the CNN. ``holds``: the
    ensemble is right on significantly more test images (the gap is closed and passed);
    ``too close to call``: level; ``does not hold``: the CNN is still ahead. Untested without
    trained Siamese members or fine-tuned CNNs.
    """
    trained = {m: r for m, r in results.items() if getattr(m, "encoder", "trained") == "trained"}
    present = sorted({m.topology for m in trained})
    ts_all = sorted(topologies) if topologies is not None else present
    claim = Claim(0, "The best Siamese ensemble closes the gap to a standalone fine-tuned CNN",
                  "Table 3", "holds on InfLar (Fusion 1-4 92.78 % against the CNNs), not on "
                  "Port (75.09 %) (Section 4)")
    if not present or not cnn_results:
        claim.reason = ("needs fine-tuned CNNs" if present else
                        "needs trained Siamese members")
        return claim
    name, ts = _fusion_of([t for t in ts_all if t in present]) or (
        f"Topology {present[0]}", (present[0],))
    config = configuration("Cross+Triplet+CrossDD F+D",
                           TABLE2_ROWS["Cross+Triplet+CrossDD F+D"][0], trained_methods(trained))
    ensemble, conv = _side(trained, bottom(ts))
    singles = {c: fold_decisions(cnn_results, lambda m, c=c: m.cnn == c)
               for c in dict.fromkeys(m.cnn for m in cnn_results)}
    best = max(singles, key=lambda c: _mean_accuracy(singles[c]))
    claim.comparisons.append(compare(
        f"{name} ({config}), trained", f"the best fine-tuned CNN: {best} (best by mean "
        "accuracy on the test folds)", ensemble, singles[best], left_converged=conv,
        label="The best Siamese ensemble closes the gap to a standalone fine-tuned CNN"))
    return claim


def evidence(results: dict, cnn_results: dict | None = None) -> list[Claim]:
    """What a claims page tests, in its order: first the paper's headline
    (:func:`closes_gap`), then the training check (:func:`training_check`), then the paper's
    four claims (:func:`claims`)."""
    return [closes_gap(results, cnn_results), training_check(results),
            *claims(results, cnn_results)]


def verdicts(found: list[Claim]) -> pd.DataFrame:
    """One row per claim: its overall verdict and the paper's direction."""
    return pd.DataFrame([{"claim": f"({c.number}) {c.statement}", "table": c.table,
                          "verdict": c.verdict, "paper [P]": c.paper} for c in found]
                        ).set_index("claim")


def context_frame(results: dict, cnn_results: dict | None = None,
            topology: int | None = None, frozen_results: dict | None = None) -> pd.DataFrame:
    """The numbers a claim is read against, mean ± sd over folds (%): the pixels and the
    untrained network (Cross F+D, the controls of the Training health page), the trained
    network in the same configuration, each fine-tuned CNN and the eCNN, and the frozen-CNN
    references (ImageNet features + SVM, no fine-tuning)."""
    trained_t = sorted({m.topology for m in results if getattr(m, "encoder", "trained")
                        == "trained"})
    t1 = topology if topology is not None else (trained_t[0] if trained_t else 1)
    rows = []

    def add(name, accs):
        a = 100 * np.array(list(accs.values()))
        if len(a):
            rows.append({"what": name, "mean": a.mean(), "sd": a.std(), "folds": len(a)})

    cross_fd = _select(t1, ("cross",), ("fully", "deeper"))
    for label, encoder in ((f"Cross F+D, topology {t1} (trained)", "trained"),
                           (f"{CONTROLS['untrained']}: Cross F+D, topology {t1}", "untrained"),
                           (f"{CONTROLS['pixels']}: F+D", "pixels")):
        keep = cross_fd if encoder != "pixels" else pixel_control(results)
        try:
            add(label, fold_accuracies(results, keep, encoder))
        except ValueError:  # this control is absent
            continue
    if cnn_results:  # one order on every page: natural order of the names, then eCNN
        for cnn in sorted({m.cnn for m in cnn_results}, key=natural_key):
            add(f"fine-tuned {cnn}", fold_accuracies(cnn_results, lambda m, c=cnn: m.cnn == c))
        add("eCNN (average of the CNNs)", fold_accuracies(cnn_results, lambda m: True))
    for cnn in sorted({m.cnn for m in frozen_results or {}}, key=natural_key):
        add(f"reference: frozen {cnn} features + SVM",
            fold_accuracies(frozen_results, lambda m, c=cnn: m.cnn == c))
    df = pd.DataFrame(rows, columns=["what", "mean", "sd", "folds"])
    df["accuracy (%)"] = [f"{m:.2f}{NBSP}(1{NBSP}fold)" if n == 1 else
                          f"{m:.2f}{NBSP}±{NBSP}{s:.2f}"
                          for m, s, n in zip(df["mean"], df["sd"], df["folds"], strict=True)]
    out = df.set_index("what")[["accuracy (%)", "folds"]]
    out.attrs["numbers"] = df.set_index("what")[["mean", "sd", "folds"]]
    return out


def context(results: dict, cnn_results: dict | None = None, topology: int | None = None,
            frozen_results: dict | None = None) -> Table:
    """The numbers a claim is read against (:func:`context_frame`), typeset: the Siamese
    rows (trained, untrained, pixels), the fine-tuned CNNs in natural order and the eCNN, then
    the frozen references, each accuracy mean ± sd over folds (%); the same row order on
    every page."""
    frame = context_frame(results, cnn_results, topology, frozen_results)
    nums = frame.attrs["numbers"]

    def group(what: str) -> str:
        if what.startswith("reference"):
            return "References: frozen ImageNet features + SVM (no fine-tuning)"
        if what.startswith(("fine-tuned", "eCNN")):
            return "Fine-tuned CNNs and their fusion (eCNN)"
        return "The Siamese network and its controls"

    view = pd.DataFrame({
        "group": [group(w) for w in nums.index], "what": list(nums.index),
        "accuracy (%)": [typeset.mean_sd(r["mean"], r["sd"], int(r["folds"]))
                         for _, r in nums.iterrows()],
        "folds": [int(n) for n in nums["folds"]]})
    return typeset.table(view, stub="what", groups="group", numbers=["accuracy (%)", "folds"],
                         labels={"accuracy (%)": "accuracy (%), mean ± sd"})
