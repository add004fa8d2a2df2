"""Propose, send any command, show, list, history, state at an instant, verify.

(No ``from __future__ import annotations`` here: the per-command endpoints are made at run time and FastAPI must see
their body models as real annotations.)
"""

import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from pydantic import AwareDatetime, BaseModel

from api.auth import ApiRole, Principal, require
from api.backend import Backend, CommandOutcome, ListFilter
from api.deps import BackendDep, CallerDep, RelationshipId, WriterDep, control_problem, visible_state
from api.errors import ApiError, ErrorBody
from api.schemas import (
    CommandResponse,
    ListResponse,
    ProposeBody,
    command_body_model,
    commands_by_kebab,
)
from api.verify_gate import VerifyGate, verify_gate
from domain import (
    Actor,
    CommandBase,
    Envelope,
    IllegalTransition,
    ProposeRelationship,
    RelationshipClosedError,
    Role,
    builtin_policy,
    parse_command,
)
from domain.decide import ROLES
from domain.limits import MAX_ID_LENGTH, MAX_LONG_TEXT_LENGTH, text_problem
from domain.stages import Health, Stage, Substate

__all__ = ["router"]

router = APIRouter()

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "missing or unknown bearer token"},
    403: {"model": ErrorBody, "description": "the token's role may not do this"},
    404: {"model": ErrorBody, "description": "unknown relationship"},
    409: {"model": ErrorBody, "description": "the command conflicts with the relationship's stage (the rule)"},
    422: {"model": ErrorBody, "description": "invalid input or a command the domain refuses as such (the rule)"},
}
_VERIFY_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    429: {"model": ErrorBody, "description": "too many verifications by this caller (VERIFY_CALLS_PER_MINUTE)"},
    503: {"model": ErrorBody, "description": "the verification ran out of time (VERIFY_TIMEOUT_SECONDS)"},
}
WRITERS = (ApiRole.PLATFORM, ApiRole.MANAGER, ApiRole.PARTICIPANT)
READERS = (ApiRole.PLATFORM, ApiRole.MANAGER, ApiRole.PARTICIPANT, ApiRole.AUDITOR)


def _check_text(value: Any, where: str = "body") -> None:
    """Free text reaches Kafka and every projection database: refuse NUL and other control characters (PostgreSQL
    cannot store NUL), lone surrogates and absurd lengths, naming the field. (Each field's own limit, from
    domain/limits.py, is checked by the body model; this is the backstop for every string.)"""
    if isinstance(value, str):
        if len(value) > MAX_LONG_TEXT_LENGTH:
            raise ApiError(
                422,
                "ValidationError",
                f"{where}: at most {MAX_LONG_TEXT_LENGTH} characters (MAX_LONG_TEXT_LENGTH)",
                field=where,
            )
        problem = text_problem(value) or control_problem(value)
        if problem:
            raise ApiError(422, "ValidationError", f"{where}: {problem}", field=where)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_text(item, f"{where}.{i}")


def _fixed_actor(caller: Principal, wanted: Actor | None, derived: Actor) -> Actor:
    if wanted is not None and wanted != derived:
        raise ApiError(
            403,
            "Forbidden",
            f"the {caller.role.value} token acts as {derived.role.value} {derived.id}; only platform tokens name "
            f"the actor (got {wanted.role.value} {wanted.id})",
            field="body.actor",
        )
    return derived


def _platform_actor(wanted: Actor | None) -> Actor:
    if wanted is None:
        raise ApiError(
            422, "ValidationError", "body.actor: a platform token must name the actor ({id, role})", "body.actor"
        )
    return wanted


VerifyGateDep = Annotated[VerifyGate, Depends(verify_gate)]
WaitQuery = Annotated[
    bool,
    Query(description="read-your-writes: answer once the projections (lists, reports, dashboard) show the command"),
]
WAIT_SECONDS = 10.0


async def _events_for(caller: Principal, events: Sequence[Envelope], backend: Backend) -> list[dict[str, Any]]:
    """Participants never read the partner's check-in comments (DESIGN §10) and read their own sealed text opened;
    managers and auditors see the envelopes as recorded."""
    if caller.role is ApiRole.PARTICIPANT:
        return await backend.participant_events(events, caller.person_id or "")
    return [e.model_dump(mode="json") for e in events]


async def _response(
    outcome: CommandOutcome, command_id: str, backend: BackendDep, caller: Principal, wait: bool = False
) -> CommandResponse:
    state = outcome.summary  # the view the workflow answered with: no query for the whole state
    projected: bool | None = None
    if wait:
        try:
            await backend.wait_for_projection(state.relationship_id, state.seq, WAIT_SECONDS)
            projected = True
        except TimeoutError:
            projected = False
    return CommandResponse(
        projected=projected,
        relationship_id=state.relationship_id,
        command_id=command_id,
        stage=state.stage.value,
        substate=state.substate.value,
        health=state.health.value,
        seq=state.seq,
        events=await _events_for(caller, outcome.events, backend),
    )


