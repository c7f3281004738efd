"""The rule that chooses the default (dissim.report.default_rule; book: Your own images), on
hand-made evaluations whose verdicts are computed here with scipy's binomial test (McNemar's
exact test is the two-sided binomial test of b successes in b + c discordant images)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from dissim.report import default_rule as rule
from dissim.report.evaluation import ENSEMBLE, PIXELS, PLAIN, UNTRAINED, usage
from dissim.report.paired import CLOSE, FAILS, HOLDS

N = 50  # test images per fold, two folds
FROZEN = "frozen efficientnet_lite0 features + SVM (224 px)"
FUSED_FROZEN = "ensemble + frozen efficientnet_lite0 (z-score sum)"
FUSED_FT = "ensemble + fine-tuned efficientnet_lite0 (z-score sum)"
A = "t1 cross+triplet fully+deeper quick"
B = "t6 triplet fully+deeper medium"


def correct(n_right: int, shift: int = 0) -> list[int]:
    """100 decisions (two folds of 50): ``n_right`` right, starting at image ``shift``."""
    out = np.zeros(2 * N, dtype=int)
    out[(np.arange(n_right) + shift) % (2 * N)] = 1
    return out.tolist()


def row(name: str, decisions: list[int], cpu: float, fused: bool = False) -> dict:
    d = np.asarray(decisions)
    folds = {"0": d[:N].tolist(), "1": d[N:].tolist()}
    acc = [float(np.mean(v)) for v in folds.values()]
    return {"name": name, "mean": float(np.mean(acc)), "sd": float(np.std(acc)),
            "fold_accuracy": dict(zip(folds, acc, strict=True)), "seconds": cpu,
            "cpu_seconds": cpu, "parts": {}, "fused": fused, "correct": folds}


def evaluation(rows: list[dict]) -> dict:
    return {"name": "x", "params": {}, "rows": rows, "confusion_matrix": [[1]],
            "classification_report": {"big": 1}}


@pytest.fixture()
def done() -> dict:
    """Three folders, candidate A with both fusions, candidate B alone.

    faces: the plain SVM (80) is strongest; A's ensemble (50) is worse, A + frozen (78, the
    same first 78 images) is level, A + fine-tuned (90, nested: b = 10, c = 0) beats it, B (60)
    is worse.
    symbols: B's pixels twin (70) is strongest; A (70, same images) and A + fine-tuned (68)
    level, B (95) beats.
    paintings: the frozen control (80) is strongest; A (40) and B (45) worse, A + frozen (80)
    level, A + fine-tuned (55) worse.
    """
    def a(ens, fz, ft, unt, pix, plain, frozen, cpu=100.0):
        return evaluation([row(ENSEMBLE, ens, cpu), row(FUSED_FROZEN, fz, cpu + 5, True),
                           row(FUSED_FT, ft, cpu + 50, True), row(UNTRAINED, unt, 60),
                           row(PIXELS, pix, 3), row(PLAIN, plain, 2), row(FROZEN, frozen, 20)])

    def b(ens, unt, pix, plain, frozen, cpu=300.0):
        return evaluation([row(ENSEMBLE, ens, cpu), row(UNTRAINED, unt, 90),
                           row(PIXELS, pix, 4), row(PLAIN, plain, 2), row(FROZEN, frozen, 20)])

    return {
        "faces": {f"{A} + frozen,finetuned CNN": a(correct(50), correct(78), correct(90),
                                                   correct(40), correct(60), correct(80),
                                                   correct(70)),
                  B: b(correct(60), correct(40), correct(65), correct(80), correct(70))},
        "symbols": {f"{A} + frozen,finetuned CNN": a(correct(70), correct(72), correct(68),
                                                     correct(50), correct(55), correct(30),
                                                     correct(40)),
                    B: b(correct(95), correct(50), correct(70), correct(30), correct(40))},
        "paintings": {f"{A} + frozen,finetuned CNN": a(correct(40), correct(80), correct(55),
                                                       correct(30), correct(30), correct(35),
                                                       correct(80)),
                      B: b(correct(45), correct(30), correct(30), correct(35), correct(80))},
    }


def test_the_strongest_control_is_the_best_of_every_candidates_controls(done):
    assert rule.strongest("faces", done["faces"]).name == PLAIN
    assert rule.strongest("symbols", done["symbols"]).name == f"{B}: pixels"
    assert rule.strongest("paintings", done["paintings"]).name == FROZEN
    names = [c.name for c in rule.controls("faces", done["faces"])]
    # each candidate's twins are its own; the plain SVM and frozen CNN are listed once
    assert names.count(PLAIN) == 1 and names.count(FROZEN) == 1
    assert f"{A}: untrained networks" in names and f"{B}: untrained networks" in names


def test_standings_follow_mcnemar_computed_with_scipy(done):
    st = {(s.folder, s.system): s for s in rule.standings(done)}
    assert len(st) == 3 * 4  # A, A + frozen, A + fine-tuned, B on three folders
    for (folder, system), s in st.items():
        evs = done[folder]
        label = next(k for k in evs if k.split(" + ")[0] == system.split(" + ")[0])
        mine = {n: r for n, _, r in rule.systems(label, evs[label])}[system]
        best = rule.strongest(folder, evs)
        x = np.concatenate([np.asarray(v, bool) for v in mine["correct"].values()])
        y = np.concatenate([best.decisions[0], best.decisions[1]])
        b, c = int(np.sum(x & ~y)), int(np.sum(~x & y))
        p = binomtest(b, b + c, 0.5).pvalue if b + c else 1.0
        assert s.p == pytest.approx(p, rel=1e-9)
        assert s.difference == pytest.approx(100 * (b - c) / x.size)
        expected = CLOSE if p >= 0.05 or b == c else (HOLDS if b > c else FAILS)
        assert s.verdict == expected, (folder, system)
    # the hand-chosen cases
    assert st[("faces", A)].verdict == FAILS  # 50 against 80: c = 30, b = 0
    assert st[("faces", f"{A} + frozen efficientnet_lite0")].verdict == CLOSE  # 78 vs 80
    assert st[("faces", f"{A} + fine-tuned efficientnet_lite0")].verdict == HOLDS  # b 10, c 0
    assert st[("symbols", B)].verdict == HOLDS  # 95 against 70: b = 25, c = 0


def test_a_frozen_fusion_pays_for_the_frozen_features(done):
    st = {(s.folder, s.system): s for s in rule.standings(done)}
    assert st[("faces", f"{A} + frozen efficientnet_lite0")].cpu_seconds == 105 + 20
    assert st[("faces", f"{A} + fine-tuned efficientnet_lite0")].cpu_seconds == 150
    assert st[("faces", A)].cpu_seconds == 100


def test_the_default_is_the_cheapest_system_level_on_most_folders(done):
    d = rule.decide(done)
    frozen_fusion = f"{A} + frozen efficientnet_lite0"
    assert d.level_on == {A: 1, frozen_fusion: 3, f"{A} + fine-tuned efficientnet_lite0": 2,
                          B: 1}
    assert set(d.qualifying) == {frozen_fusion, f"{A} + fine-tuned efficientnet_lite0"}
    assert d.default == frozen_fusion  # 125 CPU s per folder against 150
    assert "2 of 3" not in d.sentence() and "3 of 3" in d.sentence()


def test_no_default_when_no_system_is_level_on_most_folders(done):
    for evs in done.values():
        for ev in evs.values():
            ev["rows"] = [r for r in ev["rows"] if not r["fused"]]
    d = rule.decide(done)
    assert d.qualifying == () and d.default is None
    assert "default stays the paper's ensemble" in d.sentence()
    assert rule.preferred_controls(done) == {"faces": PLAIN, "symbols": f"{B}: pixels",
                                             "paintings": FROZEN}


def test_compact_keeps_what_the_rule_reads_and_gives_the_same_decision(done):
    small = rule.compact(done)
    ev = small["faces"][B]
    assert "confusion_matrix" not in ev and "classification_report" not in ev
    assert rule.decide(small) == rule.decide(done)


def test_tables_and_figure(done):
    wide = rule.wide(done, {"faces": "ORL faces"})
    assert list(wide.columns) == ["row", "ORL faces", "symbols", "paintings"]
    cell = wide.set_index("row").loc[A, "ORL faces"]
    assert cell == "50.00 (100 s) *"  # worse than the strongest control: starred
    assert wide.set_index("row").loc[PLAIN, "ORL faces"] == "80.00 (best control)"
    fig = rule.figure(done)
    from dissim.report import figstyle
    assert figstyle.problems(fig) == []
    cap = rule.caption(done)
    assert "3 of 3" in cap and "paintings: frozen Lite0 + SVM (224 px)" in cap


def test_usage_names_a_way_to_use_each_control():
    assert "--cnn-fusion frozen --ecnn efficientnet_lite0" in usage(FROZEN, "imgs")
    assert "input_size=224" in usage(FROZEN)
    assert "plain_svm()" in usage(PLAIN)
    assert 'encoder="untrained"' in usage(UNTRAINED)
    assert 'encoder="pixels"' in usage(f"{A}: pixels")


def test_the_packages_default_is_what_the_rule_chose_on_the_committed_measurement():
    """The default obeys the rule (book: Which default?): the committed five-folder measurement,
    decided here, picks DEFAULTS; a change of either without the other fails."""
    from dissim.pipeline.defaults import DEFAULTS

    m = rule.load()
    assert len(m["evaluations"]) >= 5
    d = rule.decide(m["evaluations"])
    assert d.default == DEFAULTS.label()
    assert d.level_on[d.default] > len(d.folders) / 2
    cheaper = [s for s in d.qualifying if d.cost[s] < d.cost[d.default]]
    assert cheaper == []
    assert rule.agreement(d).startswith("`dissim.pipeline.defaults.DEFAULTS` is this system")
