"""The bulk writer: executemany with positional parameters straight to the driver, one interface per dialect.

:class:`BulkWriter` holds what both dialects share (statements built once per table and column set, every value
through the bind processor SQLAlchemy itself would use for its column, so the rows are identical to
``conn.execute(insert(table), rows)`` at a fraction of the per-parameter cost: SQLAlchemy's ``construct_params``
was a quarter of the batch). A dialect module (:mod:`.sqlite`, :mod:`.postgres`) says what differs: how an instant
is bound, whether ``SELECT … FOR UPDATE`` locks rows, which ``INSERT … ON CONFLICT`` construct upserts the funnel.

:class:`PendingWrites` collects one batch's inserts, updates and funnel counts, keyed by primary key, so an update of
a row inserted in the same batch folds into the insert, and every table is written with one executemany.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any, ClassVar

from sqlalchemy import Column, Connection, Dialect, Table

from projections.models import FUNNEL_COLUMNS, ProgramFunnel, table_of

__all__ = ["BulkWriter", "PendingWrites", "RefusedValue"]

Processor = Callable[[Any], Any]


class RefusedValue(ValueError):
    """A row the database would refuse, caught before it gets there: a second row with the same key in one batch
    (a database refuses it across batches), or on SQLite a text PostgreSQL refuses (longer than its column, a NUL),
    so both dialects project the same topic alike. A message's fault: its batch isolates it as poison."""


