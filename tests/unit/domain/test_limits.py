"""Hostile input against the limits of domain/limits.py: each refusal names the field and the rule, at the boundary
(pydantic, via ``parse_command``) and again in ``decide``; events predating the limits still decode and replay."""

from __future__ import annotations

from typing import Any

import pytest

from domain import (
    Duration,
    Envelope,
    GoalSet,
    InvalidCommand,
    InvalidPolicy,
    LogMeeting,
    ProposeRelationship,
    RelationshipProposed,
    RelationshipState,
    SetGoal,
    SignAgreement,
    Stage,
    Substate,
    decide,
    parse_command,
    parse_policy_toml,
    policy_from_mapping,
    replay,
)
from domain.limits import (
    MAX_DURATION,
    MAX_EVENT_PAYLOAD_BYTES,
    MAX_FILE_BYTES,
    MAX_FILE_DEPTH,
    MAX_GOAL_TEXT_LENGTH,
    MAX_GOALS_PER_AGREEMENT,
    MAX_GOALS_PER_RELATIONSHIP,
    MAX_ID_LENGTH,
    MAX_LONG_TEXT_LENGTH,
    MAX_NAME_LENGTH,
    MAX_TEXT_LENGTH,
    check_event_sizes,
    data_problem,
)
from domain.runtime import commit
from tests.unit.domain.helpers import MANAGER, MENTEE, MENTOR, POLICY, T0, reach, uuid_source


def _command(type_: str, actor: Any = MENTOR, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "command_id": "c-1", "actor": actor.model_dump(mode="json"), **fields}


def _proposal(**overrides: Any) -> dict[str, Any]:
    fields = {
        "relationship_id": "r-1",
        "program_id": "prog",
        "mentor_id": MENTOR.id,
        "mentee_id": MENTEE.id,
        "policy": POLICY.to_mapping(),
    }
    return _command("ProposeRelationship", MANAGER, **{**fields, **overrides})


def _refused(data: dict[str, Any], *needles: str) -> str:
    with pytest.raises(InvalidCommand) as raised:
        parse_command(data)
    message = raised.value.rule
    for needle in needles:
        assert needle in message, message
    return message


# --- ids ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["relationship_id", "program_id", "mentor_id", "mentee_id", "predecessor_id"])
def test_an_id_longer_than_the_limit_is_refused_naming_the_field(field: str) -> None:
    _refused(_proposal(**{field: "r" * (MAX_ID_LENGTH + 1)}), f"ProposeRelationship.{field}", "MAX_ID_LENGTH")
    parse_command(_proposal(**{field: "r" * MAX_ID_LENGTH}))  # the limit itself is allowed


@pytest.mark.parametrize("bad", ["has space", "-leading-dash", "semi;colon", "slash/", "naïve", "a\x00b", "", "\ud800"])
def test_an_id_outside_the_alphabet_is_refused(bad: str) -> None:
    _refused(_proposal(relationship_id=bad), "ProposeRelationship.relationship_id")


def test_the_command_id_and_the_actor_id_follow_the_id_rule() -> None:
    data = _command("AcceptMatch")
    _refused({**data, "command_id": "x" * (MAX_ID_LENGTH + 1)}, "command_id", "MAX_ID_LENGTH")
    _refused({**data, "actor": {"id": "ana bo", "role": "mentor"}}, "actor", "ID_PATTERN")
    _refused(_command("CompleteGoal", goal_id="goal 1"), "CompleteGoal.goal_id", "ID_PATTERN")


# --- text ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "field", "limit", "constant"),
    [
        ("DeclineMatch", "reason", MAX_TEXT_LENGTH, "MAX_TEXT_LENGTH"),
        ("SetGoal", "text", MAX_GOAL_TEXT_LENGTH, "MAX_GOAL_TEXT_LENGTH"),
        ("ProposeSeparation", "reason", MAX_TEXT_LENGTH, "MAX_TEXT_LENGTH"),
        ("Pause", "reason", MAX_TEXT_LENGTH, "MAX_TEXT_LENGTH"),
        ("RecordRedefinition", "note", MAX_TEXT_LENGTH, "MAX_TEXT_LENGTH"),
        ("SubmitCheckIn", "comment", MAX_LONG_TEXT_LENGTH, "MAX_LONG_TEXT_LENGTH"),
        ("LogMeeting", "notes", MAX_LONG_TEXT_LENGTH, "MAX_LONG_TEXT_LENGTH"),
    ],
)
def test_text_longer_than_its_limit_is_refused(type_: str, field: str, limit: int, constant: str) -> None:
    extra: dict[str, Any] = {
        "RecordRedefinition": {"outcome": "ended"},
        "SubmitCheckIn": {"satisfaction": 4},
        "LogMeeting": {"held_at": "2026-01-06T09:00:00Z"},
    }.get(type_, {})
    if type_ in ("DeclineMatch", "SetGoal", "ProposeSeparation"):
        parse_command(_command(type_, **extra, **{field: "é" * limit}))
    _refused(_command(type_, **extra, **{field: "é" * (limit + 1)}), f"{type_}.{field}", constant)


