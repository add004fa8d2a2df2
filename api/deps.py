"""FastAPI dependencies: the backend, the caller (bearer token → :class:`Principal`), ownership checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import ApiRole, Principal, TokenBook, require
from api.backend import Backend
from api.errors import ApiError
from api.schemas import ID_PATTERN
from domain import RelationshipNotFound, RelationshipState
from domain.limits import MAX_ID_LENGTH, text_problem

__all__ = [
    "BackendDep",
    "CallerDep",
    "RelationshipId",
    "WriterDep",
    "bearer_scheme",
    "check_query",
    "control_problem",
    "get_caller",
    "visible_state",
]


def control_problem(value: str) -> str | None:
    """Control characters other than tab, CR and LF (NUL and lone surrogates: ``domain.limits.text_problem``)."""
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value):
        return "control characters are not allowed"
    return None


def _query_problem(value: str) -> str | None:
    return text_problem(value) or control_problem(value)


def check_query(request: Request) -> None:
    """Every route: a query parameter (name or value) with a character no store can hold is a 422 naming it."""
    for name, value in request.query_params.multi_items():
        problem = _query_problem(name) or _query_problem(value)
        if problem:
            field = f"query.{name}" if _query_problem(name) is None else "query"
            raise ApiError(422, "ValidationError", f"{field}: {problem}", field=field)


bearer_scheme = HTTPBearer(auto_error=False, description="a token from MENTORFLOW_API__TOKENS (token → role)")


def get_backend(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


def get_caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)]
) -> Principal:
    tokens: TokenBook = request.app.state.tokens
    header = f"{credentials.scheme} {credentials.credentials}" if credentials else request.headers.get("authorization")
    return tokens.principal(header)


def get_writer(caller: Annotated[Principal, Depends(get_caller)], request: Request) -> Principal:
    """A caller who may write (not an auditor); checked before the body is validated, so an auditor gets 403."""
    route = request.scope.get("route")
    operation = getattr(route, "summary", None) or getattr(route, "name", None) or "this operation"
    require(caller, ApiRole.PLATFORM, ApiRole.MANAGER, ApiRole.PARTICIPANT, operation=str(operation))
    return caller


BackendDep = Annotated[Backend, Depends(get_backend)]
CallerDep = Annotated[Principal, Depends(get_caller)]
WriterDep = Annotated[Principal, Depends(get_writer)]
RelationshipId = Annotated[
    str,
    Path(pattern=ID_PATTERN, max_length=MAX_ID_LENGTH, description="the relationship id", examples=["rel-2026-0001"]),
]


async def visible_state(backend: Backend, caller: Principal, relationship_id: str) -> RelationshipState:
    """The relationship's current state; 404 if unknown *or* if the caller is a participant who is neither its
    mentor nor its mentee: the same answer, word for word, so a stranger cannot tell whether an id exists."""
    state = await backend.state(relationship_id)
    if caller.role is ApiRole.PARTICIPANT and caller.person_id not in state.participants:
        raise RelationshipNotFound(relationship_id)
    return state
