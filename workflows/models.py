"""The data the relationship workflow takes, carries and returns (pydantic, through the pydantic data converter).

Kept apart from the workflow class so the client, the CLI and the tests can import them without the workflow.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from activities.names import ACTIVITY_NOTIFY, ACTIVITY_PUBLISH
from domain import Command, Envelope, Health, Outcome, RelationshipState, Stage, Substate, canonical_json

__all__ = [
    "ACTIVITY_NOTIFY",
    "ACTIVITY_PUBLISH",
    "FINGERPRINT_OVERHEAD_BYTES",
    "CommandIdConflict",
    "CommandResult",
    "EventsPage",
    "Limits",
    "PublisherCommand",
    "RelationshipWorkflowInput",
    "StateView",
    "WorkflowStatus",
    "check_binding",
    "command_fingerprint",
    "newest_within",
    "workflow_id",
]

T = TypeVar("T")

WORKFLOW_TYPE = "RelationshipWorkflow"


def workflow_id(relationship_id: str) -> str:
    return f"relationship-{relationship_id}"


class Limits(BaseModel):
    """Bounds of what the workflow holds in memory and carries across continue-as-new.

    The defaults keep the continue-as-new input well under Temporal's 2 MB payload limit: about 50 bytes per
    idempotency record (10,000 ⇒ ~0.5 MB), ~0.7 kB per envelope of the events tail. Texts as long as the domain's
    limits allow (a meeting note of 10,000 four-byte characters is a 40 kB envelope; a command id may have 200
    characters) would pass it, so both are also cut to a byte budget, newest kept (:func:`newest_within`)."""

    model_config = ConfigDict(frozen=True)

    command_records: int = Field(10_000, ge=1, description="command ids remembered for idempotency (oldest evicted)")
    events_tail: int = Field(256, ge=0, description="envelopes carried across continue-as-new for the events query")
    events_tail_bytes: int = Field(
        512 * 1024, ge=0, description="the carried events tail at most (canonical JSON bytes; newest kept)"
    )
    command_records_bytes: int = Field(
        512 * 1024, ge=0, description="the carried idempotency records at most (bytes of their ids; newest kept)"
    )
    publish_batch: int = Field(200, ge=1, description="envelopes per publishing activity call")
    max_carried_outbox: int = Field(
        1_000, ge=1, description="continue-as-new waits while more unpublished envelopes than this are queued"
    )
    max_carried_outbox_bytes: int = Field(
        768 * 1024,
        ge=0,
        description="continue-as-new waits while the unpublished envelopes take more canonical JSON bytes than "
        "this (they cannot be cut: each must still reach Kafka)",
    )
    caller_publish_grace: float = Field(
        5.0,
        gt=0,
        le=30 * 86_400,
        description="seconds the workflow leaves a caller that took over publishing a command's envelopes "
        "(``command_by_publisher``) before it publishes them itself, unless the caller confirmed them first "
        "(the projections lag by this much behind a caller that crashed)",
    )
    continue_as_new_after_events: int | None = Field(
        None,
        ge=100,
        description="tests only: continue-as-new when the history reaches this length (default: when Temporal "
        "suggests it, ~4,096 events)",
    )


def newest_within(items: Sequence[T], size: Callable[[T], int], budget: int) -> list[T]:
    """The longest suffix of ``items`` whose sizes sum to at most ``budget``."""
    total = 0
    kept = 0
    for item in reversed(items):
        total += size(item)
        if total > budget:
            break
        kept += 1
    return list(items[len(items) - kept :])


RECORD_OVERHEAD_BYTES = 24
"""What an idempotency record costs besides its id, in the carried JSON (the two seqs, quotes, separators)."""
FINGERPRINT_OVERHEAD_BYTES = 70
"""What a record's fingerprint costs besides its id, in the carried JSON (64 hex digits, quotes, separators)."""


class RelationshipWorkflowInput(BaseModel):
    """Start input, and the continue-as-new input (then with the carried state, outbox and records)."""

    relationship_id: str
    program_id: str | None = None
    state: RelationshipState | None = None
    outbox: list[Envelope] = Field(default_factory=list, description="sealed, not yet acknowledged by Kafka")
    notifications: list[Envelope] = Field(default_factory=list, description="NudgeSent/EscalatedToManager to send")
    commands: dict[str, tuple[int, int]] = Field(
        default_factory=dict, description="command id -> (first seq, last seq) it appended, oldest first"
    )
    fingerprints: dict[str, str] = Field(
        default_factory=dict, description="command id -> fingerprint of the command it named (see command_fingerprint)"
    )
    tail: list[Envelope] = Field(default_factory=list, description="the latest envelopes, for the events query")
    published_through: int = 0
    limits: Limits = Field(default_factory=Limits)
    run: int = Field(0, description="how many times this relationship continued as new")


