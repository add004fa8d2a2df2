"""The projection's bulk writer, one per dialect behind one interface (:class:`BulkWriter`).

:func:`writer_for` picks the dialect's writer from the explicit table ``WRITERS``. Process-wide cache: ``_BY_DIALECT``
(owned here, used only by :func:`writer_for`) keeps one writer per (dialect, driver, paramstyle), shared by every
engine and thread; safe because a writer caches only what follows from the table metadata and the dialect.
"""

from __future__ import annotations

from sqlalchemy import Connection

from projections.writer.base import BulkWriter, PendingWrites
from projections.writer.postgres import PostgresWriter
from projections.writer.sqlite import SqliteWriter

__all__ = ["WRITERS", "BulkWriter", "PendingWrites", "writer_for"]

WRITERS: dict[str, type[BulkWriter]] = {"sqlite": SqliteWriter, "postgresql": PostgresWriter}

_BY_DIALECT: dict[tuple[str, str, str], BulkWriter] = {}


def writer_for(conn: Connection) -> BulkWriter:
    """The bulk writer of ``conn``'s dialect (only SQLite and PostgreSQL are supported)."""
    dialect = conn.dialect
    key = (dialect.name, dialect.driver, dialect.paramstyle)
    writer = _BY_DIALECT.get(key)
    if writer is None:
        cls = WRITERS.get(dialect.name)
        if cls is None:
            raise NotImplementedError(f"no projection writer for the {dialect.name} dialect")
        writer = _BY_DIALECT[key] = cls(dialect)
    return writer
