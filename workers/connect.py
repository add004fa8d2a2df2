"""The composition root's one way to build the Temporal client facade from the settings."""

from __future__ import annotations

from typing import Any

from workers.settings import Settings, load_settings
from workflows.client import MentorflowClient


async def connect_client(
    settings: Settings | None = None, *, task_queue: str | None = None, **options: Any
) -> MentorflowClient:
    """A :class:`MentorflowClient` on the configured Temporal address, namespace and task queue."""
    temporal = (settings or load_settings()).temporal
    return await MentorflowClient.connect(
        temporal.address, temporal.namespace, task_queue=task_queue or temporal.task_queue, **options
    )
