"""A workflow-only worker in a process of its own, for tests that stall it (SIGSTOP) or kill it (SIGKILL) while it
holds a workflow task: ``python -m tests.integration.devserver.workflow_worker_process TASK_QUEUE``.

It runs the real RelationshipWorkflow with the production cache, and no activity: the test runs the activities in
a worker of its own, so an activity can complete while this process is stalled."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

from temporalio.worker import Worker

from workflows.connection import connect
from workflows.relationship import RelationshipWorkflow

READY = "workflow worker ready"


async def main(address: str, task_queue: str) -> None:
    client = await connect(address, "default")
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[RelationshipWorkflow],
        # Short, so a stalled worker's sticky queue hands the task back to the task queue quickly.
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=2),
    )
    async with worker:
        print(READY, flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
