"""Decide/tick + evolve + seal in one step (what the workflow calls), and replay of a log (what auditors call)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime

from domain._time import human_instant, to_utc
from domain.actors import SYSTEM, Actor
from domain.commands import CommandBase
from domain.decide import decide
from domain.envelope import Envelope, event_from_envelope, seal
from domain.errors import ChainBroken
from domain.events import EventBase
from domain.evolve import evolve
from domain.state import RelationshipState
from domain.timers import tick

__all__ = ["IdSource", "advance", "apply_envelope", "catch_up", "commit", "execute", "replay"]

IdSource = Iterator[str] | Callable[[], str]
"""Where event ids come from: ``lambda: str(workflow.uuid4())`` in the workflow, an iterator in tests."""


def _next_id(ids: IdSource) -> str:
    return ids() if callable(ids) else next(ids)


def commit(
    state: RelationshipState,
    events: Iterable[EventBase],
    *,
    actor: Actor,
    causation_id: str | None,
    event_ids: IdSource,
) -> tuple[RelationshipState, list[Envelope]]:
    """Evolve ``state`` through ``events`` and seal each into the next envelope of the chain."""
    envelopes: list[Envelope] = []
    for event in events:
        envelope = seal(state, event, event_id=_next_id(event_ids), actor=actor, causation_id=causation_id)
        state = evolve(state, event).model_copy(update={"seq": envelope.seq, "last_hash": envelope.hash})
        envelopes.append(envelope)
    return state, envelopes


def execute(
    state: RelationshipState, command: CommandBase, now: datetime, event_ids: IdSource
) -> tuple[RelationshipState, list[Envelope]]:
    """``decide`` then evolve and seal (actor = the command's actor, causation_id = its command_id).
    Raises the DomainError of ``decide``; then nothing happened."""
    events = decide(state, command, now)
    return commit(state, events, actor=command.actor, causation_id=command.command_id, event_ids=event_ids)


def advance(state: RelationshipState, now: datetime, new_id: IdSource) -> tuple[RelationshipState, list[Envelope]]:
    """``tick`` then evolve and seal (actor = system, causation_id = None)."""
    events = tick(state, now)
    return commit(state, events, actor=SYSTEM, causation_id=None, event_ids=new_id)


def catch_up(state: RelationshipState, now: datetime) -> RelationshipState:
    """The state after the timer rules due at ``now``, without sealing anything (``seq``/``last_hash`` unchanged).

    For update validators: ``decide(catch_up(state, now), command, now)`` judges a command against the state the
    handler will see after it runs ``advance(state, now, ...)`` first. (A command that arrives after a deadline the
    loop has not ticked yet must not be judged on the stale state: e.g. an acceptance after the expiry.)"""
    for event in tick(state, now):
        state = evolve(state, event)
    return state


def apply_envelope(state: RelationshipState, envelope: Envelope) -> RelationshipState:
    """Evolve with the decoded (upcast) event and move ``seq`` / ``last_hash``. Refuses an envelope that does
    not continue the chain (:class:`ChainBroken`)."""
    if envelope.relationship_id != state.relationship_id:
        raise ChainBroken(
            f"seq {envelope.seq}: envelope of relationship {envelope.relationship_id} "
            f"applied to relationship {state.relationship_id}"
        )
    if envelope.seq != state.seq + 1:
        raise ChainBroken(f"seq {envelope.seq}: expected seq {state.seq + 1}")
    if envelope.prev_hash != state.last_hash:
        raise ChainBroken(f"seq {envelope.seq}: prev_hash does not match hash of seq {state.seq}")
    recomputed = envelope.compute_hash()
    if recomputed != envelope.hash:
        raise ChainBroken(
            f"seq {envelope.seq}: hash mismatch (stored {envelope.hash[:7]}…, recomputed {recomputed[:7]}…)"
        )
    new = evolve(state, event_from_envelope(envelope))
    return new.model_copy(update={"seq": envelope.seq, "last_hash": envelope.hash})


def replay(envelopes: Sequence[Envelope] | Iterable[Envelope], until: datetime | None = None) -> RelationshipState:
    """The state after the envelopes (in seq order) with ``occurred_at <= until`` (all when ``until`` is None)."""
    items = list(envelopes)
    if not items:
        raise ValueError("replay needs at least one envelope (it names the relationship)")
    limit = to_utc(until) if until is not None else None
    state = RelationshipState.new(items[0].relationship_id)
    for envelope in items:
        if limit is not None and envelope.occurred_at > limit:
            break
        state = apply_envelope(state, envelope)
    if limit is not None and state.seq == 0:
        raise ValueError(f"relationship {state.relationship_id} did not exist yet at {human_instant(limit)}")
    return state
