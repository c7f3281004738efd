"""The built book in a real browser (issue 32): what a reader sees at 1280 and 1400 px.

Every page of the built book (``DISSIM_BUILT_BOOK``, as in ``tests/test_built_book.py``: skipped
when unset, failing when set but missing) is served from a loopback HTTP server on 127.0.0.1 and
loaded in headless Chromium (Debian's ``chromium`` + ``chromium-driver``, driven by selenium; never
a downloaded browser or driver). JavaScript in the page measures the rendered layout:

a. no table wider than the text column (``article.bd-article``) at 1280 and at 1400 px, nor
   overflowing a horizontally scrollable (or clipping) wrapper;
b. on result pages, no code cell input shown to the reader (folded or removed inputs are fine);
c. no header row whose cells are all empty (pandas' index-name row), in any table;
d. no figure shown below 55 % of its natural width.

Tables, inputs and images inside a closed ``<details>`` or not displayed are not counted (c also
counts folded rows: a reader who unfolds them sees them). Every offender is listed with page,
element and numbers. One browser serves the whole module. Where no browser can be started the
tests skip with the reason, except under ``DISSIM_REQUIRE_BROWSER=1`` (CI), where they fail.

``python tests/test_browser_book.py _build/html [--shots DIR PAGE ...]`` prints where a book
stands, and saves full-page screenshots at 1280 px of the named pages.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILT = os.environ.get("DISSIM_BUILT_BOOK")
REQUIRE = os.environ.get("DISSIM_REQUIRE_BROWSER") == "1"
CHROMIUM = Path(os.environ.get("DISSIM_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("DISSIM_CHROMEDRIVER", "/usr/bin/chromedriver"))
WIDTHS = (1280, 1400)
HEIGHT = 800
SHOT_MAX_HEIGHT = 12000
MIN_FIGURE_SCALE = 0.55
TOLERANCE_PX = 2
# No network here beyond the package registries: without these flags Chromium keeps trying
# (and failing) to reach Google's services.
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars",
)

requires_book = pytest.mark.skipif(not BUILT, reason="set DISSIM_BUILT_BOOK=_build/html "
                                   "(make check-html) after building the book")

# --- the checks: JavaScript run in the page ------------------------------------------------------

# Helpers shared by every check: whether an element is shown, and a short name for it.
JS_HELPERS = r"""
function shown(el) {
  const closed = el.closest('details:not([open])');
  if (closed) {
    const summary = el.closest('summary');
    if (!summary || summary.parentElement !== closed) return false;
  }
  if (el.checkVisibility && !el.checkVisibility({visibilityProperty: true})) return false;
  return el.getClientRects().length > 0;
}
function styleHidden(el) {
  for (let e = el; e && e !== document.body; e = e.parentElement) {
    const s = getComputedStyle(e);
    if (s.display === 'none' || s.visibility === 'hidden') return true;
  }
  return false;
}
function label(el) {
  let name = el.tagName.toLowerCase();
  if (el.id) name += '#' + el.id;
  const classes = Array.from(el.classList).slice(0, 3);
  if (classes.length) name += '.' + classes.join('.');
  const section = el.closest('section[id]');
  if (section) name += ' in #' + section.id;
  const text = (el.textContent || el.getAttribute('src') || '').replace(/\s+/g, ' ').trim();
  if (text) name += ' "' + text.slice(0, 50) + (text.length > 50 ? '...' : '') + '"';
  return name;
}
function column() { return document.querySelector('article.bd-article'); }
function columnWidth(col) {
  const s = getComputedStyle(col);
  return col.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
}
"""

# a. Tables wider than the text column, or overflowing a scrollable / clipping wrapper.
JS_WIDE_TABLES = JS_HELPERS + r"""
const tol = arguments[0];
const col = column();
if (!col) return [{element: 'page', detail: 'no article.bd-article: cannot measure the column'}];
const width = columnWidth(col);
const right = col.getBoundingClientRect().left + col.clientLeft
              + parseFloat(getComputedStyle(col).paddingLeft) + width;
