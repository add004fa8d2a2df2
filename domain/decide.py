"""``decide(state, command, now) -> list[Event]``: validate a command against the state and the pinned policy.

Pure: no clock, no ids, no randomness. Checks, in this order (the first failure raises):

1. the relationship exists (only ``ProposeRelationship`` on a ``RelationshipState.new`` state) and is not closed
   (:class:`RelationshipClosedError`);
2. ``now`` is not before the relationship's last event (:class:`InvalidCommand`: time only moves forward);
3. the actor's role may issue the command (:class:`NotAllowedForRole`), and a mentor/mentee is this
   relationship's mentor/mentee (:class:`NotAParticipant`);
4. the command is allowed in the current stage/sub-state (:class:`IllegalTransition`, see :data:`WHERE`);
5. the command's own rules (:class:`InvalidCommand`: the limits of its fields (domain/limits.py), duplicates,
   instants in the future, caps...), and that each event fits in an envelope (``MAX_ENVELOPE_BYTES``).

Events of a command come in a fixed order: the facts first, then ``StageChanged``, then (when the relationship
closes) ``RelationshipClosed`` last. Every event's ``at`` is ``now``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from domain._time import Duration, human_instant, to_utc
from domain.actors import Role
from domain.commands import (
    AcceptMatch,
    CommandBase,
    CompleteGoal,
    ConfirmMeeting,
    ConsentSeparation,
    DeclineMatch,
    DisputeMeeting,
    LeaveRelationship,
    LogMeeting,
    ObjectSeparation,
    Pause,
    ProposeRelationship,
    ProposeSeparation,
    Reassign,
    RecordRedefinition,
    RequestRematch,
    RequestRenewal,
    ResolveSeparation,
    Resume,
    SetGoal,
    SignAgreement,
    SubmitCheckIn,
    SubmitSurvey,
    Terminate,
    WithdrawSeparation,
)
from domain.decide_v2 import V2_HANDLERS
from domain.envelope import canonical_json, event_to_payload
from domain.errors import (
    IllegalTransition,
    InvalidCommand,
    NotAllowedForRole,
    NotAParticipant,
    RelationshipClosedError,
)
from domain.events import (
    AgreementSigned,
    CheckInSubmitted,
    Event,
    GoalCompleted,
    GoalSet,
    HealthChanged,
    MatchAccepted,
    MatchDeclined,
    MeetingLogged,
    Paused,
    RelationshipProposed,
    RematchRequested,
    RenewalRequested,
    Resumed,
    Terminated,
    TermRenewed,
    TrialStarted,
)
from domain.evolve import evolve
from domain.health import meeting_health, target_health
from domain.limits import check_command, check_event_sizes, check_goal_count
from domain.moves import close, health_after, move, policy_of, who
from domain.notices import with_notices
from domain.rules import CURRENT_RULES_VERSION, RULES_V2, RULES_V3, is_v2
from domain.separation import SEPARATION_HANDLERS
from domain.stages import Health, Outcome, Stage, Substate
from domain.state import RelationshipState
from domain.surveys import submit_survey

__all__ = ["ROLES", "SINCE_RULES", "WHERE", "WHERE_V2", "close", "decide", "health_after", "move", "policy_of"]

_P = (Role.MENTOR, Role.MENTEE)
_PM = (Role.MENTOR, Role.MENTEE, Role.MANAGER)
_M = (Role.MANAGER,)

ROLES: dict[type[CommandBase], tuple[Role, ...]] = {
    ProposeRelationship: _PM,
    AcceptMatch: _P,
    DeclineMatch: _P,
    SignAgreement: _P,
    LogMeeting: _PM,
    SetGoal: _P,
    CompleteGoal: _P,
    SubmitCheckIn: _P,
    RequestRematch: _P,
    Pause: _PM,
    Resume: _PM,
    RequestRenewal: _P,
    ProposeSeparation: _P,
    ConsentSeparation: _P,
    ResolveSeparation: _M,
    RecordRedefinition: _P,
    Terminate: _M,
    WithdrawSeparation: _P,
    ObjectSeparation: _P,
    LeaveRelationship: _P,
    Reassign: _M,
    ConfirmMeeting: _P,
    DisputeMeeting: _P,
    SubmitSurvey: _P,
}
"""Who may issue each command (DESIGN §3)."""

_ANY: frozenset[Substate] | None = None
_OPEN = (Stage.INITIATION, Stage.CULTIVATION, Stage.SEPARATION, Stage.REDEFINITION)

WHERE: dict[type[CommandBase], Mapping[Stage, frozenset[Substate] | None]] = {
    ProposeRelationship: {Stage.NONE: _ANY},
    AcceptMatch: {Stage.INITIATION: frozenset({Substate.PROPOSED})},
    DeclineMatch: {Stage.INITIATION: frozenset({Substate.PROPOSED})},
    SignAgreement: {Stage.INITIATION: frozenset({Substate.KICKOFF_PENDING})},
    LogMeeting: {
        Stage.INITIATION: frozenset({Substate.KICKOFF_PENDING, Substate.TRIAL}),
        Stage.CULTIVATION: _ANY,
        Stage.SEPARATION: _ANY,
    },
    SetGoal: {Stage.INITIATION: frozenset({Substate.KICKOFF_PENDING, Substate.TRIAL}), Stage.CULTIVATION: _ANY},
    CompleteGoal: {Stage.INITIATION: frozenset({Substate.TRIAL}), Stage.CULTIVATION: _ANY, Stage.SEPARATION: _ANY},
    SubmitCheckIn: {Stage.INITIATION: frozenset({Substate.TRIAL}), Stage.CULTIVATION: _ANY, Stage.SEPARATION: _ANY},
    RequestRematch: {Stage.INITIATION: frozenset({Substate.TRIAL})},
    Pause: {Stage.CULTIVATION: frozenset({Substate.ACTIVE})},
    Resume: {Stage.CULTIVATION: frozenset({Substate.PAUSED})},
    RequestRenewal: {Stage.CULTIVATION: _ANY},
    ProposeSeparation: {Stage.CULTIVATION: _ANY},
    ConsentSeparation: {Stage.SEPARATION: frozenset({Substate.AWAITING_CONSENT})},
    ResolveSeparation: {Stage.SEPARATION: frozenset({Substate.AWAITING_CONSENT, Substate.CONTESTED})},
    RecordRedefinition: {Stage.REDEFINITION: _ANY},
    Terminate: dict.fromkeys(_OPEN, _ANY),
    WithdrawSeparation: {Stage.SEPARATION: frozenset({Substate.AWAITING_CONSENT, Substate.CONTESTED})},
    ObjectSeparation: {Stage.SEPARATION: frozenset({Substate.AWAITING_CONSENT, Substate.CONTESTED})},
    LeaveRelationship: {Stage.INITIATION: frozenset({Substate.KICKOFF_PENDING, Substate.TRIAL})},
    Reassign: {Stage.INITIATION: _ANY, Stage.CULTIVATION: _ANY},
    ConfirmMeeting: {
        Stage.INITIATION: frozenset({Substate.KICKOFF_PENDING, Substate.TRIAL}),
        Stage.CULTIVATION: _ANY,
        Stage.SEPARATION: _ANY,
    },
    DisputeMeeting: {
        Stage.INITIATION: frozenset({Substate.KICKOFF_PENDING, Substate.TRIAL}),
        Stage.CULTIVATION: _ANY,
        Stage.SEPARATION: _ANY,
    },
    SubmitSurvey: dict.fromkeys(_OPEN, _ANY),
}
"""Where each command is allowed: stage -> allowed sub-states (None: any sub-state of that stage)."""

WHERE_V2: dict[type[CommandBase], Mapping[Stage, frozenset[Substate] | None]] = {
    **WHERE,
    ConsentSeparation: {Stage.SEPARATION: frozenset({Substate.AWAITING_CONSENT, Substate.CONTESTED})},
}
"""Rules version 2: a late consent while contested ends the case."""

SINCE_RULES: dict[type[CommandBase], int] = {
    WithdrawSeparation: RULES_V2,
    ObjectSeparation: RULES_V2,
    LeaveRelationship: RULES_V2,
    Reassign: RULES_V2,
    ConfirmMeeting: RULES_V2,
    DisputeMeeting: RULES_V2,
    SubmitSurvey: RULES_V3,
}
"""Commands that exist from a rules version on; older relationships keep the rules they started with."""


def _where_text(where: Mapping[Stage, frozenset[Substate] | None]) -> str:
    parts = []
    for stage, subs in where.items():
        if subs is None:
            parts.append(stage.value)
        else:
            parts.extend(f"{stage.value}/{sub.value}" for sub in sorted(subs, key=list(Substate).index))
    return ", ".join(parts)


def _check_actor(state: RelationshipState, command: CommandBase) -> None:
    name = type(command).__name__
    roles = ROLES[type(command)]
    actor = command.actor
    if actor.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise NotAllowedForRole(f"{name} may not be issued by a {actor.role.value} (allowed: {allowed})")
    if actor.role in _P:
        own = state.mentor_id if actor.role is Role.MENTOR else state.mentee_id
        if actor.id != own:
            raise NotAParticipant(
                f"{actor.role.value} {actor.id} is not a participant of relationship {state.relationship_id}"
            )


def _check_rules_version(state: RelationshipState, command: CommandBase) -> None:
    since = SINCE_RULES.get(type(command), 1)
    if state.rules_version < since:
        raise IllegalTransition(
            f"{type(command).__name__} exists from rules version {since}; relationship {state.relationship_id} "
            f"keeps rules version {state.rules_version}, the one it started with"
        )


def _check_where(state: RelationshipState, command: CommandBase) -> None:
    where = (WHERE_V2 if is_v2(state) else WHERE)[type(command)]
    if state.stage in where:
        subs = where[state.stage]
        if subs is None or state.substate in subs:
            return
        here = f"{state.stage.value}/{state.substate.value}"
    else:
        here = state.stage.value
    raise IllegalTransition(
        f"{type(command).__name__} is not allowed in stage {here} (allowed in: {_where_text(where)})"
    )


def decide(state: RelationshipState, command: CommandBase, now: datetime) -> list[Event]:
    """Validate ``command`` at ``now``; return the events it causes (``at = now``) or raise a DomainError."""
    now = to_utc(now)
    name = type(command).__name__
    if isinstance(command, ProposeRelationship):
        return _within_limits(_propose(state, command, now))
    if state.stage is Stage.NONE:
        raise IllegalTransition(
            f"{name} is not allowed: relationship {state.relationship_id} has not been proposed yet "
            f"(allowed: ProposeRelationship)"
        )
    if state.is_closed:
        outcome = state.outcome.value if state.outcome else "unknown"
        raise RelationshipClosedError(
            f"relationship {state.relationship_id} is closed (outcome: {outcome}); no command is accepted"
        )
    if state.last_event_at is not None and now < state.last_event_at:
        raise InvalidCommand(
            f"{name} at {human_instant(now)} is earlier than the last event of relationship "
            f"{state.relationship_id} ({human_instant(state.last_event_at)}); time only moves forward"
        )
    _check_actor(state, command)
    _check_rules_version(state, command)
    _check_where(state, command)
    check_command(command)
    handler = _HANDLERS[type(command)]
    events = handler(state, command, now)
    return _within_limits(with_notices(state, events) if is_v2(state) else events)


def _within_limits(events: list[Event]) -> list[Event]:
    """Refuse a command whose events would not fit in an envelope below the broker's limit."""
    check_event_sizes((e.type, len(canonical_json(event_to_payload(e)))) for e in events)
    return events