@router.post(
    "/relationships",
    status_code=201,
    response_model=CommandResponse,
    responses=_ERRORS,
    summary="Propose a relationship (starts its workflow)",
    tags=["relationships"],
)
async def propose(
    caller: WriterDep, backend: BackendDep, body: ProposeBody, wait: WaitQuery = False
) -> CommandResponse:
    """Managers propose as themselves, participants propose a self-match (they must be the mentor or the mentee),
    platform tokens name the actor."""
    require(caller, *WRITERS, operation="propose")
    if caller.role is ApiRole.PLATFORM:
        actor = _platform_actor(body.actor)
    elif caller.role is ApiRole.MANAGER:
        actor = _fixed_actor(caller, body.actor, Actor(id=caller.name, role=Role.MANAGER))
    else:
        person = caller.name
        if person == body.mentor_id:
            own = Actor(id=person, role=Role.MENTOR)
        elif person == body.mentee_id:
            own = Actor(id=person, role=Role.MENTEE)
        else:
            raise ApiError(
                403,
                "Forbidden",
                f"participant {person} may only propose a relationship of their own (as mentor_id or mentee_id)",
            )
        actor = _fixed_actor(caller, body.actor, own)
    policy = builtin_policy(body.policy)  # InvalidPolicy (422) names the known ones
    command_id = body.command_id or str(uuid.uuid4())
    data = body.model_dump(exclude={"policy", "actor", "command_id", "relationship_id"}, exclude_none=True)
    _check_text(data)
    command = parse_command(
        {
            **data,
            "type": "ProposeRelationship",
            "relationship_id": body.relationship_id or f"rel-{uuid.uuid4().hex[:12]}",
            "command_id": command_id,
            "actor": actor,
            "policy": policy,
        }
    )
    assert isinstance(command, ProposeRelationship)
    try:
        outcome = await backend.propose(command)
    except (IllegalTransition, RelationshipClosedError):
        if caller.role is not ApiRole.PARTICIPANT:
            raise  # managers, platform and auditors may see every relationship's stage anyway
        # A participant may not be part of the relationship that holds this id: say it is taken, not its stage.
        raise ApiError(
            409,
            "IllegalTransition",
            f"relationship id {command.relationship_id} is already taken; propose without relationship_id to get "
            "a new one",
            field="body.relationship_id",
        ) from None
    return await _response(outcome, command_id, backend, caller, wait)


async def _send(
    cls: type[CommandBase], relationship_id: str, body: BaseModel, caller: Principal, backend: BackendDep, wait: bool
) -> CommandResponse:
    name = cls.__name__
    require(caller, *WRITERS, operation=name)
    allowed = ROLES[cls]
    wanted: Actor | None = getattr(body, "actor", None)
    if caller.role is ApiRole.PLATFORM:
        actor = _platform_actor(wanted)
    elif caller.role is ApiRole.MANAGER:
        if Role.MANAGER not in allowed:
            raise ApiError(
                403,
                "Forbidden",
                f"a manager cannot act as a participant: {name} is issued by {', '.join(r.value for r in allowed)}",
            )
        actor = _fixed_actor(caller, wanted, Actor(id=caller.name, role=Role.MANAGER))
    else:
        if Role.MENTOR not in allowed and Role.MENTEE not in allowed:
            raise ApiError(403, "Forbidden", f"{name} is a manager's command; a participant cannot issue it")
        state = await visible_state(backend, caller, relationship_id)
        role = state.role_of(caller.name)
        assert role is not None  # visible_state checked it
        actor = _fixed_actor(caller, wanted, Actor(id=caller.name, role=role))
    command_id = getattr(body, "command_id", None) or str(uuid.uuid4())
    data = body.model_dump(exclude={"actor", "command_id"}, exclude_unset=True, mode="json")
    _check_text(data)
    command = parse_command({**data, "type": name, "command_id": command_id, "actor": actor})
    return await _response(await backend.send(relationship_id, command), command_id, backend, caller, wait)


def _command_endpoint(kebab: str, cls: type[CommandBase]) -> None:
    model = command_body_model(cls)
    if any(f.is_required() for f in model.model_fields.values()):

        async def endpoint(
            relationship_id: RelationshipId,
            caller: WriterDep,
            backend: BackendDep,
            body: Annotated[model, Body()],  # type: ignore[valid-type]
            wait: WaitQuery = False,
        ) -> CommandResponse:
            return await _send(cls, relationship_id, body, caller, backend, wait)

    else:

        async def endpoint(  # type: ignore[misc]
            relationship_id: RelationshipId,
            caller: WriterDep,
            backend: BackendDep,
            body: Annotated[model | None, Body()] = None,  # type: ignore[valid-type]
            wait: WaitQuery = False,
        ) -> CommandResponse:
            return await _send(cls, relationship_id, body if body is not None else model(), caller, backend, wait)

    endpoint.__name__ = f"command_{kebab.replace('-', '_')}"
    allowed = ", ".join(r.value for r in ROLES[cls])
    router.add_api_route(
        f"/relationships/{{relationship_id}}/commands/{kebab}",
        endpoint,
        methods=["POST"],
        response_model=CommandResponse,
        responses=_ERRORS,
        summary=f"{cls.__name__} (issued by: {allowed})",
        description=(cls.__doc__ or cls.__name__).strip(),
        tags=["commands"],
    )


