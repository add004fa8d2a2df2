"""The payload codec on the live stack: a relationship driven through a codec-encrypting client and worker leaves no
readable payload in its Temporal history or the archive (not even the envelopes' hashes), and still verifies
three-way and replays for an auditor holding the key; an auditor with another key is told so."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from activities.notifications import LogSink, Notifier
from activities.publishing import KafkaPublisher
from audit.archive import load_archived
from audit.temporal import decode_histories, envelope_records, fetch_histories
from domain import AcceptMatch, Actor, Role, builtin_policy
from projections.db import make_engine, migrate
from projections.projector import Projector
from service.audit import AuditService
from tests.cache import TEST_WORKFLOW_CACHE
from tests.outbox import wait_published
from workers.settings import Settings
from workers.worker import build_worker
from workflows.client import MentorflowClient, new_command_id
from workflows.codec import AesGcmCodec
from workflows.connection import connect

pytestmark = pytest.mark.integration


async def _client(stack: Settings, codec: AesGcmCodec | None) -> Client:
    return await connect(stack.temporal.address, stack.temporal.namespace, codec=codec)


@pytest.mark.timeout(120)
async def test_payloads_are_encrypted_at_rest_and_the_audit_still_verifies(
    stack: Settings, kafka_topic: str, sqlite_url: str, unique_id: str, tmp_path: Path
) -> None:
    codec = AesGcmCodec(os.urandom(32))
    client = await _client(stack, codec)
    publisher = KafkaPublisher(stack.kafka.bootstrap_servers, kafka_topic)
    queue = f"codec-{unique_id}"[:100]
    worker = build_worker(
        client, task_queue=queue, publisher=publisher, notifier=Notifier(LogSink(tmp_path / "n.jsonl")),
        max_cached_workflows=TEST_WORKFLOW_CACHE,
    )  # fmt: skip
    rid = f"r-codec-{uuid.uuid4().hex[:10]}"
    mentor, mentee = Actor(id="ana-c", role=Role.MENTOR), Actor(id="bo-c", role=Role.MENTEE)
    async with worker:
        mf = MentorflowClient(client, task_queue=queue)
        started = await mf.propose(program="prog-codec", mentor=mentor.id, mentee=mentee.id,
                                   by=Actor(id="pm-c", role=Role.MANAGER), relationship_id=rid,
                                   policy=builtin_policy("mentoring-12m"))  # fmt: skip
        await mf.send(rid, AcceptMatch(command_id=new_command_id(), actor=mentor))
        await mf.send(rid, AcceptMatch(command_id=new_command_id(), actor=mentee))
        assert (await mf.state(rid)).accepted_by == (mentor.id, mentee.id)  # the client reads through the codec
        await wait_published(mf, rid)  # terminated, its backstop would publish nothing more
        await client.get_workflow_handle(f"relationship-{rid}").terminate("test over")
    await publisher.close()
    first_hash = started.events[0].hash
    histories = await fetch_histories(client, rid)
    raw = b"".join(e.SerializeToString() for h in histories for e in h.events)
    assert rid.encode() in raw  # the workflow id stays readable (Temporal routes by it)
    assert first_hash.encode() not in raw  # no envelope is readable in the stored history...
    assert envelope_records(histories) == []
    assert envelope_records(await decode_histories(histories, codec))  # ...but with the key, every one

    migrate(sqlite_url)
    async with Projector(database_url=sqlite_url, bootstrap_servers=stack.kafka.bootstrap_servers, topic=kafka_topic,
                         group_id=None, dead_letter_topic=None) as projector:  # fmt: skip
        await projector.run(until_caught_up=True)
    audit = AuditService.open(
        database_url=sqlite_url, bootstrap_servers=stack.kafka.bootstrap_servers, topic=kafka_topic, temporal=client,
        settle=0.5,
    )  # fmt: skip
    async with audit as a:
        report = await a.verify(rid)
    assert report.ok, report.lines()
    assert report.replay is not None and report.replay["ok"] and report.replay["runs"] == 1
    engine = make_engine(sqlite_url)
    archived = b"".join(e.SerializeToString() for h in load_archived(engine, rid) for e in h.events)
    engine.dispose()
    assert archived and first_hash.encode() not in archived  # the archive keeps the encrypted history

    other = await _client(stack, AesGcmCodec(os.urandom(32)))
    async with AuditService.open(database_url=sqlite_url, bootstrap_servers=stack.kafka.bootstrap_servers,
                                 topic=kafka_topic, temporal=other, settle=0.5) as a:  # fmt: skip
        report = await a.verify(rid)
    assert not report.ok and "CODEC_KEY" in "\n".join(report.lines())
