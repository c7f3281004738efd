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


def _fits_the_text_column(table):
    text = findings.markdown(table)
    rows = [x for x in text.splitlines() if x.startswith("| ")]
    assert rows[1].startswith("| **(0) The best Siamese ensemble closes the gap")
    import re
    for row in rows:
        for cell in row.strip("| ").split(" | ")[1:]:
            # what the reader sees, line by line (a column head puts a budget under its name)
            shown = re.sub(r"<[^>]+>", "", cell.replace("<br>", "\n"))
            assert max(map(len, shown.split("\n"))) <= 10, shown


@pytest.fixture(scope="module")
def today():
    """The summary table of the committed evidence snapshots."""
    return findings.summary_table(findings.evidence_snapshots())


def test_the_table_fits_the_text_column(today):
    """At 1280 px the text column is 688 px: the table's cells are short (a mark and a number
    under a short data set name), so the widest data column is a few characters."""
    _fits_the_text_column(today)


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


def test_holdings_of_a_gpu_switched_run_are_at_the_profiles_settings(monkeypatch):
    """A ``large`` grid on a GPU trains under bfloat16 and channels-last (profile
    ``large+bf16+nhwc``): its entries are at ``large``'s current settings, not "earlier"."""
    from dissim.pipeline import snapshots
    from dissim.profiles import get as get_profile
    from dissim.profiles import with_switches

    gpu = with_switches("large", amp="bf16", channels_last=True)
    assert gpu.name == "large+bf16+nhwc"
    fake = _Fake(profile=gpu.name, profile_settings=gpu.to_dict(),
                 cnns=list(get_profile("large").cnns))
    monkeypatch.setattr(snapshots, "load", lambda path: fake)
    row = findings.holdings(["x"]).iloc[0]
    assert (row["settings"], row["missing"]) == ("as now", "nothing")
    # another setting than the switches still reads as a change
    fake._prov["profile_settings"] = {**gpu.to_dict(), "batch_size": 8}
    row = findings.holdings(["x"]).iloc[0]
    assert row["missing"] == "a recomputation at `large`'s current settings"


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


# --- the training budget as an axis: one data set at two budgets --------------------------

MEDIUM = ROOT / "results_snapshots" / "omniglot_greek-medium"
FSDD = ROOT / "results_snapshots" / "fsdd-medium"
#: The rows the perturbed large copy moves (see two_budgets), and their verdicts at each budget.
UNTRAINED = ("C", "Training helps: trained beats the same networks untrained")
PIXELS = ("C", "Training helps: trained beats the pixels")
MOVED = {UNTRAINED: ("too close to call", "holds"), PIXELS: ("holds", "does not hold")}


def _large_copy(medium: Path, out: Path) -> None:
    """``medium`` exported again as a snapshot of profile ``large`` (every entry's stored
    settings and member label; the loader checks that the index's profile is the entries'
    own, and export writes the checksums), with the untrained controls' scores replaced by
    random ones (chance: trained networks now beat their untrained selves) and the pixel
    control's by the true labels (100 %: the trained networks no longer beat the pixels);
    every other score is kept, in float32 (lossless for the float16/float32 of the copy)."""
    import copy

    from dissim.pipeline import snapshots
    from dissim.pipeline.store import Result
    from dissim.profiles import get as get_profile

    snap = snapshots.load(medium)
    large = get_profile("large").to_dict()
    rng = np.random.default_rng(0)
    results = []
    for m, r in [*snap.results.items(), *snap.cnn_results.items(),
                 *snap.frozen_results.items()]:
        meta = copy.deepcopy({k: v for k, v in r.meta.items() if k != "sha256"})
        meta["profile_settings"] = large
        meta["cnn_member" if meta.get("kind") == "cnn" else "member"]["profile"] = "large"
        scores = np.asarray(r.scores, dtype=float)
        if getattr(m, "encoder", None) == "untrained":
            scores = rng.random(scores.shape)
        elif getattr(m, "encoder", None) == "pixels":
            scores = np.eye(scores.shape[1])[np.asarray(r.y_true)]
        results.append(Result(r.key, scores, r.y_true, r.test_index, meta))
    snapshots.export(results, out, dataset=snap.dataset, profile="large", precision="float32")


