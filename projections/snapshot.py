"""Row-by-row snapshots of the projection tables, to compare two projections of the same topic (a live one and a
rebuild, or a projection before and after a crash). Volatile columns (wall-clock bookkeeping and the dead-letter
row id) are left out; everything else must be identical."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from projections.models import PROJECTION_TABLES, Base

__all__ = ["VOLATILE_COLUMNS", "diff_snapshots", "snapshot"]

VOLATILE_COLUMNS: dict[str, frozenset[str]] = {
    "dead_letters": frozenset({"id", "recorded_at", "group_id"}),
}


def snapshot(conn: Connection, tables: tuple[str, ...] = PROJECTION_TABLES) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (sorted), without the volatile columns."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for name in tables:
        table = Base.metadata.tables[name]
        skip = VOLATILE_COLUMNS.get(name, frozenset())
        cols = [c for c in table.columns if c.name not in skip]
        rows = conn.execute(select(*cols)).all()
        out[name] = sorted((tuple(r) for r in rows), key=lambda r: tuple((v is None, str(v)) for v in r))
    return out


def diff_snapshots(
    a: dict[str, list[tuple[Any, ...]]], b: dict[str, list[tuple[Any, ...]]], limit: int = 5
) -> list[str]:
    """Human-readable differences (empty when identical)."""
    problems: list[str] = []
    for name in sorted(set(a) | set(b)):
        rows_a, rows_b = a.get(name, []), b.get(name, [])
        if rows_a == rows_b:
            continue
        set_a, set_b = set(rows_a), set(rows_b)
        only_a = sorted(set_a - set_b, key=str)[:limit]
        only_b = sorted(set_b - set_a, key=str)[:limit]
        problems.append(
            f"{name}: {len(rows_a)} vs {len(rows_b)} rows; only in the first: {only_a}; only in the second: {only_b}"
        )
    return problems
