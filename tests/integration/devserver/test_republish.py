"""``mentorflow relationship republish`` on the real parts: a workflow terminated (Temporal's kill) while its outbox
still held committed events leaves them in its history only, and verify says the topic lacks them; the repair
publishes them from the history, verify is then clean three-way, and a second run publishes nothing. Its doors
refuse what they must: an unknown relationship (4), a malformed id (2)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from temporalio import activity

from activities.names import ACTIVITY_PUBLISH
from activities.notifications import LogSink, Notifier
from activities.publishing import PublishReceipt
from audit.verify import Auditor
from domain import Envelope
from projections.db import make_engine, migrate
from tests.integration.devserver.conftest import World
from tests.integration.devserver.test_cli import cli
from tests.outbox import wait_published
from workers.worker import build_worker


class BrokerAway:
    """The publishing activity of a worker whose Kafka never answers: every publication fails (the outbox keeps it)."""

    def __init__(self) -> None:
        self.attempts = 0

    @activity.defn(name=ACTIVITY_PUBLISH)  # the real activity's name: the workflow schedules this one
    async def publish(self, batch: list[Envelope]) -> PublishReceipt:
        self.attempts += 1
        raise ConnectionError("kafka is away")

    async def close(self) -> None:
        return None


async def _verify(world: World, url: str, rid: str) -> list[str]:
    engine = make_engine(url)
    try:
        auditor = Auditor(engine=engine, bootstrap_servers=world.settings.kafka.bootstrap_servers, topic=world.topic,
                          temporal=world.temporal, settle=0.5)  # fmt: skip
        report = await auditor.verify(rid)
    finally:
        engine.dispose()
    return [] if report.ok else report.lines()


async def _republish(world: World, url: str, *args: str) -> tuple[int, dict[str, object]]:
    code, out, err = await cli(
        world, "relationship", "republish", *args, "--topic", world.topic, "--database-url", url, "--json"
    )
    assert out.strip(), err  # --json: one document on stdout, whatever the outcome
    return code, json.loads(out)


async def test_a_terminated_workflows_unpublished_events_are_republished_from_its_history(
    world_factory, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    world: World = world_factory()
    url = f"sqlite:///{tmp_path / 'republish.db'}"
    migrate(url)
    async with world.run_worker():
        rid, began = await world.propose_in_trial()
        published = await wait_published(world.client, rid)
    away = BrokerAway()
    notifier = Notifier(LogSink(tmp_path / "notifications.jsonl"))
    async with build_worker(world.temporal, task_queue=world.queue, publisher=away, notifier=notifier):
        for _ in range(3):
            last = await world.meeting(rid, began)
        status = await world.client.status(rid)
        assert status.published_through == published.seq and status.outbox == 3
        await world.client.handle(rid).terminate("an operator's kill, the outbox not yet published")
    assert away.attempts >= 1  # the workflow did try: the broker was away
    await world.project(url)
    problems = "\n".join(await _verify(world, url, rid))
    assert "not in kafka" in problems, problems  # the topic lacks the committed tail: verify says so

    code, out, err = await cli(world, "relationship", "republish", rid, "--dry-run", "--topic", world.topic,
                               "--database-url", url)  # fmt: skip
    assert code == 0 and f"would publish seq {published.seq + 1}..{last.last_seq} (3 envelopes)" in out, out + err
    code, dry = await _republish(world, url, rid, "--dry-run")
    assert code == 0, dry
    assert dry["published"] == 0 and dry["to_publish"] == {
        "count": 3, "first_seq": published.seq + 1, "last_seq": last.last_seq
    }  # fmt: skip
    assert dry["on_topic_through"] == published.seq and dry["made_through"] == last.last_seq

    code, done = await _republish(world, url, rid)
    assert code == 0 and done["published"] == 3 and done["ok"] is True, done
    await world.project(url)
    assert await _verify(world, url, rid) == []  # three-way clean, the history replays

    code, again = await _republish(world, url, rid)
    assert code == 0 and again["published"] == 0 and again["to_publish"]["count"] == 0, again

    code, missing = await _republish(world, url, f"r-nobody-{uuid.uuid4().hex[:8]}")
    assert code == 4 and missing["ok"] is False and "r-nobody-" in str(missing["error"]), missing
    code, out, err = await cli(world, "relationship", "republish", "bad id with spaces", "--json")
    assert code == 2 and "Traceback" not in out + err, out + err
