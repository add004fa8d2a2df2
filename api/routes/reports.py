"""``GET /reports/{name}``: the same rows as ``mentorflow report NAME --format json`` (one source of numbers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import ApiRole, require
from api.backend import ReportName
from api.deps import BackendDep, CallerDep
from api.errors import ErrorBody
from api.schemas import ReportResponse
from domain.limits import MAX_ID_LENGTH

__all__ = ["REPORT_READERS", "router"]

router = APIRouter(tags=["reports"])

REPORT_READERS = (ApiRole.PLATFORM, ApiRole.MANAGER, ApiRole.AUDITOR)


@router.get(
    "/reports/{name}",
    response_model=ReportResponse,
    responses={
        401: {"model": ErrorBody, "description": "missing or unknown bearer token"},
        403: {"model": ErrorBody, "description": "participants see no program-wide reports"},
        422: {"model": ErrorBody, "description": "unknown report or bad filter"},
    },
    summary="A program report: stages, transitions, funnel, at-risk, durations (time in stage)",
)
async def report(
    name: ReportName,
    caller: CallerDep,
    backend: BackendDep,
    program: Annotated[
        str | None, Query(max_length=MAX_ID_LENGTH, description="a program id; all programs if omitted")
    ] = None,
) -> ReportResponse:
    require(caller, *REPORT_READERS, operation=f"report {name}")
    rows = await backend.report(name, program)
    return ReportResponse(report=name, program=program, rows=rows)
