"""The commands of rules version 2 outside separation (``decide`` dispatches to them; who and where are in its
``ROLES`` / ``WHERE`` tables): leave before cultivation, manager reassignment, meeting confirmation and dispute."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from domain.commands import (
    CommandBase,
    ConfirmMeeting,
    DisputeMeeting,
    LeaveRelationship,
    Reassign,
)
from domain.errors import InvalidCommand
from domain.events import (
    Event,
    HealthChanged,
    MeetingConfirmed,
    MeetingDisputed,
    Reassigned,
    RelationshipLeft,
)
from domain.evolve import MEETING_LOG_LIMIT, evolve
from domain.health import target_health
from domain.moves import close, who
from domain.stages import Outcome, Stage
from domain.state import MeetingEntry, RelationshipState

__all__ = ["V2_HANDLERS"]


def _leave(state: RelationshipState, c: LeaveRelationship, now: datetime) -> list[Event]:
    why = f"left by {who(c)} before cultivation ({state.substate.value}): {c.reason}"
    return [
        RelationshipLeft(at=now, by=c.actor.id, role=c.actor.role, reason=c.reason),
        *close(state, Outcome.DID_NOT_START, why, trigger="command", at=now),
    ]


def _reassign(state: RelationshipState, c: Reassign, now: datetime) -> list[Event]:
    if c.successor_id == state.relationship_id:
        raise InvalidCommand(f"successor_id {c.successor_id} is this relationship; a reassignment needs a new one")
    why = f"reassigned by {who(c)} to relationship {c.successor_id}: {c.reason}"
    return [
        Reassigned(at=now, by=c.actor.id, successor_id=c.successor_id, reason=c.reason),
        *close(state, Outcome.REMATCHED, why, trigger="command", at=now),
    ]


def _meeting_to_answer(state: RelationshipState, c: ConfirmMeeting | DisputeMeeting) -> MeetingEntry:
    entry = state.meeting_log.get(c.meeting_id)
    number = c.meeting_id.removeprefix("meeting-")
    if entry is None and number.isdigit() and 1 <= int(number) <= state.meetings_logged:
        raise InvalidCommand(
            f"meeting {c.meeting_id} is too old to confirm or dispute (the last {MEETING_LOG_LIMIT} meetings can be)"
        )
    if entry is None:
        known = ", ".join(k for k, m in state.meeting_log.items() if m.status == "logged") or "none"
        raise InvalidCommand(
            f"meeting {c.meeting_id} does not exist in relationship {state.relationship_id} "
            f"(meetings awaiting an answer: {known})"
        )
    if entry.by == c.actor.id:
        raise InvalidCommand(f"{who(c)} logged meeting {c.meeting_id}; the other participant confirms or disputes it")
    if entry.status != "logged":
        raise InvalidCommand(f"meeting {c.meeting_id} is already {entry.status}")
    return entry


def _confirm(state: RelationshipState, c: ConfirmMeeting, now: datetime) -> list[Event]:
    _meeting_to_answer(state, c)
    return [MeetingConfirmed(at=now, meeting_id=c.meeting_id, by=c.actor.id, role=c.actor.role)]


def _dispute(state: RelationshipState, c: DisputeMeeting, now: datetime) -> list[Event]:
    _meeting_to_answer(state, c)
    disputed = MeetingDisputed(at=now, meeting_id=c.meeting_id, by=c.actor.id, role=c.actor.role, reason=c.reason)
    events: list[Event] = [disputed]
    if state.stage is Stage.CULTIVATION:
        effective_now = state.paused_at if state.paused_at is not None else now
        health, why = target_health(evolve(state, disputed), effective_now)
        if health != state.health:
            reason = f"meeting {c.meeting_id} disputed by {who(c)}: {why}"
            events.append(HealthChanged(at=now, from_health=state.health, to_health=health, reason=reason))
    return events


V2_HANDLERS: dict[type[CommandBase], Callable[[RelationshipState, Any, datetime], list[Event]]] = {
    LeaveRelationship: _leave,
    Reassign: _reassign,
    ConfirmMeeting: _confirm,
    DisputeMeeting: _dispute,
}
