"""The program aggregate's pure core: decide refuses what breaks a rule (naming it), evolve keeps ids and counters
only, and the sealed envelopes form a chain the standalone rules verify."""

from __future__ import annotations

import itertools
import re
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from domain import Actor, DomainError, RelationshipNotFound, builtin_policy, verify_chain
from domain.envelope import canonical_json, event_from_envelope
from domain.errors import NotAllowedForRole
from domain.matching import Profile
from domain.programs.commands import (
    CloseCycle,
    ConfigureProgram,
    CreateProgram,
    EnrollParticipants,
    Participant,
    RecordMatchingRound,
    WithdrawParticipant,
)
from domain.programs.core import MAX_PROGRAM_ID_LENGTH, WITHDRAW_RULE, execute_program
from domain.programs.events import RoundPair, RoundUnmatched
from domain.programs.state import ProgramState, member_key

NOW = datetime(2027, 1, 4, 9, tzinfo=UTC)
MANAGER = Actor(id="mgr-1", role="manager")
PROFILE = Profile(languages=("en",), skills=("python",))
_ids = (str(uuid.UUID(int=i)) for i in itertools.count(1))


def new_id() -> str:
    return next(_ids)


def _cid() -> str:
    return f"c-{uuid.uuid4().hex[:10]}"


def mentor(pid: str, capacity: int = 2) -> Participant:
    return Participant(person_id=pid, role="mentor", profile=PROFILE, capacity=capacity)


def mentee(pid: str, *prefs: str) -> Participant:
    return Participant(person_id=pid, role="mentee", profile=PROFILE, preferences=prefs)


def round_part(*pairs: tuple[str, str, str], unmatched: tuple[str, ...] = ()) -> RecordMatchingRound:
    """A one-part round: (mentee, mentor, score) proposed as rel-<mentee>, the others unmatched."""
    return RecordMatchingRound(
        command_id=_cid(),
        actor=MANAGER,
        program_id="p1",
        round_id="r1",
        part=1,
        parts=1,
        matching_version="default-1",
        total_score=sum((Decimal(score) for _, _, score in pairs), Decimal(0)),
        proposals=tuple(
            RoundPair(mentee=a, mentor=b, score=Decimal(score), relationship_id=f"rel-{a}") for a, b, score in pairs
        ),
        unmatched=tuple(RoundUnmatched(mentee=m, reason="capacity_exhausted") for m in unmatched),
    )


def run(state: ProgramState, command: Any) -> tuple[ProgramState, list[Any]]:
    return execute_program(state, command, NOW, new_id)


def created(program: str = "p1") -> tuple[ProgramState, list[Any]]:
    command = CreateProgram(
        command_id=_cid(),
        actor=MANAGER,
        program_id=program,
        name="Spring cohort",
        default_policy=builtin_policy("mentoring-12m"),
        cycle_start=date(2027, 1, 1),
        cycle_end=date(2027, 12, 31),
    )
    return run(ProgramState.new(program), command)


def enroll(state: ProgramState, *people: Participant, actor: Actor = MANAGER) -> tuple[ProgramState, list[Any]]:
    return run(state, EnrollParticipants(command_id=_cid(), actor=actor, program_id="p1", participants=people))


def test_a_program_chain_verifies_and_decodes_with_the_relationship_rules() -> None:
    state, first = created()
    state, more = enroll(state, mentor("ana"), mentee("bo", "ana"))
    chain = first + more
    assert [e.type for e in chain] == ["ProgramCreated", "ParticipantEnrolled", "ParticipantEnrolled"]
    assert {e.relationship_id for e in chain} == {"program:p1"} and {e.program_id for e in chain} == {"p1"}
    assert verify_chain([e.to_bytes() for e in chain]).ok
    assert (state.seq, state.last_hash) == (3, chain[-1].hash)
    assert (state.mentors, state.mentees) == (1, 1)
    assert state.is_enrolled("mentor", "ana") and state.is_enrolled("mentee", "bo")
    assert not state.is_enrolled("mentee", "ana")
    enrolled = event_from_envelope(chain[2])
    assert enrolled.type == "ParticipantEnrolled" and enrolled.preferences == ("ana",)
    # the state carries digests, never ids or profiles, and serialises the same in every process (sorted)
    dumped = canonical_json(state.model_dump(mode="json")).decode()
    assert "profile" not in dumped and '"ana"' not in dumped
    assert state.model_dump(mode="json")["members"] == sorted(state.members)


