"""Workflow tier: the real RelationshipWorkflow on the time-skipping test server ONLY (no dev server, no Kafka).

As temporalio/samples-python's tests do, the publishing activity is replaced by a test activity registered under the
same name (``publish_events``) that records what the workflow hands it; the real notification activity writes to a
log file. What the real KafkaPublisher puts on the real topic is the integration tier's (tests/integration/)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from activities.names import ACTIVITY_PUBLISH
from activities.notifications import LogSink, Notifier
from activities.publishing import PublishReceipt
from domain import COMMAND_CLASSES, Actor, Envelope, RelationshipState, Role, builtin_policy
from domain.scripting import command, proposal
from tests.cache import TEST_WORKFLOW_CACHE, replay_from_scratch
from tests.conftest import time_skipping_server
from tests.workflow.probing import ProbingClient, replay_every_point
from workers.worker import WORKFLOW_CACHE, build_worker
from workflows.client import CommandResult, MentorflowClient, new_command_id

LONG = os.environ.get("MENTORFLOW_TEST_LONG") == "1"
MANAGER = Actor(id="mgr-1", role=Role.MANAGER)
MENTOR = Actor(id="ana", role=Role.MENTOR)
MENTEE = Actor(id="bo", role=Role.MENTEE)


class RecordingPublisher:
    """The test activity registered as ``publish_events`` in place of the KafkaPublisher: keeps every batch in the
    order the workflow's outbox sent it and acknowledges it as Kafka would (one partition, consecutive offsets)."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    @activity.defn(name=ACTIVITY_PUBLISH)
    async def publish(self, batch: list[Envelope]) -> PublishReceipt:
        first_offset = len(self.envelopes)
        self.envelopes.extend(batch)
        return PublishReceipt(
            published=len(batch),
            first_seq=batch[0].seq,
            last_seq=batch[-1].seq,
            partition=0,
            first_offset=first_offset,
            last_offset=len(self.envelopes) - 1,
        )


@dataclass
class Lifecycle:
    """One test's world: a worker on its own task queue, a client, what was published and the notification log."""

    env: Any
    client: MentorflowClient
    notifications: Path
    publisher: RecordingPublisher | None = None
    relationship_id: str = field(default_factory=lambda: f"r-{uuid.uuid4().hex[:10]}")

    async def now(self) -> datetime:
        now: datetime = await self.env.get_current_time()
        return now

    async def sleep(self, days: float = 0, **kwargs: float) -> None:
        await self.env.sleep(timedelta(days=days, **kwargs))
        if isinstance(self.client, ProbingClient) and self.relationship_id in self.client.touched:
            await self.client.probe(self.relationship_id, f"a skip of {timedelta(days=days, **kwargs)}")

    rules_version: int | None = 1  # the lifecycles written for rules version 1 keep proving it; None: current

    async def propose(self, policy: str = "mentoring-12m", by: Actor = MANAGER) -> CommandResult:
        return await self.client.propose(
            with_state=False,
            command=proposal(
                self.relationship_id,
                program_id="prog-1",
                by=by,
                mentor_id=MENTOR.id,
                mentee_id=MENTEE.id,
                policy=builtin_policy(policy),
                command_id=new_command_id(),
                match_method="manual",
                rules_version=self.rules_version,
            ),
        )

    async def do(self, type_: str, actor: Actor, **fields: Any) -> CommandResult:
        """The command's result with its view (``state`` None): no state query after each command (the
        time-skipping server holds time still for seconds after some queries; the history after each command is
        replayed at the end of the test instead, tests/workflow/probing.py)."""
        make = next(cls for cls in COMMAND_CLASSES if cls.__name__ == type_)
        cmd = command(make, actor, new_command_id(), **fields)
        return await self.client.send(self.relationship_id, cmd, with_state=False)

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

    def published(self) -> list[Envelope]:
        """This relationship's envelopes as the publishing activity received them, in the order it did."""
        assert self.publisher is not None, "this Lifecycle runs with the real KafkaPublisher"
        return [e for e in self.publisher.envelopes if e.relationship_id == self.relationship_id]

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
async def lifecycle(time_skipping_env: Any, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Lifecycle]:
    """The worker replays the whole history for every workflow task (``TEST_WORKFLOW_CACHE``, tests/cache.py).

    ``@pytest.mark.long_lifecycle``: a lifecycle of hundreds of workflow tasks, where that costs O(n²) (a two-year
    relationship: ~100 s instead of ~4 s on a loaded machine). Its worker keeps the production cache; afterwards
    every run it made replays from scratch (the ``Replayer``) and the state replayed from the whole history must
    equal the cached run's result: the same checks, made once at the end instead of at every task.

    Every point the test reaches (after each command, accepted or refused, and each skip of time) replays at the
    end (tests/workflow/probing.py): a restart there would not freeze the relationship. A long lifecycle replays
    its points only with ``MENTORFLOW_TEST_LONG=1`` (hundreds of growing histories).

    ``@pytest.mark.own_time_skipping_server``: the test gets a server of its own (about a second to start), for
    what leaves the test server unable to serve later tests (see the marker's description in pyproject.toml)."""
    async with AsyncExitStack() as stack:
        env = time_skipping_env
        if request.node.get_closest_marker("own_time_skipping_server") is not None:
            env = await stack.enter_async_context(time_skipping_server())
        async with _lifecycle_on(env, tmp_path, request) as lc:
            yield lc


