"""A replay groups a workflow's tasks into activations differently from the live run; the commands must not change.

The long audit property test (``make test-long``) caught it: a publication completes with nothing left to send (its
workflow task issues no command), then refused commands each leave an empty workflow task in the history (no
command either), past the continue-as-new trigger, then a command is accepted. The live worker (workflow cached)
saw the completion in its own task, history length below the trigger, and went on waiting. sdk-core replays such a
chain of command-less tasks as ONE activation whose history length is the chain's END, past the trigger: code that
asked ``workflow.info()`` for the history length at every wake-up continued-as-new there on replay — commands the
history does not have ("Timer machine does not handle this event: WorkflowExecutionUpdateAccepted"). Since
``PATCH_HISTORY_LENGTH_FROM_COMMANDS`` the workflow reads the length only in tasks that issue commands anyway.

The live worker keeps its workflows cached here on purpose (a worker without a cache replays every task from
scratch, folding as the replay does, and never shows the difference).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from activities.names import ACTIVITY_PUBLISH
from activities.notifications import LogSink, Notifier
from activities.publishing import PublishReceipt
from domain import DomainError, Envelope
from tests.workflow.conftest import MENTOR, Lifecycle
from workers.worker import build_worker
from workflows.client import MentorflowClient
from workflows.models import Limits, workflow_id
from workflows.relationship import RelationshipWorkflow

REGRESSIONS = Path(__file__).parent.parent / "histories" / "regressions"
"""Histories that once failed replay (not replayed by test_replay.py: see each test here)."""
CACHED = 100
"""The live worker's workflow cache: on (see the module docstring)."""
TRIGGER = 100
"""``Limits.continue_as_new_after_events`` (its minimum)."""
TASK = (
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
)


class GatedPublisher:
    """``publish_events`` as a test activity that waits while the test holds the gate."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.gate.set()
        self.waiting = 0
        self.published: list[Envelope] = []

    @activity.defn(name=ACTIVITY_PUBLISH)
    async def publish(self, batch: list[Envelope]) -> PublishReceipt:
        self.waiting += 1
        try:
            await self.gate.wait()
        finally:
            self.waiting -= 1
        first = len(self.published)
        self.published.extend(batch)
        return PublishReceipt(
            published=len(batch), first_seq=batch[0].seq, last_seq=batch[-1].seq, partition=0,
            first_offset=first, last_offset=len(self.published) - 1,
        )  # fmt: skip


def empty_task_chains(history: WorkflowHistory) -> list[tuple[int, int]]:
    """(first, last) event ids of each run of back-to-back workflow tasks with nothing between them (no command,
    no other event): what sdk-core replays as one activation."""
    types = [e.event_type for e in history.events]
    chains: list[tuple[int, int]] = []
    i = 0
    while i + 6 <= len(types):
        j = i
        while tuple(types[j : j + 3]) == TASK and tuple(types[j + 3 : j + 6]) == TASK:
            j += 3
        if j > i:
            chains.append((history.events[i].event_id, history.events[j + 2].event_id))
            i = j + 3
        else:
            i += 1
    return chains


async def chain_across_trigger(env: Any, notifications: Path) -> WorkflowHistory:
    """Live, with the current code (cache on): a publication done with nothing left to send, then refused commands
    past the continue-as-new trigger, then an accepted command (the run continues-as-new). The run's history."""
    gated = GatedPublisher()
    queue = f"grouping-{uuid.uuid4().hex[:10]}"
    worker = build_worker(
        env.client,
        task_queue=queue,
        publisher=gated,
        notifier=Notifier(LogSink(notifications)),
        max_cached_workflows=CACHED,
    )
    async with worker:
        client = MentorflowClient(env.client, task_queue=queue, limits=Limits(continue_as_new_after_events=TRIGGER))
        lc = Lifecycle(env=env, client=client, notifications=notifications)
        handle = env.client.get_workflow_handle(workflow_id(lc.relationship_id))
        await lc.to_cultivation()
        while not TRIGGER - 40 <= await _length(handle) <= TRIGGER - 25:  # continue-as-new restarts the count
            await lc.meeting()
        await _until(lambda: _drained(lc), "everything published")
        run_id = (await handle.describe()).run_id

        gated.gate.clear()
        await lc.meeting()  # its publication waits at the gate
        await _until(lambda: _publishing(gated), "the publication in flight")
        await _refused(lc)  # an empty task: the chain can start after it
        gated.gate.set()
        await _until(lambda: _drained(lc), "the publication done, nothing left to send (a task with no command)")
        while await _length(handle) < TRIGGER + 6:
            await _refused(lc)
        await lc.meeting()  # accepted: past the trigger, the live run continues-as-new
        await _until(lambda: _drained(lc), "the last meeting published")
        history: WorkflowHistory = await env.client.get_workflow_handle(
            workflow_id(lc.relationship_id), run_id=run_id
        ).fetch_history()
        return history


async def test_a_chain_of_commandless_tasks_across_the_continue_as_new_trigger_replays(
    own_time_skipping_env: Any, tmp_path: Path
) -> None:
    history = await chain_across_trigger(own_time_skipping_env, tmp_path / "notifications.jsonl")
    assert history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    assert any(first < TRIGGER < last for first, last in empty_task_chains(history)), empty_task_chains(history)
    result = await _replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


async def test_the_history_recorded_before_the_patch_keeps_failing_as_diagnosed() -> None:
    """The history the long property test caught (recorded by the code before the patch; its steps in the
    ``.steps.txt`` beside it). Nothing can replay it: the live run decided on a history length the history does not
    hold. It fails exactly where diagnosed — the replay continues-as-new at the end of the chain of empty tasks
    (events 87..110) where the live run had accepted the next command (event 111). Should a future SDK replay such
    chains task by task, this test tells: the history would replay, and this test is to be inverted."""
    path = REGRESSIONS / "commandless-chain-before-patch.json"
    history = WorkflowHistory.from_json("relationship-prop-bea59e1795", path.read_text())
    chains = empty_task_chains(history)
    assert (87, 110) in chains, chains
    result = await _replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert isinstance(result.replay_failure, NondeterminismError), result.replay_failure
    assert "Timer machine does not handle this event: HistoryEvent(id: 111, WorkflowExecutionUpdateAccepted)" in str(
        result.replay_failure
    )


def _replayer() -> Replayer:
    return Replayer(workflows=[RelationshipWorkflow], data_converter=pydantic_data_converter)


async def _until(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 120.0) -> None:
    """Polls ``check`` (a query) until it holds. On a loaded machine the time-skipping server may leave one query
    unanswered past the client's RPC timeout ("Timeout expired", seen in a full CI run): that poll is a "not yet"."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await _answered(check):
        if loop.time() > deadline:
            raise AssertionError(f"not reached in {seconds} s: {what}")
        await asyncio.sleep(0.05)


async def _answered(check: Callable[[], Awaitable[bool]]) -> bool:
    try:
        return await check()
    except RPCError as exc:
        if exc.status not in (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED):
            raise
        return False


async def _drained(lc: Lifecycle) -> bool:
    status = await lc.client.status(lc.relationship_id)
    return status.outbox == 0 and status.published_through == status.seq


async def _publishing(gated: GatedPublisher) -> bool:
    return gated.waiting > 0


async def _refused(lc: Lifecycle) -> None:
    with pytest.raises(DomainError):
        await lc.do("AcceptMatch", MENTOR)  # accepted long ago


async def _length(handle: WorkflowHandle[Any, Any]) -> int:
    """The current run's history length."""
    return len((await handle.fetch_history()).events)