def test_only_a_manager_creates_and_a_program_is_created_once() -> None:
    state, _ = created()
    with pytest.raises(DomainError, match="already exists"):
        created_again = CreateProgram(
            command_id=_cid(), actor=MANAGER, program_id="p1", name="x", default_policy=builtin_policy("mentoring-12m")
        )
        run(state, created_again)
    mentor_actor = Actor(id="ana", role="mentor")
    with pytest.raises(DomainError, match="only a manager"):
        run(
            ProgramState.new("p2"),
            CreateProgram(
                command_id=_cid(),
                actor=mentor_actor,
                program_id="p2",
                name="x",
                default_policy=builtin_policy("mentoring-12m"),
            ),
        )
    long_id = "p" * (MAX_PROGRAM_ID_LENGTH + 1)
    with pytest.raises(DomainError, match="MAX_ID_LENGTH less the chain prefix"):
        created(long_id)


def test_commands_on_a_program_that_does_not_exist_are_not_found() -> None:
    with pytest.raises(RelationshipNotFound, match="program p1 does not exist"):
        enroll(ProgramState.new("p1"), mentor("ana"))


def test_enrollment_refusals_name_the_participant_and_the_field() -> None:
    state, _ = created()
    state, _ = enroll(state, mentor("ana"))
    with pytest.raises(DomainError, match=r"participants\[0\] \(ana\): person_id: already enrolled as mentor"):
        enroll(state, mentor("ana"))
    with pytest.raises(DomainError, match=r"participants\[1\] \(bo\): preferences: 'carl' is not an enrolled mentor"):
        enroll(state, mentor("dee"), mentee("bo", "dee", "carl"))
    # all or nothing: dee was not enrolled by the refused command
    assert not state.is_enrolled("mentor", "dee")
    # a mentor enrolled in the same command may be ranked by a mentee of that command
    state, events = enroll(state, mentor("dee"), mentee("bo", "dee"))
    assert len(events) == 2
    # the same person may be both mentor and mentee
    state, _ = enroll(state, mentee("ana"))
    assert state.is_enrolled("mentor", "ana") and state.is_enrolled("mentee", "ana")


def test_a_participant_enrolls_only_themself_in_their_own_role() -> None:
    state, _ = created()
    state, _ = enroll(state, mentor("ana"), actor=Actor(id="ana", role="mentor"))
    with pytest.raises(DomainError, match="enrolls only themself"):
        enroll(state, mentee("bo"), actor=Actor(id="ana", role="mentee"))
    with pytest.raises(DomainError, match="enrolls only themself"):
        enroll(state, mentor("bo"), actor=Actor(id="bo", role="mentee"))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"role": "mentor", "capacity": 0}, "greater than or equal to 1"),
        ({"role": "mentor", "capacity": -3}, "greater than or equal to 1"),
        ({"role": "mentor"}, "capacity: a mentor must give one"),
        ({"role": "mentee", "capacity": 2}, "capacity: only a mentor"),
        ({"role": "mentee", "preferences": ["x", "x"]}, "must not name a mentor twice"),
        ({"role": "mentee", "preferences": ["bo"]}, "must not name the mentee themself"),
        ({"role": "mentee", "profile": {"languages": []}}, "languages"),
    ],
)
def test_a_participant_is_checked_at_the_boundary(fields: dict[str, Any], message: str) -> None:
    data: dict[str, Any] = {"person_id": "bo", "profile": {"languages": ["en"]}, **fields}
    with pytest.raises(ValueError, match=message):
        Participant.model_validate(data)


