"""The main loop's timer and the outbox's publication, decided in the same workflow task, replay in the order the live
task issued them (the "Activity machine does not handle this event: TimerCanceled" nondeterminism).

The shape that failed (found by replaying every point of the lifecycles, tests/workflow/probing.py: a reassign, 1
run in 4): a publication completes with nothing left to send (its workflow task issues no command), then a command
arrives that closes the relationship (or moves its deadline earlier): in that task the main loop cancelled its timer
and the publish loop scheduled the command's publication. The live task (a worker without a cache replays, then runs
the new task) and a replay of the finished history group the completion and the command into activations
differently. The SDK processes an update before an activity resolution of the same activation, and a
``wait_condition`` with a timeout takes more event-loop steps to cancel its timer than a plain one takes to resume:
the order of the two commands, issued by two coroutines, followed the grouping. Since ``ORDERED_COMMANDS_PATCH`` one
coroutine issues every timer and activity command in a fixed order, and a notification waits for its event's
publication (so a completion that leaves nothing to publish leaves nothing to notify either); the history recorded
before the patch stays in tests/histories/regressions.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from activities.notifications import LogSink, Notifier
from tests.cache import replay_from_scratch
from tests.workflow.conftest import MANAGER, MENTEE, MENTOR, Lifecycle, RecordingPublisher, leave_nothing_running
from tests.workflow.probing import ProbingClient, replay_every_point
from tests.workflow.test_activation_grouping import GatedPublisher
from workers.worker import build_worker
from workflows.client import MentorflowClient
from workflows.connection import DATA_CONVERTER
from workflows.models import Limits, workflow_id
from workflows.relationship import RelationshipWorkflow

REGRESSIONS = Path(__file__).parent.parent / "histories" / "regressions"
E = EventType
TASK = (E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, E.EVENT_TYPE_WORKFLOW_TASK_STARTED, E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)


def _replayer() -> Replayer:
    return Replayer(workflows=[RelationshipWorkflow], data_converter=DATA_CONVERTER)


def completion_then_empty_task(history: WorkflowHistory) -> bool:
    """The history ends with a publication's completion and then a workflow task that issued no command."""
    types = [e.event_type for e in history.events]
    return tuple(types[-4:]) == (E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, *TASK)


