"""The SQLite bulk writer: instants bound as text without SQLAlchemy's per-value machinery; the funnel upserted with
SQLite's ``INSERT … ON CONFLICT``. Rows are not locked (``SELECT … FOR UPDATE`` does not exist): the writer engine's
``BEGIN IMMEDIATE`` already holds the database's write lock for the whole batch.

Process-wide cache: ``_INSTANT_TEXT`` (owned here, used only by :func:`sqlite_instant`) memoises the text of an
instant, which a batch binds several times (event log, relationship row, child rows). Safe to share between threads
and engines: the text is a pure function of the datetime (equal datetimes are the same instant, or the same naive
value), and the cache is bounded (cleared at ``_INSTANT_TEXT_MAX`` entries).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import Column, Table
from sqlalchemy.dialects import sqlite

from projections.models import UtcDateTime
from projections.writer.base import BulkWriter, Processor

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


class SqliteWriter(BulkWriter):
    locks_rows: ClassVar[bool] = False

    def bind_processor(self, column: Column[Any]) -> Processor | None:
        if isinstance(column.type, UtcDateTime):
            return sqlite_instant
        return super().bind_processor(column)

    def dialect_insert(self, table: Table) -> Any:
        return sqlite.insert(table)
