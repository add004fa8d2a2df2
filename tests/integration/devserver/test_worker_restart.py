"""A worker dies (or stalls) while it holds a workflow task; another worker retries the task from the history
(issue 11). For each kind of wake-up — a command, a timer, an activity completion — the relationship goes on, and
its history replays with the current code.

The stalled worker is a process of its own (``workflow_worker_process``), SIGSTOP-ed while the wake-up arrives, so
its task times out; once the history shows it holds that task it dies (SIGKILL: its other open polls go with it, or
the server hands the retry to one of them and the task times out a second time, 10 s more); the replacement runs in
this process with the workflow cache off (every task a full replay) and is started only once the history shows the
timed-out task. Activities run in a worker of their own, so an activity can complete while the workflow worker is
stalled."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, Worker

from activities.names import ACTIVITY_PUBLISH
from activities.notifications import LogSink, Notifier
from activities.publishing import KafkaPublisher, PublishReceipt
from domain import Actor, Envelope, builtin_policy
from domain.policy import LifecyclePolicy
from tests.integration.devserver.conftest import MANAGER, MENTEE, MENTOR, command
from tests.integration.devserver.workflow_worker_process import READY
from workers.settings import Settings
from workflows.client import MentorflowClient
from workflows.models import workflow_id
from workflows.relationship import RelationshipWorkflow

ROOT = Path(__file__).resolve().parents[3]
WAIT = 90.0  # generous: a loaded 2-core machine
TASK = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
}


def short_timers(**durations: str) -> LifecyclePolicy:
    """The demo policy with the given durations (ISO-8601) replaced."""
    return LifecyclePolicy.model_validate({**builtin_policy("demo").model_dump(mode="json"), **durations})


SLOW = short_timers(
    acceptance_reminder="PT5M",
    acceptance_expiry="PT10M",
    kickoff_nudge="PT5M",
    kickoff_escalation="PT8M",
    trial_window="PT20M",
    term="PT2H",
    initiation_give_up="PT1H",
)


class Gate:
    """The real publishing activity, registered under its real name, held until the test lets it through."""

    def __init__(self, publisher: KafkaPublisher) -> None:
        self.open = asyncio.Event()
        self.open.set()
        self.started = asyncio.Event()

        @activity.defn(name=ACTIVITY_PUBLISH)
        async def publish(batch: list[Envelope]) -> PublishReceipt:
            self.started.set()
            await self.open.wait()
            return await publisher.publish(batch)

        self.publish = publish


@dataclass
class Stage:
    client: Client
    mentorflow: MentorflowClient
    queue: str
    gate: Gate
    stalled: asyncio.subprocess.Process
    relationship_id: str

    async def history(self) -> WorkflowHistory:
        return await self.client.get_workflow_handle(workflow_id(self.relationship_id)).fetch_history()

    async def wait_for_event(self, kind: int, after: int = 0) -> None:
        deadline = asyncio.get_running_loop().time() + WAIT
        while asyncio.get_running_loop().time() < deadline:
            events = (await self.history()).events
            if any(e.event_type == kind and e.event_id > after for e in events):
                return
            await asyncio.sleep(0.5)
        raise AssertionError(f"no {EventType.Name(kind)} after event {after} within {WAIT} s")

    async def dies_holding_its_task(self) -> None:
        """Wait until the stalled worker holds a workflow task (the history's last workflow-task event is a start: it
        may have taken it as it stalled), then kill it: the task still times out, its retry waits for the
        replacement."""
        deadline = asyncio.get_running_loop().time() + WAIT
        while asyncio.get_running_loop().time() < deadline:
            tasks = [e.event_type for e in (await self.history()).events if e.event_type in TASK]
            if tasks and tasks[-1] == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                os.kill(self.stalled.pid, signal.SIGKILL)
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"the stalled worker held no workflow task within {WAIT} s")

    async def last_event_id(self) -> int:
        return (await self.history()).events[-1].event_id

    async def last_seq(self) -> int:
        return (await self.mentorflow.status(self.relationship_id)).seq

    async def published_through(self, seq: int) -> None:
        """Wait until Kafka acknowledged every envelope up to ``seq`` (the outbox let go of them)."""
        deadline = asyncio.get_running_loop().time() + WAIT
        while (await self.mentorflow.status(self.relationship_id)).published_through < seq:
            assert asyncio.get_running_loop().time() < deadline, f"seq {seq} was never acknowledged"
            await asyncio.sleep(0.3)

    def stall(self) -> None:
        os.kill(self.stalled.pid, signal.SIGSTOP)

    @asynccontextmanager
    async def replacement(self) -> AsyncIterator[None]:
        """The replacement worker: replays every task from the history (cache off)."""
        async with Worker(self.client, task_queue=self.queue, workflows=[RelationshipWorkflow], max_cached_workflows=0):
            yield

    async def do(self, type_: str, actor: Actor, **fields: Any) -> Any:
        return await self.mentorflow.send(self.relationship_id, command(type_, actor, **fields), with_state=False)


@pytest.fixture
async def stage(temporal_client: Client, stack: Settings, kafka_topic: str, tmp_path: Path) -> AsyncIterator[Stage]:
    queue = f"restart-{uuid.uuid4().hex[:10]}"
    stalled = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.devserver.workflow_worker_process",
        stack.temporal.address,
        queue,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert stalled.stdout is not None
    line = await asyncio.wait_for(stalled.stdout.readline(), timeout=WAIT)
    assert READY in line.decode(), line
    publisher = KafkaPublisher(stack.kafka.bootstrap_servers, kafka_topic)
    gate = Gate(publisher)
    notifier = Notifier(LogSink(tmp_path / "notifications.jsonl"))
    activities = Worker(temporal_client, task_queue=queue, activities=[gate.publish, notifier.notify])
    try:
        async with activities:
            yield Stage(
                client=temporal_client,
                mentorflow=MentorflowClient(temporal_client, task_queue=queue),
                queue=queue,
                gate=gate,
                stalled=stalled,
                relationship_id=f"r-{uuid.uuid4().hex[:10]}",
            )
    finally:
        if stalled.returncode is None:
            with suppress(ProcessLookupError):  # killed by the test, reaped, returncode not yet set
                os.kill(stalled.pid, signal.SIGKILL)
        await asyncio.wait_for(stalled.wait(), timeout=WAIT)
        await publisher.close()


async def replays(stage: Stage) -> WorkflowHistory:
    history = await stage.history()
    replayer = Replayer(workflows=[RelationshipWorkflow], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
    return history


def timed_out_tasks(history: WorkflowHistory) -> int:
    return sum(1 for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT)


async def in_kickoff(stage: Stage, policy: LifecyclePolicy) -> None:
    await stage.mentorflow.propose(
        program="prog-restart",
        mentor=MENTOR.id,
        mentee=MENTEE.id,
        by=MANAGER,
        relationship_id=stage.relationship_id,
        policy=policy,
    )
    await stage.do("AcceptMatch", MENTOR)
    await stage.do("AcceptMatch", MENTEE)


async def finish_story(stage: Stage) -> None:
    """After the restart the relationship still takes commands and moves on: sign, sign, trial."""
    await stage.do("SignAgreement", MENTOR, goals=["public speaking"], cadence="P2W")
    result = await stage.do("SignAgreement", MENTEE, goals=["promotion case"], cadence="P2W")
    assert result.view.substate.value == "trial"


async def test_a_command_whose_task_timed_out_is_applied_by_the_next_worker(stage: Stage) -> None:
    await in_kickoff(stage, SLOW)
    before = await stage.last_event_id()
    stage.stall()
    sent = asyncio.create_task(stage.do("SignAgreement", MENTOR, goals=["public speaking"], cadence="P2W"))
    await stage.dies_holding_its_task()
    await stage.wait_for_event(EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT, after=before)
    async with stage.replacement():
        result = await asyncio.wait_for(sent, timeout=WAIT)
        assert [e.type for e in result.events] == ["AgreementSigned"]
        signed = await stage.do("SignAgreement", MENTEE, goals=["promotion case"], cadence="P2W")
        assert signed.view.substate.value == "trial"
        history = await replays(stage)
    assert timed_out_tasks(history) >= 1


async def nudge_fired(stage: Stage, after: int, nudge: timedelta) -> None:
    """Until the kickoff nudge's timer fired on the server: its TIMER_FIRED is in the history, or — when the stalled
    worker held a task as it fired, the server buffers the event until that task times out — its time has passed."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while asyncio.get_running_loop().time() < deadline:
        events = (await stage.history()).events
        if any(e.event_type == EventType.EVENT_TYPE_TIMER_FIRED and e.event_id > after for e in events):
            return
        started = [
            e.event_time.ToDatetime(UTC)
            for e in events
            if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
            and e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta() == nudge
        ]
        if started and datetime.now(UTC) > started[-1] + nudge + timedelta(seconds=1):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"the nudge's timer did not fire within {WAIT} s")