def _propose(state: RelationshipState, c: ProposeRelationship, now: datetime) -> list[Event]:
    if state.stage is not Stage.NONE:
        raise IllegalTransition(
            f"relationship {state.relationship_id} already exists (stage {state.stage.value}); "
            f"ProposeRelationship only starts a new one"
        )
    if c.relationship_id != state.relationship_id:
        raise InvalidCommand(
            f"ProposeRelationship for relationship {c.relationship_id} sent to relationship {state.relationship_id}"
        )
    check_command(c)
    actor = c.actor
    if actor.role not in ROLES[ProposeRelationship]:
        raise NotAllowedForRole(
            f"ProposeRelationship may not be issued by a {actor.role.value} (allowed: {_roles(_PM)})"
        )
    if actor.role in _P:
        own = c.mentor_id if actor.role is Role.MENTOR else c.mentee_id
        if actor.id != own:
            raise NotAParticipant(
                f"{actor.role.value} {actor.id} is not a participant of relationship {c.relationship_id}; "
                f"a participant may only propose themself (self-match)"
            )
    needed = tuple(p for p in (c.mentor_id, c.mentee_id) if p != actor.id)
    proposed = RelationshipProposed(
        at=now,
        relationship_id=c.relationship_id,
        program_id=c.program_id,
        mentor_id=c.mentor_id,
        mentee_id=c.mentee_id,
        proposed_by=actor.id,
        proposed_by_role=actor.role,
        match_method=c.match_method,
        match_score=c.match_score,
        match_explanation=c.match_explanation,
        matching_version=c.matching_version,
        predecessor_id=c.predecessor_id,
        renewals_used=c.renewals_used or None,
        policy=c.policy,
        acceptances_needed=needed,
        rules_version=c.rules_version if c.rules_version is not None else CURRENT_RULES_VERSION,
    )
    how = "self-match" if actor.role in _P else f"match method {c.match_method}"
    stage = move(
        state,
        Stage.INITIATION,
        Substate.PROPOSED,
        trigger="command",
        reason=f"proposed by {who(c)} ({how})",
        at=now,
        policy_version=c.policy.version,
    )
    return [proposed, stage]


