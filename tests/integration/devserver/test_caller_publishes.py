"""Issue 16 step 3 on the real parts (dev server, worker, Kafka, projector, auditor): a caller that publishes its
commands' envelopes itself (``command_by_publisher``) and is killed with SIGKILL right after an update returned loses
nothing — the workflow's backstop publishes what it never confirmed — and the copies a live caller and the backstop
both publish are harmless: the projector counts each event once and verify raises no alarm."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import textwrap
from pathlib import Path

from sqlalchemy import text

from activities.publishing import KafkaPublisher
from audit.verify import Auditor
from projections.db import make_engine, migrate
from tests.integration.devserver.conftest import World
from tests.integration.projections.conftest import end_offsets
from tests.integration.topic import by_key, read_topic
from tests.outbox import wait_published
from workflows.caller_publisher import CallerPublisher
from workflows.models import Limits

WAIT = 90.0  # generous: a loaded 2-core machine
ROOT = Path(__file__).resolve().parents[3]

CALLER = textwrap.dedent(
    """
    import asyncio, json, os, signal, sys
    from workflows.caller_publisher import CallerPublisher
    from workflows.client import MentorflowClient
    from tests.integration.devserver.conftest import MENTOR, command

    address, queue, rid, held_at = sys.argv[1:5]

    async def die_before_publishing(batch):
        # the update returned (committed): say what was handed over, then die before anything reaches Kafka
        print(json.dumps({"first": batch[0].seq, "last": batch[-1].seq}), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    async def main():
        client = await MentorflowClient.connect(address, task_queue=queue)
        client.publisher = CallerPublisher(die_before_publishing)
        await client.send(rid, command("LogMeeting", MENTOR, held_at=held_at), with_state=False)

    asyncio.run(main())
    """
)


async def test_a_killed_caller_loses_nothing_and_duplicates_are_harmless(world: World, tmp_path: Path) -> None:
    rid, opened_at = await world.propose_in_trial()
    kafka = KafkaPublisher(world.settings.kafka.bootstrap_servers, world.topic)
    # confirmations ride on commands only: close() then confirms nothing, so the last meeting is surely confirmed by
    # nobody (with the quiet-spell signal, close() would confirm it, and a duplicate would need a race to happen)
    world.client.publisher = CallerPublisher(kafka.send_batch, close=kafka.close, confirm_after=None)
    try:
        results = [await world.meeting(rid, opened_at) for _ in range(3)]  # the last is confirmed by nobody
    finally:
        await world.client.close()
    assert all(r.publish_by_caller for r in results)

    # a caller process killed right after its update returned, before it published anything
    caller = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CALLER,
        world.settings.temporal.address,
        world.queue,
        rid,
        opened_at.isoformat(),
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    out, _ = await asyncio.wait_for(caller.communicate(), WAIT)
    assert caller.returncode == -signal.SIGKILL, out
    handed = json.loads(out.decode().strip().splitlines()[-1])
    assert handed["first"] <= results[-1].last_seq + 1 <= handed["last"]  # its range began at the outbox's head

    last = (await wait_published(world.client, rid, wait=WAIT)).seq  # the backstop: after the grace
    assert last == handed["last"]
    bootstrap = world.settings.kafka.bootstrap_servers
    on_topic = sum((await end_offsets(bootstrap, world.topic)).values())  # a fresh topic: this test's records only
    records = by_key(await read_topic(bootstrap, world.topic, on_topic, WAIT), rid)
    seqs = [json.loads(r.value)["seq"] for r in records]
    first_copies = list(dict.fromkeys(seqs))
    assert first_copies == list(range(1, last + 1))  # nothing lost, first copies in order
    assert len(seqs) > len(first_copies)  # the unconfirmed last meeting went out twice (caller + backstop)

    url = f"sqlite:///{tmp_path / 'caller.db'}"
    migrate(url)
    await world.project(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            logged = conn.execute(
                text("SELECT count(*), max(seq) FROM event_log WHERE relationship_id = :r"), {"r": rid}
            ).one()
            meetings = conn.execute(
                text("SELECT meetings FROM relationships WHERE relationship_id = :r"), {"r": rid}
            ).scalar_one()
        assert tuple(logged) == (last, last)  # every event once
        assert meetings == 4  # three by the live caller, one by the killed one: none counted twice
        auditor = Auditor(
            engine=engine,
            bootstrap_servers=world.settings.kafka.bootstrap_servers,
            topic=world.topic,
            temporal=world.temporal,
            settle=0.5,
        )
        report = await auditor.verify(rid)
        assert report.ok, report.lines()  # duplicates on the topic: no false alarm
    finally:
        engine.dispose()
    assert Limits().caller_publish_grace <= 10  # the wait above covers the grace with room to spare
