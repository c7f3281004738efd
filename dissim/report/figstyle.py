"""One style for every figure of the book: sized for its text column, legible, captioned.

The book is read at 1280 px, where the text column is 688 px wide. A figure drawn wider is
shrunk by the browser, and its 8-point labels become 5-6 px tall; so every figure here is
:data:`WIDTH` inches wide at :data:`DPI` dots per inch (680 px: shown at its natural size),
and no text in it is smaller than :data:`MIN_POINTS` (9 pt, 12.5 px at 100 dpi). Legends sit
outside the data, below the axes (:func:`legend_below`), and name every series drawn; each
panel has a title; tick labels come from locators that cannot crowd an axis
(:func:`count_axis`, :func:`few_ticks`). Under each figure the book states what to conclude
from it, in words computed from the data it shows (:func:`caption`).

Used as a decorator on the plotting functions of :mod:`dissim.report.views`,
:mod:`dissim.report.payoff` and :mod:`dissim.report.findings`:

>>> @styled
... def plot(values):
...     fig, ax = new_figure(height=2.0)
...     ax.plot(values, label="values")
...     ax.set_title("values")
...     legend_below(fig)
...     return fig
>>> fig = plot([1, 2, 3])
>>> fig.get_size_inches().tolist(), problems(fig)
([6.8, 2.0], [])
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import matplotlib as mpl
import matplotlib.pyplot as plt
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

__all__ = ["DPI", "MIN_POINTS", "RC", "WIDTH", "Caption", "caption", "count_axis", "dot",
           "few_ticks", "human", "legend_below", "new_figure", "pixels_wide", "problems", "styled",
           "tick_overlaps"]

#: Figure width (inches) and resolution: 6.8 in x 100 dpi = 680 px, inside the 688 px column.
WIDTH, DPI = 6.8, 100
#: The smallest font size of any text in a figure (points).
MIN_POINTS = 9.0
#: The rc settings every figure is drawn under (:func:`styled`).
RC: dict[str, Any] = {
    "figure.dpi": DPI, "savefig.dpi": DPI, "figure.figsize": (WIDTH, 3.4),
    "font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10,
    "xtick.labelsize": 9, "ytick.labelsize": 9, "legend.fontsize": 9,
    "legend.title_fontsize": 9, "figure.titlesize": 11,
    "figure.constrained_layout.use": True, "axes.grid": False,
}

F = TypeVar("F", bound=Callable[..., Any])


def styled(plot: F) -> F:
    """Decorate a plotting function so that everything it draws uses :data:`RC`.

    Interactivity is kept as the call leaves it: the first pyplot figure of a Jupyter kernel
    loads the inline backend, which turns interactive mode on, and restoring it with the other
    rcParams would leave every later figure of the notebook undrawn."""
    @functools.wraps(plot)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with mpl.rc_context(RC):
            out = plot(*args, **kwargs)
            interactive = mpl.is_interactive()
        mpl.interactive(interactive)
        return out
    return wrapper  # type: ignore[return-value]


def new_figure(nrows: int = 1, ncols: int = 1, height: float = 3.4, pyplot: bool = True,
               **subplots: Any) -> tuple[Figure, Any]:
    """A figure :data:`WIDTH` inches wide at :data:`DPI`, with constrained layout, and its axes.

    Parameters
    ----------
    nrows, ncols
        The grid of panels.
    height
        Height in inches.
    pyplot
        Create it through pyplot (shown by Jupyter at the end of a notebook cell); else a bare
        :class:`~matplotlib.figure.Figure` (no global state, for files written by a script).
    **subplots
        Passed to :meth:`~matplotlib.figure.Figure.subplots` (``sharex``, ``squeeze`` ...).

    Returns
    -------
    (Figure, Axes or array of Axes)
    """
    size = (WIDTH, height)
    if pyplot:
        fig = plt.figure(figsize=size, dpi=DPI, layout="constrained")
    else:
        fig = Figure(figsize=size, dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)  # a canvas that can draw, for the checks of :func:`problems`
    return fig, fig.subplots(nrows, ncols, **subplots)


def legend_below(fig: Figure, handles: Sequence[Artist] | None = None,
                 ncol: int | None = None, title: str | None = None) -> Legend | None:
    """One legend for the whole figure, below its axes (outside the data), naming every
    labelled series of every panel once (the first artist of each label), then ``handles``
    (extra entries, e.g. a dot for "one fold"). ``ncol`` defaults to what fits the width."""
    seen: dict[str, Artist] = {}
    for ax in fig.axes:
        hs, labels = ax.get_legend_handles_labels()
        for h, lab in zip(hs, labels, strict=True):
            seen.setdefault(lab, h)
    for h in handles or ():
        seen.setdefault(h.get_label(), h)
    if not seen:
        return None
    if ncol is None:
        longest = max(len(s) for s in seen)
        ncol = max(1, min(len(seen), int(WIDTH * 72 / (6 * longest + 40))))
    return fig.legend(list(seen.values()), list(seen), loc="outside lower center", ncol=ncol,
                      frameon=False, title=title)


def dot(label: str = "one fold", color: str = "black", size: float = 4) -> Line2D:
    """A legend entry drawn as a dot (the per-fold points of a bar chart)."""
    return Line2D([], [], ls="", marker="o", ms=size, color=color, label=label)


def human(value: float, _pos: int | None = None) -> str:
    """A count in few characters: 1600 -> '1.6k', 10000 -> '10k', 540000 -> '540k',
    2e6 -> '2M' (a tick formatter).

    >>> [human(v) for v in (0, 100, 1600, 10000, 540000, 2e6)]
    ['0', '100', '1.6k', '10k', '540k', '2M']
    """
    if value == 0:
        return "0"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1, "")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:g}"


def count_axis(ax: Axes, axis: str = "x") -> None:
    """A log axis of counts: ticks at each decade only, labelled 1k, 10k, 100k (:func:`human`);
    no minor labels, so labels cannot collide."""
    target = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    target.set_major_locator(LogLocator(base=10, numticks=12))
    target.set_major_formatter(FuncFormatter(human))
    target.set_minor_locator(LogLocator(base=10, subs=tuple(range(2, 10)), numticks=12))
    target.set_minor_formatter(NullFormatter())


def few_ticks(ax: Axes, x: int | None = 5, y: int | None = 5, integer: bool = False) -> None:
    """At most ``x`` / ``y`` major ticks on each linear axis (None leaves it)."""
    if x is not None:
        ax.xaxis.set_major_locator(MaxNLocator(x, integer=integer))
    if y is not None:
        ax.yaxis.set_major_locator(MaxNLocator(y))


class Caption(str):
    """A caption: markdown text that Jupyter displays as markdown (``_repr_markdown_``)."""

    def _repr_markdown_(self) -> str:
        return str(self)


def caption(*sentences: str) -> Caption:
    """The caption under a figure: its sentences, in italics after a bold "What it shows:"
    label, as markdown (:class:`Caption`; a notebook cell that evaluates to it displays it).

    >>> print(caption("A beats B.", "C is level."))
    **What it shows:** *A beats B. C is level.*
    """
    text = " ".join(s.strip() for s in sentences if s and s.strip())
    return Caption(f"**What it shows:** *{text}*")


def _ticklabels(axis: Any) -> list[Text]:
    """The tick labels an axis draws: visible, non-empty, of ticks inside its view."""
    lo, hi = sorted(axis.get_view_interval())
    out = []
    for tick in axis.get_major_ticks():
        loc = tick.get_loc()
        if loc is None or not lo - 1e-9 * abs(hi - lo) <= loc <= hi + 1e-9 * abs(hi - lo):
            continue
        out += [t for t in (tick.label1, tick.label2) if t.get_visible() and t.get_text()]
    return out


def _texts(fig: Figure) -> Iterable[Text]:
    """Every text ``fig`` draws: the drawn tick labels, and the other visible texts."""
    ticks = {id(t) for ax in fig.axes for a in (ax.xaxis, ax.yaxis)
             for tick in a.get_major_ticks() + a.get_minor_ticks()
             for t in (tick.label1, tick.label2)}
    drawn = [t for ax in fig.axes if ax.get_visible()
             for a in (ax.xaxis, ax.yaxis) for t in _ticklabels(a)]
    return drawn + [t for t in fig.findobj(Text) if id(t) not in ticks and t.get_visible()
                    and t.get_text().strip() and _shown(t)]


def _shown(t: Text) -> bool:
    """Whether ``t`` belongs to no hidden axes."""
    ax = t.axes
    return ax is None or ax.get_visible()


def tick_overlaps(fig: Figure) -> list[str]:
    """Pairs of visible tick labels of one axis whose drawn boxes overlap, as
    'axes i x: "a" / "b"'; empty when none do."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    out = []
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            shown = _ticklabels(axis)
            boxes = [t.get_window_extent(renderer) for t in shown]
            for j in range(len(boxes)):
                for k in range(j + 1, len(boxes)):
                    a, b = boxes[j], boxes[k]
                    if (min(a.x1, b.x1) - max(a.x0, b.x0) > 0.5
                            and min(a.y1, b.y1) - max(a.y0, b.y0) > 0.5):
                        out.append(f"axes {i} {name}: {shown[j].get_text()!r} / "
                                   f"{shown[k].get_text()!r}")
    return out


