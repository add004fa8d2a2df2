"""Workflows whose task keeps failing: what an operator must see at once (issue 11).

A workflow task that fails (a nondeterminism error, a bug in a handler) is retried by Temporal forever and no error
reaches a caller: the relationship just stops moving. Temporal keeps the attempt count of the pending workflow task
(``DescribeWorkflowExecution``) and the failure in the history (``WorkflowTaskFailed``), so ``mentorflow services
status`` lists every running relationship whose pending task is past its first retry, with the last error.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from workflows.models import WORKFLOW_TYPE

if TYPE_CHECKING:
    from temporalio.client import Client

__all__ = ["WEDGED_AFTER_ATTEMPTS", "WedgedWorkflow", "find_wedged"]

WEDGED_AFTER_ATTEMPTS = 3
"""A pending workflow task on its third attempt has failed (or timed out) twice in a row: no longer a blip."""
SCAN_LIMIT = 2_000
"""Running relationships looked at per scan (the newest first); ``truncated`` says when there were more."""
CONCURRENCY = 16


@dataclass(frozen=True)
class WedgedWorkflow:
    workflow_id: str
    run_id: str
    attempt: int
    error: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class WedgedScan:
    wedged: list[WedgedWorkflow]
    scanned: int
    truncated: bool


async def _last_task_failure(client: Client, workflow_id: str, run_id: str) -> str:
    """The cause of the newest WorkflowTaskFailed / TimedOut event of the run."""
    from temporalio.api.enums.v1 import EventType

    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    for event in reversed(history.events):
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failure = event.workflow_task_failed_event_attributes.failure
            return failure.message.splitlines()[0] if failure.message else "workflow task failed"
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
            return (
                "workflow task timed out: no worker completed it (is a worker running on the task queue?); a retried "
                "task's later failures are not written to the history: the worker's log has their error"
            )
    return "workflow task retried (no failure recorded yet)"


async def find_wedged(
    client: Client, *, task_queue: str | None = None, min_attempts: int = WEDGED_AFTER_ATTEMPTS
) -> WedgedScan:
    """Running relationship workflows whose pending workflow task is on attempt ``min_attempts`` or later."""
    query = f'ExecutionStatus="Running" AND WorkflowType="{WORKFLOW_TYPE}"'
    if task_queue:
        query += f' AND TaskQueue="{task_queue}"'
    executions: list[tuple[str, str]] = []
    truncated = False
    async for execution in client.list_workflows(query):
        if len(executions) == SCAN_LIMIT:
            truncated = True
            break
        executions.append((execution.id, execution.run_id or ""))
    gate = asyncio.Semaphore(CONCURRENCY)

    async def check(workflow_id: str, run_id: str) -> WedgedWorkflow | None:
        async with gate:
            description = await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
            pending = description.raw_description.pending_workflow_task
            if not description.raw_description.HasField("pending_workflow_task") or pending.attempt < min_attempts:
                return None
            error = await _last_task_failure(client, workflow_id, run_id)
            return WedgedWorkflow(workflow_id, run_id, pending.attempt, error)

    found = await asyncio.gather(*(check(w, r) for w, r in executions))
    wedged = sorted((w for w in found if w is not None), key=lambda w: w.workflow_id)
    return WedgedScan(wedged=wedged, scanned=len(executions), truncated=truncated)