def _roles(roles: tuple[Role, ...]) -> str:
    return ", ".join(r.value for r in roles)


def _must_answer_match(state: RelationshipState, c: CommandBase) -> None:
    if c.actor.id not in state.acceptances_needed:
        raise InvalidCommand(f"{who(c)} proposed the match and does not need to accept or decline it")


def _accept(state: RelationshipState, c: CommandBase, now: datetime) -> list[Event]:
    _must_answer_match(state, c)
    if c.actor.id in state.accepted_by:
        raise InvalidCommand(f"{who(c)} has already accepted relationship {state.relationship_id}")
    events: list[Event] = [MatchAccepted(at=now, by=c.actor.id, role=c.actor.role)]
    if set(state.acceptances_needed) <= {*state.accepted_by, c.actor.id}:
        events.append(
            move(
                state,
                Stage.INITIATION,
                Substate.KICKOFF_PENDING,
                trigger="command",
                reason=f"accepted by all participants (last: {who(c)})",
                at=now,
            )
        )
    return events


def _decline(state: RelationshipState, c: DeclineMatch, now: datetime) -> list[Event]:
    _must_answer_match(state, c)
    reason = f"declined by {who(c)}: {c.reason}"
    return [
        MatchDeclined(at=now, by=c.actor.id, role=c.actor.role, reason=c.reason),
        *close(state, Outcome.DECLINED, reason, trigger="command", at=now),
    ]


