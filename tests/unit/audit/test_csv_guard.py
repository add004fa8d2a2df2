"""CSV exports open in spreadsheets: a cell that starts like a formula must stay text (CSV injection)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from audit.history import csv_cell, export_csv
from domain import Envelope


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain goal", "plain goal"),
        ("a=b", "a=b"),
        ("", ""),
        (-5, -5),
        (3.5, 3.5),
        (None, None),
    ],
)
def test_csv_cell(value: object, shown: object) -> None:
    assert csv_cell(value) == shown


def test_the_export_guards_every_text_cell_and_keeps_the_envelope_verifiable(history: list[Envelope]) -> None:
    verification = {"ok": False, "differences": [{"seq": 1, "message": "=cmd|' /C calc'!A0"}]}
    rows = list(csv.DictReader(io.StringIO(export_csv("r-audit", history, verification, datetime.now(UTC)))))
    assert rows[0]["verification"] == "'=cmd|' /C calc'!A0"
    for row in rows:
        assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row.values())
    assert rows[0]["envelope"].encode() == history[0].to_bytes()
