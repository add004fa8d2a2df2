"""``/privacy/persons/{person_id}/…``: a data subject's erasure (platform or manager) and access (platform, manager,
or a participant token for its own person) requests, over :class:`service.privacy.PrivacyService` (docs/privacy.md).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import ApiRole, require
from api.deps import CallerDep
from api.errors import ApiError, ErrorBody
from domain.limits import ID_PATTERN, MAX_ID_LENGTH, MAX_NAME_LENGTH
from service.privacy import REASON_CODE_PATTERN, PrivacyService

__all__ = ["ERASERS", "router"]

router = APIRouter(tags=["privacy"])
ERASERS = (ApiRole.PLATFORM, ApiRole.MANAGER)
_ID_RE = re.compile(ID_PATTERN)
PersonId = Annotated[
    str, Path(pattern=ID_PATTERN, max_length=MAX_ID_LENGTH, description="the person id", examples=["bo-17"])
]
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "missing or unknown bearer token"},
    403: {"model": ErrorBody, "description": "the token's role may not do this"},
    404: {"model": ErrorBody, "description": "nothing names this person"},
    422: {"model": ErrorBody, "description": "a bad person id or reason code"},
    503: {"model": ErrorBody, "description": "privacy is not configured on this server"},
}


class EraseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        "request",
        min_length=1,
        max_length=MAX_NAME_LENGTH,
        pattern=REASON_CODE_PATTERN,
        description="a reason code (no free text: the erasure ledger holds no personal data)",
    )


class ErasureResponse(BaseModel):
    person_id: str
    erased: bool = Field(description="false: nothing was left to erase (erased before); nothing changed")
    keys_erased: int
    rows_scrubbed: int
    seq: int | None = Field(None, description="the erasure ledger's row")
    hash: str | None = None
    previous_erasures: int


def _service(request: Request) -> PrivacyService:
    service: PrivacyService | None = getattr(request.app.state, "privacy", None)
    if service is None:
        raise ApiError(503, "ServiceUnavailable", "privacy is not configured on this server")
    return service


@router.post(
    "/privacy/persons/{person_id}/erase",
    response_model=ErasureResponse,
    responses=_ERRORS,
    summary="Erase a person: delete their keys, scrub their text, record the erasure (platform or manager)",
)
async def erase(person_id: PersonId, caller: CallerDep, request: Request, body: EraseRequest | None = None) -> Any:
    require(caller, *ERASERS, operation="erasing a person")
    outcome = await _service(request).erase(
        person_id, by_id=caller.name, by_role=caller.role.value, reason_code=(body or EraseRequest()).reason
    )
    return ErasureResponse(**outcome.to_json())


@router.get(
    "/privacy/persons/{person_id}/export",
    responses=_ERRORS,
    summary="Everything held about a person, opened (platform, manager, or the person's own participant token)",
)
async def export(person_id: PersonId, caller: CallerDep, request: Request) -> dict[str, Any]:
    if not (caller.role is ApiRole.PARTICIPANT and caller.person_id == person_id):
        require(caller, *ERASERS, operation="exporting another person's data")
    return await _service(request).export(person_id)
