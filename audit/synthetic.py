"""Histories made with the pure core (``domain.execute`` / ``domain.advance`` over a simulated clock): the exact
envelopes the workflow would publish. For the audit tests and the ``verify --all`` benchmark (1,000 relationships
through all four stages take well under a second each to build)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from domain import (
    AcceptMatch,
    Actor,
    CommandBase,
    ConsentSeparation,
    Envelope,
    LifecyclePolicy,
    LogMeeting,
    ProposeRelationship,
    ProposeSeparation,
    RecordRedefinition,
    RelationshipState,
    Role,
    SignAgreement,
    advance,
    builtin_policy,
    execute,
    next_deadline,
)

__all__ = ["T0", "full_lifecycle"]

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def full_lifecycle(
    relationship_id: str,
    *,
    start: datetime = T0,
    policy: LifecyclePolicy | None = None,
    program_id: str = "prog-audit",
) -> list[Envelope]:
    """One relationship through initiation → cultivation → separation → redefinition → closed (``collegial``),
    with the ``mentoring-12m`` policy by default. Timers fire at their deadlines, as the workflow fires them.
    Event ids are deterministic (uuid5 of the relationship id and a counter)."""
    policy = policy or builtin_policy("mentoring-12m")
    manager = Actor(id="pm-audit", role=Role.MANAGER)
    mentor = Actor(id=f"m-{relationship_id}", role=Role.MENTOR)
    mentee = Actor(id=f"e-{relationship_id}", role=Role.MENTEE)
    state = RelationshipState.new(relationship_id)
    log: list[Envelope] = []
    counter = iter(range(1, 1_000_000))
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"mentorflow:{relationship_id}")

    def new_id() -> str:
        return str(uuid.uuid5(namespace, str(next(counter))))

    now = start
    commands = iter(range(1, 1_000_000))

    def at(when: datetime) -> None:
        nonlocal state, now
        while (deadline := next_deadline(state)) is not None and deadline <= when:
            state, envs = advance(state, deadline, new_id)
            log.extend(envs)
        now = max(now, when)

    def do(make: Callable[..., CommandBase], actor: Actor, **kwargs: object) -> None:
        nonlocal state
        cmd = make(command_id=f"{relationship_id}-c{next(commands)}", actor=actor, **kwargs)
        state, envs = execute(state, cmd, now, new_id)
        log.extend(envs)

    do(
        ProposeRelationship,
        manager,
        relationship_id=relationship_id,
        program_id=program_id,
        mentor_id=mentor.id,
        mentee_id=mentee.id,
        policy=policy,
        match_method="algorithm",
        match_score="0.87",
    )
    at(now + timedelta(hours=5))
    do(AcceptMatch, mentor)
    do(AcceptMatch, mentee)
    at(now + 2 * DAY)
    do(SignAgreement, mentor, goals=["learn the codebase"], cadence="P2W")
    do(SignAgreement, mentee, goals=["ship a feature"], cadence="P2W")
    for gap in (7, 14):
        at(now + gap * DAY)
        do(LogMeeting, mentee, held_at=now - timedelta(hours=1), duration_minutes=60)
    assert state.trial_ends_at is not None
    at(state.trial_ends_at)  # trial passed: cultivation
    for _ in range(4):
        at(now + 20 * DAY)
        do(LogMeeting, mentor, held_at=now - timedelta(hours=1), duration_minutes=45)
    at(now + DAY)
    do(ProposeSeparation, mentor, reason="goals met")
    at(now + DAY)
    do(ConsentSeparation, mentee)
    deadline = next_deadline(state)
    assert deadline is not None
    at(deadline)  # wind-down over: redefinition
    at(now + DAY)
    do(RecordRedefinition, mentor, outcome="collegial")
    do(RecordRedefinition, mentee, outcome="collegial")
    assert state.is_closed, (state.stage, state.substate)
    return log