def _next_goal_ids(state: RelationshipState, count: int) -> list[str]:
    ids: list[str] = []
    n = len(state.goals)
    while len(ids) < count:
        n += 1
        candidate = f"goal-{n}"
        if candidate not in state.goals:
            ids.append(candidate)
    return ids


def _sign(state: RelationshipState, c: SignAgreement, now: datetime) -> list[Event]:
    policy = policy_of(state)
    if c.actor.id in state.signatures:
        raise InvalidCommand(f"{who(c)} has already signed the agreement")
    term: Duration = c.term or policy.term
    other_id = state.other_participant(c.actor.id)
    other = state.signatures.get(other_id) if other_id else None
    if other is not None and (other.cadence != c.cadence or other.term != term):
        raise InvalidCommand(
            f"the agreement signed by {other.role.value} {other_id} has cadence {other.cadence} and term "
            f"{other.term}; {who(c)} signed cadence {c.cadence} and term {term}: both must sign the same"
        )
    goals = tuple(dict.fromkeys(c.goals))
    events: list[Event] = [
        AgreementSigned(at=now, by=c.actor.id, role=c.actor.role, goals=goals, cadence=c.cadence, term=term)
    ]
    if other is not None:
        events.append(
            TrialStarted(
                at=now,
                trial_ends_at=policy.trial_window.add_to(now),
                term_ends_at=term.add_to(now),
                cadence=c.cadence,
                term=term,
            )
        )
        existing = {g.text for g in state.goals.values()}
        texts = [t for t in dict.fromkeys((*other.goals, *goals)) if t not in existing]
        check_goal_count(len(state.goals), len(texts))
        for goal_id, text in zip(_next_goal_ids(state, len(texts)), texts, strict=True):
            events.append(GoalSet(at=now, goal_id=goal_id, text=text, by=c.actor.id))
        events.append(
            move(
                state,
                Stage.INITIATION,
                Substate.TRIAL,
                trigger="command",
                reason="agreement signed by both participants: kickoff, trial window starts",
                at=now,
            )
        )
    return events


