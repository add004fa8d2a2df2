"""The composition root's one way to open the application's audit service (:class:`service.audit.AuditService`)
from the settings: the audit CLI and the demo's closing verification."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from audit.verify import SETTLE_SECONDS
from workers.settings import Settings

if TYPE_CHECKING:
    from audit.verify import TemporalSource
    from service.audit import AuditService


@asynccontextmanager
async def open_auditor(
    settings: Settings,
    *,
    database_url: str | None = None,
    topic: str | None = None,
    temporal: bool = True,
    kafka: bool = True,
    database: bool = True,
    temporal_source: TemporalSource = "auto",
    replay: bool = True,
    settle: float = SETTLE_SECONDS,
) -> AsyncIterator[AuditService]:
    """The audit service over the configured audit store, events topic and Temporal (each may be left out); the
    database engine is disposed of on exit."""
    from service.audit import AuditService

    client = None
    if temporal:
        from workers.connect import temporal_client

        client = await temporal_client(settings)
    async with AuditService.open(
        database_url=(database_url or settings.database_url) if database else None,
        bootstrap_servers=settings.kafka.access if kafka else None,
        topic=(topic or settings.kafka.events_topic) if kafka else None,
        temporal=client,
        temporal_source=temporal_source,
        replay=replay,
        settle=settle,
        task_queue=settings.temporal.task_queue if temporal else None,
    ) as service:
        yield service
