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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dissim.report.paired import (
    ALPHA,
    CLOSE,
    DECIDES,
    FAILS,
    HOLDS,
    UNTESTED,
    Comparison,
    compare,
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
from dissim.report.views import NBSP

__all__ = ["ALPHA", "DECIDES", "Claim", "Comparison", "chosen_elsewhere", "claims",
           "claims_view", "compare",
           "context", "evidence", "mcnemar", "paired_test", "summary", "training_check",
           "verdict"]



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


def claims_view(found: list[Claim]) -> pd.DataFrame:
    """The details, one row per comparison: the claim (its number and the comparison in a few
    words, as in :func:`summary`; an untested claim's statement), both sides, the verdict
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
                              else signed(cmp.mean)),
                "fold test": cmp.test or "none (1 fold)",
                "p (folds)": _p(cmp.p),
                "one side right: left / right (of images)": f"{cmp.b}{NBSP}/{NBSP}{cmp.c} "
                                                        f"(of{NBSP}{cmp.images})",
                "p (McNemar)": _p(cmp.p_mcnemar),
                "converged (left / right)": f"{_conv(cmp.left_converged)} / "
                                            f"{_conv(cmp.right_converged)}".strip(" /"),
                "paper [P]": c.paper,
            })
    return pd.DataFrame(rows)


def summary(found: list[Claim]) -> pd.DataFrame:
    """The compact table a claims page leads with, one row per comparison: the claim in a few
    words, the verdict (McNemar's, :data:`DECIDES`), the mean difference over folds (points)
    and both p values; an untested claim says why."""
    rows = []
    for c in found:
        if not c.comparisons:
            rows.append({"claim": f"({c.number}) {c.statement}", "verdict": UNTESTED,
                         "mean difference (points)": c.reason, "p (McNemar)": "",
                         "p (folds)": ""})
        for cmp in c.comparisons:
            rows.append({"claim": f"({c.number}) {cmp.label}", "verdict": cmp.verdict,
                         "mean difference (points)": signed(cmp.mean),
                         "p (McNemar)": _p(cmp.p_mcnemar), "p (folds)": _p(cmp.p)})
    return pd.DataFrame(rows, columns=["claim", "verdict", "mean difference (points)",
                                       "p (McNemar)", "p (folds)"])


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


def evidence(results: dict, cnn_results: dict | None = None) -> list[Claim]:
    """What a claims page tests, in its order: first the training check
    (:func:`training_check`), then the paper's four claims (:func:`claims`)."""
    return [training_check(results), *claims(results, cnn_results)]


def verdicts(found: list[Claim]) -> pd.DataFrame:
    """One row per claim: its overall verdict and the paper's direction."""
    return pd.DataFrame([{"claim": f"({c.number}) {c.statement}", "table": c.table,
                          "verdict": c.verdict, "paper [P]": c.paper} for c in found]
                        ).set_index("claim")


def context(results: dict, cnn_results: dict | None = None,
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
    if cnn_results:
        for cnn in dict.fromkeys(m.cnn for m in cnn_results):
            add(f"fine-tuned {cnn}", fold_accuracies(cnn_results, lambda m, c=cnn: m.cnn == c))
        add("eCNN (average of the CNNs)", fold_accuracies(cnn_results, lambda m: True))
    for cnn in sorted({m.cnn for m in frozen_results or {}}):
        add(f"reference: frozen {cnn} features + SVM",
            fold_accuracies(frozen_results, lambda m, c=cnn: m.cnn == c))
    df = pd.DataFrame(rows, columns=["what", "mean", "sd", "folds"])
    df["accuracy (%)"] = [f"{m:.2f}{NBSP}±{NBSP}{s:.2f}"
                          for m, s in zip(df["mean"], df["sd"], strict=True)]
    return df.set_index("what")[["accuracy (%)", "folds"]]
