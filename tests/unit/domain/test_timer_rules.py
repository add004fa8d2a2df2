"""Every automatic rule fires at its deadline and not one microsecond before."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from domain import Outcome, Stage, Substate, next_deadline, tick
from tests.unit.domain.helpers import DAY, POLICY, US, Driver, reach

pytestmark = pytest.mark.unit

S, U = Stage, Substate
P = POLICY


def _proposed() -> tuple[Driver, datetime]:
    d = reach((S.INITIATION, U.PROPOSED))
    assert d.state.opened_at is not None
    return d, d.state.opened_at + timedelta(days=3)


def _expiry() -> tuple[Driver, datetime]:
    d, _ = _proposed()
    assert d.tick_to_deadline() == ["AcceptanceReminderSent"]
    assert d.state.opened_at is not None
    return d, d.state.opened_at + timedelta(days=14)


def _kickoff() -> tuple[Driver, datetime]:
    d = reach((S.INITIATION, U.KICKOFF_PENDING))
    assert d.state.accepted_at is not None
    return d, d.state.accepted_at + timedelta(days=7)


def _escalation() -> tuple[Driver, datetime]:
    d, _ = _kickoff()
    assert d.tick_to_deadline() == ["NudgeSent"]
    assert d.state.accepted_at is not None
    return d, d.state.accepted_at + timedelta(days=21)


def _give_up_kickoff() -> tuple[Driver, datetime]:
    d, _ = _escalation()
    assert d.tick_to_deadline() == ["EscalatedToManager"]
    assert d.state.opened_at is not None
    return d, d.state.opened_at + timedelta(days=90)


def _give_up_trial() -> tuple[Driver, datetime]:
    d = reach((S.INITIATION, U.TRIAL))
    d.later(DAY)
    d.meet()  # one meeting of the two needed
    assert d.state.opened_at is not None
    return d, d.state.opened_at + timedelta(days=90)


def _trial_passed() -> tuple[Driver, datetime]:
    d = reach((S.INITIATION, U.TRIAL))
    d.later(DAY)
    d.meet()
    d.later(DAY)
    d.meet()
    assert d.state.trial_started_at is not None
    return d, d.state.trial_started_at + timedelta(days=45)


def _yellow() -> tuple[Driver, datetime]:
    d = reach((S.CULTIVATION, U.ACTIVE))
    assert d.state.last_meeting_at is not None
    return d, d.state.last_meeting_at + timedelta(days=45)


def _red() -> tuple[Driver, datetime]:
    d, _ = _yellow()
    assert d.tick_to_deadline() == ["HealthChanged"]
    assert d.state.last_meeting_at is not None
    return d, d.state.last_meeting_at + timedelta(days=60)


def _warning() -> tuple[Driver, datetime]:
    d, _ = _red()
    assert d.tick_to_deadline() == ["HealthChanged"]
    assert d.state.last_meeting_at is not None
    return d, d.state.last_meeting_at + timedelta(days=83)


def _inactivity() -> tuple[Driver, datetime]:
    d, _ = _warning()
    assert d.tick_to_deadline() == ["InactivityWarningSent"]
    assert d.state.last_meeting_at is not None
    return d, d.state.last_meeting_at + timedelta(days=90)


def _term_end() -> tuple[Driver, datetime]:
    d = reach((S.CULTIVATION, U.ACTIVE))
    assert d.state.term_ends_at is not None and d.state.trial_started_at is not None
    end = d.state.term_ends_at
    while d.now + timedelta(days=30) < end:
        d.later(timedelta(days=30))
        d.meet()
    assert end == d.state.trial_started_at.replace(year=d.state.trial_started_at.year + 1)
    return d, end


def _max_pause() -> tuple[Driver, datetime]:
    d = reach((S.CULTIVATION, U.PAUSED))
    assert d.state.paused_at is not None
    return d, d.state.paused_at + timedelta(days=60)


def _consent_window() -> tuple[Driver, datetime]:
    d = reach((S.SEPARATION, U.AWAITING_CONSENT))
    assert d.state.separation_proposed_at is not None
    return d, d.state.separation_proposed_at + timedelta(days=14)


def _wind_down() -> tuple[Driver, datetime]:
    d = reach((S.SEPARATION, U.WINDING_DOWN))
    assert d.state.winding_down_since is not None
    return d, d.state.winding_down_since + timedelta(days=30)


def _follow_up() -> tuple[Driver, datetime]:
    d = reach((S.REDEFINITION, U.AWAITING_OUTCOMES))
    assert d.state.stage_entered_at is not None
    return d, d.state.stage_entered_at + timedelta(days=90)


CLOSE = ["StageChanged", "RelationshipClosed"]

RULES: dict[str, tuple[Callable[[], tuple[Driver, datetime]], list[str], tuple[Stage, Substate]]] = {
    "acceptance_reminder": (_proposed, ["AcceptanceReminderSent"], (S.INITIATION, U.PROPOSED)),
    "acceptance_expiry": (_expiry, ["MatchExpired", *CLOSE], (S.CLOSED, U.CLOSED)),
    "kickoff_nudge": (_kickoff, ["NudgeSent"], (S.INITIATION, U.KICKOFF_PENDING)),
    "kickoff_escalation": (_escalation, ["EscalatedToManager"], (S.INITIATION, U.KICKOFF_PENDING)),
    "did_not_start_kickoff": (_give_up_kickoff, CLOSE, (S.CLOSED, U.CLOSED)),
    "did_not_start_trial": (_give_up_trial, CLOSE, (S.CLOSED, U.CLOSED)),
    "trial_passed": (_trial_passed, ["StageChanged"], (S.CULTIVATION, U.ACTIVE)),
    "at_risk_yellow": (_yellow, ["HealthChanged"], (S.CULTIVATION, U.ACTIVE)),
    "at_risk_red": (_red, ["HealthChanged"], (S.CULTIVATION, U.ACTIVE)),
    "inactivity_warning": (_warning, ["InactivityWarningSent"], (S.CULTIVATION, U.ACTIVE)),
    "inactivity_separation": (_inactivity, ["StageChanged"], (S.SEPARATION, U.WINDING_DOWN)),
    "term_end": (_term_end, ["StageChanged"], (S.SEPARATION, U.WINDING_DOWN)),
    "max_pause": (_max_pause, ["Resumed", "StageChanged"], (S.CULTIVATION, U.ACTIVE)),
    "consent_window": (
        _consent_window,
        ["SeparationContested", "StageChanged", "EscalatedToManager"],
        (S.SEPARATION, U.CONTESTED),
    ),
    "wind_down": (_wind_down, ["StageChanged"], (S.REDEFINITION, U.AWAITING_OUTCOMES)),
    "redefinition_follow_up": (_follow_up, CLOSE, (S.CLOSED, U.CLOSED)),
}


@pytest.mark.parametrize("rule", list(RULES))
def test_rule_fires_at_its_deadline_not_one_microsecond_before(rule: str) -> None:
    build, expected, position = RULES[rule]
    d, deadline = build()
    assert next_deadline(d.state) == deadline
    assert tick(d.state, deadline - US) == []
    assert d.tick(deadline) == expected
    assert (d.state.stage, d.state.substate) == position
    assert all(e.occurred_at == deadline and e.actor.role.value == "system" for e in d.log[-len(expected) :])
    assert all(e.causation_id is None for e in d.log[-len(expected) :])
    assert tick(d.state, deadline) == []  # idempotent
    nd = next_deadline(d.state)
    assert nd is None or nd > deadline
    for env in d.log[-len(expected) :]:
        if env.type == "StageChanged":
            assert env.payload["trigger"] == "timer" and env.payload["policy_version"] == P.version
            assert env.payload["reason"]


def test_outcomes_of_timer_exits() -> None:
    d, at = _expiry()
    d.tick(at)
    assert d.state.outcome is Outcome.EXPIRED
    d, at = _give_up_trial()
    d.tick(at)
    assert d.state.outcome is Outcome.DID_NOT_START
    d, at = _follow_up()
    d.tick(at)
    assert d.state.outcome is Outcome.ENDED
    assert d.state.close_reason is not None and "no outcome from mentor m-1, mentee e-1" in d.state.close_reason


def test_several_due_rules_fire_in_deadline_order_in_one_tick() -> None:
    d = reach((S.CULTIVATION, U.ACTIVE))
    assert d.state.last_meeting_at is not None
    late = d.state.last_meeting_at + timedelta(days=200)
    assert d.tick(late) == ["HealthChanged", "HealthChanged", "InactivityWarningSent", "StageChanged"]
    assert (d.state.stage, d.state.substate) == (S.SEPARATION, U.WINDING_DOWN)
    nd = next_deadline(d.state)
    assert nd is not None and nd > late
    assert tick(d.state, late) == []


def test_late_tick_in_proposal_reminds_then_expires() -> None:
    d = reach((S.INITIATION, U.PROPOSED))
    assert d.tick(d.now + timedelta(days=365)) == ["AcceptanceReminderSent", "MatchExpired", *CLOSE]
    assert next_deadline(d.state) is None


def test_contested_separation_waits_for_the_manager() -> None:
    d = reach((S.SEPARATION, U.CONTESTED))
    assert next_deadline(d.state) is None
    assert tick(d.state, d.now + timedelta(days=10_000)) == []


def test_closed_relationship_has_no_deadline() -> None:
    d = reach((S.CLOSED, U.CLOSED))
    assert next_deadline(d.state) is None
    assert tick(d.state, d.now + timedelta(days=10_000)) == []
