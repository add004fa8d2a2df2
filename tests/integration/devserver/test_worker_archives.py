"""`mentorflow worker` archives a closed relationship's workflow history into the audit store (DESIGN §7), so
verify still works after the namespace's retention has deleted it."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import create_engine

from audit.archive import archived_relationship_ids, load_archived
from domain import builtin_policy
from tests.cache import TEST_WORKFLOW_CACHE
from tests.integration.devserver.conftest import MANAGER, MENTEE, MENTOR, command
from workers.settings import Settings
from workers.worker import WorkerConfig, run_worker
from workflows.client import MentorflowClient


async def test_the_worker_archives_a_relationship_once_it_closed(
    stack: Settings, temporal_client, kafka_topic: str, sqlite_url: str
) -> None:  # type: ignore[no-untyped-def]
    queue = f"archive-{uuid.uuid4().hex[:8]}"
    stop, ready = asyncio.Event(), asyncio.Event()
    config = WorkerConfig(
        max_cached_workflows=TEST_WORKFLOW_CACHE,
        settings=stack,
        topic=kafka_topic,
        task_queue=queue,
        create_topic=False,
        archive_interval=0.5,
        database_url=sqlite_url,
    )
    worker = asyncio.create_task(run_worker(config, stop=stop, signals=(), ready=ready))
    engine = create_engine(sqlite_url)
    try:
        await asyncio.wait_for(ready.wait(), timeout=30)
        client = MentorflowClient(temporal_client, task_queue=queue)
        rid = f"r-{uuid.uuid4().hex[:10]}"
        await client.propose(
            program="prog-archive",
            mentor=MENTOR.id,
            mentee=MENTEE.id,
            by=MANAGER,
            relationship_id=rid,
            policy=builtin_policy("mentoring-12m"),
        )
        open_for_a_while = await client.state(rid)
        assert open_for_a_while.outcome is None
        await client.send(rid, command("Terminate", MANAGER, reason_code="conduct"))
        async with asyncio.timeout(30):
            while rid not in await asyncio.to_thread(archived_relationship_ids, engine):  # noqa: ASYNC110 (polls a DB)
                await asyncio.sleep(0.3)
        histories = await asyncio.to_thread(load_archived, engine, rid)
        assert histories and histories[0].workflow_id == f"relationship-{rid}"
        assert len(histories[0].events) > 3
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=30)
        engine.dispose()