@pytest.mark.parametrize("bad", ["a\x00b", "lone \ud800 high", "lone \udfff low"])
@pytest.mark.parametrize(("type_", "field"), [("SetGoal", "text"), ("ProposeSeparation", "reason")])
def test_nul_and_lone_surrogates_are_refused_in_text(bad: str, type_: str, field: str) -> None:
    _refused(_command(type_, **{field: bad}), f"{type_}.{field}")


def test_the_rule_text_names_nul_and_surrogates() -> None:
    assert "NUL" in _refused(_command("SetGoal", text="a\x00"))
    assert "lone surrogates" in _refused(_command("Terminate", MANAGER, reason_code="conduct", note="\udc80"))


def test_a_goal_list_longer_than_the_limit_is_refused() -> None:
    goals = [f"goal {i}" for i in range(MAX_GOALS_PER_AGREEMENT + 1)]
    _refused(_command("SignAgreement", goals=goals, cadence="P2W"), "goals", "MAX_GOALS_PER_AGREEMENT")
    _refused(_command("SignAgreement", goals=["ok", "x" * (MAX_GOAL_TEXT_LENGTH + 1)], cadence="P2W"), "item 1")


# --- durations -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("term", ["P9000Y", "P10Y1D", "PT999999999999999999999999S", "P99999999999999999999Y"])
def test_an_absurd_agreement_term_is_refused_not_a_crash(term: str) -> None:
    _refused(_command("SignAgreement", goals=["x"], cadence="P2W", term=term), "SignAgreement.term", "MAX_DURATION")


def test_the_longest_term_and_cadence_are_accepted_and_a_longer_cadence_is_not() -> None:
    parse_command(_command("SignAgreement", goals=["x"], cadence="P1Y", term=str(MAX_DURATION)))
    _refused(_command("SignAgreement", goals=["x"], cadence="P1Y1D"), "cadence", "MAX_CADENCE")


@pytest.mark.parametrize("value", ["P9000Y", "P99999999999999999999Y", "PT99999999999999999999S"])
@pytest.mark.parametrize("field", ["term", "initiation_give_up", "max_pause"])
def test_a_policy_duration_above_ten_years_is_refused_naming_it(field: str, value: str) -> None:
    with pytest.raises(InvalidPolicy, match=rf"{field}: must be at most P10Y \(MAX_DURATION\)"):
        policy_from_mapping({**POLICY.to_mapping(), field: value})


def test_a_policy_breaking_its_limits_is_refused_in_a_proposal_too() -> None:
    policy = {**POLICY.to_mapping(), "max_renewals": 11, "name": "n" * (MAX_NAME_LENGTH + 1)}
    message = _refused(_proposal(policy=policy), "ProposeRelationship.policy", "MAX_RENEWALS", "MAX_NAME_LENGTH")
    assert "max_renewals" in message


# --- in decide, too ----------------------------------------------------------------------------------------------


def test_decide_refuses_a_command_that_skipped_validation() -> None:
    d = reach((Stage.INITIATION, Substate.KICKOFF_PENDING))
    bad = SetGoal.model_construct(command_id="c-9", actor=MENTOR, type="SetGoal", text="x\x00", goal_id=None)
    with pytest.raises(InvalidCommand, match=r"SetGoal\.text: must not contain NUL"):
        decide(d.state, bad, d.now)
    long_term = SignAgreement.model_construct(
        command_id="c-10", actor=MENTOR, type="SignAgreement", goals=["x"], cadence=Duration.parse("P2W"),
        term=Duration.parse("P9000Y"),
    )  # fmt: skip
    with pytest.raises(InvalidCommand, match=r"SignAgreement\.term: must be at most P10Y \(MAX_DURATION\)"):
        decide(d.state, long_term, d.now)


def test_decide_refuses_a_proposal_that_skipped_validation() -> None:
    d = reach((Stage.NONE, Substate.NONE))
    command = ProposeRelationship.model_construct(
        **{**parse_command(_proposal()).__dict__, "mentor_id": "m 1"}  # a space: outside the id alphabet
    )
    with pytest.raises(InvalidCommand, match=r"ProposeRelationship\.mentor_id: person id must use only"):
        decide(d.state, command, d.now)


