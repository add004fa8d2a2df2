"""The timer rules of rules version 2 (``tick`` adds them to the version-1 rules where they apply; see the table in
:mod:`domain.timers`)."""

from __future__ import annotations

from datetime import datetime

from domain._time import human_instant
from domain.events import EscalatedToManager, Event, HealthChanged, SeparationResolved, TermEndingSoon, TrialFailed
from domain.evolve import RULE_TERM_ENDING_SOON
from domain.moves import Rule, close, move, policy_of
from domain.rules import scaled, v2_settings
from domain.stages import Health, Outcome, Stage, Substate
from domain.state import RelationshipState

__all__ = ["separation_rules_v2", "term_rules_v2", "trial_rules_v2"]

RULE_TRIAL_FAILED = "trial_failed"
RULE_CONTESTED_REESCALATION = "contested_reescalation"


def trial_rules_v2(s: RelationshipState) -> list[Rule]:
    """The trial ends with too few meetings: escalate with a grace period, then close (never the give-up)."""
    p = policy_of(s)
    if s.trial_ends_at is None or s.meetings >= p.trial_meetings_needed:
        return []
    if s.trial_grace_ends_at is None:
        return [Rule(RULE_TRIAL_FAILED, s.trial_ends_at, _trial_failed)]
    return [Rule("trial_grace", s.trial_grace_ends_at, _trial_closed)]


def term_rules_v2(s: RelationshipState) -> list[Rule]:
    """ "Term ending soon" once per term end (a renewal or extension makes a new one)."""
    assert s.term_ends_at is not None
    if RULE_TERM_ENDING_SOON in s.fired:
        return []
    notice = v2_settings(policy_of(s)).term_ending_notice
    return [Rule(RULE_TERM_ENDING_SOON, notice.subtract_from(s.term_ends_at), _term_ending_soon)]


def separation_rules_v2(s: RelationshipState) -> list[Rule]:
    """A pending proposal: the term end supersedes it; contested: the default decision, and re-escalation."""
    rules: list[Rule] = []
    if s.term_ends_at is not None:
        rules.append(Rule("term_end", s.term_ends_at, _term_end_supersedes))
    if s.substate is Substate.CONTESTED and s.substate_entered_at is not None:
        v2 = v2_settings(policy_of(s))
        since = s.substate_entered_at
        rules.append(Rule("contested_timeout", v2.contested_timeout.add_to(since), _default_decision))
        again = scaled(v2.contested_reescalation, max(s.contested_escalations, 1)).add_to(since)
        rules.append(Rule(RULE_CONTESTED_REESCALATION, again, _reescalate))
    return rules


def _trial_failed(s: RelationshipState, now: datetime) -> list[Event]:
    p = policy_of(s)
    grace = v2_settings(p).trial_grace
    grace_ends_at = grace.add_to(now)
    why = (
        f"trial window {p.trial_window} ended with {s.meetings} of {p.trial_meetings_needed} meetings: "
        f"trial failed, grace until {human_instant(grace_ends_at)} (trial_grace {grace})"
    )
    events: list[Event] = [
        TrialFailed(at=now, meetings=s.meetings, needed=p.trial_meetings_needed, grace_ends_at=grace_ends_at)
    ]
    if s.health is not Health.RED:
        events.append(HealthChanged(at=now, from_health=s.health, to_health=Health.RED, reason=why))
    events.append(EscalatedToManager(at=now, rule=RULE_TRIAL_FAILED, reason=why))
    return events


def _trial_closed(s: RelationshipState, now: datetime) -> list[Event]:
    p = policy_of(s)
    why = (
        f"trial_failed: {s.meetings} of {p.trial_meetings_needed} meetings by the end of the trial_grace "
        f"{v2_settings(p).trial_grace}"
    )
    return close(s, Outcome.DID_NOT_START, why, trigger="timer", at=now)


def _term_ending_soon(s: RelationshipState, now: datetime) -> list[Event]:
    assert s.term_ends_at is not None
    left = max(policy_of(s).max_renewals - s.renewals, 0)
    return [TermEndingSoon(at=now, term_ends_at=s.term_ends_at, renewals_left=left)]


def _term_end_supersedes(s: RelationshipState, now: datetime) -> list[Event]:
    assert s.term_ends_at is not None
    why = (
        f"term ended at {human_instant(s.term_ends_at)}: the natural ending supersedes the pending separation "
        f"proposal by {s.separation_proposed_by} ({s.substate.value})"
    )
    return [move(s, Stage.SEPARATION, Substate.WINDING_DOWN, trigger="timer", reason=why, at=now)]


def _default_decision(s: RelationshipState, now: datetime) -> list[Event]:
    v2 = v2_settings(policy_of(s))
    why = (
        f"contested for contested_timeout {v2.contested_timeout} without a decision by the manager "
        f"({s.contested_escalations} escalations): the policy's default decision, {v2.contested_default}"
    )
    resolved = SeparationResolved(at=now, by="system", resolution=v2.contested_default, note=why)
    if v2.contested_default == "end":
        return [resolved, move(s, Stage.SEPARATION, Substate.WINDING_DOWN, trigger="timer", reason=why, at=now)]
    return [resolved, move(s, Stage.CULTIVATION, Substate.ACTIVE, trigger="timer", reason=why, at=now)]


def _reescalate(s: RelationshipState, now: datetime) -> list[Event]:
    v2 = v2_settings(policy_of(s))
    proposer = s.separation_proposed_by or "?"
    why = (
        f"separation proposed by {proposer} still contested (escalation {s.contested_escalations + 1}, every "
        f"{v2.contested_reescalation}); the default decision {v2.contested_default} comes by the timer at "
        f"{human_instant(v2.contested_timeout.add_to(s.substate_entered_at or now))}"
    )
    return [EscalatedToManager(at=now, rule=RULE_CONTESTED_REESCALATION, reason=why)]
