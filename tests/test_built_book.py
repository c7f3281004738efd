"""The built book travels (issue 17): run against a built ``_build/html`` by ``make check-html``.

``DISSIM_BUILT_BOOK`` names the built HTML folder; CI (``.ci/run``) sets it after building the
smoke book, where a missing folder fails instead of skipping. In a plain ``make test`` (no book
built yet) the module is skipped.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILT = os.environ.get("DISSIM_BUILT_BOOK")
requires_book = pytest.mark.skipif(not BUILT, reason="set DISSIM_BUILT_BOOK=_build/html "
                                "(make check-html) after building the book")

EXTERNAL = r"""(?:https?:)?//"""
ASSET_PATTERNS = [
    re.compile(r"""<script\b[^>]*\bsrc\s*=\s*["']?""" + EXTERNAL, re.I),
    re.compile(r"""<link\b[^>]*\bhref\s*=\s*["']?""" + EXTERNAL, re.I),
    re.compile(r"""@import\s+(?:url\()?\s*["']?""" + EXTERNAL, re.I),
    re.compile(r"""url\(\s*["']?""" + EXTERNAL, re.I),
]


def _html_dir() -> Path:
    path = Path(BUILT)
    path = path if path.is_absolute() else ROOT / path
    assert (path / "index.html").is_file(), f"no built book at {path}: run `make book` first"
    return path


def _pages() -> list[Path]:
    return sorted(_html_dir().rglob("*.html"))


def _result_pages() -> list[Path]:
    pages = [p for p in _pages() if "results" in p.relative_to(_html_dir()).parts[:2]
             and p.name != "index.html"]
    assert pages, "the built book has no result pages"
    return pages


def external_assets(text: str) -> list[str]:
    """Every script, style, font or import that ``text`` (HTML or CSS) loads from outside."""
    return [m.group(0) for pat in ASSET_PATTERNS for m in pat.finditer(text)]


def test_the_scanner_sees_external_assets():
    assert external_assets('<script src="https://cdn.x/mathjax.js"></script>')
    assert external_assets("<link rel='stylesheet' href='//fonts.x/css'>")
    assert external_assets("@import url(https://fonts.googleapis.com/css?family=Lato);")
    assert external_assets("src: url('https://x/f.woff2') format('woff2')")
    assert not external_assets('<script src="_static/mathjax/tex-chtml.js"></script>'
                                '<a href="https://doi.org/10.3390/s21175809">doi</a>')


@requires_book
def test_no_script_style_or_font_from_outside_the_book():
    found = {}
    for path in _pages() + sorted(_html_dir().rglob("*.css")):
        hits = external_assets(path.read_text(errors="replace"))
        if hits:
            found[str(path.relative_to(_html_dir()))] = hits[:3]
    assert not found, f"external URLs in the built book: {found}"
    # sphinx-thebe names a CDN script that only its "Live Code" button loads: no such button
    assert not [p for p in _pages() if "launch-thebe" in p.read_text(errors="replace")]


@requires_book
def test_mathjax_is_served_by_the_book():
    html = _html_dir()
    with_math = [p for p in _pages() if "mathjax" in p.read_text(errors="replace").lower()]
    assert with_math, "no page loads MathJax"
    for page in with_math:
        srcs = re.findall(r"""<script\b[^>]*\bsrc\s*=\s*["']([^"']*mathjax[^"']*)""",
                          page.read_text(errors="replace"), re.I)
        for src in srcs:
            assert (page.parent / src.split("?")[0]).is_file(), (page, src)
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()


@requires_book
def test_no_build_machine_path_on_any_page():
    forbidden = {str(ROOT), str(Path.home()) + "/", "site-packages", sys.prefix}
    found = {}
    for page in _pages():
        text = page.read_text(errors="replace")
        hits = sorted(f for f in forbidden if f in text)
        if hits:
            found[str(page.relative_to(_html_dir()))] = hits
    assert not found, f"pages show paths of the build machine: {found}"


@requires_book
def test_no_kernel_stderr_and_papermill_parameters_folded_on_pages():
    """No kernel stderr on a page; papermill's injected parameters (the values the page was
    computed with) are folded under a toggle, never shown open."""
    for page in _result_pages():
        text = page.read_text(errors="replace")
        assert "TqdmWarning" not in text and "Warning:" not in text, page
        assert "output stderr" not in text, f"{page} shows a kernel's stderr"
        for cell in re.findall(r'class="cell ([^"]*tag_injected-parameters[^"]*)"', text):
            assert "tag_hide-input" in cell.split(), f"{page} shows papermill's parameters open"


@requires_book
def test_executed_notebooks_have_no_kernel_warnings():
    """At the source: the executed notebooks' stderr holds progress bars, never a warning."""
    notebooks = [p for p in (ROOT / "book" / "results").rglob("*.ipynb")
                 if not p.name.startswith(".")]
    assert notebooks
    for nb in notebooks:
        for cell in json.loads(nb.read_text())["cells"]:
            for out in cell.get("outputs", []):
                if out.get("name") == "stderr":
                    text = "".join(out.get("text", ""))
                    assert "Warning" not in text, f"{nb.name}: {text[:200]}"


@requires_book
def test_no_citation_of_files_outside_the_repository():
    for page in _pages():
        text = page.read_text(errors="replace")
        assert not re.search(r"\bSPEC\b|DESIGN\.md", text), page


@requires_book
def test_mean_and_sd_stay_on_one_line():
    seen = 0
    for page in _result_pages():
        text = page.read_text(errors="replace")
        assert not re.search(r"\d \u00b1 \d", text), f"{page}: a breakable 'mean ± sd'"
        seen += len(re.findall(r"\d(?:\u00a0|&nbsp;|&#160;)\u00b1(?:\u00a0|&nbsp;|&#160;)\d",
                               text))
    assert seen, "no 'mean ± sd' cell found on the result pages"


@requires_book
def test_the_findings_on_the_first_page_link_to_built_pages():
    """The "What we found" table (dissim.report.findings) links each verdict to a claims page
    and each snapshot to its tables page; every such link opens a page of the built book."""
    page = _html_dir() / "book" / "intro.html"
    text = page.read_text(errors="replace")
    # the block opens the page, right under its title (issue 32: the summary line first)
    start, end = text.find("<h1"), text.find('id="what-this-book-is"')
    links = re.findall(r'href="(results/snapshots/[^"#]+)"', text[start:end])
    assert 0 < start < end and links, "no findings table with links on the first page"
    assert "comparisons," in text[start:end], "the summary line does not open the first page"
    missing = sorted({link for link in links if not (page.parent / link).is_file()})
    assert not missing, f"the findings link to pages that were not built: {missing}"
