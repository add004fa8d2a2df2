"""The archive pass on the dev server: a relationship closed by the real workflow is archived once (visibility lags
about a second), a second pass archives nothing, and verify then works from the archive alone."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import Engine
from temporalio.client import Client

from activities.notifications import LogSink, Notifier
from activities.publishing import KafkaPublisher
from audit.archive import archive_closed, load_archived
from audit.verify import Auditor
from domain import Actor, Role, Terminate, builtin_policy
from tests.cache import TEST_WORKFLOW_CACHE
from workers.settings import Settings
from workers.worker import build_worker
from workflows.client import MentorflowClient


async def test_archive_pass_archives_closed_relationships_once(
    temporal_client: Client, stack: Settings, kafka_topic: str, engine: Engine, tmp_path: object
) -> None:
    queue = f"audit-archive-{uuid.uuid4().hex[:8]}"
    publisher = KafkaPublisher(stack.kafka.bootstrap_servers, kafka_topic)
    worker = build_worker(
        temporal_client,
        task_queue=queue,
        publisher=publisher,
        notifier=Notifier(LogSink(tmp_path / "n.jsonl")),
        max_cached_workflows=TEST_WORKFLOW_CACHE,
    )  # type: ignore[operator]
    manager = Actor(id="mgr-1", role=Role.MANAGER)
    rid = f"r-{uuid.uuid4().hex[:10]}"
    async with worker:
        client = MentorflowClient(temporal_client, task_queue=queue)
        await client.propose(program="p", mentor="ana", mentee="bo", by=manager, relationship_id=rid,
                             policy=builtin_policy("mentoring-12m"))  # fmt: skip
        await client.send(rid, Terminate(command_id=str(uuid.uuid4()), actor=manager, reason_code="conduct"))
        await client.wait_closed(rid)
    await publisher.close()

    archived: list[str] = []
    for _ in range(50):  # visibility lags behind the close
        archived += (await archive_closed(temporal_client, engine, task_queue=queue)).archived
        if archived:
            break
        await asyncio.sleep(0.2)
    assert len(archived) == 1 and archived[0].startswith(f"relationship-{rid}/")
    again = await archive_closed(temporal_client, engine, task_queue=queue)
    assert (again.archived, again.already) == ([], 1)
    assert len(load_archived(engine, rid)) == 1

    auditor = Auditor(engine=engine, temporal=temporal_client, temporal_source="archive")
    auditor.bootstrap_servers, auditor.topic = stack.kafka.bootstrap_servers, kafka_topic
    report = await auditor.verify(rid)
    assert report.stores["temporal"].source.startswith("archived history")
    # the archived history carries every published envelope, and the code still replays it
    assert report.replay is not None and report.replay["ok"]
    assert report.to_dict()["stores"]["temporal"]["events"] == report.to_dict()["stores"]["kafka"]["events"] > 0
