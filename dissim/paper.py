"""The paper's published numbers, each with its provenance.

Nanni, Minchio, Brahnam, Sarraggiotto, Lumini, Sensors 2021, 21(17), 5809. The available copy of
the article lost most table bodies (Section 4): what survives is listed here exactly as printed,
and every cell that was lost is listed too, with ``value=None``, so that a table can say *which*
published numbers it cannot show.

These numbers are **reference values, never outputs**: nothing in :mod:`dissim` computes a
result from them. The book prints them only in the columns headed "paper".

Provenance tags: ``[P]`` the paper text, ``[INF]`` an inference,
``[UNKNOWN]`` not recoverable.

>>> published("Table 3", row="[12]")["value"].tolist()
[74.86, nan]
>>> lost_cells("Table 4")
16
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

__all__ = ["LOST", "PUBLISHED", "QUALITATIVE", "Published", "lost_cells", "published"]

#: Provenance of every cell whose number did not survive in the available copy.
LOST = "lost in the available copy"

_COLUMNS = ["table", "row", "column", "value", "provenance", "note"]


@dataclass(frozen=True)
class Published:
    """One cell of one of the paper's tables.

    Parameters
    ----------
    table : str
        ``"Table 1"`` .. ``"Table 4"``.
    row : str
        Row label as printed (``"Topology 1"``, ``"Fusion 1-4 + eCNN"``, ``"[12]"``); for Table 1
        the data set and sub-row (``"InfLar / FULLY"``).
    column : str
        Column label (``"InfLar"``, ``"Port"``, ``"Cross"``, ``"Topology 3"``).
    value : float or None
        The printed accuracy (%) or time, or ``None`` when the cell was lost or holds no number
        (for example "xxx *", did not converge).
    provenance : str
        Where the value comes from, with a provenance tag, or :data:`LOST`.
    note : str, optional
        What a reader must know to use the value (for example which sub-row it may be).
    """

    table: str
    row: str
    column: str
    value: float | None
    provenance: str
    note: str = ""


_SUBROW_NOTE = (
    "one of the four sub-rows (Top Cross+FULLY, Upper Triplet+FULLY, Lower 4-way fusion, "
    "Bottom +CrossDD); which one is unknown [UNKNOWN]"
)
_FUSION_NOTE = "average-rule fusion of the Bottom configuration of the listed topologies"


def _pairs(table: str, rows: dict[str, tuple[float, float]], prov: str, note: str):
    """Cells of a two-column (InfLar, Port) table."""
    return [
        Published(table, row, col, val, prov, note)
        for row, vals in rows.items()
        for col, val in zip(("InfLar", "Port"), vals, strict=True)
    ]


def _table1() -> list[Published]:
    datasets = ("BIRDz", "CAT", "InfLar", "RPE", "Port", "Avg")
    columns = ("Cross", "CrossDD", "Triplet", "Triplet+Cross", "Triplet+Cross+CrossDD")
    subrows = ("FULLY", "DEEPER", "FULLY+DEEPER")
    return [
        Published(
            "Table 1",
            f"{ds} / {sub}",
            col,
            None,
            LOST,
            "topology 1; each value fuses 4 SVMs (k = 15, 30, 45, 60) [P]",
        )
        for ds in datasets
        for sub in subrows
        for col in columns
    ]


def _table2() -> list[Published]:
    topologies = {
        "Topology 1": (86.94, 70.99),
        "Topology 2": (85.56, 68.73),
        "Topology 3": (79.44, 60.23),
        "Topology 4": (87.50, 69.69),
        "Topology 5": (84.03, 60.00),
        "Topology 6": (87.64, 73.48),
        "Topology 7": (79.44, 66.03),
        "Topology 8": (86.39, 65.58),
    }
    fusions = {
        "Fusion 1-4": (92.78, 75.09),
        "Fusion 1-6": (91.53, 74.45),
        "Fusion 1-8": (91.81, 74.98),
    }
    return _pairs("Table 2", topologies, "[P] Table 2", _SUBROW_NOTE) + _pairs(
        "Table 2", fusions, "[P] Table 2", _FUSION_NOTE
    )


def _table3() -> list[Published]:
    cells: list[Published] = []
    lost_rows = {
        "CNN #1": "one of four ImageNet CNNs; name lost [UNKNOWN]",
        "CNN #2": "one of four ImageNet CNNs; name lost [UNKNOWN]",
        "CNN #3": "one of four ImageNet CNNs; name lost [UNKNOWN]",
        "CNN #4": "one of four ImageNet CNNs; name lost [UNKNOWN]",
        "eCNN": "average rule of the four CNNs; below 94.44 (InfLar) and 86.84 (Port) [INF]",
        "[13]": "Nanni et al., Appl. Sci. 2020, 10, 8578",
        "[14]": "Nanni et al., Sensors 2021, 21, 1573",
    }
    for row, note in lost_rows.items():
        cells += [Published("Table 3", row, col, None, LOST, note) for col in ("InfLar", "Port")]
    ref12 = "Nanni et al., Appl. Sci. 2020, 10, 4176"
    cells += [
        Published("Table 3", "[12]", "InfLar", 74.86, "[P] Table 3", ref12),
        Published(
            "Table 3",
            "[12]",
            "Port",
            None,
            "[P] Table 3 prints 'xxx *'",
            f"{ref12}; did not converge",
        ),
    ]
    cells += _pairs(
        "Table 3",
        {
            "Fusion 1-4": (92.78, 75.09),
            "Fusion 1-6": (91.53, 74.45),
            "Fusion 1-8": (91.81, 74.98),
        },
        "[P] Table 3",
        "same values as Table 2",
    )
    cells += _pairs(
        "Table 3",
        {
            "Fusion 1-4 + eCNN": (94.44, 86.84),
            "Fusion 1-6 + eCNN": (94.44, 86.84),
            "Fusion 1-8 + eCNN": (94.31, 86.84),
        },
        "[P] Table 3",
        "sum rule of z-scored Fusion and eCNN scores",
    )
    return cells


def _table4() -> list[Published]:
    return [
        Published(
            "Table 4",
            loss,
            f"Topology {t}",
            None,
            LOST,
            "seconds to train one Siamese network, InfLar, GTX 1080, 3000 iterations [P]",
        )
        for loss in ("Cross", "Triplet")
        for t in range(1, 9)
    ]


#: Every published cell of Tables 1-4, surviving or lost (Table 1-1.5).
PUBLISHED: tuple[Published, ...] = tuple(_table1() + _table2() + _table3() + _table4())

#: The paper's qualitative claims per table (Table 1-1.4 "Text facts"; Section 4 of the paper).
QUALITATIVE: dict[str, list[str]] = {
    "Table 1": [
        "Triplet is similar to Cross on three data sets, better on InfLar and worse on CAT.",
        "The fusion of Cross and Triplet beats each single loss, except on CAT.",
        "The FULLY+DEEPER cells of Triplet+Cross and Triplet+Cross+CrossDD give the best average.",
    ],
    "Table 2": [
        "Except topology 6 on Port, Cross+FULLY is never the best sub-row.",
        "On average DEEPER boosts performance.",
        "Adding CrossDD helps topology 1 on InfLar but generally not the other topologies "
        "on InfLar.",
        "On Port, adding CrossDD generally improves performance.",
        "Changing the loss and the space builder helps an ensemble.",
    ],
    "Table 3": [
        "The proposed ensembles outperform the previous Siamese methods [12]-[14].",
        "On Port the CNNs remain clearly better than the Siamese ensembles.",
        "Fusion + eCNN beats eCNN alone on both data sets.",
        "On InfLar the best Siamese result (92.78) is comparable with a CNN.",
    ],
    "Table 4": [
        "Training times of one Siamese network per topology and loss, InfLar, GTX 1080.",
    ],
}


def published(table: str, **filters: str) -> pd.DataFrame:
    """The published cells of one table as a DataFrame.

    Parameters
    ----------
    table : str
        ``"Table 1"`` .. ``"Table 4"``.
    **filters : str
        Exact matches on ``row`` or ``column`` (``column="Port"``).

    Returns
    -------
    pandas.DataFrame
        Columns ``table, row, column, value, provenance, note``; lost cells have ``NaN`` value.

    Raises
    ------
    ValueError
        Unknown table or filter name.

    Examples
    --------
    >>> published("Table 2", column="InfLar", row="Fusion 1-4")["value"].item()
    92.78
    """
    tables = sorted({p.table for p in PUBLISHED})
    if table not in tables:
        raise ValueError(f"unknown table {table!r}; choose one of {', '.join(tables)}")
    bad = set(filters) - {"row", "column"}
    if bad:
        raise ValueError(f"unknown filter {sorted(bad)[0]!r}; use row= or column=")
    rows = [
        p
        for p in PUBLISHED
        if p.table == table and all(getattr(p, k) == v for k, v in filters.items())
    ]
    frame = pd.DataFrame([[getattr(p, c) for c in _COLUMNS] for p in rows], columns=_COLUMNS)
    frame["value"] = frame["value"].astype(float)
    return frame


def lost_cells(table: str) -> int:
    """How many cells of ``table`` were lost in the available copy of the paper."""
    return int((published(table)["provenance"] == LOST).sum())
