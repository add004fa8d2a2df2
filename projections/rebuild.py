"""Rebuild the projections from the topic, while the live projector keeps serving (DESIGN §6).

The choice: **a new table-set generation in a separate namespace, then an atomic in-place swap of the contents.**

1. A fresh generation of every table is created by the same Alembic migrations, next to the live one:
   on SQLite a separate database file (``<live>.rebuild.db``), on PostgreSQL a separate schema
   (``mentorflow_rebuild``, reached through ``search_path``). The projection code is the same: only the engine
   differs.
2. A projector without a consumer group (every partition assigned, from offset 0, no dead-letter publishing: the
   live projector already published the poison) replays the topic into it, until every partition is at its end
   offset, then once more to pick up what arrived meanwhile.
3. The swap is ONE transaction on the live database: take the write lock (SQLite ``BEGIN IMMEDIATE`` on the live
   file with the generation ATTACHed; PostgreSQL ``LOCK TABLE projection_offsets, … IN EXCLUSIVE MODE``, offsets
   first, the table every projector batch locks first, so no deadlock), replace every table's rows with the new
   generation's, and set the live consumer groups' ``projection_offsets`` to the generation's offsets. Readers
   (reports, ``wait_for_seq``) never block and never see a half state (WAL / MVCC). The live projector waits for the
   lock during the swap; its next batch sees its offsets moved (the fence in ``apply_batch``), rolls back, seeks to
   the new offsets and carries on from there: nothing is lost, nothing applied twice.
4. The generation is dropped.

Bulk mode (the generation is thrown away unless the rebuild completes, so it needs no durability): the generation's
engine runs without durability (:func:`projections.db.make_engine` ``bulk=True``: SQLite's rollback journal in
memory and ``synchronous=OFF``, PostgreSQL's ``synchronous_commit=off``), and its secondary indexes (the non-unique
ones: no batch reads through them, and they decide nothing) are dropped after the migrations and built once after
the load, before the swap. Unique indexes and primary keys stay: they refuse what a message must not do (a second
row with the same key), so the rebuild projects exactly what the live projector does.

Why not rename tables: SQLite cannot rename across database files, index names are global per database, and the
Alembic-managed names would drift per generation. Copying costs one bulk ``INSERT … SELECT`` per table under the
lock, a few seconds per million events.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import Connection, Engine, make_url, text

from projections.db import is_sqlite, make_engine, migrate, sqlite_path
from projections.kafka_access import KafkaAddress, kafka_options
from projections.models import PROJECTION_TABLES, Base
from projections.offsets import read_offsets
from projections.pipeline import fewer_collections, run_pipeline
from projections.processes import PIPELINE_MIN_MESSAGES, second_process_pays
from projections.projector import ASSIGNED_GROUP, DEFAULT_GROUP, Projector

__all__ = ["PIPELINE_MIN_MESSAGES", "REBUILD_SCHEMA", "RebuildResult", "rebuild", "swap_in"]

REBUILD_SCHEMA = "mentorflow_rebuild"


@dataclass
class RebuildResult:
    events: int = 0
    applied: int = 0
    rejected: int = 0
    seconds: float = 0.0
    swap_seconds: float = 0.0
    generation: str = ""
    offsets: dict[int, int] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)
    processes: int = 1

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "applied": self.applied,
            "rejected": self.rejected,
            "seconds": round(self.seconds, 3),
            "swap_seconds": round(self.swap_seconds, 3),
            "events_per_second": round(self.events_per_second, 1),
            "generation": self.generation,
            "offsets": self.offsets,
            "groups": self.groups,
            "processes": self.processes,
        }


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _columns(table: str) -> list[str]:
    skip = {"id"} if table == "dead_letters" else set()
    return [c.name for c in Base.metadata.tables[table].columns if c.name not in skip]


def _generation_path(live_url: str) -> Path:
    live = sqlite_path(live_url)
    if live is None:
        raise ValueError("an in-memory SQLite database cannot be rebuilt (it has no second connection)")
    return live.with_name(f"{live.stem}.rebuild{live.suffix or '.db'}")


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()


def prepare_generation(live_url: str) -> tuple[Engine, str]:
    """A fresh, migrated, empty table-set generation; returns its writer engine and a description."""
    if is_sqlite(live_url):
        path = _generation_path(live_url)
        _remove_sqlite(path)
        url = str(make_url(live_url).set(database=str(path)))
        engine = make_engine(url, writer=True, bulk=True)
        migrate(engine)
        return engine, str(path)
    live = make_engine(live_url)
    try:
        with live.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {_q(REBUILD_SCHEMA)} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {_q(REBUILD_SCHEMA)}"))
    finally:
        live.dispose()
    engine = make_engine(live_url, writer=True, search_path=REBUILD_SCHEMA, bulk=True)
    migrate(engine)
    return engine, f"schema {REBUILD_SCHEMA}"


def _secondary_indexes(conn: Connection) -> list[tuple[str, str]]:
    """(name, CREATE statement) of every non-unique index of the generation (primary keys and unique indexes aside)."""
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name"
        )
    else:
        rows = conn.exec_driver_sql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() ORDER BY indexname"
        )
    return [(name, sql) for name, sql in rows if not sql.upper().startswith("CREATE UNIQUE")]


def defer_indexes(engine: Engine) -> list[tuple[str, str]]:
    """Drop the generation's secondary indexes; returns what :func:`build_indexes` builds again after the load."""
    with engine.begin() as conn:
        indexes = _secondary_indexes(conn)
        for name, _ in indexes:
            conn.exec_driver_sql(f"DROP INDEX {_q(name)}")
    return indexes


