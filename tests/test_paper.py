"""The published numbers equal SPEC 1.3-1.5 and carry provenance (dissim.paper)."""

from __future__ import annotations

import math

import pytest

from dissim.paper import LOST, PUBLISHED, QUALITATIVE, lost_cells, published


def _value(table: str, row: str, column: str) -> float:
    frame = published(table, row=row, column=column)
    assert len(frame) == 1, (table, row, column)
    return frame["value"].item()


@pytest.mark.parametrize(
    ("table", "row", "column", "expected"),
    [
        ("Table 2", "Topology 1", "InfLar", 86.94),
        ("Table 2", "Topology 6", "Port", 73.48),
        ("Table 2", "Topology 8", "InfLar", 86.39),
        ("Table 2", "Fusion 1-4", "InfLar", 92.78),
        ("Table 2", "Fusion 1-8", "Port", 74.98),
        ("Table 3", "[12]", "InfLar", 74.86),
        ("Table 3", "Fusion 1-6 + eCNN", "InfLar", 94.44),
        ("Table 3", "Fusion 1-8 + eCNN", "InfLar", 94.31),
        ("Table 3", "Fusion 1-4 + eCNN", "Port", 86.84),
    ],
)
def test_values_equal_spec(table, row, column, expected):
    assert _value(table, row, column) == expected


def test_table_sizes():
    assert len(published("Table 2")) == 22
    assert lost_cells("Table 1") == 6 * 3 * 5
    assert lost_cells("Table 2") == 0
    assert lost_cells("Table 3") == 14
    assert lost_cells("Table 4") == 16


def test_fusion_rows_agree_between_tables_2_and_3():
    for row in ("Fusion 1-4", "Fusion 1-6", "Fusion 1-8"):
        for col in ("InfLar", "Port"):
            assert _value("Table 2", row, col) == _value("Table 3", row, col)


def test_did_not_converge_is_not_a_number():
    frame = published("Table 3", row="[12]", column="Port")
    assert math.isnan(frame["value"].item())
    assert "did not converge" in frame["note"].item()


def test_every_entry_has_provenance():
    for p in PUBLISHED:
        assert p.provenance.strip(), p
        assert p.provenance == LOST or p.provenance.startswith("[P]"), p


def test_unknown_is_never_a_number():
    for p in PUBLISHED:
        if p.provenance == LOST:
            assert p.value is None, p
        if p.value is not None:
            assert isinstance(p.value, float) and 0 < p.value <= 100, p


def test_entries_are_unique_and_frozen():
    keys = [(p.table, p.row, p.column) for p in PUBLISHED]
    assert len(keys) == len(set(keys))
    with pytest.raises(AttributeError):
        PUBLISHED[0].value = 1.0  # type: ignore[misc]


def test_frame_shape_and_errors():
    frame = published("Table 2", column="Port")
    assert list(frame.columns) == ["table", "row", "column", "value", "provenance", "note"]
    assert len(frame) == 11
    with pytest.raises(ValueError, match="unknown table"):
        published("Table 9")
    with pytest.raises(ValueError, match="unknown filter"):
        published("Table 2", dataset="InfLar")


def test_qualitative_claims_cover_tables():
    assert set(QUALITATIVE) == {"Table 1", "Table 2", "Table 3", "Table 4"}
    assert all(QUALITATIVE[t] for t in QUALITATIVE)