def _log_meeting(state: RelationshipState, c: LogMeeting, now: datetime) -> list[Event]:
    policy = policy_of(state)
    held_at = c.held_at
    if held_at > now:
        raise InvalidCommand(f"held_at {human_instant(held_at)} is in the future (now {human_instant(now)})")
    if state.opened_at is not None and held_at < state.opened_at:
        raise InvalidCommand(
            f"held_at {human_instant(held_at)} is before relationship {state.relationship_id} began "
            f"({human_instant(state.opened_at)})"
        )
    backfill = c.actor.role is Role.MANAGER
    events: list[Event] = [
        MeetingLogged(
            at=now,
            by=c.actor.id,
            role=c.actor.role,
            held_at=held_at,
            duration_minutes=c.duration_minutes,
            notes=c.notes,
            backfill=backfill,
            functions=c.functions,
        )
    ]
    if state.stage is Stage.CULTIVATION and state.health is not Health.GREEN:
        anchor = held_at if state.activity_anchor is None else max(state.activity_anchor, held_at)
        effective_now = state.paused_at if state.paused_at is not None else now
        health = meeting_health(state, anchor, effective_now)
        reason = f"meeting held at {human_instant(held_at)}"
        if is_v2(state):
            health, why = target_health(state.model_copy(update={"activity_anchor": anchor}), effective_now)
            reason = reason if health is not Health.RED else why
        if health != state.health:
            events.append(HealthChanged(at=now, from_health=state.health, to_health=health, reason=reason))
    if (
        state.substate is Substate.TRIAL
        and state.trial_ends_at is not None
        and now >= state.trial_ends_at
        and state.meetings + 1 >= policy.trial_meetings_needed
    ):
        if state.trial_failed_at is not None and state.health is not Health.GREEN:
            why = f"trial caught up in its grace period: {state.meetings + 1} meetings held"
            events.append(HealthChanged(at=now, from_health=state.health, to_health=Health.GREEN, reason=why))
        events.append(
            move(
                state,
                Stage.CULTIVATION,
                Substate.ACTIVE,
                trigger="command",
                reason=f"trial window passed and {state.meetings + 1} meetings held "
                f"(needed {policy.trial_meetings_needed})",
                at=now,
            )
        )
    return events


def _set_goal(state: RelationshipState, c: SetGoal, now: datetime) -> list[Event]:
    check_goal_count(len(state.goals), 1)
    goal_id = c.goal_id or _next_goal_ids(state, 1)[0]
    if goal_id in state.goals:
        raise InvalidCommand(f"goal {goal_id} already exists in relationship {state.relationship_id}")
    return [GoalSet(at=now, goal_id=goal_id, text=c.text, by=c.actor.id, functions=c.functions)]


def _complete_goal(state: RelationshipState, c: CompleteGoal, now: datetime) -> list[Event]:
    goal = state.goals.get(c.goal_id)
    if goal is None:
        known = ", ".join(state.goals) or "none"
        raise InvalidCommand(
            f"goal {c.goal_id} does not exist in relationship {state.relationship_id} (goals: {known})"
        )
    if goal.completed:
        raise InvalidCommand(f"goal {c.goal_id} is already completed")
    events: list[Event] = [GoalCompleted(at=now, goal_id=c.goal_id, by=c.actor.id)]
    still_open = [gid for gid, g in state.goals.items() if not g.completed and gid != c.goal_id]
    if (
        policy_of(state).separate_when_goals_met
        and not still_open
        and (state.stage, state.substate) == (Stage.CULTIVATION, Substate.ACTIVE)
    ):
        reason = f"all {len(state.goals)} goals met (policy separate_when_goals_met)"
        events.append(move(state, Stage.SEPARATION, Substate.WINDING_DOWN, trigger="command", reason=reason, at=now))
    return events


