"""The auditors' side of the Python client (DESIGN §7, §8): the same operations as ``mentorflow audit``.

async with AuditClient.connect(settings) as audit:
    rows = await audit.history("r-42")
    state = await audit.state_at("r-42", datetime(2026, 2, 21, 14, tzinfo=UTC))
    report = await audit.verify("r-42")          # report.ok, report.differences, report.lines()
    text = await audit.export("r-42", "jsonl")
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from audit.history import TimelineRow, export_csv, export_jsonl, state_at, timeline
from audit.verify import Auditor, VerifyReport, VerifySummary
from domain import RelationshipState

__all__ = ["AuditClient"]


class AuditClient:
    """Read-only: an auditor reads, never writes (the archive of closed workflow histories aside)."""

    def __init__(self, auditor: Auditor) -> None:
        self.auditor = auditor

    @classmethod
    @asynccontextmanager
    async def connect(
        cls,
        settings: Any,
        *,
        database_url: str | None = None,
        topic: str | None = None,
        temporal: bool = True,
    ) -> AsyncIterator[AuditClient]:
        """From ``workers.settings.Settings``: the configured audit store, events topic and Temporal."""
        from projections.db import make_engine

        engine = make_engine(database_url or settings.database_url)
        client = None
        if temporal:
            from workflows.connection import connect

            client = await connect(settings.temporal.address, settings.temporal.namespace)
        try:
            yield cls(
                Auditor(
                    engine=engine,
                    bootstrap_servers=settings.kafka.bootstrap_servers,
                    topic=topic or settings.kafka.events_topic,
                    temporal=client,
                )
            )
        finally:
            engine.dispose()

    async def history(self, relationship_id: str, source: str = "event_log") -> list[TimelineRow]:
        return timeline(await self.auditor.envelopes(relationship_id, source))

    async def state_at(self, relationship_id: str, at: datetime, source: str = "event_log") -> RelationshipState:
        return state_at(await self.auditor.envelopes(relationship_id, source), at)

    async def verify(self, relationship_id: str) -> VerifyReport:
        return await self.auditor.verify(relationship_id)

    async def verify_all(
        self, progress: Callable[[int, int], None] | None = None, program: str | None = None
    ) -> VerifySummary:
        """Every relationship (of ``program``): the event log in one query, the topic in one scan."""
        return await self.auditor.verify_all(program=program, progress=progress)

    async def export(self, relationship_id: str, fmt: str = "jsonl", source: str = "event_log") -> str:
        if fmt not in ("jsonl", "csv"):
            raise ValueError("format must be jsonl or csv")
        report = await self.auditor.verify(relationship_id)
        envelopes = await self.auditor.envelopes(relationship_id, source)
        render = export_jsonl if fmt == "jsonl" else export_csv
        return render(relationship_id, envelopes, report.to_dict(), datetime.now(UTC))
