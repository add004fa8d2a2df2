"""What a command's call through :class:`~workflows.client.MentorflowClient` can end in: the outcomes its observer is
told, the errors of its own (busy, events truncated) and the domain error a workflow's refusal stands for. Kept apart
from the client so the service, the API and the metrics name them without the client's machinery; the client
re-exports them."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from temporalio.exceptions import ApplicationError

import domain
from domain import DomainError, RelationshipNotFound
from workflows.models import CommandIdConflict

__all__ = [
    "COMMAND_OUTCOMES",
    "CommandObserver",
    "EventsTruncated",
    "RelationshipBusy",
    "command_outcome",
    "domain_error",
    "new_command_id",
]

CommandObserver = Callable[[str, str], None]
"""Told of every command's outcome: ``(command type, outcome)``, outcome one of :data:`COMMAND_OUTCOMES`. The API's
metrics hang here (workers/metrics); a re-sent command id counts again (its result is the same)."""

COMMAND_OUTCOMES = ("accepted", "refused", "busy", "error")


def command_outcome(error: BaseException | None) -> str:
    """accepted (no error), refused (the domain said no, or the command id names another command), busy (Temporal
    kept refusing it) or error (anything else: the outcome may be unknown)."""
    if error is None:
        return "accepted"
    if isinstance(error, DomainError | RelationshipNotFound | CommandIdConflict):
        return "refused"
    return "busy" if isinstance(error, RelationshipBusy) else "error"


def new_command_id() -> str:
    return str(uuid.uuid4())


class RelationshipBusy(RuntimeError):
    """Temporal kept refusing the command (10 updates already in flight) for longer than the client waits.

    ``outcome_unknown`` is False when every attempt was refused at admission: nothing was appended. It is True when
    an earlier attempt may have been admitted (a timeout, an aborted update) before the refusals: it may still be
    applied. Either way, re-sending the same command (same command id) is safe and returns its one result."""

    def __init__(self, message: str, *, command_id: str, outcome_unknown: bool) -> None:
        super().__init__(message)
        self.command_id = command_id
        self.outcome_unknown = outcome_unknown


class EventsTruncated(LookupError):
    """The workflow no longer holds the events asked for (they were dropped at continue-as-new)."""


def domain_error(error: ApplicationError) -> DomainError | None:
    """The DomainError an ApplicationError stands for (by its type name), or None."""
    cls = getattr(domain, error.type or "", None)
    if isinstance(cls, type) and issubclass(cls, DomainError):
        return cls(error.message)
    return None