def test_withdrawal_then_re_enrollment_in_the_same_cycle_is_refused() -> None:
    state, _ = created()
    state, _ = enroll(state, mentor("ana"))
    withdraw = WithdrawParticipant(command_id=_cid(), actor=MANAGER, program_id="p1", person_id="ana", role="mentor")
    state, events = run(state, withdraw)
    assert events[0].type == "ParticipantWithdrawn" and state.mentors == 0
    with pytest.raises(DomainError, match="withdrew as mentor"):
        enroll(state, mentor("ana"))
    with pytest.raises(DomainError, match="not enrolled as mentor"):
        run(state, withdraw.model_copy(update={"command_id": _cid()}))


def _withdraw_as(actor: str, person: str, role: str) -> WithdrawParticipant:
    who, _, pid = actor.partition(":")
    return WithdrawParticipant(
        command_id=_cid(), actor=Actor(id=pid, role=who), program_id="p1", person_id=person, role=role
    )


@pytest.mark.parametrize(
    ("actor", "person", "role"),
    [("mentee:bo", "bo", "mentor"), ("mentor:bo", "bo", "mentee"), ("mentee:bo", "ana", "mentor")],
)
def test_a_participant_withdraws_only_their_own_enrollment_in_their_own_role(
    actor: str, person: str, role: str
) -> None:
    state, _ = created()
    state, _ = enroll(state, mentor("ana"), mentor("bo"), mentee("bo"))
    with pytest.raises(NotAllowedForRole) as refused:
        run(state, _withdraw_as(actor, person, role))
    assert refused.value.rule == WITHDRAW_RULE and "in their own role" in WITHDRAW_RULE
    state, events = run(state, _withdraw_as("mentee:bo", "bo", "mentee"))
    assert events[0].payload["role"] == "mentee" and state.is_enrolled("mentor", "bo")
    state, events = run(state, _withdraw_as("manager:mgr-1", "bo", "mentor"))
    assert events[0].payload["by"] == "mgr-1" and state.mentors == 1


def test_histories_recorded_under_the_first_rule_replay_it() -> None:
    """``legacy``: the workflow's unpatched path decides as the first rule did (only the id checked)."""
    state, _ = created()
    state, _ = enroll(state, mentor("bo"), mentee("bo"))
    old = _withdraw_as("mentee:bo", "bo", "mentor")
    state, events = execute_program(state, old, NOW, new_id, legacy=True)
    assert events[0].payload["role"] == "mentor" and state.mentors == 0
    with pytest.raises(NotAllowedForRole, match="withdraws only their own"):
        execute_program(state, _withdraw_as("mentee:bo", "ana", "mentor"), NOW, new_id, legacy=True)


def test_a_round_part_names_enrolled_people_only_and_closing_ends_the_chain() -> None:
    state, _ = created()
    state, _ = enroll(state, mentor("ana"), mentee("bo"), mentee("cy"))
    part = round_part(("bo", "ana", "7.5"), unmatched=("cy",))
    state, events = run(state, part)
    assert state.rounds == 1 and events[0].payload["total_score"] == "7.5"
    with pytest.raises(DomainError, match="zed not enrolled"):
        run(
            state,
            part.model_copy(update={"command_id": _cid(), "unmatched": (RoundUnmatched(mentee="zed", reason="x"),)}),
        )
    state, _ = run(state, CloseCycle(command_id=_cid(), actor=MANAGER, program_id="p1"))
    assert state.closed
    with pytest.raises(DomainError, match="cycle is closed"):
        enroll(state, mentee("dee"))


TEMPORAL_PAYLOAD_LIMIT = 2 * 1024 * 1024


