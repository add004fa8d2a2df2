"""Commands against the real dev server and the real Kafka broker: order and chain on the topic, idempotency,
refusals, concurrency, and the closed workflow."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import pytest

from domain import IllegalTransition, InvalidCommand, NotAParticipant, Outcome, RelationshipClosedError, verify_chain
from tests import outbox
from tests.integration.devserver.conftest import MANAGER, MENTEE, MENTOR, World, command
from tests.integration.topic import by_key, read_topic
from workflows.client import RelationshipBusy, RelationshipNotFound


async def wait_published(world: World, rid: str, seq: int, wait: float = 20.0) -> None:
    await outbox.wait_published(world.client, rid, seq, wait)


async def test_events_reach_the_topic_in_seq_order_with_a_valid_chain(world: World) -> None:
    rid, began = await world.propose_in_trial()
    for _ in range(5):
        await world.meeting(rid, began)
    await world.client.send(rid, command("SetGoal", MENTEE, text="negotiate the raise"))
    events = await world.client.events(rid)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    await wait_published(world, rid, events[-1].seq)
    records = by_key(await read_topic(world.settings.kafka.bootstrap_servers, world.topic, len(events)), rid)
    assert [r.value for r in records] == [e.to_bytes() for e in events]
    assert len({r.partition for r in records}) == 1  # key = relationship id: one partition, per-key order
    for record, envelope in zip(records, events, strict=True):
        assert dict(record.headers) == {
            "event_id": envelope.event_id.encode(),
            "type": envelope.type.encode(),
            "schema_version": str(envelope.schema_version).encode(),
            "seq": str(envelope.seq).encode(),
        }
    report = verify_chain(r.value for r in records)
    assert report.ok and report.checked == len(events), report
    assert report.last_hash == (await world.client.state(rid)).last_hash


async def test_the_same_command_id_twice_appends_once(world: World) -> None:
    rid, began = await world.propose_in_trial()
    command_id = str(uuid.uuid4())
    first = await world.meeting(rid, began, command_id)
    again = await world.meeting(rid, began, command_id)
    assert (again.first_seq, again.last_seq) == (first.first_seq, first.last_seq)
    assert [e.event_id for e in again.events] == [e.event_id for e in first.events]
    state = await world.client.state(rid)
    assert state.seq == first.last_seq and state.meetings == 1


async def test_an_illegal_command_returns_the_rule_and_appends_nothing(world: World) -> None:
    rid, began = await world.propose_in_trial()
    before = await world.client.state(rid)
    with pytest.raises(
        IllegalTransition, match=r"RecordRedefinition is not allowed in stage initiation \(allowed in: redefinition\)"
    ):
        await world.client.send(rid, command("RecordRedefinition", MENTOR, outcome="collegial"))
    with pytest.raises(NotAParticipant):
        await world.client.send(
            rid,
            command(
                "LogMeeting",
                command("AcceptMatch", MENTOR).actor.model_copy(update={"id": "stranger"}),
                held_at=began.isoformat(),
            ),
        )
    with pytest.raises(InvalidCommand, match="in the future"):
        await world.client.send(rid, command("LogMeeting", MENTOR, held_at="2999-01-01T00:00:00Z"))
    after = await world.client.state(rid)
    assert after.seq == before.seq and after.last_hash == before.last_hash
    history = await world.client.handle(rid).fetch_history()
    rejected = [e for e in history.events if e.HasField("workflow_execution_update_rejected_event_attributes")]
    assert rejected == []  # a validator rejection leaves nothing in the history


async def test_twenty_concurrent_commands_all_land(world: World) -> None:
    rid, began = await world.propose_in_trial()
    before = (await world.client.state(rid)).seq
    results = await asyncio.gather(*(world.meeting(rid, began) for _ in range(20)))
    seqs = sorted(r.first_seq for r in results)
    assert seqs == list(range(before + 1, before + 21))
    state = await world.client.state(rid)
    assert state.meetings == 20 and state.seq == before + 20


async def test_twenty_concurrent_commands_while_the_worker_is_away(world_factory) -> None:  # type: ignore[no-untyped-def]
    """No worker polls: Temporal admits 10 updates and refuses the rest (RESOURCE_EXHAUSTED); the client retries
    with backoff and jitter under the same update ids, so when the worker comes back all 20 land, once each."""
    world: World = world_factory()
    async with world.run_worker():
        rid, began = await world.propose_in_trial()
    before = 5 + 1 + 1 + 1  # proposed+stage, 2 accepts+stage, 2 signatures+trial+goal+stage
    sends = [asyncio.create_task(world.meeting(rid, began)) for _ in range(20)]
    await asyncio.sleep(2.0)  # all 20 are in flight or being retried
    assert not any(t.done() for t in sends)
    async with world.run_worker():
        results = await asyncio.gather(*sends)
        state = await world.client.state(rid)
    assert Counter(r.duplicate for r in results) == Counter({False: 20})
    assert sorted(r.first_seq for r in results) == list(range(state.seq - 19, state.seq + 1))
    assert state.meetings == 20 and before < state.seq


async def test_busy_for_too_long_is_a_clear_error(world_factory) -> None:  # type: ignore[no-untyped-def]
    """With nobody processing, Temporal admits 10 updates and refuses the others (RESOURCE_EXHAUSTED, after the
    SDK's own retries, ~10-16 s here); past its busy timeout the client gives up on those with a clear error that
    says whether anything may have been applied. Re-sending the refused commands with the same ids once a worker is
    back lands every command exactly once."""
    world: World = world_factory(busy_timeout=1.0)
    async with world.run_worker():
        rid, began = await world.propose_in_trial()
    ids = [str(uuid.uuid4()) for _ in range(14)]
    sends = [asyncio.create_task(world.meeting(rid, began, command_id)) for command_id in ids]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 45
    pending = set(sends)
    while len(pending) > 10 and loop.time() < deadline:
        _, pending = await asyncio.wait(pending, timeout=deadline - loop.time(), return_when=asyncio.FIRST_COMPLETED)
    refused = [t.exception() for t in sends if t.done()]
    assert len(refused) >= 4 and all(isinstance(e, RelationshipBusy) for e in refused), refused
    assert "re-send it with the same command id" in str(refused[0])
    async with world.run_worker():
        outcomes = await asyncio.gather(*sends, return_exceptions=True)
        busy = [o for o in outcomes if isinstance(o, BaseException)]
        assert all(isinstance(e, RelationshipBusy) for e in busy), busy
        history = await world.client.events(rid)
        applied = {e.causation_id for e in history if e.type == "MeetingLogged"}
        for error in busy:  # "nothing was appended" is a promise
            assert isinstance(error, RelationshipBusy)
            assert error.outcome_unknown or error.command_id not in applied
        resent = await asyncio.gather(*(world.meeting(rid, began, e.command_id) for e in busy))  # type: ignore[union-attr]
        state = await world.client.state(rid)
    assert {r.command_id for r in resent} == {e.command_id for e in busy}  # type: ignore[union-attr]
    assert state.meetings == 14  # every command landed exactly once


async def test_a_closed_relationship_refuses_commands_clearly(world: World) -> None:
    rid, began = await world.propose_in_trial()
    terminate = command("Terminate", MANAGER, reason_code="conduct")
    await world.client.send(rid, terminate)
    final = await world.client.wait_closed(rid)
    assert final.outcome is Outcome.TERMINATED
    with pytest.raises(RelationshipClosedError, match=r"closed \(outcome: terminated\)"):
        await world.meeting(rid, began)
    again = await world.client.send(rid, terminate)  # a re-sent command still gets its first result
    assert again.view.outcome is Outcome.TERMINATED and again.last_seq == final.seq
    with pytest.raises(IllegalTransition, match="already exists"):
        await world.client.propose(program="p", mentor="a", mentee="b", by=MANAGER, relationship_id=rid)
    with pytest.raises(RelationshipNotFound):
        await world.client.send(f"missing-{rid}", command("AcceptMatch", MENTOR))


async def test_list_by_search_attributes(world: World) -> None:
    rid, _ = await world.propose_in_trial()
    await world.client.send(rid, command("Terminate", MANAGER, reason_code="conduct"))
    await world.client.wait_closed(rid)
    other, _ = await world.propose_in_trial()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:  # visibility lags about a second behind
        trial = {r.relationship_id for r in await world.client.list(program="prog-it", stage="initiation")}
        closed = {r.relationship_id for r in await world.client.list(program="prog-it", stage="closed")}
        if (other in trial and rid in closed) or loop.time() > deadline:
            break
        await asyncio.sleep(0.3)
    assert other in trial and rid not in trial
    assert rid in closed
    row = next(r for r in await world.client.list(program="prog-it", stage="initiation") if r.relationship_id == other)
    assert (row.substate, row.health, row.workflow_status) == ("trial", "green", "running")
