"""The automatic rules: ``tick(state, now)`` and ``next_deadline(state)``.

Each rule has a deadline computed from the state alone (see ``domain/policies/mentoring-12m.toml`` for what each
duration counts from). A rule fires when ``now >= deadline`` (at its deadline, not one microsecond before), and the
events it emits make it no longer applicable (a one-shot rule is recorded in ``state.fired``), so ``tick`` is
idempotent. When several rules are due, they fire in deadline order (ties: the order of :func:`_rules`), each on
the state left by the previous ones; every event's ``at`` is ``now`` (the instant the rule was applied).

=====================  ==========================  ===================================================
rule                   when                        events
=====================  ==========================  ===================================================
acceptance_reminder    proposed + reminder         AcceptanceReminderSent
acceptance_expiry      proposed + expiry           MatchExpired, StageChanged, RelationshipClosed(expired)
kickoff_nudge          accepted + nudge            NudgeSent
kickoff_escalation     accepted + escalation       EscalatedToManager
trial_passed           trial end, enough meetings  StageChanged -> cultivation/active
initiation_give_up     proposed + give_up          StageChanged, RelationshipClosed(did_not_start)
at_risk_yellow / red   last meeting + yellow/red   HealthChanged      (cultivation/active; paused time
inactivity_warning     separation - warning        InactivityWarningSent    does not count)
inactivity_separation  last meeting + inactivity   StageChanged -> separation/winding_down
term_end               term_ends_at                StageChanged -> separation/winding_down (cultivation)
max_pause              paused + max_pause          Resumed(automatic), StageChanged -> cultivation/active
consent_window         proposed sep. + window      SeparationContested, StageChanged, EscalatedToManager
wind_down              winding down + wind_down    StageChanged -> redefinition/awaiting_outcomes
redefinition_follow_up redefinition + follow_up    StageChanged, RelationshipClosed(ended)
=====================  ==========================  ===================================================

Rules version 2 (``domain/rules.py``; :mod:`domain.timers_v2` holds its rules) changes these:

=====================  ==========================  ===================================================
rule                   when                        events
=====================  ==========================  ===================================================
trial_failed           trial end, too few meetings TrialFailed, HealthChanged(red), EscalatedToManager
trial_grace            trial end + trial_grace     StageChanged, RelationshipClosed(did_not_start)
initiation_give_up     proposed + give_up          only before the trial (proposed, kickoff_pending)
at_risk_yellow / red   last meeting + min(missed   HealthChanged (cadence-aware, capped by the absolute
                       cadences, at_risk_*)        thresholds)
term_ending_soon       term end - notice           TermEndingSoon (+ NoticeSent)
term_end               term_ends_at                also in awaiting_consent / contested: the pending
                                                   proposal is superseded, StageChanged -> winding_down
contested_timeout      contested + timeout         SeparationResolved(by system, the policy default),
                                                   StageChanged (trigger timer)
contested_reescalation contested + n x interval    EscalatedToManager (again)
=====================  ==========================  ===================================================

Rules version 3 adds the survey rules of the policy's ``[surveys]`` schedule (``domain.surveys``): survey_request,
survey_reminder, survey_expiry.

Every fact that prompts someone is followed by a ``NoticeSent`` (``domain.notices``).
"""

from __future__ import annotations

from datetime import datetime

from domain._time import human_instant, to_utc
from domain.actors import Role
from domain.events import (
    AcceptanceReminderSent,
    EscalatedToManager,
    Event,
    HealthChanged,
    InactivityWarningSent,
    MatchExpired,
    NudgeSent,
    Resumed,
    SeparationContested,
)
from domain.evolve import (
    RULE_ACCEPTANCE_REMINDER,
    RULE_INACTIVITY_WARNING,
    RULE_KICKOFF_ESCALATION,
    RULE_KICKOFF_NUDGE,
    evolve,
)
from domain.health import health_deadlines
from domain.moves import Fire, Rule, close, move, policy_of
from domain.notices import with_notices
from domain.rules import is_v2
from domain.stages import Health, Outcome, Stage, Substate
from domain.state import RelationshipState
from domain.surveys import survey_rules
from domain.timers_v2 import separation_rules_v2, term_rules_v2, trial_rules_v2