const found = [];
for (const table of col.querySelectorAll('table')) {
  if (!shown(table)) continue;
  const box = table.getBoundingClientRect();
  const tableWidth = Math.max(table.scrollWidth, box.width);
  const problems = [];
  if (tableWidth > width + tol)
    problems.push(`table ${Math.round(tableWidth)} px > column ${Math.round(width)} px`);
  else if (box.right > right + tol)
    problems.push(`table ends ${Math.round(box.right - right)} px right of the column`);
  for (let e = table.parentElement; e && e !== col.parentElement; e = e.parentElement) {
    const overflow = getComputedStyle(e).overflowX;
    if (['auto', 'scroll', 'hidden', 'clip'].includes(overflow)
        && e.scrollWidth > e.clientWidth + tol) {
      problems.push(`${overflow} wrapper ${label(e).split(' ')[0]} scrollWidth ${e.scrollWidth}`
                    + ` > clientWidth ${e.clientWidth}`);
      break;
    }
  }
  if (problems.length) found.push({element: label(table), detail: problems.join('; ')});
}
return found;
"""

# b. Code cell inputs a reader sees (myst-nb: div.cell_input; any highlighted code in a cell that
#    is not an output).
JS_VISIBLE_INPUTS = JS_HELPERS + r"""
const col = column() || document.body;
const seen = new Set();
const found = [];
for (const el of col.querySelectorAll('div.cell_input, div.cell div.highlight')) {
  if (el.closest('.cell_output')) continue;
  const input = el.closest('div.cell_input') || el;
  if (seen.has(input)) continue;
  seen.add(input);
  if (!shown(input)) continue;
  const box = input.getBoundingClientRect();
  found.push({element: label(input),
              detail: `shown at ${Math.round(box.width)} x ${Math.round(box.height)} px`});
}
return found;
"""

# c. Header rows whose cells are all empty (pandas' index-name row), unless hidden by a style.
JS_EMPTY_HEADER_ROWS = JS_HELPERS + r"""
const found = [];
for (const row of document.querySelectorAll('thead tr')) {
  const cells = Array.from(row.querySelectorAll('th, td'));
  if (!cells.length || cells.some(c => c.textContent.trim() !== '')) continue;
  if (styleHidden(row)) continue;
  const table = row.closest('table');
  const index = Array.from(row.parentElement.children).indexOf(row);
  found.push({element: label(table),
              detail: `header row ${index + 1} of ${row.parentElement.children.length}: `
                      + `${cells.length} empty cells`});
}
return found;
"""

# d. Figures shown below a fraction of their natural width.
JS_SHRUNKEN_FIGURES = JS_HELPERS + r"""
const minScale = arguments[0];
const col = column() || document.body;
const found = [];
for (const img of col.querySelectorAll('img')) {
  if (!img.naturalWidth || !shown(img)) continue;
  const scale = img.clientWidth / img.naturalWidth;
  if (scale < minScale)
    found.push({element: 'img ' + (img.getAttribute('src') || '').split('/').pop()
                         + (img.closest('section[id]') ? ' in #' + img.closest('section[id]').id
                                                       : ''),
                detail: `shown ${img.clientWidth} px of ${img.naturalWidth} px natural`
                        + ` (${Math.round(100 * scale)} % < ${Math.round(100 * minScale)} %)`});
}
return found;
"""

# Wait until the page has settled: images loaded (lazy ones too), fonts, MathJax typeset.
JS_SETTLE = r"""
const done = arguments[arguments.length - 1];
const waits = Array.from(document.images).map(img => {
  img.loading = 'eager';
  return img.complete ? Promise.resolve() : new Promise(r => {
    img.addEventListener('load', r); img.addEventListener('error', r); });
});
const mj = window.MathJax && MathJax.startup && MathJax.startup.promise;
if (mj) waits.push(mj.catch(() => null));
if (document.fonts) waits.push(document.fonts.ready);
Promise.race([Promise.all(waits), new Promise(r => setTimeout(r, 8000))])
  .then(() => requestAnimationFrame(() => requestAnimationFrame(() => done(true))));