async def _settled(lc: Lifecycle, seconds: float = 120.0) -> WorkflowHistory:
    """Waits (reading the history, not querying) until the last publication completed and its task ran."""
    handle = lc.client.handle(lc.relationship_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        history = await handle.fetch_history()
        if completion_then_empty_task(history):
            return history
        assert loop.time() < deadline, [e.event_type for e in history.events[-8:]]
        await asyncio.sleep(0.05)


async def test_a_closing_command_right_after_a_finished_publication_replays(
    own_time_skipping_env: Any, tmp_path: Path
) -> None:
    env = own_time_skipping_env
    queue = f"race-{uuid.uuid4().hex[:10]}"
    notifications = tmp_path / "notifications.jsonl"
    publisher = RecordingPublisher()
    worker = build_worker(
        env.client, task_queue=queue, publisher=publisher, notifier=Notifier(LogSink(notifications)),
        max_cached_workflows=0,
    )  # fmt: skip
    async with worker:
        lc = Lifecycle(
            env=env, client=MentorflowClient(env.client, task_queue=queue), notifications=notifications,
            publisher=publisher,
        )  # fmt: skip
        try:
            await lc.propose()
            await lc.do("AcceptMatch", MENTOR)
            await lc.do("AcceptMatch", MENTEE)
            await lc.state()
            before = await _settled(lc)
            await lc.do("Terminate", MANAGER, reason_code="no_chemistry")  # closes: the main loop wakes
            history = await lc.client.handle(lc.relationship_id).fetch_history()
        finally:
            await leave_nothing_running(lc.client, lc.relationship_id)
    after = [e.event_type for e in history.events[len(before.events) :]]
    assert after[:4] == [*TASK, E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED], after  # right after the empty task
    assert E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED in after, after  # the Terminate's publication, in the same task
    result = await _replayer().replay_workflow(
        WorkflowHistory(workflow_id(lc.relationship_id), history.events), raise_on_replay_failure=False
    )
    if result.replay_failure is not None:
        (tmp_path / "failed.json").write_text(history.to_json())
    assert result.replay_failure is None, f"{result.replay_failure} (history: {tmp_path / 'failed.json'})"


async def test_the_history_recorded_before_the_patch_keeps_failing_as_diagnosed() -> None:
    """That test's history as the code before the patch recorded it (propose, two acceptances, a ``state`` query —
    on the time-skipping server a workflow task of its own, events 41-43 —, the last publication done with nothing
    left to send, events 44-48, then Terminate, 49-56). Its live task cancelled the timer (event 55) before it
    scheduled the publication (56); its replay schedules first. Nothing can replay it; it fails exactly where
    diagnosed. Should a future SDK group such tasks as the live worker did, this test tells (then invert it)."""
    path = REGRESSIONS / "timer-cancel-race-before-patch.json"
    history = WorkflowHistory.from_json("relationship-timer-cancel-race", path.read_text())
    types = [e.event_type for e in history.events]
    assert types[54:] == [E.EVENT_TYPE_TIMER_CANCELED, E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    assert tuple(types[44:51]) == (E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, *TASK, *TASK)  # events 45-51
    result = await _replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert isinstance(result.replay_failure, NondeterminismError), result.replay_failure
    assert "Activity machine does not handle this event: HistoryEvent(id: 55, TimerCanceled)" in str(
        result.replay_failure
    )


async def test_replaying_every_point_names_the_point_that_fails(tmp_path: Path) -> None:
    """The lifecycles' guard (tests/workflow/probing.py) fails on such a history, naming the point and keeping it."""
    path = REGRESSIONS / "timer-cancel-race-before-patch.json"
    history = WorkflowHistory.from_json("relationship-timer-cancel-race", path.read_text())
    with pytest.raises(AssertionError, match=r"r-x after Terminate .*TimerCanceled"):
        await replay_every_point([("r-x after Terminate", history)], tmp_path)
    assert WorkflowHistory.from_json("kept", (tmp_path / "failed-0.json").read_text()).events == history.events


async def test_commands_while_a_publication_is_held_and_across_continue_as_new_replay_at_every_point(
    own_time_skipping_env: Any, tmp_path: Path
) -> None:
    """Commands accepted while the publication of an earlier one is still running (a pause moves the deadlines, the
    resume brings them back), then enough meetings for a continue-as-new: every point replays, and every run
    replays from scratch."""
    env = own_time_skipping_env
    queue = f"held-{uuid.uuid4().hex[:10]}"
    gated = GatedPublisher()
    notifications = tmp_path / "notifications.jsonl"
    worker = build_worker(
        env.client, task_queue=queue, publisher=gated, notifier=Notifier(LogSink(notifications)),
        max_cached_workflows=0,
    )  # fmt: skip
    client = ProbingClient(env.client, task_queue=queue, limits=Limits(continue_as_new_after_events=100))
    lc = Lifecycle(env=env, client=client, notifications=notifications)
    async with worker:
        try:
            await lc.to_cultivation()
            gated.gate.clear()
            await lc.meeting()  # its publication waits at the gate
            await _until_true(lambda: gated.waiting > 0, "the publication in flight")
            await lc.do("Pause", MENTEE, reason="parental leave")
            await lc.do("Resume", MENTEE)
            gated.gate.set()
            handle = client.handle(lc.relationship_id)
            first_run = (await handle.describe()).run_id
            for _ in range(40):
                await lc.meeting()
                if (await handle.describe()).run_id != first_run:
                    break
            else:
                raise AssertionError("no continue-as-new after 40 meetings")
            await lc.meeting()  # the first command of the new run
            await lc.do("Terminate", MANAGER, reason_code="program_ended")
            final = await lc.wait_closed()
        finally:
            await leave_nothing_running(client, lc.relationship_id)
    assert final.outcome is not None and [e.seq for e in gated.published] == list(range(1, final.seq + 1))
    await replay_every_point(client.points, tmp_path)
    assert await replay_from_scratch(env.client, lc.relationship_id) >= 2  # every run


async def _until_true(check: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not check():
        assert loop.time() < deadline, f"not reached in {seconds} s: {what}"
        await asyncio.sleep(0.02)
