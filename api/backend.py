"""What the HTTP API needs from the rest of mentorflow, as one small interface.

The routes depend only on :class:`Backend`. The real one (:class:`api.live.LiveBackend`) puts commands and
authoritative reads through :class:`workflows.client.MentorflowClient` (Temporal), reads lists and reports from the
projection tables through :mod:`projections.reports` (the functions ``mentorflow report`` prints, so the dashboard and
the CLI show the same numbers) and audits through :mod:`audit`. Unit tests use an in-memory backend over the pure core.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from domain import Command, Envelope, ProposeRelationship, RelationshipState

__all__ = ["REPORT_NAMES", "Backend", "CommandOutcome", "ListFilter", "ReportName"]

ReportName = Literal["stages", "transitions", "funnel", "at-risk"]
REPORT_NAMES: tuple[str, ...] = ("stages", "transitions", "funnel", "at-risk")


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """The relationship after an accepted command, and the envelopes the command appended (oldest first)."""

    state: RelationshipState
    events: list[Envelope] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ListFilter:
    program: str | None = None
    stage: str | None = None
    substate: str | None = None
    health: str | None = None
    person: str | None = None  # mentor or mentee
    limit: int = 100
    offset: int = 0


class Backend(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    # --- commands (raise the DomainError subclass of a rejection; RelationshipNotFound for an unknown id)
    async def propose(self, command: ProposeRelationship) -> CommandOutcome: ...

    async def send(self, relationship_id: str, command: Command) -> CommandOutcome: ...

    # --- the authoritative reads (the workflow)
    async def state(self, relationship_id: str) -> RelationshipState: ...

    # --- audit
    async def history(self, relationship_id: str) -> list[Envelope]: ...

    async def state_at(self, relationship_id: str, at: datetime) -> RelationshipState: ...

    async def verify(self, relationship_id: str | None, program: str | None = None) -> dict[str, Any]: ...

    # --- the projections (eventually consistent: a command shows up after the projector applied it)
    async def list_relationships(self, flt: ListFilter) -> list[dict[str, Any]]: ...

    async def programs(self) -> list[str]: ...

    async def report(self, name: ReportName, program: str | None) -> list[dict[str, Any]]:
        """The rows of ``projections.reports.REPORTS[name]``: what ``mentorflow report NAME --format json`` prints."""
        ...

    async def contested(self, program: str | None) -> list[dict[str, Any]]: ...

    async def latest_transitions(
        self, program: str | None, trigger: str | None, limit: int
    ) -> list[dict[str, Any]]: ...

    async def time_in_stage(self, program: str | None) -> list[dict[str, Any]]: ...

    async def wait_for_projection(self, relationship_id: str, seq: int, seconds: float) -> None:
        """Read-your-writes: return once the projections have applied ``seq`` (TimeoutError otherwise)."""
        ...