__all__ = ["Fire", "Rule", "due_rules", "next_deadline", "tick"]

_MAX_STEPS = 256


def _rules(s: RelationshipState) -> list[Rule]:
    """The rules applicable to ``s`` with their deadlines (empty when not proposed or closed)."""
    if s.stage in (Stage.NONE, Stage.CLOSED) or s.policy is None:
        return []
    p = s.policy
    v2 = is_v2(s)
    rules: list[Rule] = []
    if s.stage is Stage.INITIATION and s.opened_at is not None:
        opened = s.opened_at
        if s.substate is Substate.PROPOSED:
            if RULE_ACCEPTANCE_REMINDER not in s.fired:
                rules.append(Rule(RULE_ACCEPTANCE_REMINDER, p.acceptance_reminder.add_to(opened), _reminder))
            rules.append(Rule("acceptance_expiry", p.acceptance_expiry.add_to(opened), _expire))
        if s.substate is Substate.KICKOFF_PENDING and s.accepted_at is not None:
            if RULE_KICKOFF_NUDGE not in s.fired:
                rules.append(Rule(RULE_KICKOFF_NUDGE, p.kickoff_nudge.add_to(s.accepted_at), _nudge))
            if RULE_KICKOFF_ESCALATION not in s.fired:
                rules.append(Rule(RULE_KICKOFF_ESCALATION, p.kickoff_escalation.add_to(s.accepted_at), _escalate))
        if s.substate is Substate.TRIAL and s.trial_ends_at is not None and s.meetings >= p.trial_meetings_needed:
            rules.append(Rule("trial_passed", s.trial_ends_at, _trial_passed))
        if v2 and s.substate is Substate.TRIAL:
            rules.extend(trial_rules_v2(s))  # the give-up never fires during the trial: the trial path ends it
        else:
            rules.append(Rule("initiation_give_up", p.initiation_give_up.add_to(opened), _give_up))
    elif s.stage is Stage.CULTIVATION:
        if s.substate is Substate.ACTIVE and s.activity_anchor is not None:
            anchor = s.activity_anchor
            health = health_deadlines(s, anchor)
            if s.health is Health.GREEN:
                rules.append(Rule("at_risk_yellow", health.yellow_at, _yellow))
            if s.health is not Health.RED:
                rules.append(Rule("at_risk_red", health.red_at, _red))
            separation_at = p.inactivity_separation.add_to(anchor)
            if RULE_INACTIVITY_WARNING not in s.fired:
                rules.append(Rule(RULE_INACTIVITY_WARNING, p.inactivity_warning.subtract_from(separation_at), _warn))
            rules.append(Rule("inactivity_separation", separation_at, _inactivity_separation))
        if s.substate is Substate.PAUSED and s.paused_at is not None:
            rules.append(Rule("max_pause", p.max_pause.add_to(s.paused_at), _auto_resume))
        if s.term_ends_at is not None:
            if v2:
                rules.extend(term_rules_v2(s))
            rules.append(Rule("term_end", s.term_ends_at, _term_end))
    elif s.stage is Stage.SEPARATION:
        if v2 and s.substate in (Substate.AWAITING_CONSENT, Substate.CONTESTED):
            rules.extend(separation_rules_v2(s))  # the term end first: it supersedes a pending proposal
        if s.substate is Substate.AWAITING_CONSENT and s.separation_proposed_at is not None:
            rules.append(Rule("consent_window", p.consent_window.add_to(s.separation_proposed_at), _contested))
        if s.substate is Substate.WINDING_DOWN and s.winding_down_since is not None:
            rules.append(Rule("wind_down", p.wind_down.add_to(s.winding_down_since), _to_redefinition))
    elif s.stage is Stage.REDEFINITION and s.stage_entered_at is not None:
        rules.append(Rule("redefinition_follow_up", p.redefinition_follow_up.add_to(s.stage_entered_at), _follow_up))
    rules.extend(survey_rules(s))  # rules v3 with a [surveys] schedule (domain/surveys.py)
    return rules


