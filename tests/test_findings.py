"""What we found, first: the README's and the book's first page's summary block is what the
committed snapshots give, and the generator says what each cell and paragraph claims."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dissim.report import book, findings

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "results_snapshots" / "textures-smoke"


def test_readme_and_intro_blocks_are_what_the_snapshots_give():
    """Recompute every verdict from results_snapshots/ and compare the blocks byte for byte;
    after recomputing the snapshots, `make findings` rewrites them."""
    assert findings.write(ROOT, check=True) == [], "stale: run `make findings` and commit"
    for target in findings.TARGETS:
        text = (ROOT / target).read_text(encoding="utf-8")
        assert "| claim |" in findings.block(text)


def _row(snapshot, claim, comparison, verdict, mean, folds=(0, 1, 2)):
    return {"snapshot": snapshot, "profile": "medium", "folds": folds, "claim": claim,
            "comparison": comparison, "verdict": verdict, "mean": mean, "p_mcnemar": 0.01,
            "p_folds": 0.2, "iterations": 100, "batch_size": 16, "input_size": 48,
            "devices": "cpu", "training": findings.training({"iterations": 100,
                                                             "batch_size": 16})}


def test_markdown_cells_links_and_paragraph():
    table = pd.DataFrame([
        _row("a-medium", "C", "Training helps: trained beats the pixels", "holds", 6.6),
        _row("a-medium", "1", "Cross+Triplet beats Cross", "does not hold", -2.345),
        _row("a-medium", "3", "Fusing topologies beats the best single topology", "not tested",
             np.nan),
        _row("b-medium", "C", "Training helps: trained beats the pixels", "too close to call",
             0.5, folds=(0, 1, 2, 3, 4)),
        _row("b-medium", "1", "Cross+Triplet beats Cross", "holds", 12.0, folds=(0, 1, 2, 3, 4)),
        _row("a-medium", "C", "Training helps: the trained ensemble beats the networks "
             "untrained", "holds", 4.0),
    ])
    text = findings.markdown(table, findings.BOOK_LINKS, left_out=["t-smoke"])
    lines = text.replace("\u00a0", " ").splitlines()  # a cell joins mark and number by NBSP
    # the count comes first, on its own line, before the table
    assert lines[0] == "**Of 5 comparisons, 3 hold, 1 does not and 1 is too close to call.**"
    # short column heads (the data set without the profile), linked to the snapshots
    assert lines[2] == ('| claim | <a href="results/snapshots/a-medium/snapshot.html">a</a>'
                        ' | <a href="results/snapshots/b-medium/snapshot.html">b</a> |')

    def mark(name, verdict, colour, sign):
        return (f'<a href="results/snapshots/{name}/claims.html" title="{verdict}">'
                f'<span style="color:{colour}">{sign}</span></a>')
    assert lines[4] == ("| (C) Training helps: trained beats the pixels | "
                        + mark("a-medium", "holds", "#1a7f37", "✔") + " +6.60 | "
                        + mark("b-medium", "too close to call", "#57606a", "≈") + " +0.50 |")
    assert lines[5].endswith(mark("a-medium", "does not hold", "#cf222e", "✘") + " -2.35 | "
                             + mark("b-medium", "holds", "#1a7f37", "✔") + " +12.00 |")
    assert lines[6] == ('| (3) Fusing topologies beats the best single topology | '
                        '<span title="not tested">—</span> |  |')
    legend = lines[2 + len([x for x in lines if x.startswith("|")]) + 1]  # after the table
    assert legend.startswith("✔ holds, ✘ does not hold, ≈ too close to call, — not tested")
    assert "a = `a-medium`, b = `b-medium` (profile `medium`)" in legend
    paragraph = next(x for x in lines if x.startswith("**holds**"))
    assert "`a-medium` on 3 folds (0-2)" in paragraph and "`b-medium` on 5 folds (0-4)" in paragraph
    assert "1600 training pairs per network" in paragraph and "540000" in paragraph
    # a-medium's ensemble beats both controls; b-medium has no untrained row: not shown to pay
    assert "On `b-medium` the trained networks do not beat both" in paragraph
    assert "Left out: `t-smoke`" in paragraph
    assert text.count("Of 5 comparisons") == 1  # said once
    readme = findings.markdown(table, findings.README_LINKS).replace("\u00a0", " ")
    assert ('<a href="_build/html/book/results/snapshots/b-medium/claims.html" title="holds">'
            in readme)
    assert '<a href="results_snapshots/a-medium/">a</a>' in readme
    assert "Left out" not in readme
    assert findings.markdown(table.iloc[:0]).startswith("No evidence snapshot")


def test_the_table_fits_the_text_column():
    """At 1280 px the text column is 688 px: the table's cells are short (a mark and a number
    under a short data set name), so the widest data column is a few characters."""
    table = findings.summary_table(findings.evidence_snapshots())
    text = findings.markdown(table)
    rows = [x for x in text.splitlines() if x.startswith("| ")]
    assert rows[1].startswith("| **(0) The best Siamese ensemble closes the gap")
    import re
    for row in rows:
        for cell in row.strip("| ").split(" | ")[1:]:
            shown = re.sub(r"<[^>]+>", "", cell)  # what the reader sees
            assert len(shown) <= 10, shown


def test_book_links_are_the_pages_book_run_writes():
    for page in ("claims", "snapshot"):
        written = (book.SNAPSHOT_PAGES / "x-medium" / f"{page}.ipynb").relative_to(
            book.REPO / "book")
        assert findings.BOOK_LINKS[page].format(name="x-medium") == \
            written.with_suffix(".html").as_posix()
        assert findings.README_LINKS[page].format(name="x").startswith(
            "_build/html/book/" if page == "claims" else "results_snapshots/")


def test_block_markers():
    start, end = findings.MARKERS
    assert findings.block(f"a\n{start}\n x \n{end}\nb") == "x"
    for bad in ("no markers", f"{end}{start}", f"{start}{start}{end}"):
        with pytest.raises(ValueError, match="block"):
            findings.block(bad)


def test_write_and_check_on_a_copy(tmp_path):
    """Only evidence snapshots go into the table: a tree holding only the smoke snapshot gets
    the 'no evidence' sentence and names what it left out; --check writes nothing."""
    start, end = findings.MARKERS
    for target in findings.TARGETS:
        (tmp_path / target).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / target).write_text(f"# title\n\n{start}\nold\n{end}\n\nrest\n")
    shutil.copytree(SMOKE, tmp_path / "results_snapshots" / SMOKE.name)
    changed = findings.write(tmp_path, check=True)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in changed) == sorted(
        findings.TARGETS)
    assert "old" in (tmp_path / "README.md").read_text()
    findings.write(tmp_path)
    text = (tmp_path / "README.md").read_text()
    assert text.startswith("# title\n\n") and text.endswith(f"{end}\n\nrest\n")
    assert findings.block(text).startswith("No evidence snapshot")
    assert "Left out: `textures-smoke`" in findings.block(text)
    assert findings.write(tmp_path, check=True) == []
    # the table itself reads any snapshot, the smoke one included
    table = findings.summary_table([SMOKE])
    assert set(table["snapshot"]) == {"textures-smoke"} and len(table) == 9
    assert table.loc[table["claim"] == "3", "verdict"].item() == "not tested"


def test_training_in_words_names_each_losss_sampler_and_rate():
    from dissim.profiles import get as get_profile

    medium = findings.training(get_profile("medium").to_dict())
    assert medium == ("100 iterations (topologies 3, 5, 6, 7, 8: 200-400); Cross 16 pairs at "
                      "lr 0.0001, Triplet every valid triplet of a 48-image batch at lr 0.001 "
                      "(topologies 3, 4, 5, 7, 8: 0.0001)")
    assert findings.training({"iterations": 4, "batch_size": 4}) == (
        "4 iterations of 4 pairs (16 training pairs per network)")


def test_holdings_of_the_smoke_snapshot_read_from_its_entries():
    """Oracle: the smoke snapshot's own entries (member dicts and data sizes), counted here."""
    from dissim.pipeline import snapshots

    snap = snapshots.load(SMOKE)
    metas = [r.meta for r in snap.entries()]
    folds = sorted({m["member"]["fold"] for m in metas if "member" in m})
    d = metas[0]["data"]
    n = (d["n_train"] + d["n_test"]) / d["n_test"]
    row = findings.holdings([SMOKE]).iloc[0]
    assert row["folds"] == f"{len(folds)} of {round(n)}" == "2 of 5"
    assert row["settings"] == "as now"
    assert row["missing"].startswith("folds 2-4; topologies 2-8")
    assert row["ecnn"] == "Lite0" and row["controls"] == "pixels, untrained"


