"""End to end: a real relationship through all four stages by the real RelationshipWorkflow (time-skipping test
server, real worker, real KafkaPublisher on the real broker), projected by the real projector into a test database.
verify passes on all three stores and archives the closed workflow's history; then each store is tampered with in
turn and verify names what and where — with three stores, the majority attributes every difference."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import Engine, text
from temporalio.client import Client
from temporalio.worker import Worker

from activities.notifications import LogSink, Notifier
from activities.publishing import KafkaPublisher
from audit.archive import load_archived
from audit.history import state_at
from audit.verify import Auditor
from benchmarks.seed import publish
from domain import Actor, Envelope, Role, builtin_policy, canonical_json, command_adapter
from domain.envelope import sha256_hex
from projections.projector import Projector
from tests.cache import TEST_WORKFLOW_CACHE
from workers.settings import Settings
from workers.worker import build_worker
from workflows.client import MentorflowClient

MANAGER = Actor(id="mgr-1", role=Role.MANAGER)
MENTOR = Actor(id="ana", role=Role.MENTOR)
MENTEE = Actor(id="bo", role=Role.MENTEE)


async def drive(env: Any, client: MentorflowClient, rid: str) -> None:
    from datetime import timedelta

    async def do(type_: str, actor: Actor, **fields: Any) -> None:
        cmd = command_adapter().validate_python(
            {"type": type_, "command_id": str(uuid.uuid4()), "actor": actor.model_dump(mode="json"), **fields}
        )
        await client.send(rid, cmd)

    async def meeting(actor: Actor) -> None:
        await do("LogMeeting", actor, held_at=(await env.get_current_time()).isoformat())

    await client.propose(
        program="prog-audit", mentor=MENTOR.id, mentee=MENTEE.id, by=MANAGER, relationship_id=rid,
        policy=builtin_policy("mentoring-12m"),
    )  # fmt: skip
    await do("AcceptMatch", MENTOR)
    await do("AcceptMatch", MENTEE)
    await do("SignAgreement", MENTOR, goals=["public speaking"], cadence="P2W")
    await do("SignAgreement", MENTEE, goals=["promotion case"], cadence="P2W")
    await env.sleep(timedelta(days=1))
    await meeting(MENTOR)
    await env.sleep(timedelta(days=20))
    await meeting(MENTEE)
    await env.sleep(timedelta(days=25))  # trial passed: cultivation
    await meeting(MENTOR)
    await do("ProposeSeparation", MENTOR, reason="goals met")
    await do("ConsentSeparation", MENTEE)
    await env.sleep(timedelta(days=31))  # wind-down over: redefinition
    await do("RecordRedefinition", MENTOR, outcome="collegial")
    await do("RecordRedefinition", MENTEE, outcome="collegial")
    await client.wait_closed(rid)


@pytest.fixture
async def world(
    own_time_skipping_env: Any, stack: Settings, kafka_topic: str, engine: Engine, sqlite_url: str, tmp_path: Any
) -> AsyncIterator[tuple[Client, str, str]]:
    env = own_time_skipping_env
    queue = f"audit-{uuid.uuid4().hex[:10]}"
    publisher = KafkaPublisher(stack.kafka.bootstrap_servers, kafka_topic)
    worker: Worker = build_worker(
        env.client,
        task_queue=queue,
        publisher=publisher,
        notifier=Notifier(LogSink(tmp_path / "n.jsonl")),
        max_cached_workflows=TEST_WORKFLOW_CACHE,
    )
    rid = f"r-{uuid.uuid4().hex[:10]}"
    async with worker:
        await drive(env, MentorflowClient(env.client, task_queue=queue), rid)
    await publisher.close()
    async with Projector(
        database_url=sqlite_url,
        bootstrap_servers=stack.kafka.bootstrap_servers,
        topic=kafka_topic,
        group_id=None,
        dead_letter_topic=None,
    ) as projector:
        await projector.run(until_caught_up=True)
    yield env.client, rid, kafka_topic


def auditor(stack: Settings, engine: Engine, client: Client, topic: str, **kw: Any) -> Auditor:
    """Tampered tails are read again for half a second only (a store behind would catch up; these never do)."""
    return Auditor(
        engine=engine, bootstrap_servers=stack.kafka.bootstrap_servers, topic=topic, temporal=client, settle=0.5, **kw
    )


def kinds(report: Any) -> list[tuple[str, str, int | None]]:
    return [(d.kind, d.store, d.seq) for d in report.differences]


async def test_real_relationship_verifies_then_each_tampered_store_is_named(
    world: tuple[Client, str, str], stack: Settings, engine: Engine, unique_id: str
) -> None:
    client, rid, topic = world
    report = await auditor(stack, engine, client, topic).verify(rid)
    assert report.ok, report.lines()
    n = report.to_dict()["stores"]["temporal"]["events"]
    assert n == report.to_dict()["stores"]["kafka"]["events"] == report.to_dict()["stores"]["event_log"]["events"]
    assert report.replay is not None and report.replay["ok"] and report.replay["runs"] == 1
    envelopes = await auditor(stack, engine, client, topic).envelopes(rid, "event_log")
    stages = [e.payload["to_stage"] for e in envelopes if e.type == "StageChanged"]
    assert {"initiation", "cultivation", "separation", "redefinition", "closed"} <= set(stages)

    # the closed workflow's history was archived by that verify; past retention, verify reads the archive
    assert len(load_archived(engine, rid)) == 1
    archived = await auditor(stack, engine, client, topic, temporal_source="archive").verify(rid)
    assert archived.ok and archived.stores["temporal"].source.startswith("archived history of relationship-")

    # replay --at from the event log agrees with the stages
    moved = next(e for e in envelopes if e.type == "StageChanged" and e.payload["to_stage"] == "cultivation")
    from datetime import timedelta

    before = state_at(envelopes, moved.occurred_at - timedelta(microseconds=1))
    after = state_at(envelopes, moved.occurred_at)
    assert (before.stage.value, after.stage.value) == ("initiation", "cultivation")

    seq = next(e.seq for e in envelopes if e.type == "MeetingLogged")

    # 1. event_log: a payload edited
    with engine.begin() as conn:
        raw = conn.execute(
            text("SELECT envelope FROM event_log WHERE relationship_id=:r AND seq=:s"), {"r": rid, "s": seq}
        ).scalar_one()
        data = json.loads(raw)
        data["payload"]["duration_minutes"] = 999
        conn.execute(
            text("UPDATE event_log SET envelope=:e WHERE relationship_id=:r AND seq=:s"),
            {"e": canonical_json(data).decode(), "r": rid, "s": seq},
        )
    report = await auditor(stack, engine, client, topic).verify(rid)
    assert kinds(report) == [("differs", "event_log", seq)]
    assert "from temporal, kafka" in report.differences[0].message
    assert "payload.duration_minutes: expected 60, found 999" in report.differences[0].message
    with engine.begin() as conn:  # put it back
        conn.execute(
            text("UPDATE event_log SET envelope=:e WHERE relationship_id=:r AND seq=:s"), {"e": raw, "r": rid, "s": seq}
        )

    # 2. Kafka: a forged event with a recomputed hash appended to the topic only — the majority names it extra
    last = envelopes[-1].to_json_dict()
    forged = {**last, "seq": last["seq"] + 1, "prev_hash": last["hash"], "event_id": str(uuid.uuid4())}
    forged["hash"] = sha256_hex(canonical_json({k: v for k, v in forged.items() if k != "hash"}))
    await publish(stack.kafka.bootstrap_servers, topic, [Envelope.from_json_dict(forged)])
    report = await auditor(stack, engine, client, topic).verify(rid)
    assert kinds(report) == [("extra", "kafka", last["seq"] + 1)]
    assert "not in temporal, event_log" in report.differences[0].message

    # 3. Kafka: an event missing (a doctored copy of the stream on another topic)
    from workers.services.kafka import ensure_topics

    other = f"{topic}.doctored"
    await ensure_topics(stack.kafka.bootstrap_servers, {other: 1})
    await publish(stack.kafka.bootstrap_servers, other, [e for e in envelopes if e.seq != seq])
    report = await auditor(stack, engine, client, other).verify(rid)
    assert kinds(report) == [("missing", "kafka", seq)]

    # 4. Temporal (its archive, past retention): an envelope in the history edited, and the history no longer
    #    replays once an activity's type is changed
    from audit.archive import ArchivedHistory

    with engine.begin() as conn:
        history = json.loads(
            conn.execute(text("SELECT history_json FROM audit_workflow_histories WHERE relationship_id=:r"), {"r": rid})
            .scalar_one()
        )  # fmt: skip
        edited = _edit_history(history, seq)
        conn.execute(
            ArchivedHistory.__table__.update()
            .where(ArchivedHistory.__table__.c.relationship_id == rid)
            .values(history_json=json.dumps(edited))
        )
    report = await auditor(stack, engine, client, topic, temporal_source="archive").verify(rid)
    assert ("differs", "temporal", seq) in kinds(report) and ("extra", "kafka", last["seq"] + 1) in kinds(report)
    temporal_diff = next(d for d in report.differences if d.store == "temporal")
    assert "payload.notes" in temporal_diff.message and temporal_diff.where is not None
    assert temporal_diff.where.startswith("run ") and " event " in temporal_diff.where  # run, history event, payload
    assert report.replay is not None and report.replay["ok"]  # inputs are not compared by the replayer: we do

    with engine.begin() as conn:
        conn.execute(
            ArchivedHistory.__table__.update()
            .where(ArchivedHistory.__table__.c.relationship_id == rid)
            .values(history_json=json.dumps(_rename_first_activity(history)))
        )
    report = await auditor(stack, engine, client, other, temporal_source="archive").verify(rid)
    assert not report.ok and report.replay is not None and not report.replay["ok"]
    assert any(d.kind == "replay" and "does not reproduce" in d.message for d in report.differences)


def _edit_history(history: dict[str, Any], seq: int) -> dict[str, Any]:
    """Edit the envelope ``seq`` wherever the history carries it (activity inputs, update results)."""
    history = copy.deepcopy(history)

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if "data" in node and isinstance(node.get("metadata"), dict) and "encoding" in node["metadata"]:
                value = json.loads(base64.b64decode(node["data"]))
                changed = _edit_value(value, seq)
                node["data"] = base64.b64encode(canonical_json(changed)).decode()
                return
            for v in node.values():
                visit(v)
        elif isinstance(node, list):
            for v in node:
                visit(v)

    visit(history)
    return history


def _edit_value(value: Any, seq: int) -> Any:
    if isinstance(value, dict):
        if value.get("seq") == seq and "prev_hash" in value:
            return {**value, "payload": {**value["payload"], "notes": "edited in the archive"}}
        return {k: _edit_value(v, seq) for k, v in value.items()}
    if isinstance(value, list):
        return [_edit_value(v, seq) for v in value]
    return value


def _rename_first_activity(history: dict[str, Any]) -> dict[str, Any]:
    history = copy.deepcopy(history)
    for event in history["events"]:
        attrs = event.get("activityTaskScheduledEventAttributes")
        if attrs:
            attrs["activityType"]["name"] = "not_the_publisher"
            break
    return history