def due_rules(state: RelationshipState, now: datetime) -> list[Rule]:
    """The rules due at ``now`` on ``state`` itself, in firing order (diagnostics)."""
    return [r for r in _ordered(state) if r.deadline <= now]


def _ordered(state: RelationshipState) -> list[Rule]:
    rules = _rules(state)
    return [r for _, r in sorted(enumerate(rules), key=lambda ir: (ir[1].deadline, ir[0]))]


def next_deadline(state: RelationshipState) -> datetime | None:
    """When ``tick`` next has something to do; ``None`` when nothing is scheduled (closed, not proposed, or
    waiting only for people, e.g. a contested separation waiting for the manager)."""
    rules = _rules(state)
    return min((r.deadline for r in rules), default=None)


def tick(state: RelationshipState, now: datetime) -> list[Event]:
    """The events of every automatic rule due at ``now``, in deadline order. Idempotent."""
    now = to_utc(now)
    events: list[Event] = []
    s = state
    for _ in range(_MAX_STEPS):
        ordered = _ordered(s)
        if not ordered or ordered[0].deadline > now:
            return events
        fired = ordered[0].fire(s, now)
        if is_v2(s):
            fired = with_notices(s, fired)
        for e in fired:
            s = evolve(s, e)
        events.extend(fired)
    raise RuntimeError(f"tick did not settle after {_MAX_STEPS} rules on relationship {state.relationship_id}")


# --- the rules' events -------------------------------------------------------------------------------------


def _pending_acceptances(s: RelationshipState) -> tuple[str, ...]:
    return tuple(p for p in s.acceptances_needed if p not in s.accepted_by)


def _reminder(s: RelationshipState, now: datetime) -> list[Event]:
    return [AcceptanceReminderSent(at=now, to=_pending_acceptances(s))]


def _expire(s: RelationshipState, now: datetime) -> list[Event]:
    p = policy_of(s)
    missing = _pending_acceptances(s)
    reason = f"not accepted within acceptance_expiry {p.acceptance_expiry} (missing: {', '.join(missing)})"
    return [MatchExpired(at=now, not_accepted_by=missing), *close(s, Outcome.EXPIRED, reason, trigger="timer", at=now)]


def _unsigned(s: RelationshipState) -> tuple[str, ...]:
    return tuple(p for p in s.participants if p not in s.signatures)


def _nudge(s: RelationshipState, now: datetime) -> list[Event]:
    p = policy_of(s)
    return [
        NudgeSent(
            at=now,
            rule=RULE_KICKOFF_NUDGE,
            to=_unsigned(s),
            message=f"the agreement is not signed by both participants {p.kickoff_nudge} after acceptance",
        )
    ]


def _escalate(s: RelationshipState, now: datetime) -> list[Event]:
    p = policy_of(s)
    return [
        EscalatedToManager(
            at=now,
            rule=RULE_KICKOFF_ESCALATION,
            reason=f"agreement still not signed {p.kickoff_escalation} after acceptance "
            f"(unsigned: {', '.join(_unsigned(s))})",
        )
    ]


def _trial_passed(s: RelationshipState, now: datetime) -> list[Event]:
    p = policy_of(s)
    reason = f"trial window {p.trial_window} passed with {s.meetings} meetings (needed {p.trial_meetings_needed})"
    return [move(s, Stage.CULTIVATION, Substate.ACTIVE, trigger="timer", reason=reason, at=now)]


def _give_up(s: RelationshipState, now: datetime) -> list[Event]:
    p = policy_of(s)
    reason = f"initiation not completed within initiation_give_up {p.initiation_give_up} (stuck in {s.substate.value})"
    return close(s, Outcome.DID_NOT_START, reason, trigger="timer", at=now)


