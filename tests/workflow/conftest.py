"""Workflow tests: the real RelationshipWorkflow on the time-skipping test server, with the real KafkaPublisher on
the real broker (a fresh topic per test) and the real log notification sink. Only Temporal time is skipped."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from activities.notifications import LogSink, Notifier
from activities.publishing import KafkaPublisher
from domain import Actor, Command, Envelope, RelationshipState, Role, builtin_policy, command_adapter
from tests.workflow.topic import read_topic
from workers.settings import Settings
from workers.worker import build_worker
from workflows.client import CommandResult, MentorflowClient

MANAGER = Actor(id="mgr-1", role=Role.MANAGER)
MENTOR = Actor(id="ana", role=Role.MENTOR)
MENTEE = Actor(id="bo", role=Role.MENTEE)


@dataclass
class Lifecycle:
    """One test's world: a worker on its own task queue, a client, the topic and the notification log."""

    env: Any
    client: MentorflowClient
    topic: str
    bootstrap: str
    notifications: Path
    relationship_id: str = field(default_factory=lambda: f"r-{uuid.uuid4().hex[:10]}")

    async def now(self) -> datetime:
        now: datetime = await self.env.get_current_time()
        return now

    async def sleep(self, days: float = 0, **kwargs: float) -> None:
        await self.env.sleep(timedelta(days=days, **kwargs))

    async def propose(self, policy: str = "mentoring-12m", by: Actor = MANAGER) -> CommandResult:
        return await self.client.propose(
            program="prog-1",
            mentor=MENTOR.id,
            mentee=MENTEE.id,
            by=by,
            relationship_id=self.relationship_id,
            policy=builtin_policy(policy),
        )

    async def do(self, type_: str, actor: Actor, **fields: Any) -> CommandResult:
        command: Command = command_adapter().validate_python(
            {"type": type_, "command_id": str(uuid.uuid4()), "actor": actor.model_dump(mode="json"), **fields}
        )
        return await self.client.send(self.relationship_id, command)

    async def meeting(self, actor: Actor = MENTOR) -> CommandResult:
        return await self.do("LogMeeting", actor, held_at=(await self.now()).isoformat())

    async def state(self) -> RelationshipState:
        return await self.client.state(self.relationship_id)

    async def events(self) -> list[Envelope]:
        return await self.client.events(self.relationship_id)

    async def types(self) -> list[str]:
        return [e.type for e in await self.events()]

    async def to_cultivation(self) -> None:
        """Propose, both accept, both sign, two meetings in the trial, then the trial window passes."""
        await self.propose()
        await self.do("AcceptMatch", MENTOR)
        await self.do("AcceptMatch", MENTEE)
        await self.do("SignAgreement", MENTOR, goals=["public speaking"], cadence="P2W")
        await self.do("SignAgreement", MENTEE, goals=["promotion case"], cadence="P2W")
        await self.sleep(1)
        await self.meeting()
        await self.sleep(20)
        await self.meeting(MENTEE)
        await self.sleep(25)  # day 46: the 45-day trial window passed with 2 meetings

    async def wait_closed(self) -> RelationshipState:
        return await self.client.wait_closed(self.relationship_id)

    async def published(self, count: int) -> list[Any]:
        records = await read_topic(self.bootstrap, self.topic, count)
        return [r for r in records if r.key == self.relationship_id.encode()]

    def notification_lines(self) -> list[dict[str, Any]]:
        if not self.notifications.exists():
            return []
        return [json.loads(line) for line in self.notifications.read_text().splitlines() if line]


def stage_path(events: Iterable[Envelope]) -> list[str]:
    """The StageChanged moves, as ``to_stage/to_substate (trigger)``."""
    return [
        f"{e.payload['to_stage']}/{e.payload['to_substate']} ({e.payload['trigger']})"
        for e in events
        if e.type == "StageChanged"
    ]


@pytest.fixture
async def lifecycle(
    time_skipping_env: Any, stack: Settings, kafka_topic: str, tmp_path: Path
) -> AsyncIterator[Lifecycle]:
    env = time_skipping_env
    temporal: Client = env.client
    queue = f"wf-{uuid.uuid4().hex[:10]}"
    publisher = KafkaPublisher(stack.kafka.bootstrap_servers, kafka_topic)
    notifications = tmp_path / "notifications.jsonl"
    worker: Worker = build_worker(
        temporal, task_queue=queue, publisher=publisher, notifier=Notifier(LogSink(notifications))
    )
    async with worker:
        yield Lifecycle(
            env=env,
            client=MentorflowClient(temporal, task_queue=queue),
            topic=kafka_topic,
            bootstrap=stack.kafka.bootstrap_servers,
            notifications=notifications,
        )
    await publisher.close()
