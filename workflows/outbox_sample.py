"""A bounded sample of the outboxes of running relationships (the operator's outbox depth and age).

Asks Temporal's visibility for at most ``limit`` running relationship workflows on a task queue and queries the
``status`` of each, ``concurrency`` at a time, each query bounded by ``query_seconds``. A workflow that does not
answer in time is counted as ``unanswered``, never waited for: the sample is an operator's figure, not an audit.
Used by the worker's metrics and by ``mentorflow services status``.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from pydantic import BaseModel

from workflows.client import MentorflowClient
from workflows.models import WorkflowStatus
from workflows.relationship import RelationshipWorkflow

__all__ = ["OutboxSample", "sample_outboxes"]

WORKFLOW_TYPE = RelationshipWorkflow.__name__


class OutboxSample(BaseModel):
    sampled: int  # running relationship workflows asked
    unanswered: int  # asked but no answer within the timeout
    depth: int  # unpublished envelopes, summed over the answers
    backlogged: int  # workflows with at least one unpublished envelope
    oldest_age_seconds: float | None  # age of the oldest unpublished envelope (None: every outbox empty)
    truncated: bool  # more running workflows than ``limit``: the figures cover the first ``limit``


async def sample_outboxes(
    client: MentorflowClient,
    *,
    task_queue: str | None = None,
    limit: int = 100,
    concurrency: int = 8,
    query_seconds: float = 5.0,
    now: datetime | None = None,
) -> OutboxSample:
    query = f"WorkflowType = '{WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'"
    if task_queue:
        query += f" AND TaskQueue = '{task_queue}'"
    ids: list[str] = []
    async for execution in client.client.list_workflows(query, limit=limit + 1):
        ids.append(execution.id)
    truncated = len(ids) > limit
    ids = ids[:limit]
    gate = asyncio.Semaphore(concurrency)

    async def ask(workflow_id: str) -> WorkflowStatus | None:
        async with gate:
            with contextlib.suppress(Exception):
                handle = client.client.get_workflow_handle(workflow_id)
                status: WorkflowStatus = await asyncio.wait_for(
                    handle.query(RelationshipWorkflow.status), query_seconds
                )
                return status
            return None

    answers = await asyncio.gather(*(ask(i) for i in ids))
    statuses = [a for a in answers if a is not None]
    instant = now or datetime.now(UTC)
    oldest = [s.outbox_oldest_at for s in statuses if s.outbox and s.outbox_oldest_at is not None]
    return OutboxSample(
        sampled=len(ids),
        unanswered=len(ids) - len(statuses),
        depth=sum(s.outbox for s in statuses),
        backlogged=sum(1 for s in statuses if s.outbox),
        oldest_age_seconds=max(0.0, (instant - min(oldest)).total_seconds()) if oldest else None,
        truncated=truncated,
    )
