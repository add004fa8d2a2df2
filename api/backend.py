"""What the HTTP API needs from the rest of mentorflow, as one small interface: the routes depend only on
:class:`Backend`. The real one is the application service, :class:`service.relationships.MentorflowService` (the
same service the CLI's reports and audit call); unit tests use an in-memory backend over the pure core.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from domain import Command, Envelope, ProposeRelationship, RelationshipState
from service.relationships import REPORT_NAMES, CommandOutcome, ListFilter, ReportName

__all__ = ["REPORT_NAMES", "Backend", "CommandOutcome", "ListFilter", "ReportName"]


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

    async def participant_events(self, events: Sequence[Envelope], person_id: str) -> list[dict[str, Any]]:
        """The events as that participant sees them: the partner's private text withheld, their own opened."""
        ...

    async def state_at(self, relationship_id: str, at: datetime) -> RelationshipState: ...

    async def verify(self, relationship_id: str | None, program: str | None = None) -> dict[str, Any]: ...

    # --- the projections (eventually consistent: a command shows up after the projector applied it)
    async def list_relationships(self, flt: ListFilter) -> list[dict[str, Any]]: ...

    async def programs(self) -> list[str]: ...

    async def report(self, name: ReportName, program: str | None) -> list[dict[str, Any]]:
        """The rows of ``projections.read_model.REPORTS[name]``: what ``mentorflow report NAME --json`` prints."""
        ...

    async def contested(self, program: str | None) -> list[dict[str, Any]]: ...

    async def latest_transitions(
        self, program: str | None, trigger: str | None, limit: int
    ) -> list[dict[str, Any]]: ...

    async def time_in_stage(self, program: str | None) -> list[dict[str, Any]]: ...

    async def wait_for_projection(self, relationship_id: str, seq: int, seconds: float) -> None:
        """Read-your-writes: return once the projections have applied ``seq`` (TimeoutError otherwise)."""
        ...
