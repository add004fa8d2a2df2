"""The auditors' operations (DESIGN §7): history, state at an instant, verify one or all, export — what
``mentorflow audit`` and the HTTP API's audit routes both call. Read-only: an auditor reads, never writes.

::

    async with AuditService.open(database_url=url, bootstrap_servers="127.0.0.1:9092", topic=topic,
                                 temporal=temporal_client) as audit:
        rows = await audit.history("r-42")
        state = await audit.state_at("r-42", datetime(2026, 2, 21, 14, tzinfo=UTC))
        report = await audit.verify("r-42")          # report.ok, report.differences, report.lines()
        text, report, count = await audit.export("r-42", "jsonl")
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Literal

from temporalio.client import Client

from audit.history import TimelineRow, export_csv, export_jsonl, fast_state_at, state_at, timeline
from audit.sources import envelopes_of
from audit.verify import SETTLE_SECONDS, Auditor, TemporalSource, VerifyReport, VerifySummary
from domain import ChainBroken, Envelope, RelationshipState
from projections.db import make_engine
from projections.kafka_access import KafkaAddress
from projections.privacy.erasure import LedgerVerdict, audit_ledger

__all__ = ["EXPORT_FORMATS", "AuditService"]

EXPORT_FORMATS = ("jsonl", "csv")


class AuditService:
    """Read-only: an auditor reads, never writes (the archive of closed workflow histories aside)."""

    def __init__(self, auditor: Auditor) -> None:
        self.auditor = auditor

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        *,
        database_url: str | None,
        bootstrap_servers: KafkaAddress | None,
        topic: str | None,
        temporal: Client | None,
        temporal_source: TemporalSource = "auto",
        replay: bool = True,
        settle: float = SETTLE_SECONDS,
        task_queue: str | None = None,
    ) -> AsyncIterator[AuditService]:
        """Over the stores given: the audit store at ``database_url``, the events ``topic``, the Temporal client
        (``None`` for any of them leaves that store out)."""
        engine = make_engine(database_url) if database_url else None
        try:
            yield cls(
                Auditor(
                    engine=engine,
                    bootstrap_servers=bootstrap_servers,
                    topic=topic,
                    temporal=temporal,
                    temporal_source=temporal_source,
                    replay=replay,
                    settle=settle,
                    task_queue=task_queue,
                )
            )
        finally:
            if engine is not None:
                engine.dispose()

    async def envelopes(self, relationship_id: str, source: str = "event_log") -> list[Envelope]:
        """From one store: ``event_log``, ``kafka`` or ``temporal`` (``-`` or ``_``), in seq order."""
        return list(await self.auditor.envelopes(relationship_id, source.replace("-", "_")))

    async def history(self, relationship_id: str, source: str = "event_log") -> list[TimelineRow]:
        return timeline(await self.envelopes(relationship_id, source))

    async def state_at(self, relationship_id: str, at: datetime, source: str = "event_log") -> RelationshipState:
        """The fold of ``evolve`` up to ``at`` (:func:`audit.history.state_at`), on the fast path when every record
        of the store's chain was proven as it was read (:func:`audit.history.fast_state_at`; else the reference,
        which names what is wrong: ``ValueError``, ``domain.ChainBroken``). A store holding two different envelopes
        for one seq (a fork: verify's error) is refused with ``ChainBroken``; identical copies (at-least-once
        publishing) are one event."""
        sequence = await self.auditor.sequence(relationship_id, source.replace("-", "_"))
        forks = [d for d in sequence.differences if d.kind == "duplicate" and d.severity == "error"]
        if forks:
            raise ChainBroken(f"{forks[0].message}: run `mentorflow audit verify {relationship_id}`")
        fast = fast_state_at(sequence.chain, at)
        return fast if fast is not None else state_at(envelopes_of(sequence.chain, relationship_id), at)

    async def verify(self, relationship_id: str) -> VerifyReport:
        return await self.auditor.verify(relationship_id)

    async def verify_all(
        self,
        *,
        program: str | None = None,
        progress: Callable[[int, int], None] | None = None,
        concurrency: int = 16,
        processes: int | None = 1,
    ) -> VerifySummary:
        """Every relationship (of ``program``): the event log in one query, the topic in one scan (``processes``
        2: in a second process meanwhile; 1, the default, here; None: chosen by the topic's size and the load)."""
        return await self.auditor.verify_all(
            program=program, progress=progress, concurrency=concurrency, processes=processes
        )

    async def erasure_ledger(self) -> LedgerVerdict | None:
        """The erasure ledger's chain (docs/privacy.md), read-only; None without the audit store."""
        engine = self.auditor.engine
        return None if engine is None else await asyncio.to_thread(audit_ledger, engine)

    async def export(
        self,
        relationship_id: str,
        fmt: Literal["jsonl", "csv"] = "jsonl",
        source: str = "event_log",
        participant: str | None = None,
    ) -> tuple[str, VerifyReport, int]:
        """The history with its verification result: (the text, the report, how many events). For ``participant``,
        the partner's check-in comments and free-text survey answers are withheld (DESIGN §10)."""
        if fmt not in EXPORT_FORMATS:
            raise ValueError("format must be jsonl or csv")
        report = await self.auditor.verify(relationship_id)
        envelopes = await self.envelopes(relationship_id, source)
        render = export_jsonl if fmt == "jsonl" else export_csv
        text = render(relationship_id, envelopes, report.to_dict(), datetime.now(UTC), participant)
        return text, report, len(envelopes)