def _check_in(state: RelationshipState, c: SubmitCheckIn, now: datetime) -> list[Event]:
    submitted = CheckInSubmitted(
        at=now, by=c.actor.id, role=c.actor.role, satisfaction=c.satisfaction, comment=c.comment
    )
    events: list[Event] = [submitted]
    if is_v2(state) and state.stage is Stage.CULTIVATION:
        after = evolve(state, submitted)
        effective_now = state.paused_at if state.paused_at is not None else now
        health, why = target_health(after, effective_now)
        if health != state.health:
            events.append(HealthChanged(at=now, from_health=state.health, to_health=health, reason=why))
    return events


def _rematch(state: RelationshipState, c: RequestRematch, now: datetime) -> list[Event]:
    reason = f"rematch requested by {who(c)} during the trial: {c.reason}"
    return [
        RematchRequested(at=now, by=c.actor.id, role=c.actor.role, reason=c.reason),
        *close(state, Outcome.REMATCHED, reason, trigger="command", at=now),
    ]


def _pause(state: RelationshipState, c: Pause, now: datetime) -> list[Event]:
    policy = policy_of(state)
    return [
        Paused(
            at=now, by=c.actor.id, role=c.actor.role, reason=c.reason, resumes_at_latest=policy.max_pause.add_to(now)
        ),
        move(
            state,
            Stage.CULTIVATION,
            Substate.PAUSED,
            trigger="command",
            reason=f"paused by {who(c)}" + (f": {c.reason}" if c.reason else ""),
            at=now,
        ),
    ]


def _resume(state: RelationshipState, c: Resume, now: datetime) -> list[Event]:
    return [
        Resumed(at=now, by=c.actor.id, role=c.actor.role, automatic=False),
        move(state, Stage.CULTIVATION, Substate.ACTIVE, trigger="command", reason=f"resumed by {who(c)}", at=now),
    ]


def _renew(state: RelationshipState, c: RequestRenewal, now: datetime) -> list[Event]:
    policy = policy_of(state)
    if state.term_ends_at is None or now >= state.term_ends_at:
        ended = human_instant(state.term_ends_at) if state.term_ends_at else "?"
        raise InvalidCommand(f"the term ended at {ended}; a renewal must be requested before the term ends")
    if state.renewals >= policy.max_renewals:
        raise InvalidCommand(
            f"renewal cap reached: {state.renewals} of max_renewals={policy.max_renewals} already used"
        )
    if c.actor.id in state.renewal_requests:
        raise InvalidCommand(f"{who(c)} has already requested this renewal")
    events: list[Event] = [RenewalRequested(at=now, by=c.actor.id, role=c.actor.role)]
    if set(state.participants) <= {*state.renewal_requests, c.actor.id}:
        term = state.term or policy.term
        events.append(
            TermRenewed(
                at=now,
                renewal=state.renewals + 1,
                previous_term_ends_at=state.term_ends_at,
                term_ends_at=term.add_to(state.term_ends_at),
            )
        )
    return events


def _terminate(state: RelationshipState, c: Terminate, now: datetime) -> list[Event]:
    reason = f"terminated by {who(c)}: {c.reason_code}" + (f" ({c.note})" if c.note else "")
    return [
        Terminated(at=now, by=c.actor.id, reason_code=c.reason_code, note=c.note),
        *close(state, Outcome.TERMINATED, reason, trigger="command", at=now),
    ]


_HANDLERS: dict[type[CommandBase], Callable[[RelationshipState, Any, datetime], list[Event]]] = {
    AcceptMatch: _accept,
    DeclineMatch: _decline,
    SignAgreement: _sign,
    LogMeeting: _log_meeting,
    SetGoal: _set_goal,
    CompleteGoal: _complete_goal,
    SubmitCheckIn: _check_in,
    RequestRematch: _rematch,
    Pause: _pause,
    Resume: _resume,
    RequestRenewal: _renew,
    Terminate: _terminate,
    **SEPARATION_HANDLERS,
    **V2_HANDLERS,
    SubmitSurvey: submit_survey,
}
