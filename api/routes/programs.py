"""Programs over HTTP (issue 14): the same operations as ``mentorflow program …`` through the same service.

Roles: a manager token creates programs, enrolls anyone, runs rounds and proposes admin matches, as itself; a
participant token enrolls only its own person (in the role it names), reads suggestions only for itself and
proposes a self-match only as the mentee; a platform token names the actor; an auditor only reads. Refusals are
4xx naming the field (a ``DomainError``: 409/422 as for relationships; an unknown program: 404).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.auth import ApiRole, Principal, require
from api.deps import BackendDep, CallerDep, WriterDep
from api.errors import ApiError, ErrorBody
from api.schemas import ID_PATTERN, Identifier, OptionalActor
from domain import Actor, Role, builtin_policy
from domain.limits import MAX_ID_LENGTH, MAX_NAME_LENGTH, NOTE
from domain.matching import MatchingConfig
from domain.programs.commands import (
    MAX_ENROLL_BATCH,
    MAX_RETENTION_DAYS,
    CloseCycle,
    ConfigureMatching,
    ConfigureProgram,
    CreateProgram,
    EnrollParticipants,
    Participant,
    WithdrawParticipant,
)
from domain.programs.events import ParticipantRole

__all__ = ["ProgramBackend", "router"]

router = APIRouter(tags=["programs"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "missing or unknown bearer token"},
    403: {"model": ErrorBody, "description": "the token's role may not do this"},
    404: {"model": ErrorBody, "description": "unknown program"},
    409: {"model": ErrorBody, "description": "the program's state refuses it (the rule)"},
    422: {"model": ErrorBody, "description": "invalid input, naming the field and the rule"},
    503: {"model": ErrorBody, "description": "Temporal busy or unreachable, or the projection behind"},
}
ProgramId = Annotated[str, Path(pattern=ID_PATTERN, max_length=MAX_ID_LENGTH, description="the program id")]


class ProgramBackend(Protocol):
    """The program operations of :class:`service.programs.ProgramService`."""

    async def create(self, command: CreateProgram) -> Any: ...
    async def enroll(self, command: EnrollParticipants) -> Any: ...
    async def withdraw(self, command: WithdrawParticipant) -> Any: ...
    async def configure(self, command: ConfigureMatching | ConfigureProgram) -> Any: ...
    async def close_cycle(self, command: CloseCycle) -> Any: ...
    async def show(self, program_id: str) -> dict[str, Any]: ...
    async def scores(self, program_id: str) -> dict[str, Any]: ...
    async def suggestions(self, program_id: str, mentee: str, top: int) -> dict[str, Any]: ...
    async def match(self, program_id: str, actor: Actor | None, *, dry_run: bool) -> dict[str, Any]: ...
    async def propose_pair(self, program_id: str, mentee: str, mentor: str, actor: Actor) -> dict[str, Any]: ...
    async def matching_report(self, program_id: str) -> dict[str, Any]: ...


class ProgramCreateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    program_id: Identifier
    name: str = Field(min_length=1, max_length=2_000)
    policy: str = Field("mentoring-12m", max_length=MAX_NAME_LENGTH, description="a built-in lifecycle policy")
    matching: MatchingConfig = Field(default_factory=MatchingConfig, description="weights, floor, version")
    cycle_start: date | None = None
    cycle_end: date | None = None
    actor: OptionalActor = None


class ProgramEnrollBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    participants: list[Participant] = Field(min_length=1, max_length=MAX_ENROLL_BATCH)
    actor: OptionalActor = None


class ProgramWithdrawBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: Identifier
    role: ParticipantRole
    reason: Annotated[str, NOTE] = ""
    actor: OptionalActor = None


class ProgramConfigureBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    matching: MatchingConfig = Field(description="weights, floor, version: replaces the program's configuration")
    actor: OptionalActor = None


class ProgramSettingsBody(BaseModel):
    """Any of these, at least one (``ConfigureProgram``): absent keys keep their value."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=2_000)
    policy: str | None = Field(None, max_length=MAX_NAME_LENGTH, description="a built-in lifecycle policy")
    matching: MatchingConfig | None = None
    cycle_start: date | None = None
    cycle_end: date | None = None
    retention_days: int | None = Field(None, ge=1, le=MAX_RETENTION_DAYS, description="days closed data is kept")
    actor: OptionalActor = None


class ProgramActorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actor: OptionalActor = None


class ProgramProposeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mentee: Identifier
    mentor: Identifier
    actor: OptionalActor = None


