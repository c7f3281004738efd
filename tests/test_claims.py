"""The claims page: paired comparisons with known per-image decisions, McNemar's exact test
against hand-counted discordant images and a binomial sum written out, the fold test against
scipy, the verdict rules."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest
from scipy import stats

from dissim.pipeline.cnn import CNNMember
from dissim.pipeline.experiment import Member
from dissim.pipeline.store import Result
from dissim.report import claims

N = 100  # test images per fold, all of class 1 of 2
METHODS = {"cross": ("cross", "adam"), "crossdd": ("cross", "decaydgrad"),
           "triplet": ("triplet", "adam")}


def _block(start: int, size: int) -> np.ndarray:
    """Scores voting class 1 (the truth) on images [start, start + size), zero elsewhere.

    Zero rows predict class 0 (wrong), so blocks that do not overlap add up: the average-rule
    fusion (and the z-scored sum) of members on disjoint blocks is right on exactly their union.
    """
    s = np.zeros((N, 2))
    s[start:start + size, 1] = 1.0
    return s


def _results(sizes: dict[int, dict[tuple, int]], cnn: dict[int, int] | None = None):
    """Members whose fused accuracies are known: ``sizes[fold][(topology, method, space)]`` is
    the number of images that (method, space) of that topology gets right, on its own block."""
    y, idx = np.ones(N, dtype=np.int64), np.arange(N)
    results, cnn_results = {}, {}
    for fold, blocks in sizes.items():
        start = 0
        for (topology, method, space), size in sorted(blocks.items()):
            loss, opt = METHODS[method]
            for k in (2, 3):  # every k of a cell shares the block: fusing k changes nothing
                m = Member("toy", fold=fold, topology=topology, loss=loss, optimizer=opt,
                           space=space, k=k, profile="smoke")
                results[m] = Result("k", _block(start, size), y, idx,
                                    {"train": {"converged": True}})
            start += size
        if cnn is not None:
            cm = CNNMember("toy", fold, "efficientnet_lite0", profile="smoke")
            cnn_results[cm] = Result("k", _block(start, cnn[fold]), y, idx, {})
        assert start + (cnn or {}).get(fold, 0) <= N
    return results, cnn_results


def _right(sizes: dict[tuple, int], cells) -> set[int]:
    """The images a fusion of ``cells`` gets right, from the block layout of :func:`_results`
    alone (its own bookkeeping, not dissim's fusion): the union of the cells' blocks."""
    start, out = 0, set()
    for cell, size in sorted(sizes.items()):
        if cell in cells:
            out |= set(range(start, start + size))
        start += size
    return out


def _exact_p(b: int, c: int) -> float:
    """McNemar's exact two-sided p, written out: twice the smaller binomial tail at 1/2."""
    n = b + c
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(comb(n, i) for i in range(min(b, c) + 1)) / 2 ** n)


def _sizes(fold: int) -> dict[tuple, int]:
    """Per fold: topology 1 and 2, each method and space its own block."""
    return {(1, "cross", "fully"): 10 + fold, (1, "cross", "deeper"): 5,
            (1, "triplet", "fully"): 8, (1, "triplet", "deeper"): 4 + (fold % 2),
            (1, "crossdd", "fully"): 3, (1, "crossdd", "deeper"): 2,
            (2, "cross", "fully"): 6, (2, "cross", "deeper"): 6,
            (2, "triplet", "fully"): 5, (2, "triplet", "deeper"): 5,
            (2, "crossdd", "fully"): 4, (2, "crossdd", "deeper"): 4 - (fold % 2)}