@asynccontextmanager
async def _lifecycle_on(env: Any, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Lifecycle]:
    temporal: Client = env.client
    queue = f"wf-{uuid.uuid4().hex[:10]}"
    publisher = RecordingPublisher()
    notifications = tmp_path / "notifications.jsonl"
    long = request.node.get_closest_marker("long_lifecycle") is not None
    client = ProbingClient(temporal, task_queue=queue)
    lc = Lifecycle(env=env, client=client, notifications=notifications, publisher=publisher)
    worker: Worker = build_worker(
        temporal,
        task_queue=queue,
        publisher=publisher,
        notifier=Notifier(LogSink(notifications)),
        max_cached_workflows=WORKFLOW_CACHE if long and TEST_WORKFLOW_CACHE == 0 else TEST_WORKFLOW_CACHE,
    )
    async with worker:
        try:
            yield lc
            if not long or LONG:
                for relationship_id in list(client.touched):
                    await client.probe(relationship_id, "the end of the test")  # the whole history as it ends
                await replay_every_point(client.points, tmp_path)
            if long:
                await _replays_to_the_same_state(lc)
        finally:
            for relationship_id in dict.fromkeys([lc.relationship_id, *client.touched]):
                await leave_nothing_running(client, relationship_id)


async def leave_nothing_running(client: MentorflowClient, relationship_id: str) -> None:
    """The session's time-skipping server skips time only while no task is outstanding anywhere on it. A relationship
    left running gets, at a later test's skip, a timer task on a queue nobody polls any more, and from then on time
    passes in real time for every later test (the surveys test, skipping 45 days, hung until its timeout)."""
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError, RPCStatusCode

    handle = client.handle(relationship_id)
    try:
        if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            await handle.terminate("test over: nothing left running on the shared time-skipping server")
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:  # never proposed
            raise


async def _replays_to_the_same_state(lc: Lifecycle) -> None:
    """Every run replays from scratch; a completed workflow (evicted from the cache) queried for its state is
    replayed by the worker, and that state must equal the result the cached run returned."""
    from temporalio.client import WorkflowExecutionStatus

    assert await replay_from_scratch(lc.client.client, lc.relationship_id) >= 1
    if (await lc.client.handle(lc.relationship_id).describe()).status == WorkflowExecutionStatus.COMPLETED:
        assert await lc.state() == await lc.wait_closed(), "the replayed state differs from the cached run's"
