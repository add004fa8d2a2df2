"""3. Projection apply: events/s of ``mentorflow projections rebuild`` from a topic of 1,000,000 events, on SQLite
and on PostgreSQL, each against a raw aiokafka consumer that reads the same topic (and does nothing with it) right
before that rebuild (a baseline per rebuild: the machine's load moves between them).

The figure is the rebuild's own apply time (consume, decode and check every envelope, apply, write, commit with
the offsets) without the final swap into the live tables, which is reported beside it, with the CPU time per event of
the writer and of its decode process (``projections/pipeline.py``) against the raw consumer's. On SQLite the full run
measures two processes, then one (A/B in the same run); ``--events N`` sets the topic's size."""

from __future__ import annotations

import contextlib
import resource
import time
from dataclasses import dataclass

from benchmarks.common import BENCH_DIR, Result, full_events, settings, unique
from benchmarks.dataset import Dataset, dataset
from projections.kafka_access import kafka_options, reader_options

NAME = "projection"
FULL_EVENTS = 1_000_000
SMOKE_EVENTS = 3_000


async def raw_consume(topic: str) -> tuple[int, float]:
    """A bare aiokafka consumer (same fetch settings as the projector) reading the topic to its end."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(**reader_options(settings().kafka.access))
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


@dataclass
class Rebuilt:
    rate: float  # events/s of the apply (wall time)
    swap: float  # seconds of the swap
    applied: int
    cpu_us: float  # CPU µs per event: this process (the writer) ...
    decode_cpu_us: float  # ... and its decode process (0 in one process)
    processes: int


async def rebuild_rate(ds: Dataset, database_url: str, processes: int) -> Rebuilt:
    from projections.rebuild import rebuild

    cpu, children = time.process_time(), _children_cpu()
    result = await rebuild(
        database_url=database_url,
        **kafka_options(settings().kafka.access),
        topic=ds.topic,
        live_groups=[unique("group")],
        processes=processes,
    )
    if result.events < ds.events or result.rejected:
        raise RuntimeError(f"rebuild read {result.events} of {ds.events} events, rejected {result.rejected}")
    per_event = 1e6 / result.events
    return Rebuilt(
        result.events_per_second,
        result.swap_seconds,
        result.applied,
        (time.process_time() - cpu) * per_event,
        (_children_cpu() - children) * per_event,
        result.processes,
    )


def _children_cpu() -> float:
    """CPU seconds of the finished child processes (the decode process, once joined)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def raw_rate_of(ds: Dataset) -> tuple[float, float]:
    """(events/s on wall time, CPU µs per event) of the raw consumer."""
    cpu = time.process_time()
    seen, seconds = await raw_consume(ds.topic)
    if seen < ds.events:
        raise RuntimeError(f"the raw consumer read {seen} of {ds.events} events")
    return seen / seconds, (time.process_time() - cpu) * 1e6 / seen


def _note(r: Rebuilt, raw_cpu_us: float) -> str:
    cpu = f"writer {r.cpu_us:.1f} µs" + (f" + decode process {r.decode_cpu_us:.1f} µs" if r.processes > 1 else "")
    return (
        f"{r.applied:,} applied; {r.processes} process(es); CPU per event {cpu} (whole command: migrations, index "
        f"build and swap included) against the raw consumer's {raw_cpu_us:.1f} µs; swap into live tables "
        f"{r.swap:.1f} s"
    )


async def run(smoke: bool) -> list[Result]:
    import asyncio

    ds = await dataset(SMOKE_EVENTS if smoke else full_events(FULL_EVENTS))
    size = f"{ds.events:,} events, {ds.relationships:,} relationships"
    results: list[Result] = []

    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    # A/B in the same run: two processes (decode and writer), then one (the full run only: smoke proves it runs)
    for processes in (2,) if smoke else (2, 1):
        path = str(BENCH_DIR / f"{unique('projection')}.db")
        try:
            raw_rate, raw_cpu = await raw_rate_of(ds)
            r = await rebuild_rate(ds, f"sqlite:///{path}", processes)
            results.append(
                Result(
                    NAME,
                    f"rebuild on SQLite, {processes} process{'es' if processes > 1 else ''} ({size})",
                    r.rate,
                    "events/s",
                    raw_rate,
                    "raw aiokafka consumer, same topic",
                    "≥ 45,000 events/s and ≥ 0.3 of raw",
                    r.rate >= 45_000 and r.rate / raw_rate >= 0.3,
                    note=_note(r, raw_cpu),
                )
            )
        finally:
            await asyncio.to_thread(_remove_sqlite, path)
            await asyncio.to_thread(_remove_sqlite, path.replace(".db", ".rebuild.db"))

    name, pg_url = await asyncio.to_thread(_create_pg_database)
    try:
        raw_rate, raw_cpu = await raw_rate_of(ds)
        r = await rebuild_rate(ds, pg_url, 2)
        results.append(
            Result(
                NAME,
                f"rebuild on PostgreSQL, 2 processes ({size})",
                r.rate,
                "events/s",
                raw_rate,
                "raw aiokafka consumer, same topic",
                "≥ 0.3 of raw",
                r.rate / raw_rate >= 0.3,
                note=_note(r, raw_cpu),
            )
        )
    finally:
        await asyncio.to_thread(_drop_pg_database, name)
    return results
