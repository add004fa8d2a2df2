"""3. Projection apply: events/s of ``mentorflow projections rebuild`` from a topic of 1,000,000 events, on SQLite
and on PostgreSQL, each against a raw aiokafka consumer that reads the same topic (and does nothing with it) right
before that rebuild (a baseline per rebuild: the machine's load moves between them).

The figure is the rebuild's own apply time (consume, decode and check every envelope, apply, write, commit with
the offsets) without the final swap into the live tables, which is reported beside it."""

from __future__ import annotations

import contextlib
import time

from benchmarks.common import BENCH_DIR, Result, settings, unique
from benchmarks.dataset import Dataset, dataset
from projections.kafka_access import kafka_options

NAME = "projection"
FULL_EVENTS = 1_000_000
SMOKE_EVENTS = 3_000


async def raw_consume(topic: str) -> tuple[int, float]:
    """A bare aiokafka consumer (same fetch settings as the projector) reading the topic to its end."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        **kafka_options(settings().kafka.access),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        total = sum(ends.values())
        started = time.perf_counter()
        seen = 0
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + 600
        while seen < total and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
            for records in batch.values():
                for r in records:  # touch what the projector touches first
                    _ = (r.key, r.value, r.headers)
                seen += len(records)
        return seen, time.perf_counter() - started
    finally:
        await consumer.stop()


def _create_pg_database() -> tuple[str, str]:
    import psycopg

    pg = settings().postgres
    name = unique("db").replace("-", "_")
    with psycopg.connect(
        host=pg.host, port=pg.port, user=pg.user, password=pg.password, dbname=pg.database, autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, pg.url(name)


def _drop_pg_database(name: str) -> None:
    import psycopg

    pg = settings().postgres
    with psycopg.connect(
        host=pg.host, port=pg.port, user=pg.user, password=pg.password, dbname=pg.database, autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _remove_sqlite(path: str) -> None:
    from pathlib import Path

    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()


async def rebuild_rate(ds: Dataset, database_url: str) -> tuple[float, float, int]:
    """(events/s of the apply, swap seconds, events applied)."""
    from projections.rebuild import rebuild

    result = await rebuild(
        database_url=database_url,
        **kafka_options(settings().kafka.access),
        topic=ds.topic,
        live_groups=[unique("group")],
    )
    if result.events < ds.events or result.rejected:
        raise RuntimeError(f"rebuild read {result.events} of {ds.events} events, rejected {result.rejected}")
    return result.events_per_second, result.swap_seconds, result.applied


async def raw_rate_of(ds: Dataset) -> float:
    seen, seconds = await raw_consume(ds.topic)
    if seen < ds.events:
        raise RuntimeError(f"the raw consumer read {seen} of {ds.events} events")
    return seen / seconds


async def run(smoke: bool) -> list[Result]:
    import asyncio

    ds = await dataset(SMOKE_EVENTS if smoke else FULL_EVENTS)
    size = f"{ds.events:,} events, {ds.relationships:,} relationships"
    results: list[Result] = []

    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    path = str(BENCH_DIR / f"{unique('projection')}.db")
    sqlite_url = f"sqlite:///{path}"
    try:
        raw_rate = await raw_rate_of(ds)
        rate, swap, applied = await rebuild_rate(ds, sqlite_url)
        results.append(
            Result(
                NAME,
                f"rebuild on SQLite ({size})",
                rate,
                "events/s",
                raw_rate,
                "raw aiokafka consumer, same topic",
                "≥ 45,000 events/s and ≥ 0.3 of raw",
                rate >= 45_000 and rate / raw_rate >= 0.3,
                note=f"{applied:,} applied; swap into live tables {swap:.1f} s",
            )
        )
    finally:
        await asyncio.to_thread(_remove_sqlite, path)
        await asyncio.to_thread(_remove_sqlite, path.replace(".db", ".rebuild.db"))

    name, pg_url = await asyncio.to_thread(_create_pg_database)
    try:
        raw_rate = await raw_rate_of(ds)
        rate, swap, applied = await rebuild_rate(ds, pg_url)
        results.append(
            Result(
                NAME,
                f"rebuild on PostgreSQL ({size})",
                rate,
                "events/s",
                raw_rate,
                "raw aiokafka consumer, same topic",
                "≥ 0.3 of raw",
                rate / raw_rate >= 0.3,
                note=f"{applied:,} applied; swap into live tables {swap:.1f} s",
            )
        )
    finally:
        await asyncio.to_thread(_drop_pg_database, name)
    return results
