"""``dissim fit | predict | evaluate`` on a small generated folder tree (issue 9).

The tree: 3 classes x 6 PNGs of 40x40 (one grey class, one RGB, one RGBA). Every run uses the
``smoke`` profile, topology 8 and one method/space, so each fit takes about a second.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dissim.cli import main as dissim_main

ARGS = ["--profile", "smoke", "--topologies", "8", "--methods", "cross", "--spaces", "fully"]


def run(argv, capsys) -> tuple[int, str, str]:
    """``dissim ARGV`` through the main CLI (one error path)."""
    code = dissim_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err.split("\r")[-1]  # what is left on screen after the progress bars


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for c, (name, mode) in enumerate((("blood", "L"), ("leaf", "RGB"), ("sky", "RGBA"))):
        (root / name).mkdir()
        for i in range(6):
            base = rng.integers(0, 60, (40, 40, 4)) + 90 * c
            base[..., 3] = 255
            img = Image.fromarray(base.astype(np.uint8), "RGBA").convert(mode)
            img.save(root / name / f"{name}_{i}.png")
    (root / "README.txt").write_text("top-level files are ignored")
    return root


@pytest.fixture(scope="module")
def model(tree, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.dissim"
    code = dissim_main(["fit", str(tree), "--out", str(path), *ARGS])
    assert code == 0 and path.is_file()
    return path


def test_fit_prints_summary(tree, tmp_path, capsys):
    code, out, err = run(["fit", tree, "--out", tmp_path / "m.dissim", *ARGS, "--k", "2"], capsys)
    assert code == 0, err
    assert "on 18 images of 3 classes (blood 6, leaf 6, sky 6)" in out
    assert "(k 2)" in out and f"saved {tmp_path / 'm.dissim'}" in out


@pytest.mark.parametrize("amp, words", [("float32", "float32 training"),
                                         ("bf16", "bfloat16 training")])
def test_fit_amp_reaches_the_model_and_the_summary(tree, tmp_path, capsys, amp, words):
    from dissim import DissimilarityClassifier

    path = tmp_path / "m.dissim"
    code, out, err = run(["fit", tree, "--out", path, *ARGS, "--amp", amp], capsys)
    assert code == 0, err
    assert out.splitlines()[0].endswith(f" s, {words}")
    assert DissimilarityClassifier.load(path).amp == (None if amp == "float32" else amp)
    code, _, err = run(["fit", tree, "--out", path, *ARGS, "--amp", "fp16"], capsys)
    assert code == 2 and "invalid choice: 'fp16'" in err


def test_predict_table_and_csv(tree, model, capsys):
    code, out, err = run(["predict", model, tree / "sky", tree / "leaf" / "leaf_0.png"], capsys)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 7
    assert all(line.split()[1] in ("blood", "leaf", "sky") for line in lines)
    float(lines[0].split()[2])
    code, out, _ = run(["predict", model, tree / "blood", "--csv"], capsys)
    rows = out.strip().splitlines()
    assert code == 0 and rows[0] == "file,class,score" and len(rows) == 7


def test_evaluate_folds_and_plot(tree, tmp_path, capsys):
    png = tmp_path / "cm.png"
    code, out, err = run(["evaluate", tree, "--folds", "2", "--plot", png, *ARGS], capsys)
    assert code == 0, err
    assert out.count("fold ") >= 2 and "accuracy" in out and "±" in out
    assert "confusion matrix" in out and png.stat().st_size > 1000
    with Image.open(png) as img:
        assert img.format == "PNG"


def test_evaluate_min_images_drops_classes(tree, tmp_path, capsys):
    code, out, err = run(["evaluate", tree, "--folds", "2", "--max-folds", "1",
                          "--min-images", "7"], capsys)
    assert code == 2 and "fewer than two classes" in err


def _bad_trees(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    stray = tmp_path / "stray"
    for c in ("a", "b"):
        (stray / c).mkdir(parents=True)
        Image.new("L", (8, 8)).save(stray / c / "x.png")
    (stray / "b" / "notes.txt").write_text("not an image")
    broken = tmp_path / "broken"
    for c in ("a", "b"):
        (broken / c).mkdir(parents=True)
        Image.new("L", (8, 8)).save(broken / c / "x.png")
    (broken / "a" / "y.png").write_bytes(b"not a png")
    hollow = tmp_path / "hollow"
    (hollow / "a").mkdir(parents=True)
    (hollow / "b").mkdir()
    Image.new("L", (8, 8)).save(hollow / "a" / "x.png")
    return {"no class sub-folders": empty, "not an allowed data file": stray,
            "cannot read image": broken, "is empty": hollow,
            "not found": tmp_path / "missing"}


@pytest.mark.parametrize("command", ["fit", "evaluate"])
def test_bad_trees_are_one_line_errors(command, tmp_path, capsys):
    for message, folder in _bad_trees(tmp_path).items():
        extra = ["--out", tmp_path / "m.dissim"] if command == "fit" else ["--folds", "2"]
        code, out, err = run([command, folder, *extra, *ARGS], capsys)
        assert code == 2, (message, err)
        assert err.startswith("dissim: error: ") and message in err
        assert err.count("\n") == 1, err


def test_predict_and_evaluate_usage_errors(tree, model, tmp_path, capsys):
    junk = tmp_path / "junk.dissim"
    junk.write_text("hello")
    cases = [
        (["predict", junk, tree / "sky"], "not a zip"),
        (["predict", model, tmp_path / "nope.png"], "not found"),
        (["evaluate", *ARGS], "image folder or --dataset"),
        (["evaluate", tree, "--dataset", "textures"], "image folder or --dataset"),
    ]
    for argv, message in cases:
        code, _, err = run(argv, capsys)
        assert code == 2 and message in err and err.count("\n") == 1, err
