"""The claims page: paired comparisons over folds with known accuracies, scipy's tests, the
verdict rules."""

from __future__ import annotations

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
    # (2) Triplet+Cross F+D - F = the DEEPER blocks of Cross and Triplet
    (c2,) = found[1].comparisons
    np.testing.assert_allclose(c2.diffs, [acc(f, cells(1, ["cross", "triplet"], ["deeper"]))
                                          for f in folds])
    # (3) topologies 1 and 2 fused (the largest fusion available) - the better single one
    (c3,) = found[2].comparisons
    all3 = ("cross", "triplet", "crossdd")
    single = {t: np.mean([acc(f, cells(t, all3, fd)) for f in folds]) for t in (1, 2)}
    best = max(single, key=single.get)
    assert f"topology {best}" in c3.right
    np.testing.assert_allclose(c3.diffs, [acc(f, cells(3 - best, all3, fd)) for f in folds])
    # (4) the Siamese fusion + eCNN - eCNN = the Siamese blocks
    (c4,) = found[3].comparisons
    both = cells(1, all3, fd) + cells(2, all3, fd)
    np.testing.assert_allclose(c4.diffs, [acc(f, both) for f in folds])
    assert c4.verdict == "holds"
    view = claims.claims_view(found)
    assert list(view["verdict"]) == ["holds"] * 5
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
    # the paired t-test against zero is scipy's, with the mean and p it reports
    d = np.array([-3.0, -1.0, -2.5, -4.0, -2.0])
    cmp = claims.compare("a", "b", {f: 0.5 + x / 100 for f, x in enumerate(d)},
                         {f: 0.5 for f in range(5)})
    np.testing.assert_allclose(cmp.diffs, d, atol=1e-9)
    assert cmp.p == pytest.approx(stats.ttest_rel(d, np.zeros(5)).pvalue)
    assert cmp.p < 0.05 and cmp.verdict == "does not hold"


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
    like, vs_pixels = check.comparisons
    cross = [sum(sizes[f][(t, "cross", s)] for t in (1, 2) for s in ("fully", "deeper"))
             for f in folds]
    np.testing.assert_allclose(like.diffs, [cross[f] - untrained[f] for f in folds])
    assert like.test == "ttest_rel" and like.p == pytest.approx(
        stats.ttest_rel(like.diffs, np.zeros(4)).pvalue)
    everything = [sum(sizes[f].values()) for f in folds]
    np.testing.assert_allclose(vs_pixels.diffs, [everything[f] - pixels[f] for f in folds])
    assert like.verdict == "too close to call"  # +7, +7, +7, -10
    assert vs_pixels.verdict == "does not hold" and check.verdict == "does not hold"
    assert "untrained" in like.right and "pixels" in vs_pixels.right
    view = claims.claims_view([check])
    assert view["claim"].iloc[0].startswith("(C) Trained networks beat their controls")
    assert claims.training_check({}).reason == "needs trained Siamese members"
    bare = {m: r for m, r in results.items() if m.encoder == "trained"}
    assert claims.training_check(bare).reason.startswith("needs the controls")
