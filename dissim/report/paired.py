"""Paired tests of two classifiers on the same test images, and the verdict they give
(book: Results on real images, the claims pages).

A claim is tested as a *paired* comparison: both sides classify the same test images of
the same folds (the same training images), fused with the tables' own rules
(:func:`dissim.report.tables.fold_decisions`, :func:`~dissim.report.tables.with_ecnn_decisions`),
and two paired tests from ``scipy.stats`` are computed:

* **McNemar's exact test** (:func:`mcnemar`) on the pooled per-image decisions: every test image
  of every fold is classified once by each side; of the images exactly one side gets right
  (the discordant pairs: ``b`` left only, ``c`` right only), ``b`` is Binomial(b + c, 1/2)
  when neither side is better, so ``scipy.stats.binomtest(b, b + c, 0.5)`` gives the
  two-sided p value;
* **the fold-level test** (:func:`paired_test`) on the per-fold accuracy differences (points):
  the paired t-test for 2-5 folds, the Wilcoxon signed-rank test from 6 folds on.

**McNemar's test decides** (:data:`DECIDES`); the fold test is shown beside it. Why: the
claims ask which classifier labels more test images correctly, and the per-image decisions are
the finest paired evidence a snapshot holds (hundreds of images where the fold test sees 3-5
differences, 2-4 degrees of freedom, and so calls almost everything "too close"). McNemar's
test is the standard test for two classifiers on one test set (Dietterich 1998, Neural
Computation 10(7), whose simulations also find the k-fold cross-validated paired t-test's type I
error somewhat elevated, since the folds' training sets overlap); pooling over folds keeps the
images independent because each image is a test image in exactly one fold. Its blind spot is
the other source of variation, the training set and the network's initialisation: it compares
the networks that were trained, not every network this recipe could train. The fold test sees
that variation, with little power; the page shows both p values (requiring both to agree would
return to the fold test's verdicts). The verdict, from McNemar's p and the sign of ``b - c``:

* **holds**: ``b > c`` and p < 0.05;
* **does not hold**: ``b < c`` and p < 0.05;
* **too close to call**: otherwise (including no discordant image at all).

No correction is made for the several comparisons of a page (seven on a claims page): read
a lone p value near 0.05 with that in mind.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

__all__ = ["ALPHA", "CLOSE", "DECIDES", "FAILS", "HOLDS", "UNTESTED", "Comparison", "compare",
           "folds_equal", "mcnemar", "paired_test", "verdict"]

#: The significance level of the verdicts.
ALPHA = 0.05
#: From this many folds on, the Wilcoxon signed-rank test; below, the paired t-test.
WILCOXON_MIN_FOLDS = 6
#: The test whose p value gives the verdict (see this module's docstring for why).
DECIDES = "McNemar's exact test on the pooled per-image decisions"

HOLDS, FAILS, CLOSE, UNTESTED = "holds", "does not hold", "too close to call", "not tested"


def paired_test(diffs: Sequence[float]) -> tuple[str | None, float, float]:
    """``(test name, statistic, two-sided p)`` for the per-fold differences ``diffs``.

    ``wilcoxon`` for 6 or more folds, ``ttest_rel`` (against zero differences) for 2-5; no
    test (None, nan, nan) for fewer than 2; ``p = 1`` when every difference is zero. Where
    every fold has the same non-zero difference the t-test is undefined (its sd is zero) and
    p is nan, never 0 (:func:`folds_equal`; the pages read "n/a (every fold equal)").
    """
    d = np.asarray(diffs, dtype=float)
    n = len(d)
    if n < 2:
        return None, float("nan"), float("nan")
    name = "wilcoxon" if n >= WILCOXON_MIN_FOLDS else "ttest_rel"
    if np.all(d == 0):
        return name, float("nan"), 1.0
    if name == "ttest_rel" and folds_equal(d):
        return name, float("nan"), float("nan")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if name == "wilcoxon":
            res = stats.wilcoxon(d)
        else:
            res = stats.ttest_rel(d, np.zeros_like(d))
    return name, float(res.statistic), float(res.pvalue)


def folds_equal(diffs: Sequence[float]) -> bool:
    """Whether two or more per-fold differences are all the same (to 1e-9 points: folds of
    different sizes leave rounding noise), where the paired t-test is undefined.

    >>> folds_equal([20.0, 20.0 + 1e-13, 20.0]), folds_equal([1.0, 2.0]), folds_equal([3.0])
    (True, False, False)
    """
    d = np.asarray(diffs, dtype=float)
    return len(d) > 1 and bool(np.ptp(d) <= 1e-9)


def mcnemar(left_correct, right_correct) -> tuple[int, int, float]:
    """``(b, c, two-sided p)`` of McNemar's exact test on paired per-image decisions.

    ``left_correct`` and ``right_correct`` are booleans, one per test image in the same order
    (the images of every fold, pooled); ``b`` counts the images only the left side gets right,
    ``c`` those only the right side does, and p is ``scipy.stats.binomtest(b, b + c, 0.5)``'s
    two-sided p value (1 when there is no discordant image).

    >>> mcnemar([True, True, True, False], [False, False, True, False])
    (2, 0, 0.5)
    """
    a = np.asarray(left_correct, dtype=bool)
    r = np.asarray(right_correct, dtype=bool)
    if a.shape != r.shape or a.ndim != 1:
        raise ValueError(f"paired decisions must be two 1-D arrays of one length; got "
                         f"{a.shape} and {r.shape}")
    b, c = int(np.sum(a & ~r)), int(np.sum(~a & r))
    if b + c == 0:
        return b, c, 1.0
    return b, c, float(stats.binomtest(b, b + c, 0.5, alternative="two-sided").pvalue)


def verdict(mean: float, p: float, alpha: float = ALPHA) -> str:
    """holds / does not hold / too close to call (see the module's rules): ``mean`` is the
    signed difference the test's p belongs to (left minus right)."""
    if not np.isfinite(p) or not np.isfinite(mean) or p >= alpha or mean == 0:
        return CLOSE
    return HOLDS if mean > 0 else FAILS


Decisions = dict[int, np.ndarray]


@dataclass
class Comparison:
    """One paired comparison: ``left`` (the claimed better side) against ``right``.

    ``left_correct`` / ``right_correct`` are ``{fold: per-image booleans}`` in one order of
    the fold's test images on both sides (:func:`compare` aligns them). The per-fold accuracy
    differences (points) feed the fold test (:attr:`test`, :attr:`p`); the pooled decisions
    feed McNemar's test (:attr:`b`, :attr:`c`, :attr:`p_mcnemar`), which gives the
    :attr:`verdict`. ``label`` is the comparison in a few words, for the summary tables.
    """

    left: str
    right: str
    left_correct: Decisions
    right_correct: Decisions
    left_converged: tuple[int, int] | None = None
    right_converged: tuple[int, int] | None = None
    label: str = ""
    folds: list[int] = field(init=False)
    diffs: np.ndarray = field(init=False)
    test: str | None = field(init=False)
    statistic: float = field(init=False)
    p: float = field(init=False)
    images: int = field(init=False)
    b: int = field(init=False)
    c: int = field(init=False)
    p_mcnemar: float = field(init=False)

    def __post_init__(self) -> None:
        self.folds = sorted(set(self.left_correct) & set(self.right_correct))
        left = [np.asarray(self.left_correct[f], dtype=bool) for f in self.folds]
        right = [np.asarray(self.right_correct[f], dtype=bool) for f in self.folds]
        for f, a, r in zip(self.folds, left, right, strict=True):
            if a.ndim != 1:
                raise ValueError(f"fold {f}: decisions must be per-image booleans (1-D); got "
                                 f"shape {a.shape}")
            if a.shape != r.shape:
                raise ValueError(f"fold {f}: {a.size} test decisions on the left, {r.size} "
                                 f"on the right; both sides must classify the same images")
        self.diffs = np.array([100 * (a.mean() - r.mean()) for a, r in zip(left, right,
                                                                            strict=True)],
                              dtype=float)
        self.test, self.statistic, self.p = paired_test(self.diffs)
        pooled_left = np.concatenate(left) if left else np.zeros(0, dtype=bool)
        pooled_right = np.concatenate(right) if right else np.zeros(0, dtype=bool)
        self.images = int(pooled_left.size)
        self.b, self.c, self.p_mcnemar = mcnemar(pooled_left, pooled_right)
        if not self.label:
            self.label = f"{self.left} − {self.right}"

    @property
    def mean(self) -> float:
        """Mean over folds of the accuracy difference (points)."""
        return float(self.diffs.mean()) if len(self.diffs) else float("nan")

    @property
    def sd(self) -> float:
        return float(self.diffs.std(ddof=1)) if len(self.diffs) > 1 else float("nan")

    @property
    def pooled(self) -> float:
        """The accuracy difference on the pooled images, ``(b - c) / images`` (points): the
        difference McNemar's test is about (the fold mean when folds have equal sizes)."""
        return 100 * (self.b - self.c) / self.images if self.images else float("nan")

    @property
    def verdict(self) -> str:
        """The verdict of the deciding test, McNemar's (:data:`DECIDES`)."""
        return verdict(self.pooled, self.p_mcnemar)

    @property
    def fold_verdict(self) -> str:
        """What the fold test alone would say (shown beside, never deciding)."""
        return verdict(self.mean, self.p)


def _aligned(left: dict, right: dict) -> tuple[Decisions, Decisions]:
    """Per fold, both sides' decisions in one image order. Values are booleans, or
    ``(booleans, test_index)`` pairs (:func:`dissim.report.tables.fold_decisions`), which are
    matched image by image; different test images on the two sides are refused."""
    out_l, out_r = {}, {}
    for f in sorted(set(left) & set(right)):
        a, r = left[f], right[f]
        if isinstance(a, tuple) and isinstance(r, tuple):
            (a, ia), (r, ir) = a, r
            ia, ir = np.asarray(ia), np.asarray(ir)
            if not np.array_equal(ia, ir):
                if ia.shape != ir.shape or not np.array_equal(np.sort(ia), np.sort(ir)):
                    raise ValueError(f"fold {f}: the two sides were scored on different "
                                     f"test images")
                r = np.asarray(r)[np.argsort(ir)][np.argsort(np.argsort(ia))]
        elif isinstance(a, tuple) or isinstance(r, tuple):
            a = a[0] if isinstance(a, tuple) else a
            r = r[0] if isinstance(r, tuple) else r
        out_l[f], out_r[f] = np.asarray(a, dtype=bool), np.asarray(r, dtype=bool)
    return out_l, out_r


def compare(left: str, right: str, left_decisions: dict, right_decisions: dict,
            **kwargs) -> Comparison:
    """A :class:`Comparison` of two ``{fold: decisions}`` dictionaries on their common folds;
    a fold's decisions are per-image booleans, or ``(booleans, test_index)`` as
    :func:`dissim.report.tables.fold_decisions` gives them (then matched by test index).
    ``kwargs``: ``left_converged``, ``right_converged``, ``label``."""
    a, r = _aligned(left_decisions, right_decisions)
    return Comparison(left, right, a, r, **kwargs)
