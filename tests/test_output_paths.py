"""Every output path is checked before work (dissim.pipeline.validate; book: What can go wrong).

``dissim evaluate --plot cm.txt`` once wrote PNG bytes into cm.txt after the whole evaluation;
a model file named ``m.txt`` held a zip. Both are refused in one line before any training.
"""

from __future__ import annotations

import pytest

from dissim.cli import main
from dissim.errors import ConfigError
from dissim.pipeline import validate

EVAL = ["evaluate", "--dataset", "textures", "--profile", "smoke", "--device", "cpu"]


@pytest.mark.parametrize(("name", "why"), [
    ("cm.txt", "ends in .txt, a format matplotlib cannot write"),
    ("cm.csv", "ends in .csv, a format matplotlib cannot write"),
    ("cm", "has no extension"),
    ("cm.pdf", "ends in .pdf, but it is written as PNG"),
    ("cm.JPG", "ends in .jpg, but it is written as PNG"),
])
def test_evaluate_refuses_a_plot_name_before_training(tmp_path, capsys, no_training, name, why):
    plot = tmp_path / name
    assert main([*EVAL, "--plot", str(plot)]) == 2
    err = capsys.readouterr().err
    assert err == (f"dissim: error: plot {plot} (--plot) {why}; name a .png file, e.g. "
                   f"{plot.stem}.png\n")
    assert not plot.exists() and list(tmp_path.iterdir()) == []


def test_a_png_plot_passes(tmp_path):
    assert validate.figure_file(tmp_path / "cm.png", "plot", "--plot") == tmp_path / "cm.png"
    assert validate.figure_file(tmp_path / "cm.PNG", "plot", "--plot").name == "cm.PNG"
    with pytest.raises(ConfigError, match=r"\(--fig\) ends in .png, but it is written as SVG"):
        validate.figure_file(tmp_path / "f.png", "figure", "--fig", fmt="svg")


@pytest.mark.parametrize("name", ["m.txt", "m.png", "model"])
def test_fit_refuses_a_model_name_that_is_not_a_zip(tmp_path, capsys, no_training, name):
    tree = tmp_path / "images"
    for c in ("a", "b"):
        (tree / c).mkdir(parents=True)
    out = tmp_path / name
    assert main(["fit", str(tree), "--out", str(out), "--profile", "smoke"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"model file {out} (--out) ends in " in err
    assert "name it m.dissim" in err or "name it model.dissim" in err
    assert not out.exists()


@pytest.mark.parametrize("name", ["m.dissim", "m.zip", "M.ZIP"])
def test_model_names_of_the_format_pass(tmp_path, name):
    assert validate.model_file(tmp_path / name) == tmp_path / name
