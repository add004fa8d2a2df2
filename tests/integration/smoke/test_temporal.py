"""Temporal: the dev server runs a workflow with an activity; the test server skips a 30-day timer."""

from __future__ import annotations

import time
import uuid

from temporalio.client import Client
from temporalio.worker import Worker

from tests.integration.smoke.smoke_workflows import ShoutWorkflow, ThirtyDayTimerWorkflow, shout


async def test_workflow_with_activity_completes_on_dev_server(temporal_client: Client, unique_id: str) -> None:
    queue = f"smoke-{unique_id}"
    async with Worker(temporal_client, task_queue=queue, workflows=[ShoutWorkflow], activities=[shout]):
        result = await temporal_client.execute_workflow(
            ShoutWorkflow.run, "mentoring", id=f"smoke-{unique_id}", task_queue=queue
        )
    assert result == "MENTORING"
    history = await temporal_client.get_workflow_handle(f"smoke-{unique_id}").fetch_history()
    kinds = {e.WhichOneof("attributes") for e in history.events}
    assert "activity_task_completed_event_attributes" in kinds


async def test_thirty_day_timer_is_skipped_on_time_skipping_server(time_skipping_env) -> None:  # type: ignore[no-untyped-def]
    client = time_skipping_env.client
    queue = f"smoke-timer-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[ThirtyDayTimerWorkflow]):
        started = time.monotonic()
        slept = await client.execute_workflow(ThirtyDayTimerWorkflow.run, id=queue, task_queue=queue)
        wall = time.monotonic() - started
    assert slept >= 30 * 24 * 3600
    # Not a performance figure: without time skipping this would take 30 days; a loose bound proves it skipped.
    assert wall < 10, f"30 days of workflow time took {wall:.1f}s of wall time: time skipping is not working"
