"""The outbox across continue-as-new: its envelopes cannot be cut (each must still reach Kafka), so while they take
more than ``Limits.max_carried_outbox_bytes`` the workflow does not continue as new; it publishes first. Every input
it hands to the next run stays within the budget, and nothing is lost or reordered."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities.names import ACTIVITY_PUBLISH
from activities.notifications import LogSink, Notifier
from activities.publishing import PublishReceipt
from domain import Envelope
from tests.cache import TEST_WORKFLOW_CACHE
from tests.workflow.conftest import MENTEE, MENTOR, Lifecycle, RecordingPublisher
from workers.worker import build_worker
from workflows.client import MentorflowClient
from workflows.models import Limits, RelationshipWorkflowInput

OUTBOX_BYTES = 16 * 1024
NOTES = "n" * 8_000  # an ~8 kB envelope: two of them are over the budget


class BrokenPublisher(RecordingPublisher):
    """Refuses every batch (non-retryable: the outbox parks it and tries again later) until ``broken`` is False."""

    broken = True

    @activity.defn(name=ACTIVITY_PUBLISH)
    async def publish(self, batch: list[Envelope]) -> PublishReceipt:
        if self.broken:
            raise ApplicationError("the broker refuses the batch", type="InvalidBatch", non_retryable=True)
        return await RecordingPublisher.publish(self, batch)


async def _carried(client: Client, handle: WorkflowHandle[Any, Any]) -> list[RelationshipWorkflowInput]:
    """The input each run was started with, newest first, following the chain of runs back to the first."""
    inputs: list[RelationshipWorkflowInput] = []
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        [given] = await client.data_converter.decode(started.input.payloads, [RelationshipWorkflowInput])
        inputs.append(given)
        run_id = started.continued_execution_run_id or None
        if run_id is None:
            return inputs


async def test_an_oversized_outbox_is_published_before_it_is_carried(
    own_time_skipping_env: Any, tmp_path: Path
) -> None:
    env = own_time_skipping_env
    queue = f"wf-{uuid.uuid4().hex[:10]}"
    publisher = BrokenPublisher()
    limits = Limits(continue_as_new_after_events=100, max_carried_outbox_bytes=OUTBOX_BYTES)
    worker: Worker = build_worker(
        env.client,
        task_queue=queue,
        publisher=publisher,
        notifier=Notifier(LogSink(tmp_path / "notifications.jsonl")),
        max_cached_workflows=TEST_WORKFLOW_CACHE,
    )
    client = MentorflowClient(env.client, task_queue=queue, limits=limits)
    async with worker:
        life = Lifecycle(env=env, client=client, notifications=tmp_path / "notifications.jsonl", publisher=publisher)
        await life.propose()
        await life.do("AcceptMatch", MENTOR)
        await life.do("AcceptMatch", MENTEE)
        await life.do("SignAgreement", MENTOR, goals=["public speaking"], cadence="P2W")
        await life.do("SignAgreement", MENTEE, goals=["promotion case"], cadence="P2W")
        for i in range(30):  # Kafka refuses: the outbox grows past the budget, the history past the trigger
            await life.do(
                "LogMeeting", MENTOR if i % 2 else MENTEE, held_at=(await life.now()).isoformat(), notes=NOTES
            )
        handle = life.client.handle(life.relationship_id)
        history = await handle.fetch_history()
        status = await life.client.status(life.relationship_id)
        assert len(history.events) > limits.continue_as_new_after_events  # continue-as-new would be due ...
        assert status.outbox == status.seq and status.run == 0  # ... but the outbox is too big to carry: it waits

        publisher.broken = False  # Kafka takes the batches again: the parked outbox drains, then the run continues
        for _ in range(30):
            await life.sleep(minutes=2)
            status = await life.client.status(life.relationship_id)
            if status.run >= 1:
                break
        assert status.run >= 1, status

        carried = await _carried(env.client, handle)
        assert len(carried) == status.run + 1
        for given in carried[:-1]:  # every run but the first was handed an outbox within the budget
            assert sum(len(e.to_bytes()) for e in given.outbox) <= OUTBOX_BYTES
        state = await life.state()
        assert [e.seq for e in life.published()] == list(range(1, state.seq + 1))  # nothing lost, in order