def build_indexes(engine: Engine, indexes: list[tuple[str, str]]) -> None:
    with engine.begin() as conn:
        for _, sql in indexes:
            conn.exec_driver_sql(sql)


def drop_generation(live_url: str) -> None:
    if is_sqlite(live_url):
        _remove_sqlite(_generation_path(live_url))
        return
    live = make_engine(live_url)
    try:
        with live.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {_q(REBUILD_SCHEMA)} CASCADE"))
    finally:
        live.dispose()


def swap_in(live_url: str, topic: str, offsets: dict[int, int], live_groups: list[str]) -> list[str]:
    """Replace the live tables' rows with the generation's and move the live groups' offsets, atomically.
    Returns the consumer groups whose offsets were set."""
    copy = []
    for table in PROJECTION_TABLES:
        cols = ", ".join(_q(c) for c in _columns(table))
        copy.append((table, cols))
    if is_sqlite(live_url):
        return _swap_sqlite(live_url, topic, offsets, live_groups, copy)
    return _swap_postgres(live_url, topic, offsets, live_groups, copy)


def _offset_rows(topic: str, offsets: dict[int, int], groups: list[str]) -> list[tuple[str, str, int, int]]:
    return [(g, topic, p, o) for g in groups for p, o in sorted(offsets.items())]


