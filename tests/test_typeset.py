"""The book's typeset tables (issue 32, items 1 and 5): set long as the paper sets them, every
column a reader came for in one narrow table, fixed decimals, the best in bold, no index-name
row, nothing loaded from outside the page; and numbers that do not mislead: one fold reads
"1 fold" (never "± 0.00"), an undefined fold test "n/a (every fold equal)", class names in
natural order, one CNN row order on every page."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from dissim import paper
from dissim.pipeline.cnn import CNNMember
from dissim.pipeline.experiment import Member
from dissim.pipeline.store import Result
from dissim.report import claims, paired, typeset, views
from dissim.report.claims import Claim
from dissim.report.tables import CONTROL_COLUMN, CONTROLS


class _Cells(HTMLParser):
    """The rows of an HTML table as lists of (tag, text, bold) per cell, head and body."""

    def __init__(self) -> None:
        super().__init__()
        self.head: list[list[tuple[str, str, bool]]] = []
        self.body: list[list[tuple[str, str, bool]]] = []
        self.tables = 0
        self._section = None
        self._row = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables += 1
        elif tag in ("thead", "tbody", "tfoot"):
            self._section = tag
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = [tag, "", "font-weight: bold" in (a.get("style") or "")]

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append((self._cell[0], self._cell[1].strip(), self._cell[2]))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            {"thead": self.head, "tbody": self.body}.get(self._section, []).append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data


def _parse(table) -> _Cells:
    p = _Cells()
    p.feed(table.as_raw_html())
    return p


def _table2_frame(folds: int = 3) -> pd.DataFrame:
    """A crafted tables.table2 result: 8 topologies x (4 configurations + control), the three
    fusions and the pixels, with known means (topology t, configuration j: 60 + t + j/4)."""
    configs = ["Cross F", "Triplet F", "Cross+Triplet F+D", "Cross+Triplet+CrossDD F+D"]
    rows = []
    for t in range(1, 9):
        for j, c in enumerate(configs):
            rows.append({"row": f"Topology {t}", "configuration": c, "mean": 60 + t + j / 4,
                         "std": 1.0 + j / 8, "folds": folds, "converged": 4, "networks": 4})
        rows.append({"row": f"Topology {t}", "configuration": CONTROL_COLUMN,
                     "mean": 50.0 + t, "std": 2.0, "folds": folds})
    for i, name in enumerate(("Fusion 1-4", "Fusion 1-6", "Fusion 1-8")):
        rows.append({"row": name, "configuration": configs[3], "mean": 80.0 + i,
                     "std": 0.5, "folds": folds, "converged": 10, "networks": 12})
        rows.append({"row": name, "configuration": CONTROL_COLUMN, "mean": 55.0,
                     "std": 1.0, "folds": folds})
    rows.append({"row": CONTROLS["pixels"], "configuration": CONTROL_COLUMN, "mean": 40.0,
                 "std": 3.0, "folds": folds})
    return pd.DataFrame(rows)


def test_table2_is_one_long_table_with_ours_and_published_side_by_side():
    df = _table2_frame()
    view = views.table2_view(df, notes=["Ours: data set `toy`."])
    cells = _parse(view)
    assert cells.tables == 1  # everything in one table: no sideways split
    text = [[c[1] for c in row] for row in cells.body]
    flat = " ".join(" ".join(r) for r in text)
    # every one of our cells, at two fixed decimals with its sd, and every published value
    for _, r in df.iterrows():
        assert f"{r['mean']:.2f}\u00a0±\u00a0{r['std']:.2f}" in flat
    pub = paper.published("Table 2").dropna(subset=["value"])
    for v in pub["value"]:
        assert f"{v:.2f}" in flat
    # the published value of a topology sits on its own row, beside no number of ours
    paper_rows = [r for r in text if r[0] == "paper [P], configuration lost"]
    assert len(paper_rows) == 8 and all(r[1] == "" for r in paper_rows)
    assert paper_rows[0][2:] == ["86.94", "70.99"]
    # a fusion's published value is on its (Bottom) configuration's row
    fusion = next(i for i, r in enumerate(text) if r[0] == "Fusion 1-4")
    assert text[fusion + 1][0] == "Cross+Triplet+CrossDD F+D"
    assert text[fusion + 1][2:] == ["92.78", "75.09"]
    # the best trained configuration of each topology is bold: the last one (60 + t + 3/4)
    bold = {c[1] for row in cells.body for c in row if c[2]}
    for t in range(1, 9):
        assert f"{60 + t + 0.75:.2f}\u00a0±\u00a01.38" in bold
        assert f"{60 + t:.2f}\u00a0±\u00a01.00" not in bold
    assert "92.78" in bold and "75.09" in bold  # the best published value of each column
    assert "86.94" not in bold
    # headers: ours, the published spanner over InfLar and Port; no all-empty header row and no
    # pandas index name ("row", "configuration") as a header of its own
    heads = [[c[1] for c in row] for row in cells.head]
    assert all(any(h for h in row) for row in heads)
    assert any("published [P]" in row for row in heads)
    assert any({"InfLar", "Port"} <= set(row) for row in heads)
    assert not any(row in (["row"], ["configuration"]) or row[:1] == ["configuration"]
                   for row in heads)
    # right-aligned numbers; the note under the table renders its Markdown
    html = view.as_raw_html()
    assert 'class="gt_row gt_right"' in html and "<code>toy</code>" in html


def test_typeset_html_is_self_contained_scoped_and_deterministic():
    a = views.table2_view(_table2_frame()).as_raw_html()
    b = views.table2_view(_table2_frame()).as_raw_html()
    assert a == b  # the id comes from the content: re-executed pages do not churn
    assert not re.search(r"https?://|@import|googleapis", a)
    tid = re.search(r'<div id="(dissim-[0-9a-f]+)"', a).group(1)
    css = a[a.index("<style>"):a.index("</style>")]
    for rule in re.findall(r"(?m)^([^{}\n]+)\{", css):  # every rule styles this table only
        for selector in rule.split(","):
            assert selector.strip().startswith(f"#{tid}"), selector
    assert "font-family: inherit;" in css and "font-size: 13px" in css
    other = _table2_frame().assign(std=lambda d: d["std"] + 0.01)
    assert views.table2_view(other).as_raw_html() != a


def test_one_fold_reads_1_fold_never_a_zero_sd():
    one = views.table2_view(_table2_frame(folds=1))
    html = one.as_raw_html()
    assert "± 0.00" not in html.replace("\u00a0", " ") and "±" not in one.to_string()
    assert "1\u00a0fold" in html
    assert typeset.mean_sd(80.0, 0.0, 1).text == "80.00\u00a01\u00a0fold"
    assert typeset.mean_sd(80.0, 1.234, 3).text == "80.00\u00a0±\u00a01.23"
    # the text tables of the printed pages say the same
    frame = views.table2_frame(_table2_frame(folds=1))
    assert frame.loc["Topology 1", "Cross F"] == "61.00\u00a0(1\u00a0fold)"


def _side(accs, n=10):
    """``{fold: (correct, test_index)}`` with ``accs[f]`` of ``n`` images right."""
    return {f: (np.arange(n) < round(a * n), np.arange(n)) for f, a in enumerate(accs)}


def test_an_undefined_fold_test_reads_n_a_and_one_fold_reads_1_fold():
    # every fold: left 7/10, right 5/10; the differences are all +20 points, sd 0
    same = claims.compare("L", "R", _side([0.7, 0.7, 0.7]), _side([0.5, 0.5, 0.5]))
    np.testing.assert_allclose(same.diffs, [20, 20, 20])
    assert same.test == "ttest_rel" and np.isnan(same.p)  # never p = 0
    assert claims.fold_p(same) == "n/a (every fold equal)"
    assert paired.folds_equal(same.diffs) and not paired.folds_equal([1.0, 2.0])
    # folds of different sizes leave rounding noise in equal differences: still undefined
    assert np.isnan(paired.paired_test([20.0, 20.0 + 1e-12, 20.0])[2])
    # all-zero differences keep p = 1; the page still says the test is undefined
    zero = claims.compare("L", "R", _side([0.5, 0.6]), _side([0.5, 0.6]))
    assert zero.p == 1.0 and claims.fold_p(zero) == "n/a (every fold equal)"
    one = claims.compare("L", "R", _side([0.8]), _side([0.5]))
    assert claims.fold_p(one) == "1 fold"
    differ = claims.compare("L", "R", _side([0.7, 0.9, 0.6]), _side([0.5, 0.5, 0.5]))
    assert claims.fold_p(differ) == f"{differ.p:.3g}"
    found = [Claim(1, "Left beats right", "Table 1", "holds", [same, one, differ])]
    frame = claims.summary_frame(found)
    assert frame["p (folds)"].tolist() == ["n/a (every fold equal)", "1 fold",
                                           f"{differ.p:.3g}"]
    assert claims.claims_frame(found)["mean ± sd"].iloc[1] == "+30.00\u00a0(1\u00a0fold)"
    shown = claims.summary(found).to_string()
    assert "n/a (every fold equal)" in shown and "1 fold" in shown and " 0 " not in shown


def test_claims_tables_are_long_and_keep_every_column_a_reader_came_for():
    left = _side([0.7, 0.9, 0.6])
    cmp = claims.compare("Fusion 1-4 (Bottom)", "best single: topology 2", left,
                         _side([0.5, 0.5, 0.5]), left_converged=(3, 4),
                         label="Fusing topologies beats the best single one")
    untested = Claim(4, "Siamese + eCNN beats eCNN", "Table 3", "holds",
                     reason="needs eCNN members")
    found = [Claim(3, "Fusing topologies beats the best single topology", "Table 2",
                   "holds on every data set", [cmp]), untested]
    view = claims.claims_view(found)
    cells = _parse(view)
    heads = [c[1] for row in cells.head for c in row]
    assert heads == ["comparison: left − right", "mean difference (points)", "p (McNemar)",
                     "p (folds)", "verdict"]
    body = [[c[1] for c in row] for row in cells.body]
    assert body[0][0].startswith("(3) Fusing topologies beats the best single topology")
    row = body[1]
    assert "Fusion 1-4 (Bottom) − best single: topology 2" in row[0]
    assert "left 3/4 converged" in row[0]
    assert row[1] == f"{claims.signed(cmp.mean)}\u00a0±\u00a0{cmp.sd:.2f}"
    assert row[2:] == [f"{cmp.p_mcnemar:.3g}", f"{cmp.p:.3g}", cmp.verdict]
    assert body[3][0] == "needs eCNN members" and body[3][-1] == "not tested"
    # fold by fold: each fold's accuracies, difference and discordant images, then all folds
    folds = claims.folds_view(found).data
    assert folds["fold"].tolist() == ["fold 0", "fold 1", "fold 2", "all folds"]
    assert folds["left (%)"].tolist()[:3] == [70.0, 90.0, 60.0]
    assert folds["left only"].tolist() == [2, 4, 1, 7] and folds["images"].iloc[-1] == 30
    assert claims.claims_view(found, numbers=[4]).data["comparison"].tolist() == [
        "needs eCNN members"]


def test_class_names_are_shown_in_natural_order():
    names = ["s1", "s10", "s11", "s2", "s3", "s20", "s9"]
    assert views._classes(names) == "s1, s2, s3, s9, s10, s11, s20"
    assert sorted(["lite10", "lite2", "Lite1"], key=views.natural_key) == [
        "Lite1", "lite2", "lite10"]


def _cnn_results(names, folds=(0, 1)):
    y, idx = np.array([0, 1, 1, 0]), np.arange(4)
    rng = np.random.default_rng(0)
    return {CNNMember("toy", f, n, profile="smoke"): Result("k", rng.random((4, 2)), y, idx, {})
            for n in names for f in folds}


def _siamese(folds=(0, 1)):
    y, idx = np.array([0, 1, 1, 0]), np.arange(4)
    rng = np.random.default_rng(1)
    return {Member("toy", fold=f, topology=1, space=s, k=2, profile="smoke",
                   encoder=e): Result("k", rng.random((4, 2)), y, idx, {})
            for f in folds for s in ("fully", "deeper") for e in ("trained", "untrained")}


def test_context_rows_come_in_one_order_whatever_the_stored_order():
    names = ["efficientnet_lite2", "efficientnet_lite0", "efficientnet_lite1"]
    a = claims.context_frame(_siamese(), _cnn_results(names),
                             frozen_results=_cnn_results(names[::-1]))
    b = claims.context_frame(_siamese(), _cnn_results(names[::-1]),
                             frozen_results=_cnn_results(names))
    assert list(a.index) == list(b.index)
    cnn_rows = [w for w in a.index if w.startswith("fine-tuned")]
    assert cnn_rows == [f"fine-tuned efficientnet_lite{i}" for i in range(3)]
    assert list(a.index).index("eCNN (average of the CNNs)") == list(a.index).index(
        cnn_rows[-1]) + 1
    frozen = [w for w in a.index if w.startswith("reference")]
    assert frozen == [f"reference: frozen efficientnet_lite{i} features + SVM"
                      for i in range(3)]
    shown = claims.context(_siamese(), _cnn_results(names)).data
    assert shown["what"].tolist()[-4:] == cnn_rows + ["eCNN (average of the CNNs)"]
    # Table 3's view sets the CNN rows in the same order
    t3 = pd.DataFrame([{"row": n, "mean": 70.0, "std": 1.0, "folds": 2} for n in names]
                      + [{"row": "eCNN", "mean": 75.0, "std": 1.0, "folds": 2}])
    rows = views.table3_view(t3).data["row"].tolist()
    assert rows[:4] == sorted(names) + ["eCNN"]


def test_table1_and_ablation_set_spaces_as_columns_with_the_best_in_bold():
    rows = [{"method": m, "builder": b, "mean": 60.0 + i + (b == "F+D"), "std": 1.0,
             "folds": 2, "converged": 2, "networks": 2}
            for i, m in enumerate(["Cross", "Triplet", "Triplet+Cross"])
            for b in ("F", "D", "F+D")]
    rows += [{"method": "Control: pixels", "builder": b, "mean": 90.0, "std": 0.0,
              "folds": 2} for b in ("F", "D", "F+D")]
    t = views.table1_view(pd.DataFrame(rows))
    cells = _parse(t)
    body = [[c[1] for c in r] for r in cells.body]
    assert ["Triplet+Cross", "62.00\u00a0±\u00a01.00", "62.00\u00a0±\u00a01.00",
            "63.00\u00a0±\u00a01.00"] in body
    bold = [c[1] for r in cells.body for c in r if c[2]]
    assert bold == ["62.00\u00a0±\u00a01.00", "62.00\u00a0±\u00a01.00",
                    "63.00\u00a0±\u00a01.00"]  # the controls never win
    ab = pd.DataFrame([{"option": "svm_scaling", "value": v, "builder": b, "mean": m,
                        "std": 1.0, "folds": 2, "converged": 1, "networks": 2}
                       for v, m in (("none", 50.0), ("minmax", 55.0))
                       for b in ("F", "D", "F+D")])
    view = views.ablation_view(ab)
    assert view.data["value"].tolist() == ["none", "minmax"]
    assert view.data.loc[1, "F"] == "55.00\u00a0±\u00a01.00 1/2 converged"
    heads = [c[1] for r in _parse(view).head for c in r]
    assert "svm_scaling" in heads and heads[-3:] == ["F", "D", "F+D"]


def test_provenance_is_one_line():
    prov = {"snapshot": "orl_faces-medium", "dataset": "folder", "profile": "medium",
            "folds": [0, 1, 2, 3, 4], "devices": ["cpu"], "first": "2026-11-30T04:25:20Z",
            "last": "2026-12-07T01:44:06Z", "profile_settings": {"amp": None}}
    line = views.provenance(prov, {Member("toy", fold=0, seed=3, k=2): None})
    assert "\n" not in line
    assert line == ("**Provenance:** data set `orl_faces` · profile `medium` · 5 folds · "
                    "seed 3 · device cpu · float32 · 2026-11-30 04:25 to 2026-12-07 01:44 "
                    "UTC · snapshot `orl_faces-medium`")
    assert "bf16 autocast + TF32" in views.provenance(
        {**prov, "profile_settings": {"amp": "bf16", "tf32": True}})
    assert views.provenance(None).startswith("**Provenance:** no data set · device ")


@pytest.mark.parametrize("n", [1, 3])
def test_best_rows_within_groups(n):
    vals = [1.0, 3.0, None, 3.0, 2.0][:n + 2]
    groups = ["a", "a", "a", "b", "b"][:n + 2]
    got = typeset.best_rows(vals, within=groups)
    assert got == ([1] if n == 1 else [1, 3])


def test_every_page_folds_its_code_and_opens_with_its_provenance():
    """Issue 32, item 2: on every results page a shown code cell is folded (hide-input), never
    removed or open; the page opens with its title, one sentence, and one provenance line."""
    import nbformat

    from dissim.report.book import ALL_NOTEBOOKS, NOTEBOOK_DIR

    for path in (NOTEBOOK_DIR / f"{name}.ipynb" for name in ALL_NOTEBOOKS):
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        for c in code:
            tags = c.metadata.get("tags", [])
            if "install" in tags:
                assert "remove-cell" in tags, path.name
                continue
            assert "hide-input" in tags, (path.name, c.source[:60])
            assert not {"remove-cell", "remove-input"} & set(tags), (path.name, tags)
            assert "views.show(" not in c.source, (path.name, c.source[:60])
        title = nb.cells[0].source.strip().split("\n\n")
        assert title[-2].splitlines()[-1].startswith("# ") and len(title) == 2, path.name
        # views.provenance, or a page's own (default_rule.provenance: a committed measurement)
        prov = [i for i, c in enumerate(nb.cells)
                if "views.provenance(" in c.source or "default_rule.provenance(" in c.source]
        assert len(prov) == 1, path.name
        between = [c for c in nb.cells[1:prov[0]] if c.cell_type == "markdown"]
        assert not between, path.name  # nothing shown between the title and the provenance