async def test_a_timer_that_fired_while_the_worker_stalled_is_handled_by_the_next_worker(stage: Stage) -> None:
    # The kickoff nudge comes 4 s after both accepted: the worker is stalled by then, and still holds the task it
    # took when it stalled (its timeout is 10 s), so it is killed after the timer fired and before that timeout.
    nudge = timedelta(seconds=4)
    await in_kickoff(stage, short_timers(**{**SLOW.model_dump(mode="json"), "kickoff_nudge": "PT4S"}))
    before = await stage.last_event_id()
    stage.stall()
    await nudge_fired(stage, before, nudge)
    await stage.dies_holding_its_task()
    await stage.wait_for_event(EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT, after=before)
    await stage.wait_for_event(EventType.EVENT_TYPE_TIMER_FIRED, after=before)
    async with stage.replacement():
        deadline = asyncio.get_running_loop().time() + WAIT
        while "NudgeSent" not in [e.type for e in await stage.mentorflow.events(stage.relationship_id)]:
            assert asyncio.get_running_loop().time() < deadline, "the nudge never came"
            await asyncio.sleep(0.5)
        await finish_story(stage)
        history = await replays(stage)
    assert timed_out_tasks(history) >= 1


async def test_an_activity_that_completed_while_the_worker_stalled_wakes_the_next_worker(stage: Stage) -> None:
    await in_kickoff(stage, SLOW)
    await stage.published_through(await stage.last_seq())
    stage.gate.open.clear()
    stage.gate.started.clear()
    signed = await stage.do("SignAgreement", MENTOR, goals=["public speaking"], cadence="P2W")
    await asyncio.wait_for(stage.gate.started.wait(), timeout=WAIT)  # the publish of seq N is in flight
    before = await stage.last_event_id()
    stage.stall()
    stage.gate.open.set()  # it completes while the workflow worker is stalled
    await stage.wait_for_event(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, after=before)
    await stage.dies_holding_its_task()
    await stage.wait_for_event(EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT, after=before)
    async with stage.replacement():
        await stage.published_through(signed.last_seq)
        result = await stage.do("SignAgreement", MENTEE, goals=["promotion case"], cadence="P2W")
        assert result.view.substate.value == "trial"
        history = await replays(stage)
    assert timed_out_tasks(history) >= 1
