"""A program chain on the events topic: its row in ``programs`` (chain head and counters), its enrollments with the
profiles, its round entries; its events in ``event_log``; and a program event on a relationship's chain is poison."""

from __future__ import annotations

import json

from sqlalchemy import select

from domain import builtin_policy
from domain.programs.commands import ConfigureProgram, CreateProgram, WithdrawParticipant
from domain.programs.state import ProgramState
from projections.models import EventLog, Program, ProgramEnrollment, ProgramRoundEntry, Relationship
from tests.unit.programs.test_program_core import MANAGER, _cid, created, enroll, mentee, mentor, round_part, run
from tests.unit.projections.helpers import as_topic, memory_engine, messages_of, project


def test_a_program_chain_projects_into_the_program_tables() -> None:
    state, chain = created()
    state, more = enroll(state, mentor("ana", 3), mentee("bo", "ana"), mentee("cy"))
    chain += more
    withdraw = WithdrawParticipant(command_id=_cid(), actor=MANAGER, program_id="p1", person_id="cy", role="mentee")
    state, more = run(state, withdraw)
    chain += more
    part = round_part(("bo", "ana", "4.25"))
    state, more = run(state, part)
    chain += more
    engine = memory_engine()
    # in two batches: the second loads the program's row back from the table
    results = project(engine, as_topic([chain]), batch=3)
    assert all(not r.rejected for r in results)
    with engine.connect() as conn:
        program = conn.execute(select(Program)).mappings().one()
        enrollments = conn.execute(select(ProgramEnrollment)).mappings().all()
        entries = conn.execute(select(ProgramRoundEntry)).mappings().all()
        logged = conn.execute(select(EventLog.relationship_id, EventLog.seq)).all()
        relationships = conn.execute(select(Relationship)).all()
    assert (program["program_id"], program["name"], program["policy_name"]) == ("p1", "Spring cohort", "mentoring-12m")
    assert (program["mentors"], program["mentees"], program["withdrawn"], program["rounds"]) == (1, 1, 1, 1)
    assert (program["last_seq"], program["last_hash"]) == (state.seq, state.last_hash)
    assert program["cycle_start"] == "2027-01-01"
    by_person = {(e["person_id"], e["role"]): e for e in enrollments}
    assert json.loads(by_person[("ana", "mentor")]["profile"])["skills"] == ["python"]
    assert by_person[("ana", "mentor")]["capacity"] == 3
    assert json.loads(by_person[("bo", "mentee")]["preferences"]) == ["ana"]
    assert by_person[("cy", "mentee")]["withdrawn_at"] is not None
    assert [(e["mentee_id"], e["mentor_id"], e["score"]) for e in entries] == [("bo", "ana", "4.25")]
    assert sorted(logged) == [("program:p1", n) for n in range(1, state.seq + 1)]
    assert relationships == []  # a program is not a relationship


def test_a_program_event_on_a_relationship_chain_is_poison() -> None:
    _, (good,) = created()
    # a well-sealed ProgramCreated whose chain id is not a program's
    state = ProgramState(program_id="p1", relationship_id="rel-1")
    create = CreateProgram(
        command_id=_cid(), actor=MANAGER, program_id="p1", name="x", default_policy=builtin_policy("mentoring-12m")
    )
    _, (forged,) = run(state, create)
    engine = memory_engine()
    (result,) = project(engine, messages_of([("rel-1", forged.to_bytes()), ("program:p1", good.to_bytes())]))
    assert result.applied == 1
    (poison,) = result.poison
    assert poison.error == "shape: a ProgramCreated on relationship chain rel-1"


def test_a_program_configuration_changes_only_what_it_names_in_the_row() -> None:
    state, chain = created()
    policy = builtin_policy("mentoring-12m").model_copy(update={"name": "spring-policy", "version": "7"})
    configure = ConfigureProgram(
        command_id=_cid(), actor=MANAGER, program_id="p1", name="Autumn", default_policy=policy, retention_days=90
    )
    state, more = run(state, configure)
    chain += more
    engine = memory_engine()
    assert all(not r.rejected for r in project(engine, as_topic([chain]), batch=1))
    with engine.connect() as conn:
        program = conn.execute(select(Program)).mappings().one()
    assert (program["name"], program["policy_name"], program["policy_version"]) == ("Autumn", "spring-policy", "7")
    assert json.loads(program["policy"])["name"] == "spring-policy" and program["retention_days"] == 90
    assert (program["cycle_start"], program["cycle_end"], program["last_seq"]) == ("2027-01-01", "2027-12-31", 2)