def test_a_relationship_holds_at_most_the_goal_limit() -> None:
    d = reach((Stage.INITIATION, Substate.TRIAL))
    while len(d.state.goals) < MAX_GOALS_PER_RELATIONSHIP:
        d.do(SetGoal(command_id=f"g-{len(d.state.goals)}", actor=MENTOR, text=f"goal {len(d.state.goals)}"))
    with pytest.raises(InvalidCommand, match=r"at most 100 goals \(MAX_GOALS_PER_RELATIONSHIP\)"):
        decide(d.state, SetGoal(command_id="one-more", actor=MENTOR, text="one more"), d.now)


def test_an_event_too_large_for_an_envelope_is_refused_naming_the_limit() -> None:
    check_event_sizes([("MeetingLogged", MAX_EVENT_PAYLOAD_BYTES)])
    with pytest.raises(InvalidCommand, match=r"MeetingLogged event would be \d+ bytes.*MAX_ENVELOPE_BYTES"):
        check_event_sizes([("GoalSet", 10), ("MeetingLogged", MAX_EVENT_PAYLOAD_BYTES + 1)])


def test_the_largest_commands_the_limits_allow_fit_in_an_envelope() -> None:
    """The field limits alone keep every event below the envelope limit (the size check is a backstop)."""
    d = reach((Stage.INITIATION, Substate.KICKOFF_PENDING))
    goals = [f"{i:02d}" + "\U0001f600" * (MAX_GOAL_TEXT_LENGTH - 2) for i in range(MAX_GOALS_PER_AGREEMENT)]
    for actor in (MENTOR, MENTEE):
        d.do(SignAgreement(command_id=f"s-{actor.id}", actor=actor, goals=goals, cadence="P2W"))
    d.do(LogMeeting(command_id="m", actor=MENTOR, held_at=d.now, notes="\U0001f600" * MAX_LONG_TEXT_LENGTH))
    assert max(len(e.to_bytes()) for e in d.log) < MAX_EVENT_PAYLOAD_BYTES


# --- old events are not checked ----------------------------------------------------------------------------------


def test_events_written_before_the_limits_still_decode_and_replay() -> None:
    """A log whose policy and texts break today's limits (a 20-year term, a 100-character match method, a
    50,000-character goal, an id with a space) decodes from its bytes and replays unchanged."""
    old_policy = POLICY.model_copy(update={"term": Duration.parse("P20Y")})
    proposed = RelationshipProposed(
        at=T0, relationship_id="r old", program_id="prog", mentor_id=MENTOR.id, mentee_id=MENTEE.id,
        proposed_by=MANAGER.id, proposed_by_role=MANAGER.role, match_method="m" * 100, policy=old_policy,
        acceptances_needed=(MENTOR.id, MENTEE.id),
    )  # fmt: skip
    goal = GoalSet(at=T0, goal_id="goal-1", text="g" * 50_000, by=MENTOR.id)
    _, envelopes = commit(
        RelationshipState.new("r old"), [proposed, goal], actor=MANAGER, causation_id="old", event_ids=uuid_source()
    )
    decoded = [Envelope.from_bytes(e.to_bytes()) for e in envelopes]
    state = replay(decoded)
    assert state.policy is not None and state.policy.term == Duration.parse("P20Y")
    assert state.goals["goal-1"].text == "g" * 50_000


# --- policy text and data -----------------------------------------------------------------------------------------


def test_policy_toml_too_large_or_too_deep_is_refused() -> None:
    with pytest.raises(InvalidPolicy, match="MAX_FILE_BYTES"):
        parse_policy_toml("# " + "x" * MAX_FILE_BYTES)
    with pytest.raises(InvalidPolicy, match="nested too deeply"):
        parse_policy_toml("a = " + "[" * 5000 + "]" * 5000)
    with pytest.raises(InvalidPolicy, match="MAX_FILE_DEPTH"):
        parse_policy_toml(".".join(f"k{i}" for i in range(MAX_FILE_DEPTH + 2)) + " = 1")


def test_data_problem_walks_without_recursion_and_checks_types() -> None:
    deep: Any = 1
    for _ in range(100_000):
        deep = [deep]
    assert "MAX_FILE_DEPTH" in (data_problem({"a": deep}) or "")
    assert "key 1 is not a string" in (data_problem({1: "x"}) or "")
    assert "a bytes is not allowed" in (data_problem({"a": [b"x"]}) or "")
    assert "MAX_FILE_NODES" in (data_problem({"a": list(range(20_000))}) or "")
    assert data_problem({"name": "p", "n": 1, "ok": True, "l": [1.5, None]}) is None