@pytest.fixture(scope="module")
def two_budgets(tmp_path_factory):
    """A snapshot folder with FSDD at medium and Omniglot at medium and at large (the copy
    of :func:`_large_copy`); its snapshots as loaded, and their summary table."""
    from dissim.pipeline import snapshots

    base = tmp_path_factory.mktemp("budgets") / "results_snapshots"
    for src in (FSDD, MEDIUM):
        shutil.copytree(src, base / src.name)
    _large_copy(MEDIUM, base / "omniglot_greek-large")
    paths = findings.evidence_snapshots(base)
    assert [p.name for p in paths] == ["fsdd-medium", "omniglot_greek-large",
                                       "omniglot_greek-medium"]  # by name: large first
    loaded = {p: snapshots.load(p) for p in paths}
    assert loaded[base / "omniglot_greek-large"].profile == "large"
    return base, loaded, findings.summary_table(paths)


def _pairs_by_hand(name: str) -> tuple[float, float, float]:
    """Median, least and most pairs (triplets) seen by a network of profile ``name`` over a
    complete grid (every topology 1-8 has networks of Cross, CrossDD and Triplet, on every
    fold: equal weights per topology): its iterations, the listed topologies' own, times
    16 pairs per iteration (Cross and CrossDD: 16 pairs of the paper's sampler; Triplet: the
    batch sampler's 48 images, the forward passes of 16 triplets)."""
    from dissim.profiles import get as get_profile

    prof = get_profile(name)
    own = dict(prof.topology_iterations)
    per = [own.get(t, prof.iterations) * prof.batch_size for t in range(1, 9)]
    return float(np.median(per)), float(min(per)), float(max(per))


def test_pairs_seen_per_network_is_the_profiles_budget(two_budgets):
    _, _, table = two_budgets
    assert _pairs_by_hand("medium") == (3200.0, 1600.0, 6400.0)
    assert _pairs_by_hand("large") == (12800.0, 6400.0, 25600.0)
    for name, profile in (("fsdd-medium", "medium"), ("omniglot_greek-medium", "medium"),
                          ("omniglot_greek-large", "large")):
        got = table.loc[table["snapshot"] == name, ["pairs", "pairs_min", "pairs_max"]]
        assert (got.to_numpy() == _pairs_by_hand(profile)).all(), name


def test_a_data_set_at_two_budgets_has_its_columns_side_by_side(two_budgets):
    _, _, table = two_budgets
    b = findings.budgets(table)
    assert b["snapshot"].tolist() == ["fsdd-medium", "omniglot_greek-medium",
                                      "omniglot_greek-large"]
    assert b["head"].tolist() == ["FSDD", "Omniglot medium", "Omniglot large"]
    assert b["several"].tolist() == [False, True, True]
    text = findings.markdown(table, findings.README_LINKS)
    lines = text.splitlines()
    assert lines[2] == ('| claim | <a href="results_snapshots/fsdd-medium/">FSDD</a> | '
                        '<a href="results_snapshots/omniglot_greek-medium/">Omniglot<br>medium'
                        '</a> | <a href="results_snapshots/omniglot_greek-large/">Omniglot<br>'
                        'large</a> |')
    # each row's cells in that order: the untrained row moved from ≈ to ✔
    row = next(x for x in lines if x.startswith(f"| ({UNTRAINED[0]}) {UNTRAINED[1]} |"))
    assert [c.split('title="')[1].split('"')[0] for c in row.split(" | ")[1:]] == [
        "too close to call", "too close to call", "holds"]
    assert ("FSDD = `fsdd-medium`, Omniglot medium = `omniglot_greek-medium`, Omniglot large "
            "= `omniglot_greek-large` (profiles `medium`, `large`)") in text
    assert "level with it on Omniglot medium (-3.54 points); level with it on Omniglot large" \
        in text
    caption = findings.figure_caption(table)
    assert caption.index("FSDD 7 hold") < caption.index("Omniglot medium") \
        < caption.index("Omniglot large")
    titles = [ax.get_title() for ax in findings.figure(table).axes]
    assert titles == ["FSDD", "Omniglot medium", "Omniglot large"]
    _fits_the_text_column(table)
    # a GPU-switched large profile names the same budget: the column head is the same
    gpu = table.assign(profile=table["profile"].where(table["profile"] != "large",
                                                      "large+bf16+nhwc"))
    assert findings.budgets(gpu)["head"].tolist() == b["head"].tolist()


