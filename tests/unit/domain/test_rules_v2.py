"""Rules version 2 (issue 13): each rule as a program manager meets it, driven the way the workflow drives the core
(``execute`` for commands, ``advance`` at ``next_deadline``), on the shipped ``mentoring-12m`` policy."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from domain import (
    CURRENT_RULES_VERSION,
    AcceptMatch,
    ConfirmMeeting,
    ConsentSeparation,
    DisputeMeeting,
    Health,
    IllegalTransition,
    InvalidCommand,
    InvalidPolicy,
    LeaveRelationship,
    ObjectSeparation,
    Outcome,
    ProposeSeparation,
    Reassign,
    RecordRedefinition,
    RequestRenewal,
    ResolveSeparation,
    SignAgreement,
    Stage,
    SubmitCheckIn,
    Substate,
    WithdrawSeparation,
    builtin_policy,
    next_deadline,
    policy_from_mapping,
    replay,
)
from tests.unit.domain.helpers import DAY, MANAGER, MENTEE, MENTOR, POLICY, Driver, reach

S, U = Stage, Substate


def v2(position: tuple[Stage, Substate] | None = None) -> Driver:
    if position is None:
        return Driver(rules_version=2).propose()
    return reach(position, rules_version=2)


def stage_reasons(d: Driver) -> list[tuple[str, str, str]]:
    return [
        (e.payload["to_substate"], e.payload["trigger"], e.payload["reason"]) for e in d.log if e.type == "StageChanged"
    ]


def notices(d: Driver) -> list[dict[str, Any]]:
    return [e.payload for e in d.log if e.type == "NoticeSent"]


def contested() -> Driver:
    d = v2((S.SEPARATION, U.AWAITING_CONSENT))
    assert d.tick_to_deadline()[:3] == ["SeparationContested", "StageChanged", "EscalatedToManager"]
    return d


# --- rules version pinning ----------------------------------------------------------------------------------


def test_new_proposals_pin_the_current_rules_version_and_old_ones_read_as_version_1() -> None:
    d = Driver(rules_version=CURRENT_RULES_VERSION).propose()
    assert d.state.rules_version == CURRENT_RULES_VERSION == 3
    assert d.log[0].payload["rules_version"] == 3
    old = Driver().propose()
    assert "rules_version" not in old.log[0].payload  # version 1 seals the bytes it always did
    assert replay(old.log).rules_version == 1


def test_a_version_1_relationship_refuses_the_version_2_commands() -> None:
    d = reach((S.SEPARATION, U.AWAITING_CONSENT))
    with pytest.raises(IllegalTransition, match="exists from rules version 2"):
        d.do(WithdrawSeparation(command_id=d.cid(), actor=MENTOR))


# --- one-sided separation -----------------------------------------------------------------------------------


def test_contested_case_is_reescalated_until_resolved() -> None:
    d = contested()
    escalations = 1
    while d.state.substate is U.CONTESTED:
        types = d.tick_to_deadline()
        escalations += types.count("EscalatedToManager")
    assert escalations >= 4  # weekly for 30 days
    assert (d.state.stage, d.state.substate) == (S.SEPARATION, U.WINDING_DOWN)


def test_contested_case_gets_the_policy_default_decision_by_the_timer() -> None:
    d = contested()
    contested_at = d.state.substate_entered_at
    assert contested_at is not None
    while d.state.substate is U.CONTESTED:
        d.tick_to_deadline()
    assert d.now == contested_at + timedelta(days=30)
    resolved = [e for e in d.log if e.type == "SeparationResolved"][-1]
    assert resolved.payload["by"] == "system" and resolved.payload["resolution"] == "end"
    to, trigger, reason = stage_reasons(d)[-1]
    assert (to, trigger) == ("winding_down", "timer")
    assert "contested_timeout P30D" in reason and "default decision, end" in reason
    assert any(n["kind"] == "SeparationResolved" for n in notices(d))


def test_late_consent_while_contested_ends_the_case() -> None:
    d = contested()
    d.later(DAY)
    d.do(ConsentSeparation(command_id=d.cid(), actor=MENTEE))
    assert d.state.substate is U.WINDING_DOWN
    assert "late, while contested" in stage_reasons(d)[-1][2]
    assert next_deadline(d.state) == d.now + timedelta(days=30)  # the wind-down, no more escalations


@pytest.mark.parametrize("contest_first", [False, True], ids=["awaiting_consent", "contested"])
def test_the_proposer_withdraws_the_separation(contest_first: bool) -> None:
    d = contested() if contest_first else v2((S.SEPARATION, U.AWAITING_CONSENT))
    with pytest.raises(InvalidCommand, match="only the proposer"):
        d.do(WithdrawSeparation(command_id=d.cid(), actor=MENTEE))
    d.later(DAY)
    d.do(WithdrawSeparation(command_id=d.cid(), actor=MENTOR))
    assert (d.state.stage, d.state.substate) == (S.CULTIVATION, U.ACTIVE)
    assert d.state.activity_anchor == d.now  # a fresh inactivity clock


def test_explicit_objection_contests_at_once_and_reaches_the_manager() -> None:
    d = v2((S.SEPARATION, U.AWAITING_CONSENT))
    d.later(DAY)
    types = d.do(ObjectSeparation(command_id=d.cid(), actor=MENTEE, reason="we are not done"))
    assert types[:4] == ["SeparationObjected", "NoticeSent", "SeparationContested", "StageChanged"]
    assert "EscalatedToManager" in types and d.state.substate is U.CONTESTED
    d.later(DAY)
    assert d.do(ObjectSeparation(command_id=d.cid(), actor=MENTEE, reason="still not done")) == [
        "SeparationObjected",
        "NoticeSent",
    ]
    assert notices(d)[-1]["audience"] == "program_manager"


def test_term_end_supersedes_a_pending_separation_proposal() -> None:
    d = v2((S.CULTIVATION, U.ACTIVE))
    term_end = d.state.term_ends_at
    assert term_end is not None
    d.now = term_end - DAY
    d.meet()
    d.do(ProposeSeparation(command_id=d.cid(), actor=MENTOR, reason="the year is over"))
    assert next_deadline(d.state) == term_end
    d.tick_to_deadline()
    to, trigger, reason = stage_reasons(d)[-1]
    assert (to, trigger) == ("winding_down", "timer")
    assert "supersedes the pending separation proposal" in reason
    assert "SeparationContested" not in [e.type for e in d.log]


def test_term_end_supersedes_a_contested_case() -> None:
    d = contested()
    term_end = d.state.term_ends_at
    assert term_end is not None
    d.tick(term_end)
    assert d.state.substate is U.WINDING_DOWN
    assert stage_reasons(d)[-1][1] == "timer"


def test_reconcile_after_the_term_requires_a_new_term_end() -> None:
    d = v2((S.SEPARATION, U.AWAITING_CONSENT))
    assert d.state.term_ends_at is not None
    d.do(ObjectSeparation(command_id=d.cid(), actor=MENTEE, reason="no"))
    # the manager decides after the term date (the term end rule did not run yet on this state)
    late = d.state.term_ends_at + DAY
    with pytest.raises(InvalidCommand, match="needs term_ends_at"):
        d.do(ResolveSeparation(command_id=d.cid(), actor=MANAGER, resolution="reconcile"), at=late)
    new_end = late + timedelta(days=90)
    types = d.do(ResolveSeparation(command_id=d.cid(), actor=MANAGER, resolution="reconcile", term_ends_at=new_end))
    assert types == ["SeparationResolved", "TermExtended", "StageChanged"]
    assert d.state.term_ends_at == new_end and d.state.substate is U.ACTIVE
    assert d.tick() == []  # not undone by the old term end


# --- initiation and trial -----------------------------------------------------------------------------------


def test_a_participant_leaves_before_cultivation() -> None:
    d = v2((S.INITIATION, U.KICKOFF_PENDING))
    d.later(DAY)
    types = d.do(LeaveRelationship(command_id=d.cid(), actor=MENTEE, reason="changed team"))
    assert types == ["RelationshipLeft", "StageChanged", "RelationshipClosed"]
    assert d.state.outcome is Outcome.DID_NOT_START
    assert "left by mentee e-1 before cultivation (kickoff_pending)" in (d.state.close_reason or "")


def test_slow_start_still_enters_cultivation() -> None:
    """Accepted day 10, signed day 49, weekly meetings: the give-up (day 90) never fires before the trial ends."""
    d = v2()
    t0 = d.now
    d.now = t0 + 10 * DAY
    for who in (MENTOR, MENTEE):
        d.do(AcceptMatch(command_id=d.cid(), actor=who))
    d.now = t0 + 49 * DAY
    for who in (MENTOR, MENTEE):
        d.do(SignAgreement(command_id=d.cid(), actor=who, goals=["x"], cadence="P1W"))
    assert d.state.trial_ends_at == t0 + 94 * DAY
    while d.state.stage is S.INITIATION:
        deadline = next_deadline(d.state)
        assert deadline is not None
        meeting = d.now + 7 * DAY
        if meeting < deadline:
            d.meet(held_at=meeting) if d.now == meeting else d.meet(held_at=d.later(7 * DAY))
        else:
            d.tick(deadline)
    assert (d.state.stage, d.state.substate) == (S.CULTIVATION, U.ACTIVE)
    assert d.now == t0 + 94 * DAY


def test_trial_failed_escalates_gives_grace_then_closes() -> None:
    d = v2((S.INITIATION, U.TRIAL))
    d.later(DAY)
    d.meet()
    assert d.state.trial_ends_at is not None
    types = d.tick_to_deadline()
    assert types == ["TrialFailed", "NoticeSent", "HealthChanged", "NoticeSent", "EscalatedToManager"]
    assert d.state.health is Health.RED and d.state.stage is S.INITIATION
    assert d.now == d.state.trial_ends_at
    types = d.tick_to_deadline()
    assert types[-2:] == ["StageChanged", "RelationshipClosed"]
    assert d.now == d.state.trial_ends_at + timedelta(days=14)
    assert d.state.outcome is Outcome.DID_NOT_START and (d.state.close_reason or "").startswith("trial_failed")


def test_trial_failed_pair_that_catches_up_in_the_grace_enters_cultivation_green() -> None:
    d = v2((S.INITIATION, U.TRIAL))
    d.tick_to_deadline()  # trial failed with no meeting
    d.later(DAY)
    d.meet()
    d.later(DAY)
    types = d.meet(by=MENTOR)
    assert types[-2:] == ["HealthChanged", "StageChanged"]
    assert (d.state.stage, d.state.health) == (S.CULTIVATION, Health.GREEN)


def test_manager_reassigns_with_lineage() -> None:
    d = v2((S.INITIATION, U.TRIAL))
    with pytest.raises(InvalidCommand, match="is this relationship"):
        d.do(Reassign(command_id=d.cid(), actor=MANAGER, successor_id="r-1", reason="x"))
    types = d.do(Reassign(command_id=d.cid(), actor=MANAGER, successor_id="r-2", reason="no chemistry"))
    assert types == ["Reassigned", "StageChanged", "RelationshipClosed"]
    assert d.state.successor_id == "r-2" and d.state.outcome is Outcome.REMATCHED
    successor = Driver(relationship_id="r-2", rules_version=2)
    successor.do(
        successor_propose := _propose_with_predecessor(successor, "r-1"),
    )
    assert successor.state.predecessor_id == "r-1"
    assert successor_propose.predecessor_id == "r-1"


def _propose_with_predecessor(d: Driver, predecessor: str) -> Any:
    from domain import ProposeRelationship

    return ProposeRelationship(
        command_id=d.cid(),
        actor=MANAGER,
        relationship_id=d.relationship_id,
        program_id="prog-1",
        mentor_id="m-2",
        mentee_id=MENTEE.id,
        policy=POLICY,
        predecessor_id=predecessor,
    )


# --- cultivation: health --------------------------------------------------------------------------------------


def _weekly_cultivation() -> Driver:
    d = v2()
    d.accept_all()
    d.later(DAY)
    for who in (MENTOR, MENTEE):
        d.do(SignAgreement(command_id=d.cid(), actor=who, goals=["x"], cadence="P1W"))
    d.later(DAY)
    d.meet()
    assert d.state.trial_ends_at is not None
    d.now = d.state.trial_ends_at - DAY
    d.meet()
    d.tick(d.state.trial_ends_at)
    assert d.state.stage is S.CULTIVATION
    return d


def test_weekly_pair_meeting_monthly_turns_yellow_then_red_by_missed_cadences() -> None:
    d = _weekly_cultivation()
    last = d.state.activity_anchor
    assert last is not None
    assert d.tick_to_deadline() == ["HealthChanged"]
    assert d.now == last + 14 * DAY and d.state.health is Health.YELLOW
    assert "2 missed cadence intervals of P1W" in d.log[-1].payload["reason"]
    assert d.tick_to_deadline() == ["HealthChanged", "NoticeSent"]
    assert d.now == last + 28 * DAY and d.state.health is Health.RED
    assert notices(d)[-1]["audience"] == "program_manager"


def test_monthly_cadence_is_capped_by_the_absolute_thresholds() -> None:
    d = v2((S.CULTIVATION, U.ACTIVE))  # cadence P2W: 2 and 4 intervals = 28 / 56 days, under the 45 / 60 caps
    anchor = d.state.activity_anchor
    assert anchor is not None
    d.tick_to_deadline()
    assert d.now == anchor + 28 * DAY
    monthly = Driver(policy=POLICY, rules_version=2).propose().accept_all()
    monthly.later(DAY)
    for who in (MENTOR, MENTEE):
        monthly.do(SignAgreement(command_id=monthly.cid(), actor=who, goals=["x"], cadence="P1M"))
    monthly.to_cultivation()
    anchor = monthly.state.activity_anchor
    assert anchor is not None
    monthly.tick_to_deadline()
    assert monthly.now == anchor + 45 * DAY  # at_risk_yellow caps 2 months
    assert "at_risk_yellow P45D (the cap for cadence P1M)" in monthly.log[-1].payload["reason"]


def test_disputed_meeting_does_not_count() -> None:
    d = _weekly_cultivation()
    d.later(13 * DAY)
    d.meet(by=MENTOR)
    meeting_id = f"meeting-{d.state.meetings_logged}"
    before = d.state.meetings
    with pytest.raises(InvalidCommand, match="the other participant confirms or disputes"):
        d.do(DisputeMeeting(command_id=d.cid(), actor=MENTOR, meeting_id=meeting_id, reason="x"))
    d.later(DAY)
    types = d.do(DisputeMeeting(command_id=d.cid(), actor=MENTEE, meeting_id=meeting_id, reason="never happened"))
    assert types[0] == "MeetingDisputed"
    assert d.state.meetings == before - 1
    assert d.state.health is Health.YELLOW  # 15 days since the last counted meeting, weekly cadence
    with pytest.raises(InvalidCommand, match="already disputed"):
        d.do(ConfirmMeeting(command_id=d.cid(), actor=MENTEE, meeting_id=meeting_id))


def test_confirmed_meeting_is_recorded_by_the_other_participant() -> None:
    d = _weekly_cultivation()
    d.later(DAY)
    d.meet(by=MENTOR)
    meeting_id = f"meeting-{d.state.meetings_logged}"
    assert d.do(ConfirmMeeting(command_id=d.cid(), actor=MENTEE, meeting_id=meeting_id)) == ["MeetingConfirmed"]
    assert d.state.meeting_log[meeting_id].status == "confirmed"


def test_marginal_comes_from_recent_check_ins_of_both_parties() -> None:
    d = v2((S.CULTIVATION, U.ACTIVE))
    d.do(SubmitCheckIn(command_id=d.cid(), actor=MENTOR, satisfaction=5))
    d.do(SubmitCheckIn(command_id=d.cid(), actor=MENTEE, satisfaction=2))
    assert d.state.marginal is False  # mean 3.5
    d.do(SubmitCheckIn(command_id=d.cid(), actor=MENTEE, satisfaction=1))
    assert d.state.marginal is True  # mean of 5, 2, 1 is below 3


def test_low_satisfaction_turns_health_red_with_its_reason() -> None:
    d = v2((S.CULTIVATION, U.ACTIVE))
    types = d.do(SubmitCheckIn(command_id=d.cid(), actor=MENTEE, satisfaction=1, comment="my mentor never shows up"))
    assert types == ["CheckInSubmitted", "HealthChanged", "NoticeSent"]
    assert d.state.health is Health.RED
    assert "mentee e-1 rated 1" in d.log[-2].payload["reason"]
    d.do(SubmitCheckIn(command_id=d.cid(), actor=MENTEE, satisfaction=4))
    assert d.state.health is Health.GREEN


# --- prompts ------------------------------------------------------------------------------------------------


def test_term_ending_soon_and_renewal_pending_are_prompted() -> None:
    d = v2((S.CULTIVATION, U.ACTIVE))
    assert d.state.term_ends_at is not None
    notice_at = d.state.term_ends_at - timedelta(days=30)
    while d.now + 10 * DAY < notice_at:  # a pair meeting on its cadence
        d.tick(d.later(10 * DAY))
        d.meet()
    assert not [n for n in notices(d) if n["kind"] == "TermEndingSoon"]
    d.tick(notice_at)
    soon = [n for n in notices(d) if n["kind"] == "TermEndingSoon"]
    assert len(soon) == 1 and soon[0]["to"] == [MENTOR.id, MENTEE.id] and "1 left" in soon[0]["message"]
    d.later(DAY)
    d.meet()
    d.do(RequestRenewal(command_id=d.cid(), actor=MENTOR))
    pending = notices(d)[-1]
    assert pending["kind"] == "RenewalRequested" and pending["to"] == [MENTEE.id]
    assert "renewal pending" in pending["message"]


def test_separation_proposal_is_sent_to_the_other_party() -> None:
    d = v2((S.SEPARATION, U.AWAITING_CONSENT))
    notice = notices(d)[-1]
    assert notice["kind"] == "SeparationProposed" and notice["to"] == [MENTEE.id]


# --- redefinition ---------------------------------------------------------------------------------------------


def test_differing_continuing_outcomes_resolve_to_collegial_keeping_each_answer() -> None:
    d = v2((S.REDEFINITION, U.AWAITING_OUTCOMES))
    d.do(RecordRedefinition(command_id=d.cid(), actor=MENTOR, outcome="collegial"))
    d.do(RecordRedefinition(command_id=d.cid(), actor=MENTEE, outcome="friendship"))
    assert d.state.outcome is Outcome.COLLEGIAL
    assert {k: v.value for k, v in d.state.redefinition.items()} == {MENTOR.id: "collegial", MENTEE.id: "friendship"}
    assert "weaker continuing tie" in (d.state.close_reason or "")


# --- policy combinations --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"term": "P30D"}, "term (P30D) must be at least trial_window"),
        ({"initiation_give_up": "P50D"}, "initiation_give_up (P50D) must be at least acceptance_expiry + trial_window"),
        ({"contested_reescalation": "P40D"}, "contested_reescalation (P40D) must be shorter than contested_timeout"),
        ({"term_ending_notice": "P13M"}, "term_ending_notice (P13M) must be shorter than term"),
        ({"cadence_missed_yellow": 5}, "cadence_missed_yellow (5) must be less than cadence_missed_red"),
    ],
)
def test_policy_rejects_impossible_combinations_naming_the_field(change: dict[str, Any], field: str) -> None:
    data = {**builtin_policy("mentoring-12m").to_mapping(), **change}
    with pytest.raises(InvalidPolicy, match=field.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        policy_from_mapping(data)


def test_shipped_policies_set_every_v2_value() -> None:
    for name in ("mentoring-12m", "demo"):
        mapping = builtin_policy(name).to_mapping()
        assert mapping["contested_timeout"] and mapping["trial_grace"] and mapping["cadence_missed_red"]


def test_only_recent_meetings_stay_answerable_so_the_state_stays_small() -> None:
    d = _weekly_cultivation()
    for _ in range(40):
        d.later(DAY)
        d.meet(by=MENTOR)
    assert len(d.state.meeting_log) == 32
    with pytest.raises(InvalidCommand, match="too old to confirm or dispute"):
        d.do(ConfirmMeeting(command_id=d.cid(), actor=MENTEE, meeting_id="meeting-1"))
    latest = f"meeting-{d.state.meetings_logged}"
    assert d.do(ConfirmMeeting(command_id=d.cid(), actor=MENTEE, meeting_id=latest)) == ["MeetingConfirmed"]