def _swap_sqlite(
    live_url: str, topic: str, offsets: dict[int, int], live_groups: list[str], copy: list[tuple[str, str]]
) -> list[str]:
    live = sqlite_path(live_url)
    assert live is not None
    db = sqlite3.connect(live, timeout=60, isolation_level=None)
    try:
        db.execute("PRAGMA busy_timeout=60000")
        db.execute("ATTACH DATABASE ? AS generation", (str(_generation_path(live_url)),))
        db.execute("BEGIN IMMEDIATE")
        try:
            existing = [
                r[0]
                for r in db.execute("SELECT DISTINCT group_id FROM main.projection_offsets WHERE topic = ?", (topic,))
            ]
            groups = sorted({*live_groups, *existing} - {ASSIGNED_GROUP})
            for table, cols in copy:
                db.execute(f"DELETE FROM main.{_q(table)}")
                db.execute(f"INSERT INTO main.{_q(table)} ({cols}) SELECT {cols} FROM generation.{_q(table)}")
            db.execute("DELETE FROM main.projection_offsets WHERE topic = ?", (topic,))
            db.executemany(
                "INSERT INTO main.projection_offsets (group_id, topic, partition, next_offset, updated_at) "
                "VALUES (?, ?, ?, ?, strftime('%Y-%m-%d %H:%M:%f', 'now'))",
                _offset_rows(topic, offsets, groups),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("DETACH DATABASE generation")
        return groups
    finally:
        db.close()


def _swap_postgres(
    live_url: str, topic: str, offsets: dict[int, int], live_groups: list[str], copy: list[tuple[str, str]]
) -> list[str]:
    live = make_engine(live_url)
    try:
        with live.begin() as conn:
            conn.execute(text("LOCK TABLE projection_offsets IN EXCLUSIVE MODE"))
            conn.execute(text(f"LOCK TABLE {', '.join(_q(t) for t, _ in copy)} IN EXCLUSIVE MODE"))
            existing = conn.execute(
                text("SELECT DISTINCT group_id FROM projection_offsets WHERE topic = :t"), {"t": topic}
            ).scalars()
            groups = sorted({*live_groups, *existing} - {ASSIGNED_GROUP})
            for table, cols in copy:
                conn.execute(text(f"DELETE FROM {_q(table)}"))
                conn.execute(
                    text(f"INSERT INTO {_q(table)} ({cols}) SELECT {cols} FROM {_q(REBUILD_SCHEMA)}.{_q(table)}")
                )
            conn.execute(text("DELETE FROM projection_offsets WHERE topic = :t"), {"t": topic})
            rows = _offset_rows(topic, offsets, groups)
            if rows:
                conn.execute(
                    text(
                        "INSERT INTO projection_offsets (group_id, topic, partition, next_offset, updated_at) "
                        "VALUES (:g, :t, :p, :o, timezone('utc', now()))"
                    ),
                    [{"g": g, "t": t, "p": p, "o": o} for g, t, p, o in rows],
                )
        return groups
    finally:
        live.dispose()


async def topic_size(bootstrap_servers: KafkaAddress, topic: str) -> int:
    """The number of messages in ``topic`` now (sum of end offsets; what a progress bar counts to)."""
    consumer = AIOKafkaConsumer(**kafka_options(bootstrap_servers), enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        return sum((await consumer.end_offsets(tps)).values()) if tps else 0
    finally:
        await consumer.stop()


async def _load(
    engine: Engine,
    bootstrap_servers: KafkaAddress,
    topic: str,
    max_records: int,
    on_batch: Callable[[Any, int], None],
    processes: int,
) -> None:
    if processes >= 2:
        await run_pipeline(
            engine=engine,
            bootstrap_servers=bootstrap_servers,
            topic=topic,
            group_id=ASSIGNED_GROUP,
            start={},
            max_records=max_records,
            on_batch=on_batch,
        )
    else:
        await _replay_here(engine, bootstrap_servers, topic, max_records, on_batch)


async def _replay_here(
    engine: Engine, bootstrap_servers: KafkaAddress, topic: str, max_records: int, on_batch: Callable[[Any, int], None]
) -> None:
    """The single-process replay: a projector without a consumer group, until caught up, twice."""
    projector = Projector(
        engine=engine,
        bootstrap_servers=bootstrap_servers,
        topic=topic,
        group_id=None,
        dead_letter_topic=None,
        max_records=max_records,
        client_id="mentorflow-rebuild",
        on_batch=on_batch,
    )
    async with projector:
        await projector.run(until_caught_up=True, poll_ms=200)
        await projector.run(until_caught_up=True, poll_ms=200)  # what arrived during the first pass


async def rebuild(
    *,
    database_url: str,
    bootstrap_servers: KafkaAddress,
    topic: str,
    live_groups: list[str] | None = None,
    max_records: int = 10_000,
    progress: Callable[[int], None] | None = None,
    swap: bool = True,
    processes: int | None = None,
) -> RebuildResult:
    """Replay ``topic`` from offset 0 into a new table-set generation and swap it in (see the module docstring).
    ``progress(n)`` is called after each batch with the number of messages it consumed. ``processes``: 2 decodes in a
    second process (:mod:`projections.pipeline`), 1 in this one; None chooses 2 when a core is idle and the topic
    holds at least ``PIPELINE_MIN_MESSAGES`` (:func:`projections.processes.second_process_pays`)."""
    await asyncio.to_thread(migrate, database_url)
    if processes is None:
        processes = 2 if second_process_pays(await topic_size(bootstrap_servers, topic)) else 1
    engine, generation = await asyncio.to_thread(prepare_generation, database_url)
    deferred = await asyncio.to_thread(defer_indexes, engine)
    result = RebuildResult(generation=generation, processes=processes)
    started = time.perf_counter()

    def on_batch(batch: Any, messages: int) -> None:
        result.events += messages
        result.applied += batch.applied
        result.rejected += len(batch.rejected)
        if progress is not None:
            progress(messages)

    try:
        with fewer_collections():
            await _load(engine, bootstrap_servers, topic, max_records, on_batch, processes)
        await asyncio.to_thread(build_indexes, engine, deferred)
        result.seconds = time.perf_counter() - started

        def offsets() -> dict[int, int]:
            with engine.connect() as conn:
                return {p: o for (_, p), o in read_offsets(conn, ASSIGNED_GROUP, [topic]).items()}

        result.offsets = await asyncio.to_thread(offsets)
    finally:
        engine.dispose()
    if swap:
        t0 = time.perf_counter()
        result.groups = await asyncio.to_thread(
            swap_in, database_url, topic, result.offsets, list(live_groups or [DEFAULT_GROUP])
        )
        result.swap_seconds = time.perf_counter() - t0
        await asyncio.to_thread(drop_generation, database_url)
    return result