def test_the_moved_verdicts_are_said_in_one_sentence(two_budgets):
    _, _, table = two_budgets
    cell = {(r["snapshot"], r["claim"], r["comparison"]): r for _, r in table.iterrows()}
    rows = list(dict.fromkeys(zip(table["claim"], table["comparison"], strict=True)))
    assert len(rows) == 10
    for row in rows:  # the verdicts engineered by _large_copy, and no other move
        a = cell[("omniglot_greek-medium", *row)]
        z = cell[("omniglot_greek-large", *row)]
        assert (a["verdict"], z["verdict"]) == MOVED.get(row, (a["verdict"],) * 2), row
        if row[0] != "C":  # the controls enter the rows C only
            assert a["mean"] == z["mean"]

    def said(snapshot, row):
        r = cell[(snapshot, *row)]
        return f"{r['verdict']} ({findings.signed(r['mean'])})"

    moved = "; ".join(
        f"({c}) {cmp}, {said('omniglot_greek-medium', (c, cmp))} at medium → "
        f"{said('omniglot_greek-large', (c, cmp))} at large" for c, cmp in (UNTRAINED, PIXELS))
    expected = ("Omniglot at two budgets, medium (3,200 pairs per network, the median over its "
                f"networks) and large (12,800): 2 of 10 verdicts moved: {moved}. The other 8 did "
                "not: holds at both for (C), (1) ×2, (2), (4); too close to call at both for "
                "(0), (3) ×2.")
    assert findings.budget_moves(table) == [expected]
    paragraph = next(x for x in findings.markdown(table).splitlines()
                     if x.startswith("**holds**"))
    assert paragraph.endswith(expected)  # no left-out snapshot here: the last sentence
    assert "+72.50) at large" in expected and "does not hold (-19.17)" in expected


def test_a_larger_budget_on_fewer_folds_is_said_with_the_same_folds_difference(two_budgets):
    """A large grid still running (here the copy's fold 0 only): the sentence names both fold
    sets, warns that fewer images make a verdict harder to reach, and gives each moved
    comparison the medium mean on the folds both hold, from its per-fold differences."""
    _, _, table = two_budgets
    large = table["snapshot"] == "omniglot_greek-large"
    table = table.copy()
    table.loc[large, "folds"] = pd.Series([(0,)] * int(large.sum()), index=table[large].index)
    cell = {(r["snapshot"], r["claim"], r["comparison"]): r for _, r in table.iterrows()}
    (text,) = findings.budget_moves(table)
    assert text.startswith("Omniglot at two budgets, medium (3,200 pairs per network, the "
                           "median over its networks) and large (12,800), medium on folds 0-4 "
                           "and large on fold 0 (a grid still running: with fewer test images "
                           "a verdict is harder to reach")
    for row in (UNTRAINED, PIXELS):
        a = cell[("omniglot_greek-medium", *row)]
        assert len(a["diffs"]) == 5 and a["folds"] == (0, 1, 2, 3, 4)
        assert (f"({row[0]}) {row[1]}, {a['verdict']} ({findings.signed(a['mean'])}; "
                f"{findings.signed(a['diffs'][0])} on fold 0) at medium → ") in text


def test_budget_figure_draws_each_comparison_against_the_pairs_seen(two_budgets):
    from dissim.report import figstyle

    _, _, table = two_budgets
    fig = findings.budget_figure(table)
    assert figstyle.problems(fig) == []
    lines = {line.get_gid(): line for ax in fig.axes for line in ax.get_lines()
             if line.get_gid()}
    spreads = {c.get_gid(): c for ax in fig.axes for c in ax.collections if c.get_gid()}
    medium, large = _pairs_by_hand("medium")[0], _pairs_by_hand("large")[0]
    rows = list(dict.fromkeys(zip(table["claim"], table["comparison"], strict=True)))
    for claim, comparison in rows:
        for dataset, snaps, xs in (("omniglot_greek", ("omniglot_greek-medium",
                                                       "omniglot_greek-large"),
                                    [medium, large]),
                                   ("fsdd", ("fsdd-medium",), [medium])):
            key = f"{dataset}|{claim}|{comparison}"
            got = [table[(table["snapshot"] == s) & (table["claim"] == claim)
                         & (table["comparison"] == comparison)].iloc[0] for s in snaps]
            line = lines[f"budget|{key}"]
            np.testing.assert_array_equal(line.get_xdata(), xs)
            np.testing.assert_allclose(line.get_ydata(), [r["mean"] for r in got])
            segments = spreads[f"spread|{key}"].get_segments()
            np.testing.assert_allclose([s[:, 1] for s in segments],
                                       [[min(r["diffs"]), max(r["diffs"])] for r in got])
            np.testing.assert_allclose([s[:, 0] for s in segments], [[x, x] for x in xs])
    assert len(lines) == 2 * len(rows)
    # the paper's budget, in every panel
    paper = [line for ax in fig.axes for line in ax.get_lines()
             if list(line.get_xdata()) == [540000, 540000]]
    assert len(paper) == len(rows) == len([ax for ax in fig.axes if ax.get_visible()])
    assert all(ax.get_xscale() == "log" for ax in fig.axes)
    caption = findings.budget_caption(table)
    assert caption.startswith("**What it shows:**")
    assert "medium 3,200 (1,600-6,400 over its networks); large 12,800 (6,400-25,600" in caption
    assert "Omniglot, medium to large: 2 of 10 verdicts moved; FSDD at one budget" in caption
    assert "540k pairs per network, 42 times the largest drawn" in caption


