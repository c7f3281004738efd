"""The book's table style: the paper's tables set to fit the text column (book: Results on real
images, every results page).

The paper sets its results long and narrow (Tables 1-4, Section 4): row labels on the left,
one number per data set, the best value in bold. The book's text column is 688 px wide at a
1280 px window, so every table here is set the same way with `great-tables
<https://posit-dev.github.io/great-tables/>`_: row groups (a topology, a claim) instead of
columns side by side, fixed decimals, numbers right-aligned, the best of a column in bold, a
source note under the table for what differs from the paper, a small font and tight padding,
and no pandas index-name row.

:func:`table` typesets a :class:`pandas.DataFrame` whose cells are numbers, text, or
:class:`Markup` made by :func:`mean_sd` and :func:`markup`; it returns a :class:`Table`, a
``great_tables.GT`` whose HTML is deterministic (its id comes from its content), keeps the
theme's font, loads nothing from outside the page, and styles only its own table. The views
of :mod:`dissim.report.views` and :mod:`dissim.report.claims` build on it.
"""

from __future__ import annotations

import hashlib
import html as _html
import math
import re
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from great_tables import GT, loc, md, style

__all__ = ["FONT_SIZE", "Markup", "Table", "best_rows", "markup", "mean_sd", "number",
           "small", "table"]

NBSP = "\u00a0"
#: The body font size: a little under the theme's prose, as the paper's tables are.
FONT_SIZE = "13px"
#: Grey of the secondary text in a cell (an sd, a "1 fold", a convergence count).
MUTED = "#5f6368"


class Markup(str):
    """A cell's HTML, trusted as it is (:func:`table` escapes every other text cell); its
    ``str`` is the HTML, :attr:`text` the same cell as plain text (for tests and printing)."""

    text: str

    def __new__(cls, html: str, text: str | None = None) -> Markup:
        obj = super().__new__(cls, html)
        obj.text = _text(html) if text is None else text
        return obj


def _text(html: str) -> str:
    """Plain text of a small piece of HTML: tags dropped, entities decoded."""
    return _html.unescape(re.sub(r"<br\s*/?>", " ", re.sub(r"<(?!br)[^>]+>", "", html)))


def markup(html: str) -> Markup:
    """``html`` as a trusted cell (:class:`Markup`)."""
    return Markup(html)


def small(text: str) -> str:
    """``text`` escaped, in the muted small type of a cell's secondary part."""
    return (f'<span style="font-size:85%;color:{MUTED}">{_html.escape(text)}</span>')


def number(value: float | None, decimals: int = 2, signed: bool = False) -> str:
    """``value`` with ``decimals`` fixed decimals ('' for a missing value); ``signed`` adds
    the sign, a value that rounds to zero reading +0.00 (never -0.00).

    >>> number(71.0213), number(None), number(-0.001, signed=True)
    ('71.02', '', '+0.00')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    v = round(float(value), decimals) + 0.0
    return f"{v:+.{decimals}f}" if signed else f"{v:.{decimals}f}"


def mean_sd(mean: float, sd: float | None = None, folds: int | None = None, *,
            decimals: int = 2, note: str = "") -> Markup:
    """A result cell: the mean and the sd with fixed decimals ('71.02 ± 1.58', one line:
    non-breaking spaces); one fold reads '71.02 1 fold' ('1 fold' small), never '± 0.00' (a
    single fold has no spread); ``note`` (e.g. '1/2 converged') follows, small, in the same
    cell.

    >>> mean_sd(71.0213, 1.5789).text, mean_sd(80.0, 0.0, 1).text
    ('71.02\\xa0±\\xa01.58', '80.00\\xa01\\xa0fold')
    """
    head = number(mean, decimals)
    if folds == 1:  # no spread from one fold: say so, small
        html = text = f"{head}{NBSP}"
        html, text = html + small(f"1{NBSP}fold"), text + f"1{NBSP}fold"
    elif sd is None or (isinstance(sd, float) and math.isnan(sd)):
        html = text = head
    else:  # plain text, so that 'mean ± sd' reads (and is searched) as one unbreakable unit
        html = text = f"{head}{NBSP}±{NBSP}{number(sd, decimals)}"
    if note:
        html += " " + small(note)
        text += " " + note
    return Markup(f'<span style="white-space:nowrap">{html}</span>'
                  if not note else html, text)


def best_rows(values: Sequence[float | None], within: Sequence | None = None,
              largest: bool = True) -> list[int]:
    """Positions of the best value (ties: all of them), over all ``values`` or within each
    group of ``within`` (same length); missing values never win. The paper marks the best
    value of a column in bold (Tables 1-3)."""
    vals = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    groups = list(within) if within is not None else [0] * len(vals)
    out = []
    for g in dict.fromkeys(groups):
        idx = [i for i, x in enumerate(groups) if x == g and np.isfinite(vals[i])]
        if not idx:
            continue
        top = max(vals[idx]) if largest else min(vals[idx])
        out += [i for i in idx if np.isclose(vals[i], top, rtol=0, atol=1e-9)]
    return sorted(out)


class Table(GT):
    """A ``great_tables.GT`` as the book shows it: its HTML (:meth:`as_raw_html`, the page's
    ``_repr_html_``) styles only its own table (great-tables' default CSS would strip the
    borders of every table on the page), uses the theme's font, and is the same on every
    run (the id is set by :func:`table`)."""

    def as_raw_html(self, inline_css: bool = False, make_page: bool = False,
                    all_important: bool = False) -> str:
        out = super().as_raw_html(inline_css=inline_css, make_page=make_page,
                                  all_important=all_important)
        tid = self._options.table_id.value
        if tid:
            out = out.replace(f"#{tid} thead, tbody, tfoot, tr, td, th {{",
                              f"#{tid} thead, #{tid} tbody, #{tid} tfoot, #{tid} tr, "
                              f"#{tid} td, #{tid} th {{")
            out = re.sub(r"(?m)^\s*tr \{", f" #{tid} tr {{", out)
            out = re.sub(rf"(#{tid} table \{{\s*)font-family:[^;]*;", r"\1font-family: inherit;",
                         out)
        return out

    def _repr_html_(self) -> str:
        return self.as_raw_html()

    @property
    def data(self) -> pd.DataFrame:
        """The table's cells as plain text (markup stripped), in its row order."""
        return self._tbl_data.map(lambda v: v.text if isinstance(v, Markup) else v)

    def to_string(self) -> str:
        """The cells as plain text, one line per row."""
        return self.data.to_string(index=False)


