"""Separation and redefinition commands (``decide`` dispatches to them): propose, consent (late, while contested,
from rules version 2), withdraw and object (v2), the manager's resolution (a reconcile after the term end needs a
new term end, v2), and the redefinition outcomes (differing continuing outcomes => the weaker tie, v2)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from domain._time import human_instant
from domain.commands import (
    CommandBase,
    ConsentSeparation,
    ObjectSeparation,
    ProposeSeparation,
    RecordRedefinition,
    ResolveSeparation,
    WithdrawSeparation,
)
from domain.errors import InvalidCommand
from domain.events import (
    EscalatedToManager,
    Event,
    RedefinitionRecorded,
    SeparationConsented,
    SeparationContested,
    SeparationObjected,
    SeparationProposed,
    SeparationResolved,
    SeparationWithdrawn,
    TermExtended,
)
from domain.moves import close, move, policy_of, who
from domain.rules import is_v2
from domain.stages import Outcome, Stage, Substate
from domain.state import RelationshipState

__all__ = ["SEPARATION_HANDLERS"]


def _propose_separation(state: RelationshipState, c: ProposeSeparation, now: datetime) -> list[Event]:
    policy = policy_of(state)
    return [
        SeparationProposed(
            at=now, by=c.actor.id, role=c.actor.role, reason=c.reason, consent_due_at=policy.consent_window.add_to(now)
        ),
        move(
            state,
            Stage.SEPARATION,
            Substate.AWAITING_CONSENT,
            trigger="command",
            reason=f"separation proposed by {who(c)}: {c.reason}",
            at=now,
        ),
    ]


def _consent(state: RelationshipState, c: ConsentSeparation, now: datetime) -> list[Event]:
    if c.actor.id == state.separation_proposed_by:
        raise InvalidCommand(f"{who(c)} proposed the separation; the consent must come from the other participant")
    late = " (late, while contested)" if state.substate is Substate.CONTESTED else ""
    return [
        SeparationConsented(at=now, by=c.actor.id, role=c.actor.role),
        move(
            state,
            Stage.SEPARATION,
            Substate.WINDING_DOWN,
            trigger="command",
            reason=f"mutual separation: consented by {who(c)}{late}",
            at=now,
        ),
    ]


def _resolve(state: RelationshipState, c: ResolveSeparation, now: datetime) -> list[Event]:
    resolved = SeparationResolved(at=now, by=c.actor.id, resolution=c.resolution, note=c.note)
    why = f"separation resolved by {who(c)}: {c.resolution}" + (f" ({c.note})" if c.note else "")
    if c.resolution == "end":
        if c.term_ends_at is not None:
            raise InvalidCommand("term_ends_at goes with resolution reconcile only (the new term end)")
        return [resolved, move(state, Stage.SEPARATION, Substate.WINDING_DOWN, trigger="command", reason=why, at=now)]
    events: list[Event] = [resolved, *_new_term_end(state, c, now)]
    return [*events, move(state, Stage.CULTIVATION, Substate.ACTIVE, trigger="command", reason=why, at=now)]


def _new_term_end(state: RelationshipState, c: ResolveSeparation, now: datetime) -> list[Event]:
    """v2: a reconcile once the term is over must set a new term end (else the term end would undo it at once)."""
    if not is_v2(state):
        if c.term_ends_at is not None:
            raise InvalidCommand(
                f"term_ends_at needs rules version 2; relationship {state.relationship_id} keeps rules version "
                f"{state.rules_version}"
            )
        return []
    ended = state.term_ends_at is not None and now >= state.term_ends_at
    if c.term_ends_at is None:
        if ended:
            assert state.term_ends_at is not None
            raise InvalidCommand(
                f"the term ended at {human_instant(state.term_ends_at)}; a reconcile now needs term_ends_at, "
                f"the new term end (after {human_instant(now)})"
            )
        return []
    if c.term_ends_at <= now:
        raise InvalidCommand(f"term_ends_at {human_instant(c.term_ends_at)} must be after now ({human_instant(now)})")
    previous = state.term_ends_at or now
    return [TermExtended(at=now, by=c.actor.id, previous_term_ends_at=previous, term_ends_at=c.term_ends_at)]


def _redefine(state: RelationshipState, c: RecordRedefinition, now: datetime) -> list[Event]:
    if c.actor.id in state.redefinition:
        raise InvalidCommand(
            f"{who(c)} has already recorded the redefinition outcome {state.redefinition[c.actor.id].value}"
        )
    events: list[Event] = [
        RedefinitionRecorded(at=now, by=c.actor.id, role=c.actor.role, outcome=c.outcome, note=c.note)
    ]
    recorded = {**{k: v.value for k, v in state.redefinition.items()}, c.actor.id: c.outcome}
    if set(state.participants) <= set(recorded):
        values = {recorded[p] for p in state.participants}
        continuing = {Outcome.COLLEGIAL.value, Outcome.FRIENDSHIP.value}
        if len(values) == 1:
            outcome = Outcome(values.pop())
            reason = f"both participants recorded {outcome.value}"
        elif is_v2(state) and values <= continuing:
            outcome = Outcome.COLLEGIAL
            detail = ", ".join(f"{state.role_of(p)}: {recorded[p]}" for p in state.participants)
            reason = f"both participants continue ({detail}) => the weaker continuing tie, collegial"
        else:
            outcome = Outcome.ENDED
            detail = ", ".join(f"{state.role_of(p)}: {recorded[p]}" for p in state.participants)
            reason = f"participants disagreed ({detail}) => ended"
        events.extend(close(state, outcome, reason, trigger="command", at=now))
    return events


def _withdraw(state: RelationshipState, c: WithdrawSeparation, now: datetime) -> list[Event]:
    if c.actor.id != state.separation_proposed_by:
        raise InvalidCommand(
            f"only the proposer ({state.separation_proposed_by}) may withdraw the separation proposal; "
            f"{who(c)} may consent or object"
        )
    why = f"separation proposal withdrawn by {who(c)}"
    return [
        SeparationWithdrawn(at=now, by=c.actor.id, role=c.actor.role),
        move(state, Stage.CULTIVATION, Substate.ACTIVE, trigger="command", reason=why, at=now),
    ]


def _object(state: RelationshipState, c: ObjectSeparation, now: datetime) -> list[Event]:
    proposer = state.separation_proposed_by or "?"
    if c.actor.id == proposer:
        raise InvalidCommand(f"{who(c)} proposed the separation; the objection must come from the other participant")
    objected = SeparationObjected(at=now, by=c.actor.id, role=c.actor.role, reason=c.reason)
    if state.substate is Substate.CONTESTED:
        return [objected]  # already the manager's case: the objection is on record (and sent to the manager)
    why = f"separation proposed by {proposer} objected to by {who(c)}: {c.reason}; contested, the manager decides"
    return [
        objected,
        SeparationContested(at=now, proposed_by=proposer, not_consented_by=c.actor.id),
        move(state, Stage.SEPARATION, Substate.CONTESTED, trigger="command", reason=why, at=now),
        EscalatedToManager(at=now, rule="separation_contested", reason=why),
    ]


SEPARATION_HANDLERS: dict[type[CommandBase], Callable[[RelationshipState, Any, datetime], list[Event]]] = {
    ProposeSeparation: _propose_separation,
    ConsentSeparation: _consent,
    WithdrawSeparation: _withdraw,
    ObjectSeparation: _object,
    ResolveSeparation: _resolve,
    RecordRedefinition: _redefine,
}