"""


def wide_tables(driver: Any) -> list[dict[str, str]]:
    """Check a: shown tables wider than the text column or than their scrolling wrapper."""
    return driver.execute_script(JS_WIDE_TABLES, TOLERANCE_PX)


def visible_code_inputs(driver: Any) -> list[dict[str, str]]:
    """Check b: code cell inputs shown to the reader (not folded, not display:none)."""
    return driver.execute_script(JS_VISIBLE_INPUTS)


def empty_header_rows(driver: Any) -> list[dict[str, str]]:
    """Check c: ``thead`` rows whose header cells are all empty text."""
    return driver.execute_script(JS_EMPTY_HEADER_ROWS)


def shrunken_figures(driver: Any) -> list[dict[str, str]]:
    """Check d: shown images below :data:`MIN_FIGURE_SCALE` of their natural width."""
    return driver.execute_script(JS_SHRUNKEN_FIGURES, MIN_FIGURE_SCALE)


# The checks' names, as the report and the tests list them.
CHECKS = (
    "a. table wider than the column @1280",
    "a. table wider than the column @1400",
    "b. visible code cell input (results pages)",
    "c. empty header row",
    "d. figure below 55 % of natural width",
)

# --- the browser ---------------------------------------------------------------------------------


def browser_unavailable() -> str | None:
    """Why no browser can be started here (one line), or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -r requirements.txt)"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.is_file():
            return f"no {path}: apt-get install -y chromium chromium-driver (as root)"
    return None


def _no_browser(reason: str) -> None:
    """Skip with ``reason``, or fail under ``DISSIM_REQUIRE_BROWSER=1``."""
    if REQUIRE:
        pytest.fail(f"DISSIM_REQUIRE_BROWSER=1 but no browser: {reason}", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Headless Chromium (system binary and driver, fresh profile) at 1280 x 800."""
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never download anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="dissim-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                 f"--window-size={WIDTHS[0]},{HEIGHT}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                              options=options)
    try:
        driver.set_script_timeout(20)
        driver.set_page_load_timeout(60)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def resize(driver: Any, width: int, height: int = HEIGHT) -> None:
    """Make the page's viewport ``width`` x ``height`` CSS px (the window's frame corrected)."""
    driver.set_window_size(width, height)
    inner_w, inner_h = driver.execute_script("return [innerWidth, innerHeight]")
    if (inner_w, inner_h) != (width, height):
        driver.set_window_size(2 * width - inner_w, 2 * height - inner_h)


def settle(driver: Any) -> None:
    """Wait for images, fonts and MathJax (at most 8 s), then two animation frames."""
    driver.execute_async_script(JS_SETTLE)


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on a loopback port; yields the base URL (ends with ``/``)."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """A static file handler that does not log every request to stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


# --- the book ------------------------------------------------------------------------------------


def book_pages(html: Path) -> list[str]:
    """Every page of the built book, relative to ``html``.

    Not Sphinx's static files or sources, its search page (no article: nothing of the book), nor
    a page that only redirects (jupyter-book's top ``index.html``).
    """
    pages = []
    for path in sorted(html.rglob("*.html")):
        rel = path.relative_to(html)
        if {"_static", "_sources", "_images"} & set(rel.parts) or rel == Path("search.html"):
            continue
        text = path.read_text(errors="replace")
        if "bd-article" not in text and 'http-equiv="refresh"' in text.lower():
            continue
        pages.append(str(rel))
    return pages


def is_result_page(rel: str) -> bool:
    """A result page, as ``tests/test_built_book.py``'s ``_result_pages`` defines them."""
    parts = Path(rel).parts
    return "results" in parts[:2] and Path(rel).name != "index.html"


