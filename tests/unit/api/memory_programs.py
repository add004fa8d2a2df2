"""The program operations of the in-memory backend: the pure program core for commands, the service's pure
helpers for the matching reads (no capacity use: nothing is projected here)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from domain import Actor, RelationshipNotFound
from domain.matching import Mentee, Mentor
from domain.matching.enrollment import Enrollment
from domain.programs.commands import (
    CloseCycle,
    ConfigureMatching,
    ConfigureProgram,
    CreateProgram,
    EnrollParticipants,
    Participant,
    WithdrawParticipant,
)
from domain.programs.core import execute_program
from domain.programs.events import program_chain_id
from domain.programs.state import ProgramState
from service.errors import InvalidArgument
from service.programs import round_data, scores_data, suggest_data
from workflows.program_models import ProgramCommandResult


class MemoryPrograms:
    def __init__(self) -> None:
        self.program_states: dict[str, ProgramState] = {}
        self.people: dict[str, list[Participant]] = {}

    def _run(self, state: ProgramState, command: Any) -> ProgramCommandResult:
        new, _ = execute_program(state, command, datetime.now(UTC), lambda: str(uuid.uuid4()))
        self.program_states[new.program_id] = new
        return ProgramCommandResult(
            command_id=command.command_id,
            program_id=new.program_id,
            duplicate=False,
            first_seq=state.seq + 1,
            last_seq=new.seq,
            mentors=new.mentors,
            mentees=new.mentees,
            rounds=new.rounds,
            closed=new.closed,
        )

    def _state(self, program_id: str) -> ProgramState:
        state = self.program_states.get(program_id)
        if state is None:
            raise RelationshipNotFound(program_chain_id(program_id), f"program {program_id} does not exist")
        return state

    async def create(self, command: CreateProgram) -> ProgramCommandResult:
        state = self.program_states.get(command.program_id) or ProgramState.new(command.program_id)
        return self._run(state, command)

    async def enroll(self, command: EnrollParticipants) -> ProgramCommandResult:
        result = self._run(self._state(command.program_id), command)
        self.people.setdefault(command.program_id, []).extend(command.participants)
        return result

    async def withdraw(self, command: WithdrawParticipant) -> ProgramCommandResult:
        result = self._run(self._state(command.program_id), command)
        people = self.people.get(command.program_id, [])
        gone = (command.person_id, command.role)
        self.people[command.program_id] = [p for p in people if (p.person_id, p.role) != gone]
        return result

    async def configure(self, command: ConfigureMatching | ConfigureProgram) -> ProgramCommandResult:
        return self._run(self._state(command.program_id), command)

    async def close_cycle(self, command: CloseCycle) -> ProgramCommandResult:
        return self._run(self._state(command.program_id), command)

    def _enrollment(self, program_id: str) -> tuple[Any, Enrollment]:
        state = self._state(program_id)
        people = self.people.get(program_id, [])
        mentors = tuple(
            Mentor(person_id=p.person_id, profile=p.profile, capacity=p.capacity or 1)
            for p in people
            if p.role == "mentor"
        )
        mentees = tuple(
            Mentee(person_id=p.person_id, profile=p.profile, preferences=p.preferences)
            for p in people
            if p.role == "mentee"
        )
        assert state.matching is not None
        return state.matching, Enrollment(mentees, mentors, {}, frozenset())

    async def show(self, program_id: str) -> dict[str, Any]:
        state = self._state(program_id)
        return {"program": program_id, "name": state.name, "seq": state.seq, "counts": {"mentors": state.mentors}}

    async def scores(self, program_id: str) -> dict[str, Any]:
        config, enrollment = self._enrollment(program_id)
        return scores_data(enrollment, config)

    async def suggestions(self, program_id: str, mentee: str, top: int) -> dict[str, Any]:
        config, enrollment = self._enrollment(program_id)
        return suggest_data(program_id, enrollment, config, mentee, top)

    async def match(self, program_id: str, actor: Actor | None, *, dry_run: bool) -> dict[str, Any]:
        config, enrollment = self._enrollment(program_id)
        return round_data(program_id, enrollment, config, dry_run=True)

    async def propose_pair(self, program_id: str, mentee: str, mentor: str, actor: Actor) -> dict[str, Any]:
        _, enrollment = self._enrollment(program_id)
        if mentor not in {m.person_id for m in enrollment.mentors}:
            raise InvalidArgument("mentor", f"{mentor!r} is not enrolled as a mentor of {program_id}")
        return {"program": program_id, "mentee": mentee, "mentor": mentor, "method": "admin"}

    async def matching_report(self, program_id: str) -> dict[str, Any]:
        """The report's shape with nothing matched (no relationships are projected here)."""
        _, enrollment = self._enrollment(program_id)
        steps = dict.fromkeys(("matched", "accepted", "kicked_off", "cultivation", "completed"), 0)
        funnel = {"enrolled": len(enrollment.mentees), **steps, "withdrawn": 0, "side_exits": {}}
        funnel.update(unmatched=len(enrollment.mentees), unmatched_reasons={"not_in_a_round": len(enrollment.mentees)})
        capacity = [
            {"mentor": m.person_id, "capacity": m.capacity, "open": 0, "free": m.capacity, "relationships": 0}
            for m in enrollment.mentors
        ]
        return {"program": program_id, "funnel": funnel, "by_method": [], "by_score_band": [], "capacity": capacity}