def _programs(backend: Any) -> ProgramBackend:
    return backend  # type: ignore[no-any-return]


def _manager(caller: Principal, wanted: Actor | None, operation: str) -> Actor:
    """The acting manager: the manager token itself, or the actor a platform token names (a manager)."""
    require(caller, ApiRole.PLATFORM, ApiRole.MANAGER, operation=operation)
    if caller.role is ApiRole.MANAGER:
        return Actor(id=caller.name, role=Role.MANAGER)
    if wanted is None:
        raise ApiError(422, "ValidationError", "body.actor: a platform token must name the actor", "body.actor")
    return wanted


def _participant_actor(caller: Principal, wanted: Actor | None, person: str, role: Role, what: str) -> Actor:
    if caller.role is ApiRole.MANAGER:
        return Actor(id=caller.name, role=Role.MANAGER)
    if caller.role is ApiRole.PLATFORM:
        if wanted is None:
            raise ApiError(422, "ValidationError", "body.actor: a platform token must name the actor", "body.actor")
        return wanted
    if caller.person_id != person:
        raise ApiError(403, "Forbidden", f"participant {caller.person_id} may only {what} for themself")
    return Actor(id=person, role=role)


@router.post("/programs", status_code=201, responses=_ERRORS, summary="Create a program")
async def create(caller: WriterDep, backend: BackendDep, body: ProgramCreateBody) -> dict[str, Any]:
    actor = _manager(caller, body.actor, "create a program")
    command = CreateProgram(
        command_id=str(uuid.uuid4()),
        actor=actor,
        program_id=body.program_id,
        name=body.name,
        default_policy=builtin_policy(body.policy),
        matching=body.matching,
        cycle_start=body.cycle_start,
        cycle_end=body.cycle_end,
    )
    result = await _programs(backend).create(command)
    return dict(result.model_dump(mode="json"))


@router.post("/programs/{program_id}/enrollments", status_code=201, responses=_ERRORS, summary="Enroll participants")
async def enroll(
    program_id: ProgramId, caller: WriterDep, backend: BackendDep, body: ProgramEnrollBody
) -> dict[str, Any]:
    """A manager enrolls anyone (all or nothing); a participant token enrolls only its own person."""
    if caller.role is ApiRole.PARTICIPANT:
        if len(body.participants) != 1:
            raise ApiError(403, "Forbidden", "a participant enrolls only themself (one participant)")
        (p,) = body.participants
        actor = _participant_actor(caller, body.actor, p.person_id, Role(p.role), "enroll")
    else:
        actor = _manager(caller, body.actor, "enroll participants")
    command = EnrollParticipants(
        command_id=str(uuid.uuid4()), actor=actor, program_id=program_id, participants=tuple(body.participants)
    )
    result = await _programs(backend).enroll(command)
    return dict(result.model_dump(mode="json"))


@router.post("/programs/{program_id}/withdrawals", status_code=201, responses=_ERRORS, summary="Withdraw a participant")
async def withdraw(
    program_id: ProgramId, caller: WriterDep, backend: BackendDep, body: ProgramWithdrawBody
) -> dict[str, Any]:
    """A manager withdraws anyone; a participant token withdraws only its own person (in the role it names)."""
    actor = _participant_actor(caller, body.actor, body.person_id, Role(body.role), "withdraw")
    command = WithdrawParticipant(
        command_id=str(uuid.uuid4()),
        actor=actor,
        program_id=program_id,
        person_id=body.person_id,
        role=body.role,
        reason=body.reason,
    )
    return dict((await _programs(backend).withdraw(command)).model_dump(mode="json"))


@router.put("/programs/{program_id}/matching", responses=_ERRORS, summary="Replace the matching configuration")
async def configure(
    program_id: ProgramId, caller: WriterDep, backend: BackendDep, body: ProgramConfigureBody
) -> dict[str, Any]:
    actor = _manager(caller, body.actor, "configure a program")
    command = ConfigureMatching(
        command_id=str(uuid.uuid4()), actor=actor, program_id=program_id, matching=body.matching
    )
    return dict((await _programs(backend).configure(command)).model_dump(mode="json"))


