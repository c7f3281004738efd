"""``dissim evaluate`` with its controls, the verdict and the kept report (issue 23).

A tiny folder (3 classes x 8 random PNGs, long class names), the ``smoke`` profile, topology 8,
one method and one space: every run takes seconds.
"""

from __future__ import annotations

import contextlib
import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from dissim.cli import main as dissim_main
from dissim.errors import ConfigError
from dissim.pipeline.classifier import DissimilarityClassifier
from dissim.pipeline.defaults import DEFAULTS
from dissim.report import claims
from dissim.report.evaluation import (
    ENSEMBLE,
    PIXELS,
    PLAIN,
    REPORT_FILES,
    UNTRAINED,
    VERDICT_WORDS,
    Evaluation,
    Row,
    confusion_figure,
    frozen_name,
    wrap_name,
)

ARGS = ["--profile", "smoke", "--topologies", "8", "--methods", "cross", "--spaces", "fully"]
CLASSES = ("Ankle_boot", "Pullover", "a_rather_long_class_name_for_a_label")


def run(argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = dissim_main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue().split("\r")[-1]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for c, name in enumerate(CLASSES):
        (root / name).mkdir()
        for i in range(8):
            img = (rng.integers(0, 60, (40, 40, 3)) + 80 * c).astype(np.uint8)
            Image.fromarray(img).save(root / name / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def evaluated(tree, tmp_path_factory):
    report = tmp_path_factory.mktemp("out") / "report"
    code, out, err = run(["evaluate", tree, "--folds", "2", "--report", report, *ARGS])
    assert code == 0, err
    return out, report


def test_every_row_and_the_verdict_are_printed(evaluated):
    out, report = evaluated
    for name in (ENSEMBLE, UNTRAINED, PIXELS, PLAIN):
        assert name in out, name
    info = json.loads((report / "evaluation.json").read_text())
    names = [r["name"] for r in info["rows"]]
    cnn = frozen_name("efficientnet_lite0")  # then the side(s) the folds chose: " (224 px)"
    assert any(n.startswith(cnn + " (") and n.endswith((" px)", " px by fold)"))
               for n in names) or any("no frozen-CNN control" in n for n in info["notes"])
    assert names[:4] == [ENSEMBLE, UNTRAINED, PIXELS, PLAIN]
    assert all(len(r["fold_accuracy"]) == 2 for r in info["rows"])
    assert "verdict: the trained ensemble " in out and "its best control" in out
    assert "(--no-controls skips them)" in out


def test_verdict_is_the_claims_codes_on_the_same_numbers(evaluated):
    out, report = evaluated
    info = json.loads((report / "evaluation.json").read_text())
    rows = {r["name"]: {int(f): np.array(c, bool) for f, c in r["correct"].items()}
            for r in info["rows"]}
    means = {n: np.mean([d.mean() for d in dec.values()]) for n, dec in rows.items()}
    best = max((n for n in rows if n != ENSEMBLE), key=lambda n: means[n])
    expected = claims.compare(ENSEMBLE, best, rows[ENSEMBLE], rows[best])
    assert info["verdict"]["best_control"] == best
    assert info["verdict"]["claims_verdict"] == expected.verdict
    assert f"the trained ensemble {VERDICT_WORDS[expected.verdict]} its best control, {best}" \
        in out


def _evaluation(left: list[bool], right: list[bool]) -> Evaluation:
    half = len(left) // 2
    rows = [Row(ENSEMBLE), Row(PLAIN), Row(PIXELS)]
    for r, d in zip(rows, (left, right, [False] * len(left)), strict=True):
        r.decisions = {0: np.array(d[:half]), 1: np.array(d[half:])}
    y = np.zeros(len(left), int)
    return Evaluation("known", ["a", "b"], {}, 2, [(1, half)] * 2, rows, y, y)


@pytest.mark.parametrize("left, right, words", [
    ([True] * 30 + [False] * 10, [False] * 30 + [False] * 10, "beats"),
    ([False] * 30 + [True] * 10, [True] * 30 + [True] * 10, "is worse than"),
    ([True, False] * 20, [False, True] * 20, "is level with"),
])
def test_verdict_on_known_blocks(left, right, words):
    ev = _evaluation(left, right)
    cmp = ev.comparison()
    assert cmp.right == PLAIN  # the best control, not the all-wrong one
    assert ev.verdict() == words
    assert VERDICT_WORDS[claims.compare("l", "r", ev.ensemble.decisions,
                                        ev.rows[1].decisions).verdict] == words
    assert f"ensemble {words} its best control" in ev.verdict_line()
    # a control ahead of an ensemble that does not beat it: the line says how to use it
    instead = "; to use plain SVM on standardised pixels instead: " \
              "dissim.pipeline.controls.plain_svm()"
    ahead = ev.rows[1].mean > ev.ensemble.mean
    assert (instead in ev.verdict_line()) == (words != "beats" and ahead)
    assert ev.verdict_line().endswith("pixel_vectors(images, side)") == (instead
                                                                         in ev.verdict_line())


def test_a_winning_frozen_control_is_named_with_its_side_and_how_to_use_it():
    ev = _evaluation([False] * 30 + [True] * 10, [True] * 40)
    ev.rows[1].name = "frozen efficientnet_lite0 features + SVM (224 px)"
    line = ev.verdict_line()
    assert "is worse than its best control, frozen efficientnet_lite0" in line
    assert line.endswith("instead: dissim fit known --cnn-fusion frozen --ecnn "
                         "efficientnet_lite0 fuses it with the ensemble; alone: "
                         "dissim.pipeline.controls.plain_svm() on dissim.pipeline.controls."
                         "frozen_features(\"efficientnet_lite0\", images, input_size=224)")


def test_no_controls_omits_them(tree):
    code, out, err = run(["evaluate", tree, "--folds", "2", "--max-folds", "1", "--no-controls",
                          *ARGS])
    assert code == 0, err
    assert ENSEMBLE in out and "controls skipped" in out
    for name in (UNTRAINED, PIXELS, PLAIN, "frozen "):
        assert name not in out


def test_report_writes_every_file(evaluated):
    _, report = evaluated
    assert sorted(p.name for p in report.iterdir()) == sorted(REPORT_FILES)
    assert not list(report.parent.glob(".report.*"))  # no temporary folder left
    text = (report / "classification_report.txt").read_text()
    assert all(c in text for c in CLASSES) and "precision" in text
    per_class = json.loads((report / "classification_report.json").read_text())
    assert set(CLASSES) <= set(per_class)
    assert "recall" in per_class[CLASSES[0]]
    assert "accuracy (%)" in (report / "table.md").read_text()
    assert (report / "table.csv").read_text().startswith("row,mean (%),sd (%)")
    with Image.open(report / "confusion.png") as img:
        assert img.format == "PNG"
    info = json.loads((report / "evaluation.json").read_text())
    assert info["classes"] == sorted(CLASSES) and len(info["confusion_matrix"]) == 3
    assert {"training", "spaces+SVMs"} <= set(info["rows"][0]["parts"])
    # the arithmetic that trained the networks: auto's choice on this CPU
    from dissim.train import native_bf16

    words = "bfloat16 training" if native_bf16("cpu") else "float32 training"
    assert info["arithmetic"].startswith(words) and info["params"]["amp"] == "auto"
    assert (report / "table.md").read_text().splitlines()[2].startswith(words)


def test_report_folder_is_checked_before_any_work(tree, tmp_path, no_training):
    full = tmp_path / "full"
    full.mkdir()
    (full / "old.txt").write_text("kept")
    cases = [(full, "exists and is not empty"), (tmp_path / "no" / "such" / "dir", "not found"),
             (full / "old.txt", "is a file")]
    for path, message in cases:
        code, out, err = run(["evaluate", tree, "--folds", "2", "--report", path, *ARGS])
        assert code == 2 and message in err and err.count("\n") == 1, err
        assert "fold" not in out
    assert (full / "old.txt").read_text() == "kept"


def test_confusion_figure_has_full_class_names():
    names = ["Ankle_boot", "Pullover", "T-shirt/top", "a_class_name_far_longer_than_a_line"]
    fig = confusion_figure(np.eye(4, dtype=int), names, "t")
    ax = fig.axes[0]
    for ticks in (ax.get_xticklabels(), ax.get_yticklabels()):
        assert [t.get_text().replace("\n", "") for t in ticks] == names
    assert "\n" in wrap_name(names[3]) and wrap_name("Pullover") == "Pullover"
    big = confusion_figure(np.eye(12, dtype=int), [f"class_{i}" for i in range(12)])
    assert big.get_size_inches()[0] > fig.get_size_inches()[0]


def test_twins_share_seeds_prototypes_and_inputs():
    rng = np.random.default_rng(1)
    X = [rng.integers(0, 255, (24, 24), dtype=np.uint8) for _ in range(12)]
    y = np.repeat(["a", "b"], 6)
    clf = DissimilarityClassifier(profile="smoke", topologies=(8,), methods=("cross", "triplet"),
                                  spaces=("fully",), k_values=(2,))
    cache: dict = {}
    untrained = clf.twin("untrained").fit(X, y, cache=cache)
    assert untrained.encoder == "untrained" and untrained.seed == clf.seed
    assert len(untrained.networks_) == 2
    assert all(log["attempts"] == 0 and not log["loss"] for log in untrained.train_logs_)
    keys = set(cache)
    pixels = clf.twin("pixels").fit(X, y, cache=cache)
    assert set(cache) == keys  # the same inputs and prototypes, computed once
    assert len(pixels.networks_) == 1 and pixels.networks_[0].net is None  # one input: one unit
    assert pixels.predict(X).shape == (12,)
    protos = [m.fitted.transformer for m in pixels.members_]
    assert protos and set(pixels.seconds_) >= {"training", "spaces_svms"}
    with pytest.raises(ConfigError, match="encoder"):
        clf.twin("pretrained").fit(X, y)
    with pytest.raises(ConfigError, match="no networks to save"):
        pixels.save("never.dissim")


def test_defaults_come_from_one_place():
    params = DissimilarityClassifier().get_params()
    assert {k: params[k] for k in DEFAULTS.to_dict()} == DEFAULTS.to_dict()


def test_model_files_without_the_new_parameters_load(tmp_path):
    """A model written before ``encoder`` and ``sampler`` existed loads with their old values."""
    rng = np.random.default_rng(2)
    X = [rng.integers(0, 255, (24, 24), dtype=np.uint8) for _ in range(12)]
    y = np.repeat(["a", "b"], 6)
    clf = DissimilarityClassifier(profile="smoke", topologies=(8,), methods=("cross",),
                                  spaces=("fully",), k_values=(2,)).fit(X, y)
    clf.save(tmp_path / "new.dissim")
    with zipfile.ZipFile(tmp_path / "new.dissim") as z:
        parts = {n: z.read(n) for n in z.namelist()}
    manifest = json.loads(parts["manifest.json"])
    del manifest["params"]["encoder"], manifest["params"]["sampler"]
    parts["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(tmp_path / "old.dissim", "w") as z:
        for name, blob in parts.items():
            z.writestr(name, blob)
    old = DissimilarityClassifier.load(tmp_path / "old.dissim")
    assert (old.encoder, old.sampler) == ("trained", None)
    np.testing.assert_array_equal(old.decision_function(X), clf.decision_function(X))