class StateView(BaseModel):
    """What a command's result says of the relationship after it: the few fields a caller acts on (the API's answer,
    ``?wait`` on the projection, the CLI's line). The whole state (~3 kB, more with goals and meetings) is a query:
    ``MentorflowClient.state``, or ``send``/``propose`` with ``with_state=True`` (their default)."""

    relationship_id: str
    seq: int
    stage: Stage
    substate: Substate
    health: Health
    outcome: Outcome | None = None
    last_hash: str

    @classmethod
    def of(cls, state: RelationshipState) -> StateView:
        return cls.model_validate(state, from_attributes=True)


class CommandResult(BaseModel):
    """What an accepted command did. ``events`` are the envelopes it appended (for a re-sent command, the same
    ones, as long as the workflow still holds them; ``first_seq``/``last_seq`` always say which they were).

    ``view`` is the relationship right after the command (for a re-sent one: as it is now). ``state`` is the whole
    state: the workflow returns it only in histories recorded before ``slim-command-result`` (and from the
    ``command_result`` query); :class:`~workflows.client.MentorflowClient` fills it in with a ``state`` query unless
    asked not to (``with_state=False``, the hot path of the API and the benchmarks)."""

    command_id: str
    relationship_id: str
    duplicate: bool = False
    first_seq: int
    last_seq: int
    events: list[Envelope] = Field(default_factory=list)
    state: RelationshipState | None = None
    view: StateView = Field(description="built from state when absent (the results of older workers)")
    fingerprint: str | None = Field(
        None, description="command_fingerprint of the command this id named (None for commands accepted before)"
    )
    publish_by_caller: bool = Field(
        False,
        description="the caller publishes ``backlog`` then ``events`` to Kafka, in this order, and confirms with its "
        "next ``command_by_publisher``; the workflow publishes them itself after ``Limits.caller_publish_grace`` "
        "unless confirmed (only results of ``command_by_publisher``)",
    )
    backlog: list[Envelope] = Field(
        default_factory=list,
        description="unpublished envelopes before ``first_seq`` (from the outbox's head: earlier commands not yet "
        "confirmed, timer events), so what the caller publishes is one contiguous range",
    )

    @property
    def to_publish(self) -> list[Envelope]:
        """What the caller publishes, in order: ``backlog`` then ``events`` (none unless ``publish_by_caller``)."""
        return [*self.backlog, *self.events] if self.publish_by_caller else []

    @model_validator(mode="before")
    @classmethod
    def _view_from_state(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("view") is None and data.get("state") is not None:
            state = RelationshipState.model_validate(data["state"])
            data = {**data, "state": state, "view": StateView.of(state)}
        return data


class PublisherCommand(BaseModel):
    """The ``command_by_publisher`` update's input: a command from a caller that publishes its result's envelopes
    itself, with how far this caller has published the relationship (Kafka acknowledged every seq through
    ``published_through`` that it was handed): the workflow drops those from its outbox instead of publishing them
    again. The workflow never drops more than it handed out."""

    command: Command
    published_through: int = Field(0, ge=0)


def command_fingerprint(command: Command) -> str:
    """What a command id is bound to: sha256 of the command's canonical JSON without the id itself, i.e. its type,
    actor and payload (a ProposeRelationship also names its relationship; any other command goes to one workflow)."""
    data = command.model_dump(mode="json", exclude={"command_id"})
    return hashlib.sha256(canonical_json(data)).hexdigest()


class CommandIdConflict(ValueError):
    """A command id re-sent with other content (another relationship, actor or payload): refused, never answered
    with the first command's result (which would show a stranger another relationship's state)."""

    def __init__(self, command_id: str) -> None:
        super().__init__(
            f"command id {command_id} was already used for another command (another relationship, actor or "
            "payload); a command id names exactly one command: send this one with a new command id"
        )
        self.command_id = command_id


def check_binding(command: Command, result: CommandResult) -> CommandResult:
    """``result`` if it is the result of ``command`` (a first answer, or a re-send of the very same command);
    :class:`CommandIdConflict` otherwise. Results from before fingerprints were kept are checked by what their
    envelopes say: every one carries the command's actor and id."""
    if result.fingerprint is not None:
        same = result.fingerprint == command_fingerprint(command)
    else:
        same = all(e.actor == command.actor and e.causation_id == command.command_id for e in result.events)
    if not same or result.command_id != command.command_id:
        raise CommandIdConflict(command.command_id)
    return result


class EventsPage(BaseModel):
    """The envelopes after a seq still held by the workflow. Older ones (before ``first_available_seq``) were
    dropped at continue-as-new: read them from the Kafka topic or the audit store."""

    events: list[Envelope]
    first_available_seq: int
    last_seq: int

    @property
    def complete_after(self) -> int:
        """Events are complete for any ``after_seq >= complete_after``."""
        return self.first_available_seq - 1


class WorkflowStatus(BaseModel):
    """Operational view: how far publishing got, what is still queued."""

    relationship_id: str
    seq: int
    published_through: int
    outbox: int
    notifications: int
    commands_remembered: int
    run: int
    closed: bool
    outbox_oldest_at: datetime | None = None  # occurred_at of the oldest unpublished envelope (the outbox's age)
