"""Who may do what, and each command's own rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from domain import (
    AcceptMatch,
    Actor,
    CompleteGoal,
    ConsentSeparation,
    DeclineMatch,
    InvalidCommand,
    LogMeeting,
    MeetingLogged,
    NotAllowedForRole,
    NotAParticipant,
    Outcome,
    ProposeRelationship,
    RecordRedefinition,
    RelationshipState,
    RequestRematch,
    ResolveSeparation,
    Role,
    SetGoal,
    SignAgreement,
    Stage,
    SubmitCheckIn,
    Substate,
    Terminate,
    command_from_kebab,
    decide,
    parse_command,
)
from domain.commands import COMMAND_NAMES_KEBAB
from tests.unit.domain.helpers import (
    DAY,
    MANAGER,
    MENTEE,
    MENTOR,
    POLICY,
    STRANGER_MENTEE,
    STRANGER_MENTOR,
    SYSTEM_ACTOR,
    T0,
    Driver,
    reach,
)

pytestmark = pytest.mark.unit

S, U = Stage, Substate


def test_participant_of_another_relationship_is_refused() -> None:
    d = reach((S.CULTIVATION, U.ACTIVE))
    with pytest.raises(NotAParticipant) as info:
        d.meet(by=STRANGER_MENTEE)
    assert str(info.value) == "mentee e-7 is not a participant of relationship r-1"
    with pytest.raises(NotAParticipant, match="mentor m-7 is not a participant of relationship r-1"):
        d.meet(by=STRANGER_MENTOR)


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (Terminate(command_id="c", actor=MENTOR, reason_code="x"), "Terminate may not be issued by a mentor"),
        (ResolveSeparation(command_id="c", actor=MENTEE, resolution="end"), "ResolveSeparation may not be issued"),
        (SubmitCheckIn(command_id="c", actor=MANAGER, satisfaction=3), "(allowed: mentor, mentee)"),
        (SetGoal(command_id="c", actor=SYSTEM_ACTOR, text="x"), "SetGoal may not be issued by a system"),
    ],
)
def test_roles(command: object, message: str) -> None:
    d = reach((S.CULTIVATION, U.ACTIVE))
    with pytest.raises(NotAllowedForRole, match=message.replace("(", r"\(").replace(")", r"\)")):
        decide(d.state, command, d.now)  # type: ignore[arg-type]


def test_self_match_needs_only_the_other_acceptance() -> None:
    d = Driver().propose(by=MENTEE)
    assert d.state.acceptances_needed == ("m-1",)
    with pytest.raises(InvalidCommand, match="mentee e-1 proposed the match and does not need to accept"):
        d.do(AcceptMatch(command_id="c", actor=MENTEE))
    assert d.do(AcceptMatch(command_id="c", actor=MENTOR)) == ["MatchAccepted", "StageChanged"]
    assert d.state.substate is U.KICKOFF_PENDING


def test_participant_may_only_propose_themself() -> None:
    cmd = ProposeRelationship(
        command_id="c",
        actor=STRANGER_MENTOR,
        relationship_id="r-1",
        program_id="p",
        mentor_id="m-1",
        mentee_id="e-1",
        policy=POLICY,
    )
    with pytest.raises(NotAParticipant, match="mentor m-7 is not a participant of relationship r-1"):
        decide(RelationshipState.new("r-1"), cmd, T0)
    with pytest.raises(InvalidCommand, match="sent to relationship r-2"):
        decide(RelationshipState.new("r-2"), cmd.model_copy(update={"actor": MANAGER}), T0)


def test_acceptance_twice_is_refused_and_both_accept_moves_to_kickoff() -> None:
    d = Driver().propose()
    assert d.do(AcceptMatch(command_id="c1", actor=MENTOR)) == ["MatchAccepted"]
    with pytest.raises(InvalidCommand, match="mentor m-1 has already accepted relationship r-1"):
        d.do(AcceptMatch(command_id="c2", actor=MENTOR))
    assert d.do(AcceptMatch(command_id="c3", actor=MENTEE)) == ["MatchAccepted", "StageChanged"]


def test_decline_needs_a_reason_and_closes_declined() -> None:
    with pytest.raises(ValidationError, match="reason"):
        DeclineMatch(command_id="c", actor=MENTOR, reason="  ")
    d = Driver().propose()
    d.do(DeclineMatch(command_id="c", actor=MENTEE, reason="moving abroad"))
    assert d.state.outcome is Outcome.DECLINED
    assert d.state.close_reason == "declined by mentee e-1: moving abroad"


def test_sign_agreement_rules() -> None:
    with pytest.raises(ValidationError, match="at least 1 item"):
        SignAgreement(command_id="c", actor=MENTOR, goals=[], cadence="P1W")
    with pytest.raises(ValidationError, match="ISO-8601"):
        SignAgreement(command_id="c", actor=MENTOR, goals=["g"], cadence="weekly")
    d = reach((S.INITIATION, U.KICKOFF_PENDING))
    d.do(SignAgreement(command_id="c1", actor=MENTOR, goals=["a", "b"], cadence="P2W"))
    with pytest.raises(InvalidCommand, match="already signed"):
        d.do(SignAgreement(command_id="c2", actor=MENTOR, goals=["a"], cadence="P2W"))
    with pytest.raises(InvalidCommand, match="both must sign the same"):
        d.do(SignAgreement(command_id="c3", actor=MENTEE, goals=["a"], cadence="P1W"))
    types = d.do(SignAgreement(command_id="c4", actor=MENTEE, goals=["b", "c"], cadence="P2W"))
    assert types == ["AgreementSigned", "TrialStarted", "GoalSet", "GoalSet", "GoalSet", "StageChanged"]
    s = d.state
    assert [g.text for g in s.goals.values()] == ["a", "b", "c"] and list(s.goals) == ["goal-1", "goal-2", "goal-3"]
    assert s.trial_ends_at == d.now + timedelta(days=45)
    assert s.term_ends_at == d.now.replace(year=d.now.year + 1)
    assert s.substate is U.TRIAL


def test_log_meeting_time_rules_and_manager_backfill() -> None:
    d = reach((S.INITIATION, U.TRIAL))
    with pytest.raises(InvalidCommand) as info:
        d.meet(held_at=d.now + timedelta(microseconds=1))
    assert "is in the future" in str(info.value)
    with pytest.raises(InvalidCommand, match="is before relationship r-1 began"):
        d.meet(held_at=T0 - timedelta(microseconds=1))
    d.meet(by=MANAGER, held_at=T0)
    event = d.log[-1]
    assert event.type == "MeetingLogged" and event.payload["backfill"] is True
    assert event.actor.role is Role.MANAGER
    d.meet()
    assert d.log[-1].payload["backfill"] is False


def test_future_message_format() -> None:
    d = reach((S.INITIATION, U.TRIAL))
    held = d.now.replace(hour=0, minute=0, second=0) + timedelta(days=400)
    with pytest.raises(InvalidCommand) as info:
        d.meet(held_at=held)
    assert str(info.value).startswith(f"held_at {held.strftime('%Y-%m-%dT%H:%M:%SZ')} is in the future")


def test_meeting_after_trial_window_with_enough_meetings_moves_to_cultivation() -> None:
    d = reach((S.INITIATION, U.TRIAL))
    d.later(DAY)
    d.meet()
    assert d.state.trial_ends_at is not None
    assert d.tick(d.state.trial_ends_at) == []  # one meeting: not enough, nothing happens
    d.later(DAY)
    assert d.meet() == ["MeetingLogged", "StageChanged"]
    assert d.state.stage is S.CULTIVATION
    last = d.log[-1]
    assert last.payload["trigger"] == "command" and "2 meetings held" in last.payload["reason"]


def test_goals() -> None:
    d = reach((S.CULTIVATION, U.ACTIVE))
    d.do(SetGoal(command_id="c", actor=MENTOR, text="lead a project", goal_id="lead"))
    with pytest.raises(InvalidCommand, match="goal lead already exists"):
        d.do(SetGoal(command_id="c", actor=MENTOR, text="again", goal_id="lead"))
    with pytest.raises(InvalidCommand, match="goal nope does not exist in relationship r-1"):
        d.do(CompleteGoal(command_id="c", actor=MENTOR, goal_id="nope"))
    d.do(CompleteGoal(command_id="c", actor=MENTEE, goal_id="lead"))
    with pytest.raises(InvalidCommand, match="already completed"):
        d.do(CompleteGoal(command_id="c", actor=MENTEE, goal_id="lead"))
    assert d.state.goals_completed == 1
    d.do(SetGoal(command_id="c", actor=MENTOR, text="auto id"))
    assert "goal-4" in d.state.goals


def test_check_in_range_and_marginal_flag() -> None:
    with pytest.raises(ValidationError, match="less than or equal to 5"):
        SubmitCheckIn(command_id="c", actor=MENTEE, satisfaction=6)
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        SubmitCheckIn(command_id="c", actor=MENTEE, satisfaction=0)
    d = reach((S.CULTIVATION, U.ACTIVE))
    d.do(SubmitCheckIn(command_id="c", actor=MENTEE, satisfaction=3))
    assert d.state.marginal is True
    d.do(SubmitCheckIn(command_id="c", actor=MENTOR, satisfaction=5))
    assert d.state.marginal is True  # the mentee's latest is still middling
    d.do(SubmitCheckIn(command_id="c", actor=MENTEE, satisfaction=4))
    assert d.state.marginal is False


def test_consent_must_come_from_the_other_participant() -> None:
    d = reach((S.SEPARATION, U.AWAITING_CONSENT))
    with pytest.raises(InvalidCommand, match="mentor m-1 proposed the separation"):
        d.do(ConsentSeparation(command_id="c", actor=MENTOR))


def test_redefinition_twice_is_refused() -> None:
    d = reach((S.REDEFINITION, U.AWAITING_OUTCOMES))
    d.do(RecordRedefinition(command_id="c", actor=MENTOR, outcome="friendship"))
    with pytest.raises(InvalidCommand, match="already recorded the redefinition outcome friendship"):
        d.do(RecordRedefinition(command_id="c", actor=MENTOR, outcome="collegial"))


def test_terminate_needs_a_reason_code() -> None:
    with pytest.raises(ValidationError, match="reason_code"):
        Terminate(command_id="c", actor=MANAGER, reason_code="")
    d = reach((S.INITIATION, U.TRIAL))
    d.do(Terminate(command_id="c", actor=MANAGER, reason_code="conduct", note="see ticket 12"))
    assert d.state.outcome is Outcome.TERMINATED
    assert d.state.close_reason == "terminated by manager pm-1: conduct (see ticket 12)"


def test_rematch_only_inside_the_trial() -> None:
    for pos in [(S.INITIATION, U.KICKOFF_PENDING), (S.CULTIVATION, U.ACTIVE)]:
        d = reach(pos)
        with pytest.raises(Exception, match="RequestRematch is not allowed in stage"):
            d.do(RequestRematch(command_id="c", actor=MENTEE, reason="no fit"))
    d = reach((S.INITIATION, U.TRIAL))
    d.do(RequestRematch(command_id="c", actor=MENTEE, reason="no fit"))
    assert d.state.outcome is Outcome.REMATCHED
    assert d.log[-1].type == "RelationshipClosed"
    # a successor links back to the rematched relationship
    succ = Driver(relationship_id="r-2")
    succ.do(
        ProposeRelationship(
            command_id="c",
            actor=MANAGER,
            relationship_id="r-2",
            program_id="prog-1",
            mentor_id="m-2",
            mentee_id="e-1",
            policy=POLICY,
            predecessor_id="r-1",
        )
    )
    assert succ.state.predecessor_id == "r-1"


def test_commands_from_kebab_names() -> None:
    assert command_from_kebab("log-meeting") is LogMeeting
    assert command_from_kebab("submit-check-in") is SubmitCheckIn
    assert len(COMMAND_NAMES_KEBAB) == 24
    assert all(command_from_kebab(n).__name__ for n in COMMAND_NAMES_KEBAB)
    with pytest.raises(InvalidCommand, match="unknown command 'log-meetings'"):
        command_from_kebab("log-meetings")


def test_parse_command_turns_shape_errors_into_invalid_command() -> None:
    actor = {"id": "e-1", "role": "mentee"}
    cmd = parse_command({"type": "LogMeeting", "command_id": "c", "actor": actor, "held_at": "2026-01-01T00:00:00Z"})
    assert isinstance(cmd, LogMeeting)
    with pytest.raises(InvalidCommand, match="satisfaction"):
        parse_command({"type": "SubmitCheckIn", "command_id": "c", "actor": actor, "satisfaction": 9})
    with pytest.raises(InvalidCommand, match="timezone"):
        parse_command({"type": "LogMeeting", "command_id": "c", "actor": actor, "held_at": "2026-01-01T00:00:00"})


def test_meeting_returns_health_to_green() -> None:
    d = reach((S.CULTIVATION, U.ACTIVE))
    anchor = d.state.activity_anchor
    assert anchor is not None
    assert d.tick(anchor + timedelta(days=60)) == ["HealthChanged", "HealthChanged"]
    assert d.state.health.value == "red"
    d.later(DAY)
    assert d.meet() == ["MeetingLogged", "HealthChanged"]
    assert d.state.health.value == "green"
    assert isinstance(d.log[-2].payload, dict) and MeetingLogged.__name__ == d.log[-2].type


def test_actor_model_validates_role() -> None:
    with pytest.raises(ValidationError):
        Actor(id="x", role="student")  # type: ignore[arg-type]


def test_time_only_moves_forward() -> None:
    d = reach((S.CULTIVATION, U.ACTIVE))
    assert d.state.last_event_at is not None
    with pytest.raises(InvalidCommand, match="is earlier than the last event of relationship r-1"):
        decide(d.state, SubmitCheckIn(command_id="c", actor=MENTEE, satisfaction=4), d.state.last_event_at - DAY)
    assert decide(d.state, SubmitCheckIn(command_id="c", actor=MENTEE, satisfaction=4), d.state.last_event_at)


def _complete_all_goals(d: Driver) -> list[str]:
    types: list[str] = []
    for goal_id in list(d.state.goals):
        if not d.state.goals[goal_id].completed:
            types = d.do(CompleteGoal(command_id=d.cid(), actor=MENTEE, goal_id=goal_id))
    return types


def test_goals_met_end_cultivation_when_the_policy_says_so() -> None:
    policy = POLICY.model_copy(update={"separate_when_goals_met": True})
    d = reach((S.CULTIVATION, U.ACTIVE), policy=policy)
    assert len(d.state.goals) >= 1
    assert _complete_all_goals(d) == ["GoalCompleted", "StageChanged"]
    assert (d.state.stage, d.state.substate) == (S.SEPARATION, U.WINDING_DOWN)
    last = d.log[-1]
    assert last.payload["trigger"] == "command" and "goals met" in last.payload["reason"]


def test_goals_met_keep_cultivating_by_default_and_while_paused() -> None:
    d = reach((S.CULTIVATION, U.ACTIVE))
    assert _complete_all_goals(d) == ["GoalCompleted"]
    assert d.state.stage is S.CULTIVATION
    paused = reach((S.CULTIVATION, U.PAUSED), policy=POLICY.model_copy(update={"separate_when_goals_met": True}))
    assert _complete_all_goals(paused) == ["GoalCompleted"]
    assert paused.state.substate is U.PAUSED
