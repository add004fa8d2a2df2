"""A rebuild replays the whole topic into a new table-set generation and swaps it in while the live projector keeps
serving (and the topic keeps growing); afterwards the live tables equal a clean projection, and a rebuild of an
idle topic gives tables equal to the live ones."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import Engine, func, select

from projections.db import make_engine, migrate
from projections.models import ProjectionOffset
from projections.projector import Projector
from projections.rebuild import rebuild
from projections.snapshot import diff_snapshots, snapshot
from tests.integration.projections.conftest import end_offsets, program_records, publish
from tests.integration.projections.test_crash import _reference


async def _wait_applied(engine: Engine, group: str, count: int) -> None:
    async with asyncio.timeout(60):
        while _applied(engine, group) < count:  # noqa: ASYNC110 - polling another writer's table
            await asyncio.sleep(0.05)


def _applied(engine: Engine, group: str) -> int:
    with engine.connect() as conn:
        total = func.coalesce(func.sum(ProjectionOffset.next_offset), 0)
        return int(conn.execute(select(total).where(ProjectionOffset.group_id == group)).scalar_one())


async def test_rebuild_swaps_in_while_the_live_projector_serves(
    bootstrap: str, kafka_topic: str, dead_letter_topic: str, database_url: str, unique_id: str, tmp_path: Path
) -> None:
    records = program_records(200)
    first, rest = records[: len(records) * 2 // 3], records[len(records) * 2 // 3 :]
    await publish(bootstrap, kafka_topic, first)
    migrate(database_url)
    group = f"g-{unique_id}"
    stop = asyncio.Event()
    live = Projector(database_url=database_url, bootstrap_servers=bootstrap, topic=kafka_topic, group_id=group)
    await live.start()
    serving = asyncio.create_task(live.run(stop, poll_ms=100))
    engine = make_engine(database_url)
    try:
        await _wait_applied(engine, group, len(first))
        seen: list[int] = []
        result, _ = await asyncio.gather(
            rebuild(database_url=database_url, bootstrap_servers=bootstrap, topic=kafka_topic, progress=seen.append),
            publish(bootstrap, kafka_topic, rest),  # the topic grows during the rebuild
        )
        assert result.events == sum(seen) >= len(first)
        assert group in result.groups
        total = sum((await end_offsets(bootstrap, kafka_topic)).values())
        await _wait_applied(engine, group, total)
        stop.set()
        metrics = await serving
        assert metrics.errors == 0
        with engine.connect() as conn:
            after_swap = snapshot(conn)
        reference = await _reference(f"sqlite:///{tmp_path / 'reference.db'}", bootstrap, kafka_topic)
        assert diff_snapshots(after_swap, reference) == []
        assert len(after_swap["event_log"]) == len(records)

        # an idle topic: the rebuild equals the live tables
        again = await rebuild(database_url=database_url, bootstrap_servers=bootstrap, topic=kafka_topic)
        assert again.events == len(records) and again.rejected == 0
        with engine.connect() as conn:
            assert diff_snapshots(snapshot(conn), after_swap) == []
            offsets = dict(
                conn.execute(
                    select(ProjectionOffset.partition, ProjectionOffset.next_offset).where(
                        ProjectionOffset.group_id == group
                    )
                ).all()
            )
        assert offsets == await end_offsets(bootstrap, kafka_topic)
    finally:
        stop.set()
        await serving
        await live.stop()
        engine.dispose()


def _indexes(engine: Engine) -> list[tuple[str, str]]:
    from sqlalchemy import inspect

    found = []
    for table in inspect(engine).get_table_names():
        for ix in inspect(engine).get_indexes(table):
            found.append((table, f"{ix['name']} {ix['column_names']} unique={ix['unique']}"))
    return sorted(found)


def test_bulk_mode_defers_the_secondary_indexes_and_builds_them_again(database_url: str) -> None:
    """The generation loads without its non-unique indexes (the unique ones stay: they refuse a message's second row
    with the same key) and gets exactly the migrated set back before the swap."""
    from projections.rebuild import build_indexes, defer_indexes, drop_generation, prepare_generation

    migrate(database_url)
    engine, _ = prepare_generation(database_url)
    try:
        migrated = _indexes(engine)
        deferred = defer_indexes(engine)
        assert deferred, "the projection tables have secondary indexes to defer"
        during = _indexes(engine)
        assert all("unique=True" in ix for _, ix in during)
        assert [ix for ix in migrated if "unique=True" in ix[1]] == during
        build_indexes(engine, deferred)
        assert _indexes(engine) == migrated
    finally:
        engine.dispose()
        drop_generation(database_url)
