"""The bulk writer (driver-level executemany per dialect) stores and reads exactly what SQLAlchemy itself would."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, text

from projections.models import FUNNEL_COLUMNS, PROJECTION_TABLES, Base
from projections.writer import WRITERS, PendingWrites, writer_for
from projections.writer.base import RefusedValue
from projections.writer.postgres import PostgresWriter
from projections.writer.sqlite import SqliteWriter
from tests.unit.projections.helpers import as_topic, memory_engine, project
from tests.unit.projections.scenarios import program


def _raw_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            name: sorted(
                (tuple(r) for r in conn.exec_driver_sql(f'SELECT * FROM "{name}"')),
                key=lambda r: tuple((v is None, str(v)) for v in r),
            )
            for name in PROJECTION_TABLES
            if name != "dead_letters"
        }


def test_fast_sql_writes_the_same_bytes_as_sqlalchemy() -> None:
    """The projection's driver-level executemany stores exactly what SQLAlchemy's own insert of the same typed
    values stores (instants as SQLAlchemy's SQLite DATETIME text, booleans, floats, blobs)."""
    fast = memory_engine()
    project(fast, as_topic(program()[:60]), batch=300)
    reference = memory_engine()
    with fast.connect() as src, reference.begin() as dst:
        for name in PROJECTION_TABLES:
            table = Base.metadata.tables[name]
            rows = [dict(r) for r in src.execute(select(table)).mappings()]
            if rows:
                dst.execute(insert(table), rows)
    assert _raw_rows(fast) == _raw_rows(reference)
    with fast.connect() as conn:
        assert conn.execute(text("SELECT occurred_at FROM event_log LIMIT 1")).scalar_one().count(".") == 1


def test_fast_select_reads_what_sqlalchemy_reads() -> None:
    engine = memory_engine()
    project(engine, as_topic(program()[:60]), batch=300)
    table = Base.metadata.tables["relationships"]
    with engine.connect() as conn:
        reference = {r["relationship_id"]: dict(r) for r in conn.execute(select(table)).mappings()}
        ids = [*sorted(reference)[::3], "no-such-relationship"]
        fast = writer_for(conn).select_in(conn, table, "relationship_id", ids)
    assert {r["relationship_id"]: r for r in fast} == {k: reference[k] for k in ids if k in reference}
    for row in fast:
        expected = reference[row["relationship_id"]]
        assert [type(v) for v in row.values()] == [type(v) for v in expected.values()]


def test_one_writer_per_dialect_from_the_explicit_table() -> None:
    assert {"sqlite": SqliteWriter, "postgresql": PostgresWriter} == WRITERS
    engine = memory_engine()
    with engine.connect() as a, engine.connect() as b:
        assert type(writer_for(a)) is SqliteWriter
        assert writer_for(a) is writer_for(b)  # one per dialect, driver and paramstyle, shared


def test_the_sqlite_writer_refuses_a_text_longer_than_its_column_as_postgresql_does() -> None:
    engine = memory_engine()
    table = Base.metadata.tables["program_funnel"]
    with engine.begin() as conn:
        writer = writer_for(conn)
        counts = dict.fromkeys(FUNNEL_COLUMNS, 0)
        writer.insert(conn, table, [{"program_id": "p" * 200, **counts}])
        with pytest.raises(RefusedValue, match=r"program_funnel.program_id: 201 characters, at most 200"):
            writer.insert(conn, table, [{"program_id": "q" * 201, **counts}])
    with engine.connect() as conn:
        assert conn.execute(select(table.c.program_id)).scalars().all() == ["p" * 200]


def test_a_second_row_with_the_same_key_in_one_batch_is_refused_not_folded() -> None:
    """Across batches the database refuses it (IntegrityError): within one batch the pending writes do the same,
    so the outcome does not depend on where the batches are cut."""
    goals = Base.metadata.tables["goals"]
    pending = PendingWrites()
    pending.insert(goals, ("r-1", "g-1"), {"text": "first"})
    with pytest.raises(RefusedValue, match="duplicate key"):
        pending.insert(goals, ("r-1", "g-1"), {"text": "second"})
    pending.update(goals, ("r-1", "g-1"), {"completed_by": "m"})  # an update folds into the pending insert
    assert pending.inserts[goals][("r-1", "g-1")] == {"text": "first", "completed_by": "m"}