def problems(fig: Figure) -> list[str]:
    """What breaks this module's rules in ``fig``: wider than 6.9 in at 100 dpi, any text
    smaller than :data:`MIN_POINTS`, a legend inside an axes, a panel without a title,
    colliding tick labels, a text or legend reaching outside the figure; empty when none."""
    out = []
    w = fig.get_size_inches()[0] * fig.dpi / DPI
    if w > 6.9 + 1e-9:
        out.append(f"{w:.2f} in wide at {DPI} dpi")
    for t in _texts(fig):
        if t.get_fontsize() < MIN_POINTS - 1e-9:
            out.append(f"text {t.get_text()[:30]!r} at {t.get_fontsize():g} pt")
    for ax in fig.axes:
        if not ax.get_visible() or not ax.has_data():
            continue
        if ax.get_legend() is not None:
            out.append(f"legend inside axes {ax.get_title()!r}")
        if not ax.get_title():
            out.append("a panel without a title")
    out += tick_overlaps(fig)  # draws the figure
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    for a in [*_texts(fig), *fig.legends]:
        e = a.get_window_extent(renderer)
        if e.x0 < box.x0 - 1 or e.x1 > box.x1 + 1 or e.y0 < box.y0 - 1 or e.y1 > box.y1 + 1:
            what = a.get_text()[:30] if isinstance(a, Text) else "the legend"
            out.append(f"{what!r} reaches outside the figure")
    return out


def pixels_wide(fig: Figure) -> int:
    """The figure's width as saved (pixels)."""
    return math.ceil(fig.get_size_inches()[0] * fig.dpi)
