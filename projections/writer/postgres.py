"""The PostgreSQL bulk writer: SQLAlchemy's own bind processors for every column (psycopg adapts instants itself),
row locks for ``SELECT … FOR UPDATE`` (the offsets a batch reads), and PostgreSQL's ``INSERT … ON CONFLICT`` for the
funnel.

On an engine made with ``execution_options={COPY_OPTION: True}`` (a rebuild's generation, :mod:`projections.rebuild`)
the inserts go through ``COPY … FROM STDIN`` instead of an executemany: the same rows, the same constraints checked
(a duplicate key fails the statement, and the batch's savepoints isolate the message as before). A driver error is
raised as SQLAlchemy's wrapper of it, as an executemany's would be, so a database that is down is still told apart
from a message's fault."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import psycopg
from sqlalchemy import Connection, Table
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql

from projections.writer.base import BulkWriter

__all__ = ["COPY_OPTION", "PostgresWriter"]

COPY_OPTION = "mentorflow_copy"


class PostgresWriter(BulkWriter):
    locks_rows: ClassVar[bool] = True

    def dialect_insert(self, table: Table) -> Any:
        return postgresql.insert(table)

    def insert(self, conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows or not conn.get_execution_options().get(COPY_OPTION):
            super().insert(conn, table, rows)
            return
        names, params = self.rows_of(table, rows)
        cols = ", ".join(self.quote(n) for n in names)
        statement = f"COPY {self.quote(table.name)} ({cols}) FROM STDIN"
        driver = conn.connection.driver_connection
        assert driver is not None
        try:
            with driver.cursor() as cursor, cursor.copy(statement) as copy:
                for row in params:
                    copy.write_row(row)
        except psycopg.Error as exc:
            raise sa_exc.DBAPIError.instance(statement, None, exc, psycopg.Error) from exc