def test_write_draws_and_links_the_budget_figure_only_while_two_budgets_exist(
        tmp_path, two_budgets, monkeypatch):
    base, loaded, _ = two_budgets
    start, end = findings.MARKERS
    for target in findings.TARGETS:
        (tmp_path / target).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / target).write_text(f"{start}\nold\n{end}\n")
    for name in ("omniglot_greek-medium", "omniglot_greek-large"):
        shutil.copytree(base / name, tmp_path / "results_snapshots" / name)
    real = findings.snapshots.load  # the copies read as the fixture read them, once
    by_name = {p.name: s for p, s in loaded.items()}
    monkeypatch.setattr(findings.snapshots, "load",
                        lambda p: by_name.get(Path(p).name) or real(p))
    budget = tmp_path / findings.BUDGET_FIGURE
    assert budget in findings.write(tmp_path, check=True) and not budget.exists()
    findings.write(tmp_path)
    assert budget.read_bytes()[:4] == b"\x89PNG"
    for target, links in findings.TARGETS.items():
        assert ((tmp_path / target).parent / links["budget_figure"]).resolve() == \
            budget.resolve()
        text = findings.block((tmp_path / target).read_text())
        assert f"]({links['budget_figure']})\n\n**What it shows:**" in text
    assert findings.write(tmp_path, check=True) == []
    # the large snapshot gone: no data set at two budgets, the figure and its link go
    shutil.rmtree(tmp_path / "results_snapshots" / "omniglot_greek-large")
    assert budget in findings.write(tmp_path, check=True)
    findings.write(tmp_path)
    assert not budget.exists()
    assert "findings_budget" not in (tmp_path / "README.md").read_text()


def test_with_one_budget_per_data_set_nothing_of_the_budget_axis_shows(today):
    """Today's medium snapshots alone (each data set at one budget): the columns, block and
    figure are what they were, and there is no budget figure."""
    medium = today[today["profile"] == "medium"]
    b = findings.budgets(medium)
    assert b["head"].tolist() == ["FSDD", "Omniglot", "ORL"]
    assert b["pairs"].tolist() == [_pairs_by_hand("medium")[0]] * 3
    assert findings.budget_figure(medium) is None and findings.budget_figure_png(medium) is None
    assert findings.budget_moves(medium) == [] and findings.budget_caption(medium) == ""
    for links in findings.TARGETS.values():
        assert "findings_budget" not in findings.markdown(medium, links)


def test_the_committed_omniglot_is_at_two_budgets(today):
    """The committed evidence: Omniglot at medium and at large (bfloat16 where the CPU
    computes it), side by side, with the budget figure written beside the block's."""
    b = findings.budgets(today)
    assert b["head"].tolist() == ["FSDD", "Omniglot medium", "Omniglot large", "ORL"]
    assert b["pairs"].tolist() == [_pairs_by_hand("medium")[0]] * 2 + [
        _pairs_by_hand("large")[0], _pairs_by_hand("medium")[0]]
    assert set(today.loc[today["snapshot"] == "omniglot_greek-large", "profile"]) == {
        "large+bf16+nhwc"}
    (moves,) = findings.budget_moves(today)
    assert moves.startswith("Omniglot at two budgets, medium (3,200 pairs")
    assert (ROOT / findings.BUDGET_FIGURE).read_bytes()[:4] == b"\x89PNG"