class _Fake:
    """A snapshot as holdings reads it: provenance, entries, name, profile."""

    def __init__(self, profile="medium", **prov):
        from dissim.profiles import get as get_profile

        self.name, self.profile = "x-medium", profile
        self._prov = {"folds": [0, 1, 2, 3, 4], "methods": ["cross", "crossdd", "triplet"],
                      "topologies": list(range(1, 9)), "controls": ["pixels", "untrained"],
                      "cnns": list(get_profile("medium").cnns),
                      "frozen_cnns": list(get_profile("medium").cnns),
                      "profile_settings": get_profile("medium").to_dict(),
                      "train_hours": 2.0, "cnn_hours": 0.5, **prov}

    def provenance(self):
        return self._prov

    def entries(self):
        from types import SimpleNamespace
        return [SimpleNamespace(meta={"data": {"n_train": 320, "n_test": 80},
                                      "member": {"topology": 1, "loss": "triplet"},
                                      "profile_settings": self._prov["profile_settings"]})]


@pytest.mark.parametrize("prov, missing", [
    ({}, "nothing"),
    ({"folds": [0, 1, 2, 3]}, "fold 4"),
    ({"methods": ["cross", "triplet"], "cnns": ["efficientnet_lite0"]},
     "CrossDD; Lite1, Lite2 fine-tuned"),
    ({"frozen_cnns": [], "controls": ["untrained"]},
     "pixels control; the frozen references"),
    ({"profile_settings": {"iterations": 100}}, "a recomputation at `medium`'s current settings"),
])
def test_holdings_name_what_the_complete_grid_lacks(prov, missing, monkeypatch):
    from dissim.pipeline import snapshots

    monkeypatch.setattr(snapshots, "load", lambda path: _Fake(**prov))
    row = findings.holdings(["x"]).iloc[0]
    assert row["missing"] == missing
    assert row["folds"] == f"{len(prov.get('folds', range(5)))} of 5"
    assert row["hours"] == 2.5
    assert (row["settings"] == "as now") == ("profile_settings" not in prov)
    text = findings.holdings_markdown(findings.holdings(["x"]), findings.README_LINKS)
    assert text.count("\n| ") == 2 and f"| {missing} |" in text
    assert 'href="results_snapshots/x-medium/"' in text


