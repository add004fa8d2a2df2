"""One error shape for every 4xx/5xx: ``{"error": {"type", "message", "field"}}``.

=====================================================  ======  =============================================
cause                                                  status  ``type``
=====================================================  ======  =============================================
missing / unknown bearer token                         401     ``Unauthorized``
the token's role may not do this                       403     ``Forbidden``
unknown relationship (domain.RelationshipNotFound)      404     ``RelationshipNotFound``
nothing names the person (privacy erase / export)       404     ``PersonNotFound``
IllegalTransition, RelationshipClosedError, other      409     the DomainError class name
DomainError about the current state
InvalidCommand, NotAParticipant, NotAllowedForRole,    422     the DomainError class name
InvalidPolicy (the request cannot be accepted as is)
request shape (body, path, query)                      422     ``ValidationError`` with ``field``
a body the parser gives up on (JSON nested too deeply)  400     ``BadRequest`` with ``field`` body
a body over MAX_REQUEST_BODY_BYTES (api/body_limit.py)  413     ``PayloadTooLarge`` with ``field`` body
a re-sent ``command_id`` with other content            409     ``CommandIdConflict`` (``field`` body.command_id)
Temporal / database unreachable (service.errors)       503     ``ServiceUnavailable``
anything else (a bug)                                  500     ``InternalError``: "internal error" and an
                                                               ``error_id`` that is also in the log
=====================================================  ======  =============================================

``message`` is the rule that was broken, verbatim from the domain where the domain said it. A 500 never carries the
exception's text (it may hold input, paths or secrets): the log has it, under the same ``error_id``.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain import (
    DomainError,
    InvalidCommand,
    InvalidPolicy,
    NotAllowedForRole,
    NotAParticipant,
    RelationshipNotFound,
)
from service.errors import InvalidArgument, ServiceUnavailable
from service.privacy import UnknownPerson
from workflows.models import CommandIdConflict

__all__ = [
    "ApiError",
    "ErrorBody",
    "ErrorDetail",
    "domain_status",
    "install_error_handlers",
]

log = logging.getLogger("mentorflow.api")

_UNPARSEABLE = "There was an error parsing the body"
"""FastAPI's 400 for a body its parser raised on (other than malformed JSON, which is a 422 with the position)."""

UNPROCESSABLE: tuple[type[DomainError], ...] = (InvalidCommand, NotAParticipant, NotAllowedForRole, InvalidPolicy)


class ErrorDetail(BaseModel):
    type: str
    message: str
    field: str | None = None
    error_id: str | None = None  # 500 only: the id under which the log holds the exception


class ErrorBody(BaseModel):
    error: ErrorDetail


class ApiError(Exception):
    def __init__(self, status: int, type_: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.field = field


def domain_status(error: DomainError) -> int:
    return 422 if isinstance(error, UNPROCESSABLE) else 409


def _body(type_: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"type": type_, "message": message, "field": field}}


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(_body(exc.type, exc.message, exc.field), status_code=exc.status, headers=headers)

    @app.exception_handler(RelationshipNotFound)
    async def _not_found(_request: Request, exc: RelationshipNotFound) -> JSONResponse:
        return JSONResponse(_body("RelationshipNotFound", str(exc)), status_code=404)

    @app.exception_handler(UnknownPerson)
    async def _unknown_person(_request: Request, exc: UnknownPerson) -> JSONResponse:
        return JSONResponse(_body("PersonNotFound", str(exc)), status_code=404)

    @app.exception_handler(ServiceUnavailable)
    async def _unavailable(_request: Request, exc: ServiceUnavailable) -> JSONResponse:
        return JSONResponse(_body("ServiceUnavailable", str(exc)), status_code=503)

    @app.exception_handler(InvalidArgument)
    async def _invalid(_request: Request, exc: InvalidArgument) -> JSONResponse:
        where = f"query.{exc.field}"
        return JSONResponse(_body("ValidationError", f"{where}: {exc.rule}", where), status_code=422)

    @app.exception_handler(CommandIdConflict)
    async def _command_id_conflict(_request: Request, exc: CommandIdConflict) -> JSONResponse:
        return JSONResponse(_body("CommandIdConflict", str(exc), "body.command_id"), status_code=409)

    @app.exception_handler(DomainError)
    async def _domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(_body(exc.code, exc.rule), status_code=domain_status(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        parts = []
        for err in errors:
            loc = _field_of(err.get("loc", ()))
            msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            parts.append(f"{loc}: {msg}" if loc else msg)
        field = _field_of(errors[0].get("loc", ())) if errors else None
        return JSONResponse(_body("ValidationError", "; ".join(parts) or "invalid request", field), status_code=422)

    @app.exception_handler(ValidationError)
    async def _pydantic(_request: Request, exc: ValidationError) -> JSONResponse:
        errors = exc.errors(include_url=False)
        parts = [f"{_field_of(e['loc'])}: {str(e['msg']).removeprefix('Value error, ')}" for e in errors]
        field = _field_of(errors[0]["loc"]) if errors else None
        return JSONResponse(_body("ValidationError", "; ".join(parts) or "invalid input", field), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        type_ = {
            400: "BadRequest",
            404: "NotFound",
            405: "MethodNotAllowed",
            413: "PayloadTooLarge",
            429: "TooManyRequests",
        }.get(exc.status_code, "HTTPError")
        message = str(exc.detail) if exc.detail else type_
        if exc.status_code == 404 and message == "Not Found":
            message = "no such endpoint; see /docs"
        if exc.status_code == 400 and message == _UNPARSEABLE:  # FastAPI's answer to a RecursionError and the like
            message = "body: could not be parsed (JSON nested too deeply, or a malformed form)"
        field = "body" if exc.status_code in (400, 413) else None
        return JSONResponse(_body(type_, message, field), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        error_id = uuid.uuid4().hex
        log.error("internal error %s on %s %s", error_id, request.method, request.url.path, exc_info=exc)
        body = _body("InternalError", f"internal error (error id {error_id}); the server log has the details")
        body["error"]["error_id"] = error_id
        return JSONResponse(body, status_code=500)
