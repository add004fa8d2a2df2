"""``evolve(state, event) -> state``: the pure fold step. Never mutates its input; never touches ``seq`` /
``last_hash`` (those move with envelopes: ``seal`` / ``apply_envelope``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from domain.errors import IllegalTransition
from domain.events import (
    AcceptanceReminderSent,
    AgreementSigned,
    CheckInSubmitted,
    EscalatedToManager,
    EventBase,
    GoalCompleted,
    GoalSet,
    HealthChanged,
    InactivityWarningSent,
    MatchAccepted,
    MatchDeclined,
    MatchExpired,
    MeetingConfirmed,
    MeetingDisputed,
    MeetingLogged,
    NoticeSent,
    NudgeSent,
    Paused,
    Reassigned,
    RedefinitionRecorded,
    RelationshipClosed,
    RelationshipLeft,
    RelationshipProposed,
    RematchRequested,
    RenewalRequested,
    Resumed,
    SeparationConsented,
    SeparationContested,
    SeparationObjected,
    SeparationProposed,
    SeparationResolved,
    SeparationWithdrawn,
    StageChanged,
    TermEndingSoon,
    TermExtended,
    Terminated,
    TermRenewed,
    TrialFailed,
    TrialStarted,
)
from domain.rules import RULES_V2
from domain.stages import Outcome, Stage, Substate, is_transition_allowed
from domain.state import Goal, MeetingEntry, RelationshipState, Signature
from domain.survey_evolve import recent_satisfaction, survey_updates, with_functions

__all__ = ["evolve"]

# one-shot rule ids kept in RelationshipState.fired
RULE_ACCEPTANCE_REMINDER = "acceptance_reminder"
RULE_KICKOFF_NUDGE = "kickoff_nudge"
RULE_KICKOFF_ESCALATION = "kickoff_escalation"
RULE_INACTIVITY_WARNING = "inactivity_warning"
RULE_TERM_ENDING_SOON = "term_ending_soon"

MEETING_LOG_LIMIT = 32
"""Rules v2 keeps the last this many meetings answerable (confirm/dispute): the state stays small in a long run."""


def _without(items: tuple[str, ...], item: str) -> tuple[str, ...]:
    return tuple(x for x in items if x != item)


def _with(items: tuple[str, ...], item: str) -> tuple[str, ...]:
    return items if item in items else (*items, item)


def evolve(state: RelationshipState, event: EventBase) -> RelationshipState:
    """Apply one event. Raises :class:`IllegalTransition` for a ``StageChanged`` outside the transition table
    (a corrupt or foreign log)."""
    u: dict[str, Any] = {"last_event_at": event.at}
    known = (
        _start_and_meetings(state, event, u)
        or _cultivation_and_after(state, event, u)
        or survey_updates(state, event, u)
    )
    if not known:
        raise TypeError(f"evolve does not know {type(event).__name__}")  # pragma: no cover - all are handled
    return state.model_copy(update=u)


def _start_and_meetings(s: RelationshipState, event: EventBase, u: dict[str, Any]) -> bool:
    """Proposal, acceptance, agreement, the trial and the meeting log: the updates into ``u``; False if not one of
    these events."""
    match event:
        case RelationshipProposed():
            u.update(
                program_id=event.program_id,
                mentor_id=event.mentor_id,
                mentee_id=event.mentee_id,
                proposed_by=event.proposed_by,
                proposed_by_role=event.proposed_by_role,
                match_method=event.match_method,
                match_score=event.match_score,
                predecessor_id=event.predecessor_id,
                policy=event.policy,
                renewals=event.renewals_used or 0,
                opened_at=event.at,
                acceptances_needed=event.acceptances_needed,
                rules_version=event.rules_version,
            )
        case MatchAccepted():
            u["accepted_by"] = _with(s.accepted_by, event.by)
            if set(u["accepted_by"]) >= set(s.acceptances_needed):
                u["accepted_at"] = event.at
        case MatchDeclined() | MatchExpired() | RematchRequested() | Terminated():
            pass  # the RelationshipClosed that follows carries the outcome
        case AcceptanceReminderSent():
            u["fired"] = _with(s.fired, RULE_ACCEPTANCE_REMINDER)
        case NudgeSent():
            u["fired"] = _with(s.fired, event.rule)
        case EscalatedToManager():
            u["fired"] = _with(s.fired, event.rule)
            if s.substate is Substate.CONTESTED:
                u["contested_escalations"] = s.contested_escalations + 1
        case AgreementSigned():
            sig = Signature(role=event.role, goals=event.goals, cadence=event.cadence, term=event.term, at=event.at)
            u["signatures"] = {**s.signatures, event.by: sig}
        case TrialStarted():
            u.update(
                trial_started_at=event.at,
                trial_ends_at=event.trial_ends_at,
                term_ends_at=event.term_ends_at,
                cadence=event.cadence,
                term=event.term,
                activity_anchor=event.at if s.activity_anchor is None else max(s.activity_anchor, event.at),
            )
        case MeetingLogged():
            u["meetings"] = s.meetings + 1
            u["last_meeting_at"] = event.held_at if s.last_meeting_at is None else max(s.last_meeting_at, event.held_at)
            anchor = event.held_at if s.activity_anchor is None else max(s.activity_anchor, event.held_at)
            if anchor != s.activity_anchor:
                u["activity_anchor"] = anchor
                u["fired"] = _without(s.fired, RULE_INACTIVITY_WARNING)
            u["meetings_logged"] = s.meetings_logged + 1
            if event.functions:
                u["function_mix"] = with_functions(s.function_mix, event.functions)
            if s.rules_version >= RULES_V2:
                entry = MeetingEntry(by=event.by, held_at=event.held_at, anchor_before=s.activity_anchor)
                log = {**s.meeting_log, f"meeting-{s.meetings_logged + 1}": entry}
                u["meeting_log"] = dict(list(log.items())[-MEETING_LOG_LIMIT:])
        case MeetingConfirmed():
            entry = s.meeting_log[event.meeting_id].model_copy(update={"status": "confirmed"})
            u["meeting_log"] = {**s.meeting_log, event.meeting_id: entry}
        case MeetingDisputed():
            u.update(_disputed(s, event.meeting_id))
        case _:
            return False
    return True


def _cultivation_and_after(s: RelationshipState, event: EventBase, u: dict[str, Any]) -> bool:
    """Goals, check-ins, health, pauses, the term, separation, redefinition, stage changes and the close: the
    updates into ``u``; False if not one of these events."""
    match event:
        case GoalSet():
            u["goals"] = {**s.goals, event.goal_id: Goal(text=event.text, set_by=event.by, set_at=event.at)}
            if event.functions:
                u["function_mix"] = with_functions(s.function_mix, event.functions)
        case GoalCompleted():
            goal = s.goals[event.goal_id]
            done = goal.model_copy(update={"completed_at": event.at, "completed_by": event.by})
            u["goals"] = {**s.goals, event.goal_id: done}
        case CheckInSubmitted():
            latest = {**s.latest_satisfaction, event.by: event.satisfaction}
            u.update(check_ins=s.check_ins + 1, latest_satisfaction=latest, marginal=3 in latest.values())
            if s.rules_version >= RULES_V2:
                u.update(recent_satisfaction(s, event.by, event.satisfaction))
        case HealthChanged():
            u["health"] = event.to_health
        case InactivityWarningSent():
            u["fired"] = _with(s.fired, RULE_INACTIVITY_WARNING)
        case Paused():
            u["paused_by"] = event.by
        case Resumed():
            pass  # the StageChanged paused -> active ends the pause
        case RenewalRequested():
            u["renewal_requests"] = _with(s.renewal_requests, event.by)
        case TermRenewed():
            u.update(renewals=event.renewal, term_ends_at=event.term_ends_at, renewal_requests=())
            u["fired"] = _without(s.fired, RULE_TERM_ENDING_SOON)
        case TermExtended():
            u.update(term_ends_at=event.term_ends_at, fired=_without(s.fired, RULE_TERM_ENDING_SOON))
        case TermEndingSoon():
            u["fired"] = _with(s.fired, RULE_TERM_ENDING_SOON)
        case TrialFailed():
            u.update(trial_failed_at=event.at, trial_grace_ends_at=event.grace_ends_at)
        case Reassigned():
            u["successor_id"] = event.successor_id
        case SeparationWithdrawn():
            # back to cultivation with a fresh inactivity clock, as after a reconcile
            u.update(activity_anchor=event.at, fired=_without(s.fired, RULE_INACTIVITY_WARNING))
        case SeparationObjected() | RelationshipLeft() | NoticeSent():
            pass
        case SeparationProposed():
            u.update(
                separation_proposed_by=event.by,
                separation_proposed_at=event.at,
                separation_reason=event.reason,
                separation_consents=(),
                separation_resolution=None,
            )
        case SeparationConsented():
            u["separation_consents"] = _with(s.separation_consents, event.by)
        case SeparationContested():
            u["contested_escalations"] = 0
        case SeparationResolved():
            u["separation_resolution"] = event.resolution
            if event.resolution == "reconcile":
                # back to cultivation with a fresh inactivity clock
                u["activity_anchor"] = event.at
                u["fired"] = _without(s.fired, RULE_INACTIVITY_WARNING)
        case RedefinitionRecorded():
            u["redefinition"] = {**s.redefinition, event.by: Outcome(event.outcome)}
        case StageChanged():
            u.update(_stage_changed(s, event))
        case RelationshipClosed():
            u.update(outcome=event.outcome, close_reason=event.reason, closed_at=event.at)
        case _:
            return False
    return True


def _disputed(s: RelationshipState, meeting_id: str) -> dict[str, Any]:
    """A disputed meeting stops counting: one meeting fewer, and the inactivity clock falls back when this meeting
    was the one that had moved it last."""
    entry = s.meeting_log[meeting_id]
    log = {**s.meeting_log, meeting_id: entry.model_copy(update={"status": "disputed"})}
    u: dict[str, Any] = {"meeting_log": log, "meetings": max(s.meetings - 1, 0)}
    counted = [m.held_at for m in log.values() if m.status != "disputed"]
    u["last_meeting_at"] = max(counted, default=None)
    if s.activity_anchor == entry.held_at:
        later = [m.held_at for k, m in log.items() if m.status != "disputed" and _n(k) > _n(meeting_id)]
        candidates = [x for x in (entry.anchor_before, *later) if x is not None]
        u["activity_anchor"] = max(candidates, default=s.activity_anchor)
    return u


def _n(meeting_id: str) -> int:
    return int(meeting_id.rsplit("-", 1)[1])


def _stage_changed(s: RelationshipState, e: StageChanged) -> dict[str, Any]:
    src, dst = (e.from_stage, e.from_substate), (e.to_stage, e.to_substate)
    if src != (s.stage, s.substate):
        raise IllegalTransition(
            f"StageChanged from {e.from_stage}/{e.from_substate} does not match the state "
            f"({s.stage}/{s.substate}) of relationship {s.relationship_id}"
        )
    if not is_transition_allowed(src, dst):
        raise IllegalTransition(
            f"transition {e.from_stage}/{e.from_substate} -> {e.to_stage}/{e.to_substate} is not in the table"
        )
    u: dict[str, Any] = {"stage": e.to_stage, "substate": e.to_substate, "substate_entered_at": e.at}
    if e.to_stage != e.from_stage:
        u["stage_entered_at"] = e.at
    if e.to_substate is Substate.PAUSED:
        u.update(paused_at=e.at, pauses=s.pauses + 1)
    elif e.from_substate is Substate.PAUSED and s.paused_at is not None:
        paused = max(e.at - s.paused_at, timedelta(0))
        u.update(paused_at=None, paused_by=None, total_paused=s.total_paused + paused)
        if s.activity_anchor is not None:
            # the inactivity clock stood still during the pause: what had elapsed before it still counts,
            # nothing after it does (a meeting logged during the pause restarts the clock at the resume)
            elapsed_before = max(s.paused_at - s.activity_anchor, timedelta(0))
            u["activity_anchor"] = e.at - elapsed_before
            u["fired"] = _without(s.fired, RULE_INACTIVITY_WARNING)
    if e.to_substate is Substate.WINDING_DOWN:
        u["winding_down_since"] = e.at
    if e.to_stage is Stage.CULTIVATION and e.from_stage is Stage.SEPARATION:
        u.update(separation_consents=())
    return u
