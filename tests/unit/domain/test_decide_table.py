"""Every (stage/sub-state, command) pair: allowed gives the right events, refused gives the specific error."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from domain import (
    AcceptMatch,
    CommandBase,
    CompleteGoal,
    ConsentSeparation,
    DeclineMatch,
    DomainError,
    IllegalTransition,
    LogMeeting,
    Pause,
    ProposeRelationship,
    ProposeSeparation,
    RecordRedefinition,
    RelationshipClosedError,
    RelationshipState,
    RequestRematch,
    RequestRenewal,
    ResolveSeparation,
    Resume,
    SetGoal,
    SignAgreement,
    Stage,
    SubmitCheckIn,
    Substate,
    Terminate,
    decide,
    evolve,
)
from tests.unit.domain.helpers import MANAGER, MENTEE, MENTOR, POLICY, POSITIONS, T0, reach

pytestmark = pytest.mark.unit

S, U = Stage, Substate
Pos = tuple[Stage, Substate]
Factory = Callable[[RelationshipState], CommandBase]

COMMANDS: dict[str, Factory] = {
    "ProposeRelationship": lambda s: ProposeRelationship(
        command_id="x",
        actor=MANAGER,
        relationship_id=s.relationship_id,
        program_id="prog-1",
        mentor_id=MENTOR.id,
        mentee_id=MENTEE.id,
        policy=POLICY,
    ),
    "AcceptMatch": lambda s: AcceptMatch(command_id="x", actor=MENTOR),
    "DeclineMatch": lambda s: DeclineMatch(command_id="x", actor=MENTOR, reason="no time this year"),
    "SignAgreement": lambda s: SignAgreement(command_id="x", actor=MENTOR, goals=["public speaking"], cadence="P2W"),
    "LogMeeting": lambda s: LogMeeting(command_id="x", actor=MENTEE, held_at=_now(s) - timedelta(minutes=30)),
    "SetGoal": lambda s: SetGoal(command_id="x", actor=MENTOR, text="write a paper"),
    "CompleteGoal": lambda s: CompleteGoal(command_id="x", actor=MENTEE, goal_id="goal-1"),
    "SubmitCheckIn": lambda s: SubmitCheckIn(command_id="x", actor=MENTEE, satisfaction=4),
    "RequestRematch": lambda s: RequestRematch(command_id="x", actor=MENTEE, reason="no chemistry"),
    "Pause": lambda s: Pause(command_id="x", actor=MENTOR),
    "Resume": lambda s: Resume(command_id="x", actor=MENTOR),
    "RequestRenewal": lambda s: RequestRenewal(command_id="x", actor=MENTOR),
    "ProposeSeparation": lambda s: ProposeSeparation(command_id="x", actor=MENTOR, reason="moving on"),
    "ConsentSeparation": lambda s: ConsentSeparation(command_id="x", actor=MENTEE),
    "ResolveSeparation": lambda s: ResolveSeparation(command_id="x", actor=MANAGER, resolution="end"),
    "RecordRedefinition": lambda s: RecordRedefinition(command_id="x", actor=MENTOR, outcome="collegial"),
    "Terminate": lambda s: Terminate(command_id="x", actor=MANAGER, reason_code="conduct"),
}

CLOSE = ["StageChanged", "RelationshipClosed"]
TERMINATE = ["Terminated", *CLOSE]
MEETING = ["MeetingLogged"]
GOAL = ["GoalSet"]
DONE = ["GoalCompleted"]
CHECK_IN = ["CheckInSubmitted"]

# position -> command -> expected event types. A command missing from a position is refused there.
ALLOWED: dict[Pos, dict[str, list[str]]] = {
    (S.NONE, U.NONE): {"ProposeRelationship": ["RelationshipProposed", "StageChanged"]},
    (S.INITIATION, U.PROPOSED): {
        "AcceptMatch": ["MatchAccepted"],
        "DeclineMatch": ["MatchDeclined", *CLOSE],
        "Terminate": TERMINATE,
    },
    (S.INITIATION, U.KICKOFF_PENDING): {
        "SignAgreement": ["AgreementSigned"],
        "LogMeeting": MEETING,
        "SetGoal": GOAL,
        "Terminate": TERMINATE,
    },
    (S.INITIATION, U.TRIAL): {
        "LogMeeting": MEETING,
        "SetGoal": GOAL,
        "CompleteGoal": DONE,
        "SubmitCheckIn": CHECK_IN,
        "RequestRematch": ["RematchRequested", *CLOSE],
        "Terminate": TERMINATE,
    },
    (S.CULTIVATION, U.ACTIVE): {
        "LogMeeting": MEETING,
        "SetGoal": GOAL,
        "CompleteGoal": DONE,
        "SubmitCheckIn": CHECK_IN,
        "Pause": ["Paused", "StageChanged"],
        "RequestRenewal": ["RenewalRequested"],
        "ProposeSeparation": ["SeparationProposed", "StageChanged"],
        "Terminate": TERMINATE,
    },
    (S.CULTIVATION, U.PAUSED): {
        "LogMeeting": MEETING,
        "SetGoal": GOAL,
        "CompleteGoal": DONE,
        "SubmitCheckIn": CHECK_IN,
        "Resume": ["Resumed", "StageChanged"],
        "RequestRenewal": ["RenewalRequested"],
        "ProposeSeparation": ["SeparationProposed", "StageChanged"],
        "Terminate": TERMINATE,
    },
    (S.SEPARATION, U.AWAITING_CONSENT): {
        "LogMeeting": MEETING,
        "CompleteGoal": DONE,
        "SubmitCheckIn": CHECK_IN,
        "ConsentSeparation": ["SeparationConsented", "StageChanged"],
        "ResolveSeparation": ["SeparationResolved", "StageChanged"],
        "Terminate": TERMINATE,
    },
    (S.SEPARATION, U.CONTESTED): {
        "LogMeeting": MEETING,
        "CompleteGoal": DONE,
        "SubmitCheckIn": CHECK_IN,
        "ResolveSeparation": ["SeparationResolved", "StageChanged"],
        "Terminate": TERMINATE,
    },
    (S.SEPARATION, U.WINDING_DOWN): {
        "LogMeeting": MEETING,
        "CompleteGoal": DONE,
        "SubmitCheckIn": CHECK_IN,
        "Terminate": TERMINATE,
    },
    (S.REDEFINITION, U.AWAITING_OUTCOMES): {
        "RecordRedefinition": ["RedefinitionRecorded"],
        "Terminate": TERMINATE,
    },
    (S.CLOSED, U.CLOSED): {},
}

_DRIVERS: dict[Pos, RelationshipState] = {}


def _state(pos: Pos) -> RelationshipState:
    if pos not in _DRIVERS:
        _DRIVERS[pos] = reach(pos).state
    return _DRIVERS[pos]


def _now(s: RelationshipState) -> datetime:
    """An hour after the last event: no timer is due yet in any of the reached positions."""
    return (s.last_event_at or T0) + timedelta(hours=1)


CASES = [(pos, name) for pos in POSITIONS for name in COMMANDS]


def _id(case: tuple[Pos, str]) -> str:
    (stage, sub), name = case
    return f"{stage.value}/{sub.value}-{name}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_every_stage_command_pair(case: tuple[Pos, str]) -> None:
    pos, name = case
    state = _state(pos)
    command = COMMANDS[name](state)
    now = _now(state)
    expected = ALLOWED[pos].get(name)
    if expected is not None:
        events = decide(state, command, now)
        assert [type(e).__name__ for e in events] == expected
        assert all(e.at == now for e in events)
        after = state
        for e in events:
            after = evolve(after, e)
        assert after.seq == state.seq and after.last_hash == state.last_hash  # evolve leaves the chain alone
        return
    with pytest.raises(DomainError) as info:
        decide(state, command, now)
    err = info.value
    if pos == (S.CLOSED, U.CLOSED) and name != "ProposeRelationship":
        assert isinstance(err, RelationshipClosedError)
        assert str(err) == "relationship r-1 is closed (outcome: terminated); no command is accepted"
    elif pos == (S.NONE, U.NONE):
        assert isinstance(err, IllegalTransition)
        assert "has not been proposed yet" in str(err)
    elif name == "ProposeRelationship":
        assert isinstance(err, IllegalTransition)
        assert "already exists" in str(err)
    else:
        assert isinstance(err, IllegalTransition), err
        here = pos[0].value
        assert str(err).startswith(f"{name} is not allowed in stage {here}"), str(err)
        assert "(allowed in: " in str(err)
    assert err.code == type(err).__name__
    assert err.rule == str(err)


def test_error_message_names_stage_and_allowed_stages() -> None:
    state = _state((S.CULTIVATION, U.ACTIVE))
    with pytest.raises(IllegalTransition) as info:
        decide(state, COMMANDS["RecordRedefinition"](state), _now(state))
    assert str(info.value) == "RecordRedefinition is not allowed in stage cultivation (allowed in: redefinition)"


def test_error_message_names_substate_when_stage_is_right() -> None:
    state = _state((S.INITIATION, U.PROPOSED))
    with pytest.raises(IllegalTransition) as info:
        decide(state, COMMANDS["SignAgreement"](state), _now(state))
    assert str(info.value) == (
        "SignAgreement is not allowed in stage initiation/proposed (allowed in: initiation/kickoff_pending)"
    )