# --- the block's figure: the table's numbers, fold by fold --------------------------------


def _artists(fig) -> dict[str, np.ndarray]:
    """Every scatter of ``fig`` by its gid: the (x, y) of its points."""
    return {c.get_gid(): np.asarray(c.get_offsets()) for ax in fig.axes
            for c in ax.collections if c.get_gid()}


def test_figure_draws_each_comparisons_mean_and_folds_from_the_table():
    from matplotlib.colors import to_rgba

    table = findings.summary_table([SMOKE])
    fig = findings.figure(table)
    drawn = _artists(fig)
    tested = table[table["verdict"] != "not tested"]
    assert len(tested) == 8 and len(drawn) == 2 * len(tested)  # claim 3 is left empty
    for y, (_, r) in enumerate(table.iterrows()):
        key = f"{r['snapshot']}|{r['claim']}|{r['comparison']}"
        if r["verdict"] == "not tested":
            assert f"mean|{key}" not in drawn
            continue
        mean, folds = drawn[f"mean|{key}"], drawn[f"folds|{key}"]
        # the mean's dot sits at the mean difference, on the comparison's line; the fold dots
        # at the folds' differences, whose average is that mean (an independent check)
        np.testing.assert_allclose(mean, [[r["mean"], y]])
        np.testing.assert_allclose(folds[:, 0], r["diffs"])
        assert len(r["diffs"]) == len(r["folds"])
        assert np.mean(r["diffs"]) == pytest.approx(r["mean"])
        assert np.all(np.abs(folds[:, 1] - y) < 0.5)
        color, filled = findings.VERDICT_STYLE[r["verdict"]]
        face = next(c for ax in fig.axes for c in ax.collections
                    if c.get_gid() == f"mean|{key}").get_facecolor()[0]
        assert tuple(face) == to_rgba(color if filled else "white")
    labels = [t.get_text().replace("\n", " ") for t in fig.axes[0].get_yticklabels()]
    assert labels == [f"({c}) {cmp}" for c, cmp in zip(table["claim"], table["comparison"],
                                                          strict=True)]


def test_figure_png_is_the_same_bytes_each_time_and_carries_no_software_stamp():
    table = findings.summary_table([SMOKE])
    png = findings.figure_png(table)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert png == findings.figure_png(table)
    assert b"Software" not in png and b"matplotlib" not in png.lower()


def test_write_puts_the_figure_beside_the_intro_and_check_sees_it_stale(tmp_path, monkeypatch):
    """With the smoke snapshot counted as evidence, write draws the figure, both blocks link
    it by their own relative path, and --check reports a figure that differs."""
    monkeypatch.setattr(findings, "NOT_EVIDENCE", ())
    start, end = findings.MARKERS
    for target in findings.TARGETS:
        (tmp_path / target).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / target).write_text(f"{start}\nold\n{end}\n")
    shutil.copytree(SMOKE, tmp_path / "results_snapshots" / SMOKE.name)
    figure = tmp_path / findings.FIGURE
    assert figure in findings.write(tmp_path, check=True) and not figure.exists()
    findings.write(tmp_path)
    assert figure.read_bytes()[:4] == b"\x89PNG"
    for target in findings.TARGETS:
        link = (tmp_path / target).parent / findings.TARGETS[target]["figure"]
        assert link.resolve() == figure.resolve()
        assert f"]({findings.TARGETS[target]['figure']})" in (tmp_path / target).read_text()
    assert findings.write(tmp_path, check=True) == []
    figure.write_bytes(figure.read_bytes()[:-1])
    assert findings.write(tmp_path, check=True) == [figure]