def _since_last_meeting(s: RelationshipState) -> str:
    return f"last meeting {human_instant(s.last_meeting_at)}" if s.last_meeting_at else "no meeting yet"


def _yellow(s: RelationshipState, now: datetime) -> list[Event]:
    assert s.activity_anchor is not None
    why = health_deadlines(s, s.activity_anchor).yellow_why
    reason = f"no meeting for {why} ({_since_last_meeting(s)})"
    return [HealthChanged(at=now, from_health=s.health, to_health=Health.YELLOW, reason=reason)]


def _red(s: RelationshipState, now: datetime) -> list[Event]:
    assert s.activity_anchor is not None
    why = health_deadlines(s, s.activity_anchor).red_why
    reason = f"no meeting for {why} ({_since_last_meeting(s)})"
    return [HealthChanged(at=now, from_health=s.health, to_health=Health.RED, reason=reason)]


def _warn(s: RelationshipState, now: datetime) -> list[Event]:
    p = policy_of(s)
    assert s.activity_anchor is not None
    return [
        InactivityWarningSent(
            at=now,
            last_meeting_at=s.last_meeting_at,
            separation_at=p.inactivity_separation.add_to(s.activity_anchor),
        )
    ]


def _inactivity_separation(s: RelationshipState, now: datetime) -> list[Event]:
    p = policy_of(s)
    reason = f"no meeting for inactivity_separation {p.inactivity_separation} ({_since_last_meeting(s)})"
    return [move(s, Stage.SEPARATION, Substate.WINDING_DOWN, trigger="timer", reason=reason, at=now)]


def _auto_resume(s: RelationshipState, now: datetime) -> list[Event]:
    p = policy_of(s)
    return [
        Resumed(at=now, by="system", role=Role.SYSTEM, automatic=True),
        move(
            s,
            Stage.CULTIVATION,
            Substate.ACTIVE,
            trigger="timer",
            reason=f"maximum pause {p.max_pause} reached: resumed automatically",
            at=now,
        ),
    ]


def _term_end(s: RelationshipState, now: datetime) -> list[Event]:
    assert s.term_ends_at is not None
    renewed = f" after {s.renewals} renewal(s)" if s.renewals else " (not renewed)"
    reason = f"term ended at {human_instant(s.term_ends_at)}{renewed}"
    return [move(s, Stage.SEPARATION, Substate.WINDING_DOWN, trigger="timer", reason=reason, at=now)]


def _contested(s: RelationshipState, now: datetime) -> list[Event]:
    p = policy_of(s)
    proposer = s.separation_proposed_by or "?"
    other = s.other_participant(proposer) or "?"
    reason = f"no consent from {other} within consent_window {p.consent_window}: contested, the manager decides"
    return [
        SeparationContested(at=now, proposed_by=proposer, not_consented_by=other),
        move(s, Stage.SEPARATION, Substate.CONTESTED, trigger="timer", reason=reason, at=now),
        EscalatedToManager(at=now, rule="separation_contested", reason=reason),
    ]


def _to_redefinition(s: RelationshipState, now: datetime) -> list[Event]:
    p = policy_of(s)
    return [
        move(
            s,
            Stage.REDEFINITION,
            Substate.AWAITING_OUTCOMES,
            trigger="timer",
            reason=f"wind-down {p.wind_down} over: the pair records what the relationship becomes",
            at=now,
        )
    ]


def _follow_up(s: RelationshipState, now: datetime) -> list[Event]:
    p = policy_of(s)
    silent = [f"{s.role_of(x)} {x}" for x in s.participants if x not in s.redefinition]
    reason = (
        f"redefinition follow-up window {p.redefinition_follow_up} closed; no outcome from {', '.join(silent)} => ended"
    )
    return close(s, Outcome.ENDED, reason, trigger="timer", at=now)
