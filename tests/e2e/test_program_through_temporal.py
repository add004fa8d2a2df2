"""Issue 5's end-to-end acceptance: 200 relationships driven through the real RelationshipWorkflow (time-skipping
Temporal server, real worker, real KafkaPublisher on the real broker), projected by the real projector into a
database (SQLite here; tests/integration/projections runs the same table checks on PostgreSQL too). The tables hold
exactly what the events on the topic say, computed independently from the raw topic."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from activities.notifications import LogSink, Notifier
from activities.publishing import KafkaPublisher
from domain import Actor, Role, builtin_policy, command_adapter
from projections.db import make_engine, migrate
from projections.projector import Projector
from tests.cache import replay_from_scratch
from tests.integration.projections.conftest import read_topic
from tests.integration.projections.test_program import assert_tables_match, expected_from
from tests.outbox import wait_published
from workers.settings import Settings
from workers.worker import build_worker
from workflows.client import MentorflowClient

MANAGER = Actor(id="mgr-e2e", role=Role.MANAGER)
PATHS = {"declined": 30, "terminated": 20, "expired": 30, "rematched": 20, "cultivating": 60, "redefined": 40}


async def test_two_hundred_relationships_through_temporal_kafka_and_the_projector(
    own_time_skipping_env: Any, stack: Settings, kafka_topic: str, sqlite_url: str, tmp_path: Path
) -> None:
    assert sum(PATHS.values()) == 200
    env = own_time_skipping_env
    queue = f"e2e-{uuid.uuid4().hex[:8]}"
    program = f"prog-{uuid.uuid4().hex[:6]}"
    publisher = KafkaPublisher(stack.kafka.bootstrap_servers, kafka_topic)
    client = MentorflowClient(env.client, task_queue=queue)
    gate = asyncio.Semaphore(16)

    def actors(rid: str) -> tuple[Actor, Actor]:
        return Actor(id=f"{rid}-mentor", role=Role.MENTOR), Actor(id=f"{rid}-mentee", role=Role.MENTEE)

    async def do(rid: str, type_: str, actor: Actor, **fields: Any) -> None:
        command = command_adapter().validate_python(
            {"type": type_, "command_id": str(uuid.uuid4()), "actor": actor.model_dump(mode="json"), **fields}
        )
        await client.send(rid, command)

    async def now_iso() -> str:
        return str((await env.get_current_time()).isoformat())

    async def propose(rid: str) -> None:
        mentor, mentee = actors(rid)
        await client.propose(
            program=program,
            mentor=mentor.id,
            mentee=mentee.id,
            by=MANAGER,
            relationship_id=rid,
            policy=builtin_policy("mentoring-12m"),
            rules_version=2,  # issue 5's acceptance on the rules it was written for; surveys (v3): test_surveys*
        )

    async def into_trial(rid: str) -> None:
        mentor, mentee = actors(rid)
        await propose(rid)
        await do(rid, "AcceptMatch", mentor)
        await do(rid, "AcceptMatch", mentee)
        await do(rid, "SignAgreement", mentor, goals=["grow"], cadence="P2W")
        await do(rid, "SignAgreement", mentee, goals=["lead"], cadence="P2W")
        await do(rid, "LogMeeting", mentor, held_at=await now_iso())
        await do(rid, "LogMeeting", mentee, held_at=await now_iso())

    async def each(kind: str, step: Callable[[str], Awaitable[None]]) -> None:
        async def one(rid: str) -> None:
            async with gate:
                await step(rid)

        await asyncio.gather(*(one(rid) for rid in ids[kind]))

    ids = {kind: [f"{kind}-{queue}-{i}" for i in range(n)] for kind, n in PATHS.items()}
    worker = build_worker(
        env.client,
        task_queue=queue,
        publisher=publisher,
        notifier=Notifier(LogSink(tmp_path / "n")),
        # the production cache: replaying every task from scratch (the tiers' default) costs minutes at 200
        # relationships; the same determinism check runs once at the end, on one relationship of each path
        max_cached_workflows=1000,
    )
    async with worker:
        # Day 0: every path starts.
        await each("declined", propose)
        await each("declined", lambda r: do(r, "DeclineMatch", actors(r)[0], reason="no time this year"))
        await each("terminated", propose)
        await each("terminated", lambda r: do(r, "Terminate", MANAGER, reason_code="conduct"))
        await each("expired", propose)  # nobody answers: the 14-day expiry closes them
        for kind in ("rematched", "cultivating", "redefined"):
            await each(kind, into_trial)
        await each("rematched", lambda r: do(r, "RequestRematch", actors(r)[1], reason="different field"))
        # Day 46: expiries fired, the trial window passed with 2 meetings ⇒ cultivation (timers).
        await env.sleep(timedelta(days=46))
        await each("redefined", lambda r: do(r, "ProposeSeparation", actors(r)[0], reason="goals reached"))
        await each("redefined", lambda r: do(r, "ConsentSeparation", actors(r)[1]))
        # Day 77: the 30-day wind-down ended ⇒ redefinition; half the cultivating pairs went quiet (yellow at 45
        # days without a meeting), half met.
        await env.sleep(timedelta(days=31))
        held_at = await now_iso()
        ids["meeting"] = ids["cultivating"][::2]
        await each("meeting", lambda r: do(r, "LogMeeting", actors(r)[0], held_at=held_at))
        del ids["meeting"]
        await each("redefined", lambda r: do(r, "RecordRedefinition", actors(r)[0], outcome="collegial"))
        await each("redefined", lambda r: do(r, "RecordRedefinition", actors(r)[1], outcome="collegial"))
        # Every relationship's outbox must be published before the worker stops.
        wanted = {}
        for kind_ids in ids.values():
            for rid in kind_ids:
                wanted[rid] = (await client.state(rid)).seq
        total = sum(wanted.values())
        async with asyncio.timeout(120):
            while len(await read_topic(stack.kafka.bootstrap_servers, kafka_topic)) < total:  # noqa: ASYNC110
                await asyncio.sleep(0.5)
        for kind_ids in ids.values():
            assert await replay_from_scratch(env.client, kind_ids[0]) == 1
        # The time-skipping server is shared by the session: leave no open workflow whose timers outlive this test.
        for rid in ids["cultivating"]:
            # the topic's count above also counts a retried publication's duplicate: a terminated workflow's
            # backstop publishes nothing more, so each one's own outbox is waited for first
            await wait_published(client, rid, wanted[rid])
            await env.client.get_workflow_handle(f"relationship-{rid}").terminate("test finished")
    await publisher.close()

    messages = await read_topic(stack.kafka.bootstrap_servers, kafka_topic)
    expected = expected_from(messages)
    assert expected["relationships"] == 200
    assert expected["last_seq"] == wanted
    funnel = expected["funnel"][program]
    assert {k: funnel.get(k, 0) for k in ("declined", "terminated", "expired", "rematched", "collegial")} == {
        "declined": 30,
        "terminated": 20,
        "expired": 30,
        "rematched": 20,
        "collegial": 40,
    }
    assert funnel["cultivation"] == 100 and funnel["redefinition"] == 40

    migrate(sqlite_url)
    projector = Projector(
        database_url=sqlite_url,
        bootstrap_servers=stack.kafka.bootstrap_servers,
        topic=kafka_topic,
        group_id=f"g-{queue}",
    )
    async with projector:
        metrics = await projector.run(until_caught_up=True)
    assert (metrics.gaps, metrics.poison, metrics.conflicts) == (0, 0, 0)
    engine = make_engine(sqlite_url)
    try:
        assert_tables_match(engine, expected)
    finally:
        engine.dispose()