def test_claims_on_known_per_fold_accuracies():
    folds = range(6)
    sizes = {f: _sizes(f) for f in folds}
    results, cnn_results = _results(sizes, cnn={f: 20 + f for f in folds})
    found = claims.claims(results, cnn_results)
    assert [c.number for c in found] == [1, 2, 3, 4]

    def acc(f, cells):
        return sum(sizes[f][c] for c in cells)  # images right, = accuracy in points

    def cells(t, methods, spaces):
        return [(t, m, s) for m in methods for s in spaces]

    fd = ("fully", "deeper")
    # (1) Triplet+Cross F+D - Cross F+D = the Triplet F+D blocks; - Triplet F+D = Cross's
    vs_cross, vs_triplet = found[0].comparisons
    want = [acc(f, cells(1, ["triplet"], fd)) for f in folds]
    np.testing.assert_allclose(vs_cross.diffs, want)
    np.testing.assert_allclose(vs_triplet.diffs, [acc(f, cells(1, ["cross"], fd)) for f in folds])
    assert vs_cross.test == "wilcoxon" and vs_cross.folds == list(folds)
    assert vs_cross.p == pytest.approx(stats.wilcoxon(want).pvalue)
    assert vs_cross.mean == pytest.approx(np.mean(want))
    assert vs_cross.sd == pytest.approx(np.std(want, ddof=1))
    assert found[0].verdict == "holds"  # 6 positive differences: p = 0.031 < 0.05
    # McNemar: the fusion is right on Cross's blocks and Triplet's; Cross alone on its own, so
    # the discordant images are Triplet's blocks, all on the left
    b = sum(len(_right(sizes[f], cells(1, ["triplet"], fd))) for f in folds)
    assert (vs_cross.b, vs_cross.c, vs_cross.images) == (b, 0, N * len(folds))
    assert vs_cross.p_mcnemar == pytest.approx(_exact_p(b, 0)) and b == sum(want)
    assert vs_cross.pooled == pytest.approx(100 * b / (N * len(folds)))
    # (2) Triplet+Cross F+D - F = the DEEPER blocks of Cross and Triplet
    (c2,) = found[1].comparisons
    np.testing.assert_allclose(c2.diffs, [acc(f, cells(1, ["cross", "triplet"], ["deeper"]))
                                          for f in folds])
    # (3) topologies 1 and 2 fused (the largest fusion available) - the better single one
    c3, c3_fair = found[2].comparisons
    all3 = ("cross", "triplet", "crossdd")
    single = {t: np.mean([acc(f, cells(t, all3, fd)) for f in folds]) for t in (1, 2)}
    best = max(single, key=single.get)
    assert f"topology {best}" in c3.right
    np.testing.assert_allclose(c3.diffs, [acc(f, cells(3 - best, all3, fd)) for f in folds])
    # topology 1 leads on every fold (32 + f + f % 2 images against 30 - f % 2), so the
    # topology chosen on the other folds is 1 on each: the same differences
    assert "fold 0: 1, fold 1: 1" in c3_fair.right
    np.testing.assert_allclose(c3_fair.diffs, c3.diffs)
    # (4) the Siamese fusion + eCNN - eCNN = the Siamese blocks
    (c4,) = found[3].comparisons
    both = cells(1, all3, fd) + cells(2, all3, fd)
    np.testing.assert_allclose(c4.diffs, [acc(f, both) for f in folds])
    assert c4.verdict == "holds"
    view = claims.claims_frame(found)
    assert list(view["verdict"]) == ["holds"] * 6
    assert claims.verdicts(found)["verdict"].tolist() == ["holds"] * 4


def test_a_claim_that_fails_and_one_that_cannot_be_tested():
    folds = range(4)
    sizes = {f: {(1, "cross", "fully"): 30 + 2 * f, (1, "cross", "deeper"): 0,
                 (1, "triplet", "fully"): 1, (1, "triplet", "deeper"): 1}
             for f in folds}
    # Cross+Triplet on the same block as Cross would be a tie; here Cross alone is 30-36 and
    # the fusion adds Triplet's 2 images: it holds. DEEPER adds 1 image of Triplet per fold.
    results, _ = _results(sizes)
    found = claims.claims(results)
    vs_cross = found[0].comparisons[0]
    assert vs_cross.test == "ttest_rel"  # 4 folds
    np.testing.assert_allclose(vs_cross.diffs, [2, 2, 2, 2])
    assert found[2].verdict == "not tested" and "two or more topologies" in found[2].reason
    assert found[3].verdict == "not tested" and "eCNN" in found[3].reason
    # the paired t-test against zero is scipy's, with the mean and p it reports; 200 images
    # a fold, the right side gets the first 100 right, the left 2 d fewer (d points)
    d = np.array([-3.0, -1.0, -2.5, -4.0, -2.0])
    right = {f: np.arange(200) < 100 for f in range(5)}
    left = {f: np.arange(200) < 100 + 2 * x for f, x in enumerate(d)}
    cmp = claims.compare("a", "b", left, right)
    np.testing.assert_allclose(cmp.diffs, d, atol=1e-9)
    assert cmp.p == pytest.approx(stats.ttest_rel(d, np.zeros(5)).pvalue)
    assert (cmp.b, cmp.c) == (0, 25) and cmp.p_mcnemar == pytest.approx(2 * 0.5 ** 25)
    assert cmp.p < 0.05 and cmp.verdict == "does not hold" == cmp.fold_verdict