def _cell_formatter(decimals: int) -> Callable[[object], str]:
    def fmt(v: object) -> str:
        if isinstance(v, Markup):
            return str(v)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return ""
        if isinstance(v, float | np.floating):
            return number(float(v), decimals)
        return _html.escape(str(v))
    return fmt


def table(df: pd.DataFrame, *, stub: str | None = None, groups: str | None = None,
          spanners: Mapping[str, Sequence[str]] | None = None,
          labels: Mapping[str, str] | None = None,
          best: Mapping[str, Sequence[int]] | None = None,
          numbers: Sequence[str] | None = None, decimals: int = 2,
          notes: Sequence[str] = (), title: str | None = None, stubhead: str | None = None,
          width: str = "auto", widths: Mapping[str, str] | None = None) -> Table:
    """Typeset ``df`` in the book's table style (this module's docstring).

    Parameters
    ----------
    df : pandas.DataFrame
        The cells: numbers (set with ``decimals`` fixed decimals), text (escaped) or
        :class:`Markup`. A named index becomes columns, a plain 0, 1, 2 index is dropped:
        no index-name row is ever shown.
    stub : str, optional
        The column of row labels (left, in the stub).
    groups : str, optional
        The column whose values group the rows (a row-group heading per value, in the
        order of first appearance): how a wide table is set long.
    spanners : mapping, optional
        ``{label: columns}``: a heading over several columns (e.g. "published [P]").
    labels : mapping, optional
        ``{column: shown label}``.
    best : mapping, optional
        ``{column: row positions}`` set in bold: the best of a column or of a group, as the
        paper marks it (:func:`best_rows`).
    numbers : sequence of str, optional
        The columns right-aligned as numbers (default: the numeric columns).
    notes : sequence of str
        Source notes under the table (Markdown; what differs from the paper).
    title : str, optional
        A heading over the table.
    stubhead : str, optional
        The label over the stub.
    width : str
        The table's width: ``"auto"`` (as narrow as its cells) or ``"100%"``.
    widths : mapping, optional
        ``{column: CSS width}``.

    Returns
    -------
    Table
    """
    if any(name is not None for name in df.index.names):
        df = df.reset_index()
    df = df.reset_index(drop=True).copy()
    df.columns = [str(c) for c in df.columns]
    df.columns.name = None
    if numbers is None:
        numbers = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])
                   and c not in (stub, groups)]
    for c in df.columns:  # object columns keep Markup; numbers stay numbers
        if c not in numbers and df[c].dtype != object:
            df[c] = df[c].astype(object)
    key = hashlib.sha1(repr((df.map(str).values.tolist(), list(df.columns), stub, groups,
                             dict(spanners or {}), dict(labels or {}),
                             {k: list(v) for k, v in (best or {}).items()}, list(notes),
                             title)).encode()).hexdigest()[:10]
    gt = Table(df, rowname_col=stub, groupname_col=groups, id=f"dissim-{key}")
    body = [c for c in df.columns if c not in (stub, groups)]
    gt = gt.fmt(_cell_formatter(decimals), columns=body)
    if stub is not None:
        gt = gt.fmt(_cell_formatter(decimals), columns=[stub])
    for label, cols in (spanners or {}).items():
        gt = gt.tab_spanner(label=label, columns=list(cols))
    if labels:
        gt = gt.cols_label(cases={c: v for c, v in labels.items() if c in df.columns})
    left = [c for c in body if c not in numbers]
    if left:
        gt = gt.cols_align("left", columns=left)
    right = [c for c in body if c in numbers]
    if right:
        gt = gt.cols_align("right", columns=right)
    for col, rows in (best or {}).items():
        if rows:
            gt = gt.tab_style(style=style.text(weight="bold"),
                              locations=loc.body(columns=col, rows=list(rows)))
    if widths:
        gt = gt.cols_width(cases=dict(widths))
    if stubhead:
        gt = gt.tab_stubhead(label=stubhead)
    if title:
        gt = gt.tab_header(title=title)
    for note in notes:
        gt = gt.tab_source_note(md(note))
    return gt.tab_options(
        table_font_size=FONT_SIZE, table_width=width, container_width="100%",
        table_margin_left="0", table_margin_right="auto",
        heading_title_font_size="100%", heading_align="left",
        column_labels_font_weight="bold", column_labels_padding="3px",
        column_labels_padding_horizontal="6px",
        data_row_padding="2px", data_row_padding_horizontal="6px",
        row_group_padding="3px", row_group_padding_horizontal="6px",
        row_group_font_weight="bold", row_group_background_color="#f3f4f6",
        stub_border_width="1px", source_notes_font_size="12px",
        source_notes_padding="2px", source_notes_padding_horizontal="6px",
        table_border_top_width="2px", table_border_top_color="#333333",
        table_border_bottom_width="2px", table_border_bottom_color="#333333",
        column_labels_border_bottom_color="#333333",
        table_body_hlines_color="#e5e7eb",
    )
