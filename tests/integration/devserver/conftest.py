"""Integration fixtures: the real dev server (``temporal_client``), a worker of our own on a unique task queue and
the real KafkaPublisher on a fresh topic of the real broker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from activities.notifications import LogSink, Notifier
from activities.publishing import KafkaPublisher
from domain import Actor, Role, builtin_policy, command_adapter
from tests.cache import TEST_WORKFLOW_CACHE
from workers.settings import Settings
from workers.worker import build_worker
from workflows.client import CommandResult, MentorflowClient
from workflows.models import Limits

MANAGER = Actor(id="mgr-1", role=Role.MANAGER)
MENTOR = Actor(id="ana", role=Role.MENTOR)
MENTEE = Actor(id="bo", role=Role.MENTEE)


def command(type_: str, actor: Actor, command_id: str | None = None, **fields: Any) -> Any:
    return command_adapter().validate_python(
        {"type": type_, "command_id": command_id or str(uuid.uuid4()), "actor": actor.model_dump(mode="json"), **fields}
    )


@dataclass
class World:
    temporal: Client
    client: MentorflowClient
    topic: str
    queue: str
    settings: Settings
    run_worker: Callable[[], AbstractAsyncContextManager[None]]

    async def propose_in_trial(self, relationship_id: str | None = None) -> tuple[str, datetime]:
        """A relationship in its trial (mentoring-12m: nothing fires for 45 days, so only commands move it):
        log-meeting is then a cheap command (one event, state grows by a counter). Returns its id and when it began."""
        rid = relationship_id or f"r-{uuid.uuid4().hex[:10]}"
        result = await self.client.propose(
            program="prog-it",
            mentor=MENTOR.id,
            mentee=MENTEE.id,
            by=MANAGER,
            relationship_id=rid,
            policy=builtin_policy("mentoring-12m"),
        )
        for c in (
            command("AcceptMatch", MENTOR),
            command("AcceptMatch", MENTEE),
            command("SignAgreement", MENTOR, goals=["x"], cadence="P2W"),
            command("SignAgreement", MENTEE, goals=["x"], cadence="P2W"),
        ):
            await self.client.send(rid, c, with_state=False)
        assert result.state is not None and result.state.opened_at is not None  # the whole state: a query
        return rid, result.state.opened_at

    async def meeting(self, rid: str, held_at: datetime, command_id: str | None = None) -> CommandResult:
        meeting = command("LogMeeting", MENTOR, command_id, held_at=held_at.isoformat())
        return await self.client.send(rid, meeting, with_state=False)

    async def project(self, database_url: str) -> None:
        """The real projector over this world's topic into ``database_url``, until it has caught up (no group)."""
        from projections.projector import Projector

        async with Projector(
            database_url=database_url,
            bootstrap_servers=self.settings.kafka.bootstrap_servers,
            topic=self.topic,
            group_id=None,
            dead_letter_topic=None,
        ) as projector:
            await projector.run(until_caught_up=True)


@pytest.fixture
async def world_factory(
    temporal_client: Client, stack: Settings, kafka_topic: str, tmp_path: Path
) -> AsyncIterator[Callable[..., World]]:
    publishers: list[KafkaPublisher] = []

    def make(
        limits: Limits | None = None,
        busy_timeout: float = 30.0,
        max_cached_workflows: int = TEST_WORKFLOW_CACHE,
        temporal: Client | None = None,
    ) -> World:
        """A world on the session's dev server, or on ``temporal`` (a server of the test's own)."""
        queue = f"it-{uuid.uuid4().hex[:10]}"
        client = temporal or temporal_client

        @asynccontextmanager
        async def run_worker() -> AsyncIterator[None]:
            publisher = KafkaPublisher(stack.kafka.bootstrap_servers, kafka_topic)
            publishers.append(publisher)
            notifier = Notifier(LogSink(tmp_path / "notifications.jsonl"))
            async with build_worker(
                client,
                task_queue=queue,
                publisher=publisher,
                notifier=notifier,
                max_cached_workflows=max_cached_workflows,
            ):
                yield

        return World(
            temporal=client,
            client=MentorflowClient(client, task_queue=queue, limits=limits, busy_timeout=busy_timeout),
            topic=kafka_topic,
            queue=queue,
            settings=stack,
            run_worker=run_worker,
        )

    yield make
    for publisher in publishers:
        await publisher.close()


@pytest.fixture
async def world(world_factory: Callable[..., World]) -> AsyncIterator[World]:
    w = world_factory()
    async with w.run_worker():
        yield w