@pytest.mark.parametrize("diffs, test, verdict", [
    ([], None, "too close to call"),
    ([2.0], None, "too close to call"),                   # one fold: no test
    ([0.0, 0.0, 0.0], "ttest_rel", "too close to call"),  # no difference at all: p = 1
    ([0.0] * 7, "wilcoxon", "too close to call"),
    ([1.0, -1.0, 2.0, -2.0, 0.5], "ttest_rel", "too close to call"),
    ([3.0, 2.0, 4.0, 1.0, 2.5, 3.5], "wilcoxon", "holds"),
    ([-3.0, -2.0, -4.0, -1.0, -2.5, -3.5], "wilcoxon", "does not hold"),
    ([3.0, 2.0, 4.0, 1.0, 2.5], "ttest_rel", "holds"),
])
def test_paired_test_and_verdict_rules(diffs, test, verdict):
    name, _, p = claims.paired_test(diffs)
    assert name == test
    if test == "wilcoxon" and any(diffs):
        assert p == pytest.approx(stats.wilcoxon(diffs).pvalue)
    if test == "ttest_rel" and any(diffs):
        assert p == pytest.approx(stats.ttest_rel(diffs, np.zeros(len(diffs))).pvalue)
    mean = float(np.mean(diffs)) if diffs else float("nan")
    assert claims.verdict(mean, p) == verdict


def test_verdict_thresholds():
    assert claims.verdict(0.1, 0.049) == "holds"
    assert claims.verdict(0.1, 0.05) == "too close to call"
    assert claims.verdict(-0.1, 0.01) == "does not hold"
    assert claims.verdict(0.0, 0.01) == "too close to call"
    assert claims.verdict(1.0, float("nan")) == "too close to call"


def test_training_check_against_the_controls():
    """Trained Cross F+D against the same networks untrained, and the fused configuration
    against the pixels, on known blocks; a worse trained side does not hold."""
    from dataclasses import replace

    folds = range(4)
    sizes = {f: _sizes(f) for f in folds}
    results, _ = _results(sizes)
    y, idx = np.ones(N, dtype=np.int64), np.arange(N)
    untrained = {0: 20, 1: 21, 2: 22, 3: 40}  # images right, per fold (one block each)
    pixels = {0: 70, 1: 72, 2: 69, 3: 71}
    for m in [m for m in results if m.method == "cross" and m.k == 2 and m.space == "fully"]:
        for k in (2, 3):
            for space in ("fully", "deeper"):
                u = replace(m, encoder="untrained", k=k, space=space)
                size = untrained[m.fold] if (m.topology, space) == (1, "fully") else 0
                results[u] = Result("k", _block(0, size), y, idx, {})
                if m.topology == 1:
                    p = replace(u, encoder="pixels")
                    results[p] = Result("k", _block(0, pixels[m.fold] if space == "fully"
                                                    else 0), y, idx, {})
    check = claims.training_check(results)
    like, ensemble, vs_pixels = check.comparisons
    cross = [sum(sizes[f][(t, "cross", s)] for t in (1, 2) for s in ("fully", "deeper"))
             for f in folds]
    np.testing.assert_allclose(like.diffs, [cross[f] - untrained[f] for f in folds])
    assert like.test == "ttest_rel" and like.p == pytest.approx(
        stats.ttest_rel(like.diffs, np.zeros(4)).pvalue)
    everything = [sum(sizes[f].values()) for f in folds]
    np.testing.assert_allclose(vs_pixels.diffs, [everything[f] - pixels[f] for f in folds])
    np.testing.assert_allclose(ensemble.diffs, [everything[f] - untrained[f] for f in folds])
    # McNemar on hand-counted discordant images: the controls are right on [0, size)
    cells = [(t, "cross", s) for t in (1, 2) for s in ("fully", "deeper")]
    for cmp, ours, theirs in ((like, cells, untrained), (vs_pixels, list(sizes[0]), pixels),
                              (ensemble, list(sizes[0]), untrained)):
        trained = [_right(sizes[f], ours) for f in folds]
        control = [set(range(theirs[f])) for f in folds]
        b = sum(len(t - c) for t, c in zip(trained, control, strict=True))
        c = sum(len(c - t) for t, c in zip(trained, control, strict=True))
        assert (cmp.b, cmp.c) == (b, c)
        assert cmp.p_mcnemar == pytest.approx(_exact_p(b, c))
        assert cmp.p_mcnemar == pytest.approx(stats.binomtest(b, b + c).pvalue)
    # by hand: trained Cross right on [0, 15 + f) and topology 2's 12 images at 32 + f + f % 2,
    # untrained on [0, 20 + f): 12 left only and 5 right only in folds 0-2; fold 3 (untrained
    # [0, 40), trained [0, 18) and [36, 48)): 8 and 18
    assert (like.b, like.c) == (3 * 12 + 8, 3 * 5 + 18)
    assert like.verdict == "too close to call" == like.fold_verdict
    assert vs_pixels.verdict == "does not hold" and check.verdict == "does not hold"
    assert "untrained" in like.right and "pixels" in vs_pixels.right
    view = claims.claims_frame([check])
    assert view["claim"].tolist() == [
        "(C) Training helps: trained beats the same networks untrained",
        "(C) Training helps: the trained ensemble beats the networks untrained",
        "(C) Training helps: trained beats the pixels"]
    assert claims.training_check({}).reason == "needs trained Siamese members"
    bare = {m: r for m, r in results.items() if m.encoder == "trained"}
    assert claims.training_check(bare).reason.startswith("needs the controls")
    # a second pixel set, keyed under topology 2 by an older grid on a later topology range
    # (another input side), right on every image: the comparison still reads one set, the
    # lowest topology's, so the differences are those above and not a fusion of both
    second = {replace(m, topology=2): Result("k", _block(0, N), y, idx, {})
              for m in results if m.encoder == "pixels"}
    again = claims.training_check({**results, **second}).comparisons[2]
    np.testing.assert_allclose(again.diffs, vs_pixels.diffs)
    assert (again.b, again.c) == (vs_pixels.b, vs_pixels.c)


