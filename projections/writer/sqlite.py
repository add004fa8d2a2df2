"""The SQLite bulk writer: instants bound as text without SQLAlchemy's per-value machinery; the funnel upserted with
SQLite's ``INSERT … ON CONFLICT``. Rows are not locked (``SELECT … FOR UPDATE`` does not exist): the writer engine's
``BEGIN IMMEDIATE`` already holds the database's write lock for the whole batch.

SQLite stores any text in any column; PostgreSQL refuses a text longer than its ``VARCHAR(n)``. This writer refuses
the same (:class:`~projections.writer.base.RefusedValue`), so a message that is poison on one database is poison on
the other and both project a topic identically. (The other text PostgreSQL refuses, a NUL, never gets this far: the
decoder makes it poison on both.)

Process-wide cache: ``_INSTANT_TEXT`` (owned here, used only by :func:`sqlite_instant`) memoises the text of an
instant, which a batch binds several times (event log, relationship row, child rows). Safe to share between threads
and engines: the text is a pure function of the datetime (equal datetimes are the same instant, or the same naive
value), and the cache is bounded (cleared at ``_INSTANT_TEXT_MAX`` entries).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import Column, String, Table
from sqlalchemy.dialects import sqlite

from projections.models import UtcDateTime
from projections.writer.base import BulkWriter, Processor, RefusedValue

__all__ = ["SqliteWriter", "sqlite_instant"]

_INSTANT_TEXT: dict[datetime, str] = {}
_INSTANT_TEXT_MAX = 65_536


def sqlite_instant(value: datetime | None) -> str | None:
    """What :class:`UtcDateTime` + SQLAlchemy's SQLite ``DATETIME`` bind an instant as (naive UTC, microseconds
    always), without their per-parameter machinery. ``test_fast_sql_writes_the_same_bytes_as_sqlalchemy`` holds
    the two together."""
    if value is None:
        return None
    text = _INSTANT_TEXT.get(value)
    if text is None:
        utc = value if value.tzinfo is None or value.tzinfo is UTC else value.astimezone(UTC)
        text = utc.isoformat(" ", "microseconds")[:26]  # "YYYY-MM-DD HH:MM:SS.ffffff" (+ "+00:00", cut)
        if len(_INSTANT_TEXT) >= _INSTANT_TEXT_MAX:
            _INSTANT_TEXT.clear()
        _INSTANT_TEXT[value] = text
    return text


def _bounded(column: Column[Any], limit: int, then: Processor | None) -> Processor:
    """``then`` (or nothing) after refusing a text longer than ``limit``, as PostgreSQL's ``VARCHAR(limit)`` does."""
    where = f"{column.table.name}.{column.name}"

    def check(value: Any) -> Any:
        if type(value) is str and len(value) > limit:
            raise RefusedValue(f"value too long for {where}: {len(value)} characters, at most {limit}")
        return value if then is None else then(value)

    return check


class SqliteWriter(BulkWriter):
    locks_rows: ClassVar[bool] = False

    def bind_processor(self, column: Column[Any]) -> Processor | None:
        if isinstance(column.type, UtcDateTime):
            return sqlite_instant
        proc = super().bind_processor(column)
        limit = column.type.length if isinstance(column.type, String) else None
        return proc if limit is None else _bounded(column, limit, proc)

    def dialect_insert(self, table: Table) -> Any:
        return sqlite.insert(table)