def audit_page(driver: Any, url: str, result_page: bool) -> dict[str, list[dict[str, str]]]:
    """Load ``url`` at 1280 px, run every check, then check a again at 1400 px."""
    resize(driver, WIDTHS[0])
    driver.get(url)
    settle(driver)
    found = {
        "a. table wider than the column @1280": wide_tables(driver),
        "b. visible code cell input (results pages)":
            visible_code_inputs(driver) if result_page else [],
        "c. empty header row": empty_header_rows(driver),
        "d. figure below 55 % of natural width": shrunken_figures(driver),
    }
    resize(driver, WIDTHS[1])
    settle(driver)
    found["a. table wider than the column @1400"] = wide_tables(driver)
    return found


def audit_book(driver: Any, html: Path) -> dict[str, list[str]]:
    """Every check on every page: ``{check: ["page: element: numbers", ...]}``."""
    offenders: dict[str, list[str]] = {check: [] for check in CHECKS}
    with serve(html) as base:
        for rel in book_pages(html):
            for check, hits in audit_page(driver, base + rel, is_result_page(rel)).items():
                offenders[check] += [f"{rel}: {h['element']}: {h['detail']}" for h in hits]
    return offenders


def screenshot(driver: Any, url: str, path: Path, width: int = WIDTHS[0]) -> Path:
    """Save a full-page screenshot of ``url`` at ``width`` px (height capped at 12000 px)."""
    resize(driver, width)
    driver.get(url)
    settle(driver)
    height = driver.execute_script("return Math.max(document.body.scrollHeight, "
                                   "document.documentElement.scrollHeight)")
    resize(driver, width, min(int(height), SHOT_MAX_HEIGHT))
    settle(driver)
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    return path


# --- the tests -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    """One headless Chromium for the whole module (skip or fail where none can start)."""
    reason = browser_unavailable()
    if reason:
        _no_browser(reason)
    with contextlib.ExitStack() as stack:
        try:
            started = stack.enter_context(chromium())
        except Exception as err:  # any failure to start is reported the same way
            first = (str(err).strip().splitlines() or [""])[0]
            _no_browser(f"Chromium did not start: {type(err).__name__}: {first[:200]}")
        yield started


@pytest.fixture(scope="module")
def book_offenders(driver: Any) -> dict[str, list[str]]:
    """Every check's offenders on the built book (measured once for the module)."""
    path = Path(BUILT)
    html = path if path.is_absolute() else ROOT / path
    assert (html / "index.html").is_file(), f"no built book at {html}: run `make book` first"
    return audit_book(driver, html)


def _assert_none(offenders: dict[str, list[str]], check: str) -> None:
    found = offenders[check]
    assert not found, f"{check}: {len(found)} offender(s):\n  " + "\n  ".join(found)


@requires_book
@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
def test_no_table_wider_than_the_text_column(book_offenders: dict[str, list[str]], width: int):
    _assert_none(book_offenders, f"a. table wider than the column @{width}")


@requires_book
@pytest.mark.slow
def test_no_visible_code_input_on_result_pages(book_offenders: dict[str, list[str]]):
    _assert_none(book_offenders, "b. visible code cell input (results pages)")


@requires_book
@pytest.mark.slow
def test_no_empty_header_row(book_offenders: dict[str, list[str]]):
    _assert_none(book_offenders, "c. empty header row")


@requires_book
@pytest.mark.slow
def test_no_figure_shrunk_below_55_percent(book_offenders: dict[str, list[str]]):
    _assert_none(book_offenders, "d. figure below 55 % of natural width")


# The self-test: a page with exactly one offender per check, and a clean page.
SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="400" height="100">'
       '<rect width="400" height="100" fill="#48c"/></svg>')
