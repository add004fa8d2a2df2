"""Waiting for a relationship's outbox: what its workflow committed has reached the topic."""

from __future__ import annotations

import asyncio

from workflows.client import MentorflowClient
from workflows.models import WorkflowStatus


async def wait_published(
    client: MentorflowClient, rid: str, seq: int | None = None, wait: float = 60.0
) -> WorkflowStatus:
    """Until the workflow says it published through ``seq`` (when ``seq`` is None: every event it holds, its outbox
    empty). A test that terminates a workflow waits for this first: a terminated workflow's backstop never
    publishes what was still in its outbox (on a broker just started, the first publication takes seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        status = await client.status(rid)
        everything = not status.outbox and status.published_through >= status.seq
        if everything if seq is None else status.published_through >= seq:
            return status
        assert loop.time() < deadline, f"not published after {wait} s: {status}"
        await asyncio.sleep(0.1)
