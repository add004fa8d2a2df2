"""Poison: a message between good ones is dead-lettered (the dead-letter topic with its error in the headers, and
``dead_letters``) and the partition goes on, whatever made it poison (decoding, validation, the database refusing
its row), on SQLite and PostgreSQL, in the projector and in a rebuild (in one process and in two). A database that
does not answer is not poison: the batch is retried."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, select
from sqlalchemy import exc as sa_exc

from domain import Envelope
from projections.apply import apply_batch, message_fault
from projections.db import make_engine, migrate, sqlite_path
from projections.decode import Message
from projections.models import PROJECTION_TABLES, DeadLetter, EventLog, Relationship
from projections.offsets import read_offsets
from projections.projector import Projector
from projections.rebuild import rebuild
from projections.snapshot import diff_snapshots, snapshot
from tests.integration.projections.conftest import headers_of, publish, read_topic
from tests.unit.projections.helpers import GROUP, TOPIC, memory_engine, messages_of, project
from tests.unit.projections.poison import PoisonCase, cases, history, records
from tests.unit.projections.scenarios import program


async def test_poison_between_two_good_messages(
    bootstrap: str, kafka_topic: str, dead_letter_topic: str, sqlite_url: str, unique_id: str
) -> None:
    history = program(200)[0]  # declined: proposed, stage changed, declined, stage changed, closed
    first, second = history[0], history[1]
    key = first.relationship_id
    poison = b'{"relationship_id": "' + key.encode() + b'", "seq": 2, "type": "Nonsense"'  # truncated JSON
    await publish(
        bootstrap,
        kafka_topic,
        [
            (key, first.to_bytes(), headers_of(first.to_json_dict())),
            (key, poison, [("type", b"Nonsense")]),
            (key, second.to_bytes(), headers_of(second.to_json_dict())),
        ],
    )
    migrate(sqlite_url)
    async with Projector(
        database_url=sqlite_url, bootstrap_servers=bootstrap, topic=kafka_topic, group_id=f"g-{unique_id}"
    ) as projector:
        metrics = await projector.run(until_caught_up=True)
    assert (metrics.applied, metrics.poison, metrics.dead_letters_published) == (2, 1, 1)

    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(Relationship.last_seq)).scalar_one() == 2
            assert conn.execute(select(EventLog.seq).order_by(EventLog.seq)).scalars().all() == [1, 2]
            (dead,) = conn.execute(select(DeadLetter.__table__)).all()
    finally:
        engine.dispose()
    assert (dead.kind, dead.offset, dead.message_value, dead.message_key) == ("poison", 1, poison, key)
    assert dead.error.startswith("undecodable")

    async with asyncio.timeout(30):
        (dlt,) = await read_topic(bootstrap, dead_letter_topic)
    assert (dlt.key, dlt.value) == (key.encode(), poison)
    assert dlt.headers["error"].decode() == dead.error
    assert dlt.headers["kind"] == b"poison"
    assert dlt.headers["source_topic"].decode() == kafka_topic
    assert dlt.headers["source_offset"] == b"1"
    assert dlt.headers["original_type"] == b"Nonsense"


# --- every kind of per-message failure, on SQLite and PostgreSQL ----------------------------------------------


def _clean_projection(h: tuple[Envelope, ...]) -> dict[str, list[tuple[object, ...]]]:
    engine = memory_engine()
    project(engine, messages_of([(e.relationship_id, e.to_bytes()) for e in h]))
    with engine.connect() as conn:
        return _comparable(conn)


def _comparable(conn: Connection) -> dict[str, list[tuple[object, ...]]]:
    """Every table but the dead letters, and the event log without its Kafka positions (the poisoned topic has
    more messages than the clean one)."""
    tables = tuple(t for t in PROJECTION_TABLES if t not in ("dead_letters", "event_log"))
    out = snapshot(conn, tables)
    log = select(EventLog.relationship_id, EventLog.seq, EventLog.hash, EventLog.envelope).order_by(EventLog.seq)
    out["event_log"] = [tuple(r) for r in conn.execute(log)]
    return out


def _assert_poison_isolated(conn: Connection, messages: list[Message], poison: list[PoisonCase]) -> None:
    dead = conn.execute(select(DeadLetter.offset, DeadLetter.kind, DeadLetter.error).order_by(DeadLetter.offset)).all()
    by_value = {m.value: m.offset for m in messages}
    assert [(o, k) for o, k, _ in dead] == sorted((by_value[p.value], "poison") for p in poison)
    errors = {o: e for o, _, e in dead}
    for p in poison:
        assert errors[by_value[p.value]].startswith(p.reasons), (p.name, errors[by_value[p.value]])
    assert read_offsets(conn, GROUP, [TOPIC]) == {(TOPIC, 0): len(messages)}


@pytest.mark.parametrize("batch", [1, 7, 10_000])
def test_every_poison_is_dead_lettered_and_the_partition_goes_on(database_url: str, batch: int) -> None:
    """Deep nesting, a text too long for its column, a NUL, a wrong hash, a key taken already: each dead-lettered
    (whatever the batch it falls in), the good event after it applied, nothing lost or counted twice."""
    h = history()
    poison = cases(h)
    messages = messages_of(records(h, poison), partitions=1)
    migrate(database_url)
    engine = make_engine(database_url, writer=True)
    try:
        results = project(engine, messages, batch=batch)
        assert sum(r.applied for r in results) == len(h)
        assert sum(r.count("poison") for r in results) == len(poison)
        assert [r.rejected for r in results if r.count("poison") != len(r.rejected)] == []
        with engine.connect() as conn:
            _assert_poison_isolated(conn, messages, poison)
            assert diff_snapshots(_comparable(conn), _clean_projection(h)) == []
    finally:
        engine.dispose()


async def _project_topic(database_url: str, bootstrap: str, topic: str, group: str | None) -> Projector:
    projector = Projector(database_url=database_url, bootstrap_servers=bootstrap, topic=topic, group_id=group)
    async with projector, asyncio.timeout(240):
        await projector.run(until_caught_up=True, poll_ms=200)
    return projector


async def test_the_projector_and_a_rebuild_dead_letter_every_poison_and_go_on(
    bootstrap: str, kafka_topic: str, dead_letter_topic: str, database_url: str, unique_id: str
) -> None:
    h = history()
    poison = cases(h)
    await publish(bootstrap, kafka_topic, [(k, v, []) for k, v in records(h, poison)])
    migrate(database_url)
    projector = await _project_topic(database_url, bootstrap, kafka_topic, f"g-{unique_id}")
    m = projector.metrics
    assert (m.applied, m.poison, m.dead_letters_published, m.errors) == (len(h), len(poison), len(poison), 0)
    async with asyncio.timeout(60):
        published = await read_topic(bootstrap, dead_letter_topic)
    assert sorted(d.value or b"" for d in published) == sorted(p.value for p in poison)

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            live = snapshot(conn)
            assert diff_snapshots(_comparable(conn), _clean_projection(h)) == []
        for processes in (1, 2):  # decoding here, and in a decode process (projections/pipeline.py)
            summary = await asyncio.wait_for(
                rebuild(database_url=database_url, bootstrap_servers=bootstrap, topic=kafka_topic, processes=processes),
                timeout=240,
            )
            assert (summary.processes, summary.applied, summary.rejected) == (processes, len(h), len(poison))
            with engine.connect() as conn:
                assert diff_snapshots(snapshot(conn), live) == []  # the rebuild found the same poison, the same rows
    finally:
        engine.dispose()


class _WriteLock:
    """Another session holds the lock every projector batch needs (SQLite's write lock; PostgreSQL's lock on the
    offsets, the first thing a batch locks) until :meth:`release`."""

    def __init__(self, database_url: str) -> None:
        self.release_actions: list[Callable[[], object]] = []
        path = sqlite_path(database_url)
        if path is not None:
            lite = sqlite3.connect(path, isolation_level=None)
            lite.execute("BEGIN IMMEDIATE")
            self.release_actions = [lambda: lite.execute("ROLLBACK"), lite.close]
            return
        engine = make_engine(database_url)
        conn = engine.connect()
        tx = conn.begin()
        conn.exec_driver_sql("LOCK TABLE projection_offsets IN EXCLUSIVE MODE")
        self.release_actions = [tx.rollback, conn.close, engine.dispose]

    def release(self) -> None:
        actions, self.release_actions = self.release_actions, []
        for action in actions:
            action()


def _impatient_engine(database_url: str) -> Engine:
    """A projector engine that gives up waiting for a lock after 0.2 s (not 60 s)."""
    if sqlite_path(database_url) is None:
        return make_engine(database_url, writer=True, connect_args={"options": "-c lock_timeout=200"})
    engine = make_engine(database_url, writer=True)

    @event.listens_for(engine, "connect")
    def _short_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=200")

    return engine


async def test_a_database_that_does_not_answer_is_retried_not_dead_lettered(
    bootstrap: str, kafka_topic: str, dead_letter_topic: str, database_url: str, unique_id: str
) -> None:
    h = history()
    await publish(bootstrap, kafka_topic, [(e.relationship_id, e.to_bytes(), []) for e in h])
    migrate(database_url)
    engine = _impatient_engine(database_url)
    lock = _WriteLock(database_url)
    projector = Projector(engine=engine, bootstrap_servers=bootstrap, topic=kafka_topic, group_id=f"g-{unique_id}")
    try:
        async with projector:
            serving = asyncio.create_task(projector.run(until_caught_up=True, poll_ms=200))
            async with asyncio.timeout(120):
                while True:  # two batches failed (and were retried) while the lock was held
                    if projector.metrics.errors >= 2:
                        break
                    await asyncio.sleep(0.05)
            assert projector.metrics.applied == 0
            lock.release()
            async with asyncio.timeout(120):
                metrics = await serving
    finally:
        lock.release()
        engine.dispose()
    assert (metrics.applied, metrics.poison, metrics.dead_letters_published) == (len(h), 0, 0)
    check = make_engine(database_url)
    try:
        with check.connect() as conn:
            assert conn.execute(select(DeadLetter.id)).all() == []
            assert diff_snapshots(_comparable(conn), _clean_projection(h)) == []
    finally:
        check.dispose()


def test_a_lost_connection_is_retried_not_dead_lettered(postgres_url: str) -> None:
    """The server ends the session mid-batch: the batch fails as a whole (nothing dead-lettered, nothing committed)
    and the retry applies every message."""
    h = history()
    messages = messages_of([(e.relationship_id, e.to_bytes()) for e in h], partitions=1)
    migrate(postgres_url)
    engine, admin = make_engine(postgres_url, writer=True), make_engine(postgres_url)
    try:
        with pytest.raises(sa_exc.OperationalError) as lost, engine.begin() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            with admin.connect() as other:
                other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)}, 30000)")
            apply_batch(conn, messages, group_id=GROUP)
        assert lost.value.connection_invalidated and not message_fault(lost.value)
        (result,) = project(engine, messages)
        assert (result.applied, result.rejected) == (len(h), [])
        with engine.connect() as conn:
            assert conn.execute(select(DeadLetter.id)).all() == []
    finally:
        engine.dispose()
        admin.dispose()