PAGE = """<!DOCTYPE html><html><head><style>
body {{ margin: 0; }} article.bd-article {{ width: 600px; padding: 0 20px; }}
.scroll {{ overflow-x: auto; }}
</style></head><body><article class="bd-article"><section id="s">
<p>Text.</p>
{body}
<table><thead><tr><th></th><th>a</th></tr><tr style="display: none"><th></th><th></th></tr>
</thead><tbody><tr><th>x</th><td>1</td></tr></tbody>
</table>
<details><summary>folded</summary>
  <table style="width: 2000px"><tr><td>hidden</td></tr></table>
  <div class="cell"><div class="cell_input"><div class="highlight"><pre>folded = 1</pre></div></div>
  </div><img src="fig.svg" style="width: 10px">
</details>
<div style="display: none"><table style="width: 2000px"><tr><td>none</td></tr></table>
  <div class="cell"><div class="cell_input"><div class="highlight"><pre>x</pre></div></div></div>
</div>
<div class="cell"><div class="cell_output"><div class="output"><div class="highlight">
  <pre>an output</pre></div></div></div></div>
<img src="fig.svg" style="width: 400px"><img src="fig.svg" style="width: 300px">
</section></article></body></html>"""
DIRTY = """
<div class="scroll"><table style="width: 900px"><thead><tr><th>wide</th></tr></thead>
  <tr><td>w</td></tr></table></div>
<div class="cell"><div class="cell_input"><div class="highlight"><pre>shown = 1</pre></div></div>
  <div class="cell_output"><div class="output">out</div></div></div>
<table><thead><tr><th></th><th>b</th></tr><tr><th>&nbsp;</th><th></th></tr></thead>
  <tr><th>y</th><td>2</td></tr></table>
<img src="fig.svg" style="width: 100px">
"""


@pytest.fixture(scope="module")
def selftest_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny local site: dirty.html (one offender per check) and clean.html (none)."""
    folder = tmp_path_factory.mktemp("browser-selftest")
    (folder / "fig.svg").write_text(SVG)
    (folder / "dirty.html").write_text(PAGE.format(body=DIRTY))
    (folder / "clean.html").write_text(PAGE.format(body=""))
    return folder


@pytest.mark.parametrize("page, expected", [("dirty.html", 1), ("clean.html", 0)])
def test_each_check_finds_exactly_its_offender(driver: Any, selftest_site: Path, page: str,
                                               expected: int):
    with serve(selftest_site) as base:
        resize(driver, WIDTHS[0])
        driver.get(base + page)
        settle(driver)
        found = {name: fn(driver) for name, fn in [
            ("wide", wide_tables), ("inputs", visible_code_inputs),
            ("empty rows", empty_header_rows), ("figures", shrunken_figures)]}
    assert {name: len(hits) for name, hits in found.items()} == dict.fromkeys(found, expected), \
        found
    if expected:
        assert "900 px > column 600 px" in found["wide"][0]["detail"], found["wide"]
        assert "shown = 1" in found["inputs"][0]["element"]
        assert "header row 2 of 2" in found["empty rows"][0]["detail"]
        assert "100 px of 400 px" in found["figures"][0]["detail"]


# --- the report ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Print every check's offenders on a built book; optionally save full-page screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path, help="the built book, e.g. _build/html")
    parser.add_argument("--shots", type=Path, metavar="DIR",
                        help="save full-page screenshots at 1280 px of PAGE ... into DIR")
    parser.add_argument("pages", nargs="*", metavar="PAGE",
                        help="pages to screenshot, relative to html (e.g. book/intro.html)")
    args = parser.parse_intermixed_args(argv)
    if not (args.html / "index.html").is_file():
        parser.error(f"no built book at {args.html}")
    reason = browser_unavailable()
    if reason:
        parser.error(reason)
    with chromium() as driver:
        offenders = audit_book(driver, args.html)
        for check, found in offenders.items():
            print(f"== {check}: {len(found)}")
            for line in found:
                print(f"  {line}")
        if args.shots:
            with serve(args.html) as base:
                for rel in args.pages:
                    name = rel.replace("/", "__").removesuffix(".html") + ".png"
                    print(f"screenshot: {screenshot(driver, base + rel, args.shots / name)}")
    return 1 if any(offenders.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