for _kebab, _cls in commands_by_kebab().items():
    _command_endpoint(_kebab, _cls)


@router.get(
    "/relationships/{relationship_id}",
    responses=_ERRORS,
    summary="Show a relationship (its current state, from the workflow)",
    tags=["relationships"],
)
async def show(relationship_id: RelationshipId, caller: CallerDep, backend: BackendDep) -> dict[str, Any]:
    require(caller, *READERS, operation="show")
    state = await visible_state(backend, caller, relationship_id)
    return state.model_dump(mode="json")


@router.get(
    "/relationships",
    response_model=ListResponse,
    responses=_ERRORS,
    summary="List and filter relationships (from the projections)",
    tags=["relationships"],
)
async def list_relationships(
    caller: CallerDep,
    backend: BackendDep,
    program: Annotated[str | None, Query(max_length=MAX_ID_LENGTH)] = None,
    stage: Stage | None = None,
    substate: Substate | None = None,
    health: Health | None = None,
    person: Annotated[str | None, Query(max_length=MAX_ID_LENGTH, description="mentor or mentee id")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ListResponse:
    """Participants see only their own relationships (``person`` is forced to them)."""
    require(caller, *READERS, operation="list")
    if caller.role is ApiRole.PARTICIPANT:
        if person is not None and person != caller.person_id:
            raise ApiError(403, "Forbidden", "a participant lists only their own relationships", field="person")
        person = caller.person_id
    flt = ListFilter(
        program=program,
        stage=stage.value if stage else None,
        substate=substate.value if substate else None,
        health=health.value if health else None,
        person=person,
        limit=limit,
        offset=offset,
    )
    items = await backend.list_relationships(flt)
    return ListResponse(items=items, count=len(items))


@router.get(
    "/relationships/{relationship_id}/history",
    responses=_ERRORS,
    summary="The relationship's events (envelopes with their hash chain), oldest first",
    tags=["audit"],
)
async def history(relationship_id: RelationshipId, caller: CallerDep, backend: BackendDep) -> dict[str, Any]:
    require(caller, *READERS, operation="history")
    await visible_state(backend, caller, relationship_id)
    events = await backend.history(relationship_id)
    return {
        "relationship_id": relationship_id,
        "count": len(events),
        "events": await _events_for(caller, events, backend),
    }


@router.get(
    "/relationships/{relationship_id}/state",
    responses=_ERRORS,
    summary="The relationship's state at an instant (a fold of its events up to then)",
    tags=["audit"],
)
async def state_at(
    relationship_id: RelationshipId,
    caller: CallerDep,
    backend: BackendDep,
    at: Annotated[AwareDatetime, Query(description="an instant with a time zone, e.g. 2026-03-01T12:00:00Z")],
) -> dict[str, Any]:
    require(caller, *READERS, operation="state at an instant")
    await visible_state(backend, caller, relationship_id)
    if at.year < 1970 or at.year > 9000:
        raise ApiError(422, "ValidationError", "query.at: out of range", field="query.at")
    state = await backend.state_at(relationship_id, at)
    return {"relationship_id": relationship_id, "at": at.isoformat(), "state": state.model_dump(mode="json")}


@router.get(
    "/relationships/{relationship_id}/verify",
    responses=_VERIFY_ERRORS,
    summary="Verify a relationship: hash chain, event log vs Kafka vs Temporal, workflow replay",
    tags=["audit"],
)
async def verify_one(
    relationship_id: RelationshipId, caller: CallerDep, backend: BackendDep, gate: VerifyGateDep
) -> dict[str, Any]:
    require(caller, *READERS, operation="verify")
    await visible_state(backend, caller, relationship_id)
    return await gate.run(caller, lambda: backend.verify(relationship_id))


@router.get(
    "/verify",
    responses=_VERIFY_ERRORS,
    summary="Verify every relationship (of a program)",
    tags=["audit"],
)
async def verify_all(
    caller: CallerDep,
    backend: BackendDep,
    gate: VerifyGateDep,
    program: Annotated[str | None, Query(max_length=MAX_ID_LENGTH)] = None,
) -> dict[str, Any]:
    require(caller, ApiRole.PLATFORM, ApiRole.MANAGER, ApiRole.AUDITOR, operation="verify all")
    return await gate.run(caller, lambda: backend.verify(None, program))
