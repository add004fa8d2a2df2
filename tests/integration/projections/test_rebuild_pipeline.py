"""A rebuild in two processes (``projections/pipeline.py``) fails cleanly when either process fails: the decode
process killed mid-rebuild, or the writer failing, raises before the swap, leaves the live tables as they were and
leaves no process behind; the next rebuild then equals a clean projection."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from projections.db import migrate
from projections.pipeline import DECODE_PROCESS, PipelineFailed
from projections.rebuild import rebuild
from projections.snapshot import diff_snapshots
from tests.integration.projections.conftest import program_records, publish
from tests.integration.projections.test_crash import _reference, snapshot_of


def _decode_processes() -> list[multiprocessing.Process]:
    return [p for p in multiprocessing.active_children() if p.name == DECODE_PROCESS]  # type: ignore[misc]


class _Boom(Exception):
    pass


async def _rebuild_in_two(url: str, bootstrap: str, topic: str, progress: Callable[[int], None]) -> None:
    """A rebuild in two processes, in batches of 25 messages (the topic makes many), ``progress`` after each."""
    async with asyncio.timeout(120):
        await rebuild(
            database_url=url,
            bootstrap_servers=bootstrap,
            topic=topic,
            processes=2,
            max_records=25,
            progress=progress,
        )


async def test_either_process_failing_fails_the_rebuild_and_leaves_the_live_tables(
    bootstrap: str, kafka_topic: str, sqlite_url: str, tmp_path: Path
) -> None:
    records = program_records(40)
    await publish(bootstrap, kafka_topic, records)
    migrate(sqlite_url)
    first = await rebuild(database_url=sqlite_url, bootstrap_servers=bootstrap, topic=kafka_topic, processes=1)
    assert first.events == len(records)
    before = snapshot_of(sqlite_url)

    def kill_the_decode_process(_: int) -> None:  # after the first batch the writer applied
        for p in _decode_processes():
            assert p.pid is not None
            os.kill(p.pid, signal.SIGKILL)

    with pytest.raises(PipelineFailed, match="died"):
        await _rebuild_in_two(sqlite_url, bootstrap, kafka_topic, kill_the_decode_process)
    assert diff_snapshots(snapshot_of(sqlite_url), before) == []

    def the_writer_fails(_: int) -> None:
        raise _Boom("the writer failed")

    with pytest.raises(_Boom):
        await _rebuild_in_two(sqlite_url, bootstrap, kafka_topic, the_writer_fails)
    assert _decode_processes() == []  # stopped, not left decoding into a queue nobody reads
    assert diff_snapshots(snapshot_of(sqlite_url), before) == []

    again = await rebuild(database_url=sqlite_url, bootstrap_servers=bootstrap, topic=kafka_topic, processes=2)
    assert (again.processes, again.events, again.rejected) == (2, len(records), 0)
    reference = await _reference(f"sqlite:///{tmp_path / 'reference.db'}", bootstrap, kafka_topic)
    assert diff_snapshots(snapshot_of(sqlite_url), reference) == []