def test_five_thousand_people_fit_the_payload_limits() -> None:
    """What the workflow carries for 5,000 mentees and 5,000 mentors (the longest ids), and the largest enrollment
    command (MAX_ENROLL_BATCH participants with profiles at every limit), stay under Temporal's 2 MB payload."""
    from domain.limits import MAX_ID_LENGTH, MAX_NAME_LENGTH, MAX_PROFILE_ITEMS
    from domain.programs.commands import MAX_ENROLL_BATCH

    state, _ = created()
    ids = [f"{n:05d}".ljust(MAX_ID_LENGTH, "x") for n in range(5_000)]
    members = frozenset(member_key(role, i) for i in ids for role in ("mentor", "mentee"))
    state = state.model_copy(update={"members": members, "withdrawn": members, "mentors": 5_000, "mentees": 5_000})
    assert len(state.model_dump_json()) < TEMPORAL_PAYLOAD_LIMIT // 4
    tags = tuple(f"{n:02d}".ljust(MAX_NAME_LENGTH, "t") for n in range(MAX_PROFILE_ITEMS))
    full = Profile(skills=tags, goals=tags, interests=tags, languages=tags, department="d" * MAX_NAME_LENGTH)
    people = tuple(
        Participant(person_id=f"p{n}".ljust(MAX_ID_LENGTH, "x"), role="mentor", profile=full, capacity=5)
        for n in range(MAX_ENROLL_BATCH)
    )
    command = EnrollParticipants(command_id=_cid(), actor=MANAGER, program_id="p1", participants=people)
    assert len(command.model_dump_json()) < TEMPORAL_PAYLOAD_LIMIT


def _configure(**fields: Any) -> ConfigureProgram:
    return ConfigureProgram(command_id=_cid(), actor=MANAGER, program_id="p1", **fields)


def test_configuring_a_program_changes_only_the_fields_given_and_seals_only_those() -> None:
    state, chain = created()
    policy = builtin_policy("mentoring-12m").model_copy(update={"name": "spring-policy"})
    state, (env,) = run(state, _configure(name="Autumn cohort", default_policy=policy, retention_days=90))
    assert env.type == "ProgramConfigured"
    assert set(env.payload) == {"by", "name", "default_policy", "retention_days"}  # absent fields are not there
    assert (state.name, state.default_policy, state.retention_days) == ("Autumn cohort", policy, 90)
    assert (state.cycle_start, state.cycle_end) == (date(2027, 1, 1), date(2027, 12, 31))
    state, (moved,) = run(state, _configure(cycle_end=date(2028, 6, 30)))
    assert moved.payload == {"by": "mgr-1", "cycle_end": "2028-06-30"} and state.name == "Autumn cohort"
    decoded = event_from_envelope(moved)
    assert canonical_json(decoded.model_dump(mode="json", exclude={"type", "at"})) == canonical_json(moved.payload)
    assert verify_chain([e.to_bytes() for e in [*chain, env, moved]]).ok


@pytest.mark.parametrize(
    ("fields", "actor", "rule"),
    [
        ({"cycle_end": date(2026, 12, 1)}, MANAGER, "cycle_end: must be after cycle_start (2027-01-01)"),
        ({"retention_days": 30}, Actor(id="bo", role="mentee"), "only a manager may do this"),
    ],
)
def test_a_configuration_that_breaks_a_rule_is_refused_naming_it(
    fields: dict[str, Any], actor: Actor, rule: str
) -> None:
    state, _ = created()
    command = ConfigureProgram(command_id=_cid(), actor=actor, program_id="p1", **fields)
    with pytest.raises(DomainError, match=re.escape(rule)):
        run(state, command)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "give at least one"),
        ({"retention_days": 0}, "retention_days"),
        ({"retention_days": 36_501}, "retention_days"),
        ({"name": ""}, "name"),
    ],
)
def test_a_configuration_is_checked_at_the_boundary(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ConfigureProgram.model_validate({"command_id": "c-1", "actor": MANAGER, "program_id": "p1", **fields})
