"""The PostgreSQL bulk writer: SQLAlchemy's own bind processors for every column (psycopg adapts instants itself),
row locks for ``SELECT … FOR UPDATE`` (the offsets a batch reads), and PostgreSQL's ``INSERT … ON CONFLICT`` for the
funnel."""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql

from projections.writer.base import BulkWriter

__all__ = ["PostgresWriter"]


class PostgresWriter(BulkWriter):
    locks_rows: ClassVar[bool] = True

    def dialect_insert(self, table: Table) -> Any:
        return postgresql.insert(table)