def test_mcnemar_on_hand_placed_decisions():
    left = [True, True, True, True, False, False, True, False]
    right = [False, False, False, True, False, True, True, False]
    # discordant by hand: images 0, 1, 2 left only, image 5 right only; Binomial(4, 1/2):
    # P(X <= 1) + P(X >= 3) = (1 + 4 + 4 + 1) / 16
    assert claims.mcnemar(left, right) == (3, 1, pytest.approx(10 / 16))
    assert claims.mcnemar(right, left) == (1, 3, pytest.approx(10 / 16))
    assert claims.mcnemar(left, left) == (0, 0, 1.0)  # no discordant image
    for b, c in ((9, 1), (14, 3), (40, 21), (0, 7)):
        got = claims.mcnemar([True] * b + [False] * c, [False] * b + [True] * c)
        assert got[:2] == (b, c)
        assert got[2] == pytest.approx(_exact_p(b, c))
        assert got[2] == pytest.approx(stats.binomtest(b, b + c, 0.5).pvalue)
    with pytest.raises(ValueError, match="one length"):
        claims.mcnemar([True, False], [True])


def _paired(per_fold: list[tuple[int, int]], n: int = 100) -> tuple[dict, dict]:
    """Decisions of two sides over folds of ``n`` images, both right on the first half, and
    ``(b, c)`` per fold: b more images right on the left only, c on the right only."""
    left, right = {}, {}
    for f, (b, c) in enumerate(per_fold):
        a, r = np.arange(n) < n // 2, np.arange(n) < n // 2
        a[n // 2:n // 2 + b] = True
        r[n // 2 + b:n // 2 + b + c] = True
        left[f], right[f] = a, r
    return left, right


def test_the_verdict_is_mcnemars_and_the_fold_test_is_shown_beside():
    # a steady small gain: +1, +1, +2, +1, +1 points; the fold test calls it (p ~ 0.004), the
    # 7 against 1 discordant images do not (p = 2 * 9 / 256 = 0.070): too close to call
    cmp = claims.compare("a", "b", *_paired([(2, 1), (1, 0), (2, 0), (1, 0), (1, 0)]))
    np.testing.assert_allclose(cmp.diffs, [1, 1, 2, 1, 1])
    assert (cmp.b, cmp.c) == (7, 1) and cmp.p_mcnemar == pytest.approx(2 * 9 / 256)
    assert cmp.p < 0.01 and cmp.fold_verdict == "holds"
    assert cmp.verdict == "too close to call"
    # a large gain that varies between folds: +20, +1, +30; the fold test cannot call it
    # (p ~ 0.2), 51 against 0 discordant images can
    cmp = claims.compare("a", "b", *_paired([(20, 0), (1, 0), (30, 0)]))
    assert cmp.p > 0.05 and cmp.fold_verdict == "too close to call"
    assert (cmp.b, cmp.c) == (51, 0) and cmp.verdict == "holds"
    # and a loss on the pooled images does not hold
    cmp = claims.compare("a", "b", *_paired([(0, 12), (3, 9), (1, 10)]))
    assert (cmp.b, cmp.c) == (4, 31) and cmp.pooled < 0 and cmp.verdict == "does not hold"
    assert "McNemar" in claims.DECIDES


def test_compare_pairs_images_by_test_index():
    left, right = _paired([(5, 1), (3, 2)], n=20)
    idx = {f: np.arange(100, 120) for f in left}
    order = np.random.default_rng(0).permutation(20)
    shuffled = {f: (right[f][order], idx[f][order]) for f in right}
    cmp = claims.compare("a", "b", {f: (left[f], idx[f]) for f in left}, shuffled)
    assert (cmp.b, cmp.c) == (8, 3)
    other = {f: (right[f], idx[f] + 1) for f in right}
    with pytest.raises(ValueError, match="different test images"):
        claims.compare("a", "b", {f: (left[f], idx[f]) for f in left}, other)
    with pytest.raises(ValueError, match="same images"):
        claims.compare("a", "b", {0: left[0]}, {0: right[0][:10]})


def test_decisions_are_the_accuracies_per_image():
    from dissim.report import tables

    sizes = {f: _sizes(f) for f in range(3)}
    results, cnn_results = _results(sizes, cnn={f: 30 for f in range(3)})
    keep = tables.bottom((1, 2))
    decisions = tables.fold_decisions(results, keep)
    accs = tables.fold_accuracies(results, keep)
    assert set(decisions) == set(accs)
    for f, (correct, idx) in decisions.items():
        assert correct.dtype == bool and correct.mean() == pytest.approx(accs[f])
        assert set(np.flatnonzero(correct)) == _right(sizes[f], list(sizes[f]))
        np.testing.assert_array_equal(idx, np.arange(N))
    both = tables.with_ecnn_decisions(results, cnn_results, keep)
    want = tables.with_ecnn_accuracies(results, cnn_results, keep)
    assert {f: c.mean() for f, (c, _) in both.items()} == pytest.approx(want)


def test_summary_leads_with_verdicts_and_both_p_values():
    sizes = {f: _sizes(f) for f in range(5)}
    results, cnn_results = _results(sizes, cnn={f: 20 for f in range(5)})
    found = claims.claims(results, cnn_results)
    table = claims.summary_frame(found)
    assert list(table.columns) == ["claim", "verdict", "mean difference (points)",
                                   "p (McNemar)", "p (folds)"]
    assert len(table) == 6 and table["claim"].iloc[0] == "(1) Cross+Triplet beats Cross"
    vs_cross = found[0].comparisons[0]
    assert table["mean difference (points)"].iloc[0] == f"{vs_cross.mean:+.2f}"
    assert table["p (McNemar)"].iloc[0] == f"{vs_cross.p_mcnemar:.3g}"
    assert table["p (folds)"].iloc[0] == f"{vs_cross.p:.3g}"
    untested = claims.summary_frame(claims.claims({m: r for m, r in results.items()
                                             if m.topology == 1}))
    assert untested["verdict"].iloc[3] == "not tested"
    assert "two or more topologies" in untested["mean difference (points)"].iloc[3]
    details = claims.claims_frame(found)
    assert details.columns[2] == "verdict" and "p (McNemar)" in details.columns
    assert details["one side right: left / right (of images)"].iloc[0].startswith(
        f"{vs_cross.b}\u00a0/\u00a00")


def test_the_single_topology_is_chosen_without_its_own_fold():
    """Hand oracle: accuracies per fold, A 0.9 / 0.1 / 0.5 and B 0.5 / 0.6 / 0.55. Without
    fold 0, A averages 0.3 and B 0.575: B; without fold 1, A 0.7 > B 0.525: A; without fold 2,
    A 0.5 < B 0.55: B. Chosen on the test folds themselves, A (0.5) and B (0.55) give B."""
    def side(accs):
        return {f: (np.arange(100) < 100 * a, np.arange(100)) for f, a in enumerate(accs)}

    singles = {"A": side([0.9, 0.1, 0.5]), "B": side([0.5, 0.6, 0.55])}
    assert claims.chosen_elsewhere(singles) == {0: "B", 1: "A", 2: "B"}
    assert claims.chosen_elsewhere({"A": side([0.9])}) == {}  # one fold: nothing to choose on
    assert claims.chosen_elsewhere({}) == {}