class BulkWriter:
    """Driver-level bulk statements for one dialect. One instance per (dialect, driver, paramstyle), shared by every
    engine and thread (:func:`projections.writer.writer_for`): everything it caches (statement strings, processors)
    is a pure function of the table metadata and the dialect, so a race only builds the same value twice."""

    locks_rows: ClassVar[bool] = False  # SELECT … FOR UPDATE takes row locks (else the engine holds the write lock)

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self.quote = dialect.identifier_preparer.quote
        self.processors: dict[Table, dict[str, Processor | None]] = {}
        self.result_processors: dict[Table, list[tuple[int, Processor]]] = {}
        self.statements: dict[tuple[Table, str, tuple[str, ...], tuple[str, ...]], str] = {}

    def bind_processor(self, column: Column[Any]) -> Processor | None:
        """What SQLAlchemy does to a value bound to ``column`` (a dialect may do the same faster, or check more)."""
        proc: Processor | None = column.type.dialect_impl(self.dialect).bind_processor(self.dialect)
        return proc

    def dialect_insert(self, table: Table) -> Any:
        """The dialect's ``INSERT`` construct (the one with ``on_conflict_do_update``)."""
        raise NotImplementedError

    def upsert_funnel(self, conn: Connection, funnel: Mapping[str, Mapping[str, int]]) -> None:
        """Add the batch's counts to ``program_funnel``, one row per program, creating the rows that are missing."""
        t = table_of(ProgramFunnel)
        rows = [{"program_id": program, **counts} for program, counts in sorted(funnel.items())]
        ins = self.dialect_insert(t)
        stmt = ins.on_conflict_do_update(
            index_elements=[t.c.program_id], set_={c: t.c[c] + ins.excluded[c] for c in FUNNEL_COLUMNS}
        )
        conn.execute(stmt, rows)

    def _processors(self, table: Table) -> dict[str, Processor | None]:
        procs = self.processors.get(table)
        if procs is None:
            procs = {}
            for col in table.columns:
                procs[col.name] = self.bind_processor(col)
            self.processors[table] = procs
        return procs

    def _params(self, table: Table, names: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[tuple[Any, ...]]:
        procs = self._processors(table)
        convert = [(i, proc) for i, name in enumerate(names) if (proc := procs[name]) is not None]
        if not convert:
            return [tuple(row) for row in rows]
        out = []
        for row in rows:
            values = list(row)
            for i, proc in convert:
                if (value := values[i]) is not None:
                    values[i] = proc(value)
            out.append(tuple(values))
        return out

    def select_in(self, conn: Connection, table: Table, column: str, keys: Sequence[Any]) -> list[dict[str, Any]]:
        """Every row of ``table`` whose ``column`` is in ``keys``, as dicts of the values SQLAlchemy would return
        (each column through its result processor)."""
        if not keys:
            return []
        names = tuple(c.name for c in table.columns)
        procs = self.result_processors.get(table)
        if procs is None:
            procs = self.result_processors[table] = [
                (i, proc)
                for i, col in enumerate(table.columns)
                if (proc := col.type.dialect_impl(self.dialect).result_processor(self.dialect, None)) is not None
            ]
        cols = ", ".join(self.quote(n) for n in names)
        marks = ", ".join([self.mark] * len(keys))
        stmt = f"SELECT {cols} FROM {self.quote(table.name)} WHERE {self.quote(column)} IN ({marks})"
        out = []
        for raw in conn.exec_driver_sql(stmt, tuple(keys)):
            values = list(raw)
            for i, process in procs:
                values[i] = process(values[i])
            out.append(dict(zip(names, values, strict=True)))
        return out

    def insert(self, conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """``INSERT`` every row (each with the keys of the first, as SQLAlchemy's executemany wants)."""
        if not rows:
            return
        names, params = self.rows_of(table, rows)
        key = (table, "insert", names, ())
        stmt = self.statements.get(key)
        if stmt is None:
            cols = ", ".join(self.quote(n) for n in names)
            marks = ", ".join([self.mark] * len(names))
            stmt = self.statements[key] = f"INSERT INTO {self.quote(table.name)} ({cols}) VALUES ({marks})"
        conn.exec_driver_sql(stmt, params)

    def rows_of(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        """The column names of the first row (in the table's order) and every row's values, bound for the driver."""
        names = tuple(c.name for c in table.columns if c.name in rows[0])
        get = itemgetter(*names)
        values = (get(row) for row in rows) if len(names) > 1 else ((get(row),) for row in rows)
        return names, self._params(table, names, values)

    def update(
        self, conn: Connection, table: Table, changes: Iterable[tuple[tuple[Any, ...], Mapping[str, Any]]]
    ) -> None:
        """``UPDATE`` the given columns of the rows with the given primary keys, one executemany per column set."""
        pk_names = tuple(c.name for c in table.primary_key.columns)
        by_shape: dict[tuple[str, ...], list[tuple[Any, ...]]] = defaultdict(list)
        for pk, values in changes:
            shape = tuple(sorted(values))
            by_shape[shape].append((*(values[n] for n in shape), *pk))
        for shape, rows in by_shape.items():
            key = (table, "update", shape, pk_names)
            stmt = self.statements.get(key)
            if stmt is None:
                sets = ", ".join(f"{self.quote(n)} = {self.mark}" for n in shape)
                where = " AND ".join(f"{self.quote(n)} = {self.mark}" for n in pk_names)
                stmt = self.statements[key] = f"UPDATE {self.quote(table.name)} SET {sets} WHERE {where}"
            conn.exec_driver_sql(stmt, self._params(table, shape + pk_names, rows))


class PendingWrites:
    """One batch's pending inserts and updates per table, keyed by primary key, and its funnel counts per program."""

    def __init__(self) -> None:
        self.inserts: dict[Table, dict[tuple[Any, ...], dict[str, Any]]] = defaultdict(dict)
        self.updates: dict[Table, dict[tuple[Any, ...], dict[str, Any]]] = defaultdict(dict)
        self.funnel: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(FUNNEL_COLUMNS, 0))

    def insert(self, table: Table, pk: tuple[Any, ...], row: dict[str, Any]) -> None:
        pending = self.inserts[table]
        if pk in pending:
            raise RefusedValue(f"duplicate key: {table.name} already has a row {pk!r}")
        pending[pk] = row

    def update(self, table: Table, pk: tuple[Any, ...], values: dict[str, Any]) -> None:
        pending = self.inserts[table].get(pk)
        if pending is not None:
            pending.update(values)
        else:
            self.updates[table].setdefault(pk, {}).update(values)

    def flush(self, conn: Connection, writer: BulkWriter) -> None:
        for table, rows in self.inserts.items():
            if rows:
                writer.insert(conn, table, list(rows.values()))
        for table, changes in self.updates.items():
            if changes:
                writer.update(conn, table, changes.items())
        if self.funnel:
            writer.upsert_funnel(conn, self.funnel)
