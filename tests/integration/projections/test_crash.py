"""``kill -9`` of a real projector process in mid-run, then a restart: the tables are identical, row by row, to a
clean projection of the topic; and the same after every event was delivered twice (the whole topic published
again)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine, func, select

from projections.db import make_engine, migrate
from projections.models import ProjectionOffset
from projections.projector import Projector
from projections.snapshot import diff_snapshots, snapshot
from tests.integration.projections.conftest import end_offsets, program_records, publish

ROOT = Path(__file__).resolve().parents[3]
MENTORFLOW = str(Path(sys.executable).with_name("mentorflow"))


def _spawn(url: str, topic: str, group: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            *(MENTORFLOW, "projector", "--database-url", url, "--topic", topic, "--group", group),
            *("--max-records", "50", "--session-timeout-ms", "6000", "--log-level", "WARNING", "--json"),
        ],
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _progress(engine: Engine, group: str) -> int:
    with engine.connect() as conn:
        stmt = select(func.coalesce(func.sum(ProjectionOffset.next_offset), 0)).where(
            ProjectionOffset.group_id == group
        )
        return int(conn.execute(stmt).scalar_one())


async def _wait_for(engine: Engine, group: str, at_least: int, proc: subprocess.Popen[bytes], log: Path) -> int:
    async with asyncio.timeout(60):
        while (done := _progress(engine, group)) < at_least:
            assert proc.poll() is None, _tail(log)
            await asyncio.sleep(0.01)
    return done


def _tail(log: Path) -> str:
    return log.read_text()[-3000:]


def _terminate(proc: subprocess.Popen[bytes], log: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, log.read_text()[-3000:]
    assert '"events_per_second"' in log.read_text()  # the final metrics of --json: it stopped after its batch


async def _reference(url: str, bootstrap: str, topic: str) -> dict[str, list[tuple[object, ...]]]:
    """A clean projection of the whole topic in a fresh database (no consumer group, from offset 0)."""
    migrate(url)
    async with Projector(
        database_url=url, bootstrap_servers=bootstrap, topic=topic, group_id=None, dead_letter_topic=None
    ) as projector:
        await projector.run(until_caught_up=True)
    return snapshot_of(url)


def snapshot_of(url: str) -> dict[str, list[tuple[object, ...]]]:
    """The projection tables of the database at ``url``, as :func:`projections.snapshot.snapshot` reads them."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return snapshot(conn)
    finally:
        engine.dispose()


async def test_kill_9_mid_batch_then_restart_equals_a_clean_projection(
    bootstrap: str, kafka_topic: str, dead_letter_topic: str, database_url: str, unique_id: str, tmp_path: Path
) -> None:
    records = program_records(200)
    await publish(bootstrap, kafka_topic, records)
    total = sum((await end_offsets(bootstrap, kafka_topic)).values())
    group = f"g-{unique_id}"
    log = tmp_path / "projector.log"
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        proc = _spawn(database_url, kafka_topic, group, log)
        killed_at = await _wait_for(engine, group, total // 3, proc, log)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
        assert killed_at < total, "the projector finished before it could be killed"

        proc = _spawn(database_url, kafka_topic, group, log)
        await _wait_for(engine, group, total, proc, log)
        _terminate(proc, log)
        with engine.connect() as conn:
            live = snapshot(conn)
        reference = await _reference(f"sqlite:///{tmp_path / 'reference-1.db'}", bootstrap, kafka_topic)
        assert diff_snapshots(live, reference) == []
        assert len(live["event_log"]) == len(records) and live["dead_letters"] == []

        # every event delivered twice: the whole topic published again
        await publish(bootstrap, kafka_topic, records)
        proc = _spawn(database_url, kafka_topic, group, log)
        await _wait_for(engine, group, 2 * total, proc, log)
        _terminate(proc, log)
        with engine.connect() as conn:
            live_twice = snapshot(conn)
        reference_twice = await _reference(f"sqlite:///{tmp_path / 'reference-2.db'}", bootstrap, kafka_topic)
        assert diff_snapshots(live_twice, reference_twice) == []
        assert diff_snapshots(live_twice, live) == []  # the second delivery changed nothing
    finally:
        engine.dispose()