@router.put("/programs/{program_id}", responses=_ERRORS, summary="Change the program's configuration")
async def configure_program(
    program_id: ProgramId, caller: WriterDep, backend: BackendDep, body: ProgramSettingsBody
) -> dict[str, Any]:
    """Name, default policy (proposals after it pin it; running relationships keep theirs), matching configuration,
    cycle window, retention: the keys given change, the others stay."""
    actor = _manager(caller, body.actor, "configure a program")
    command = ConfigureProgram(
        command_id=str(uuid.uuid4()),
        actor=actor,
        program_id=program_id,
        name=body.name,
        default_policy=None if body.policy is None else builtin_policy(body.policy),
        matching=body.matching,
        cycle_start=body.cycle_start,
        cycle_end=body.cycle_end,
        retention_days=body.retention_days,
    )
    return dict((await _programs(backend).configure(command)).model_dump(mode="json"))


@router.post("/programs/{program_id}/close", responses=_ERRORS, summary="Close the program's cycle")
async def close_cycle(
    program_id: ProgramId, caller: WriterDep, backend: BackendDep, body: ProgramActorBody | None = None
) -> dict[str, Any]:
    """Nothing more is enrolled, configured or matched; open relationships run on."""
    actor = _manager(caller, None if body is None else body.actor, "close a program's cycle")
    command = CloseCycle(command_id=str(uuid.uuid4()), actor=actor, program_id=program_id)
    return dict((await _programs(backend).close_cycle(command)).model_dump(mode="json"))


@router.get("/programs/{program_id}", responses=_ERRORS, summary="A program: configuration, counts, people")
async def show(program_id: ProgramId, caller: CallerDep, backend: BackendDep) -> dict[str, Any]:
    require(caller, ApiRole.PLATFORM, ApiRole.MANAGER, ApiRole.AUDITOR, operation="show a program")
    return await _programs(backend).show(program_id)


@router.get("/programs/{program_id}/scores", responses=_ERRORS, summary="The score table of the next round")
async def scores(program_id: ProgramId, caller: CallerDep, backend: BackendDep) -> dict[str, Any]:
    require(caller, ApiRole.PLATFORM, ApiRole.MANAGER, ApiRole.AUDITOR, operation="read the scores")
    return await _programs(backend).scores(program_id)


@router.get("/programs/{program_id}/suggestions", responses=_ERRORS, summary="Ranked mentors for one mentee")
async def suggestions(
    program_id: ProgramId,
    caller: CallerDep,
    backend: BackendDep,
    mentee: Annotated[str, Query(pattern=ID_PATTERN, max_length=MAX_ID_LENGTH)],
    top: Annotated[int, Query(ge=1, le=50)] = 5,
) -> dict[str, Any]:
    if caller.role is ApiRole.PARTICIPANT and caller.person_id != mentee:
        raise ApiError(403, "Forbidden", f"participant {caller.person_id} reads only their own suggestions")
    return await _programs(backend).suggestions(program_id, mentee, top)


@router.post("/programs/{program_id}/rounds", responses=_ERRORS, summary="One optimal matching round")
async def match(
    program_id: ProgramId,
    caller: WriterDep,
    backend: BackendDep,
    dry_run: Annotated[bool, Query(description="compute the round, propose nothing")] = False,
    actor_id: Annotated[str | None, Query(pattern=ID_PATTERN, max_length=MAX_ID_LENGTH)] = None,
) -> dict[str, Any]:
    wanted = None if actor_id is None else Actor(id=actor_id, role=Role.MANAGER)
    actor = _manager(caller, wanted, "run a matching round")
    return await _programs(backend).match(program_id, None if dry_run else actor, dry_run=dry_run)


@router.post("/programs/{program_id}/proposals", status_code=201, responses=_ERRORS, summary="Admin or self match")
async def propose(
    program_id: ProgramId, caller: WriterDep, backend: BackendDep, body: ProgramProposeBody
) -> dict[str, Any]:
    """A manager proposes a pair (admin matching); a participant token proposes only as the mentee (self)."""
    actor = _participant_actor(caller, body.actor, body.mentee, Role.MENTEE, "propose a self-match")
    return await _programs(backend).propose_pair(program_id, body.mentee, body.mentor, actor)


@router.get(
    "/programs/{program_id}/report",
    responses=_ERRORS,
    summary="The matching report: funnel from enrollment, outcomes by method and score band, capacity use",
)
async def matching_report(program_id: ProgramId, caller: CallerDep, backend: BackendDep) -> dict[str, Any]:
    """The same numbers as ``mentorflow report matching --program P --json``."""
    require(caller, ApiRole.PLATFORM, ApiRole.MANAGER, ApiRole.AUDITOR, operation="read the matching report")
    return await _programs(backend).matching_report(program_id)
