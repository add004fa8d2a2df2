"""``/dashboard``: the page (a static shell; it reads its token from ``#token=…`` or asks for it) and the JSON it
polls every 2 seconds."""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from api.auth import require
from api.dashboard.data import dashboard_data
from api.deps import BackendDep, CallerDep
from api.errors import ErrorBody
from api.routes.reports import REPORT_READERS
from domain.limits import MAX_ID_LENGTH

__all__ = ["router"]

router = APIRouter(tags=["dashboard"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "missing or unknown bearer token"},
    403: {"model": ErrorBody, "description": "participants have no dashboard"},
}


@router.get("/dashboard", response_class=HTMLResponse, summary="The program managers' dashboard (HTML)")
async def page() -> HTMLResponse:
    html = resources.files("api.dashboard").joinpath("index.html").read_text(encoding="utf-8")
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get("/dashboard/programs", responses=_ERRORS, summary="Program ids, for the program selector")
async def programs(caller: CallerDep, backend: BackendDep) -> dict[str, list[str]]:
    require(caller, *REPORT_READERS, operation="dashboard")
    return {"programs": await backend.programs()}


@router.get("/dashboard/data", responses=_ERRORS, summary="Everything the dashboard shows, for one program or all")
async def data(
    caller: CallerDep,
    backend: BackendDep,
    program: Annotated[str | None, Query(max_length=MAX_ID_LENGTH)] = None,
) -> dict[str, Any]:
    require(caller, *REPORT_READERS, operation="dashboard")
    return await dashboard_data(backend, program)
