"""Reads the dashboard and the list endpoint need beyond the reports: rows of the projection tables (synchronous,
called in a worker thread). The numbers of the stage distribution, the funnel and the at-risk list come from
:mod:`projections.reports` itself; these are lists of rows and the time-in-stage in seconds."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from projections.models import Relationship, StageDuration, StageTransition

__all__ = ["contested", "latest_transitions", "list_relationships", "programs", "time_in_stage"]

STAGE_ORDER = ("initiation", "cultivation", "separation", "redefinition")
LIST_COLUMNS = (
    "relationship_id",
    "program_id",
    "mentor_id",
    "mentee_id",
    "stage",
    "substate",
    "health",
    "marginal",
    "outcome",
    "meetings",
    "last_meeting_at",
    "opened_at",
    "closed_at",
    "stage_entered_at",
    "substate_entered_at",
    "last_seq",
)


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def _row(mapping: Any) -> dict[str, Any]:
    return {c: _json(mapping[c]) for c in LIST_COLUMNS}


def list_relationships(
    conn: Connection,
    *,
    program: str | None = None,
    stage: str | None = None,
    substate: str | None = None,
    health: str | None = None,
    person: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    rel = Relationship.__table__
    stmt = select(rel).order_by(rel.c.opened_at, rel.c.relationship_id).limit(limit).offset(offset)
    if program:
        stmt = stmt.where(rel.c.program_id == program)
    if stage:
        stmt = stmt.where(rel.c.stage == stage)
    if substate:
        stmt = stmt.where(rel.c.substate == substate)
    if health:
        stmt = stmt.where(rel.c.health == health)
    if person:
        stmt = stmt.where((rel.c.mentor_id == person) | (rel.c.mentee_id == person))
    return [_row(r) for r in conn.execute(stmt).mappings()]


def programs(conn: Connection) -> list[str]:
    rel = Relationship.__table__
    return [str(p) for p in conn.execute(select(rel.c.program_id).distinct().order_by(rel.c.program_id)).scalars()]


def contested(conn: Connection, program: str | None = None) -> list[dict[str, Any]]:
    """Separations waiting for the manager (``separation/contested``), the longest waiting first."""
    rel = Relationship.__table__
    stmt = select(rel).where(rel.c.substate == "contested").order_by(rel.c.substate_entered_at)
    if program:
        stmt = stmt.where(rel.c.program_id == program)
    return [_row(r) for r in conn.execute(stmt).mappings()]


def latest_transitions(
    conn: Connection, program: str | None = None, trigger: str | None = None, limit: int = 15
) -> list[dict[str, Any]]:
    """The most recent stage changes, newest first, with trigger (command | timer) and reason."""
    st = StageTransition.__table__
    stmt = select(st).order_by(st.c.occurred_at.desc(), st.c.seq.desc()).limit(limit)
    if program:
        stmt = stmt.where(st.c.program_id == program)
    if trigger:
        stmt = stmt.where(st.c.trigger == trigger)
    return [{k: _json(v) for k, v in r.items()} for r in conn.execute(stmt).mappings()]


def time_in_stage(conn: Connection, program: str | None = None) -> list[dict[str, Any]]:
    """Average seconds of the completed visits of each stage: the same visits as the ``stages`` report's
    ``completed_visits`` / ``avg_days``, in seconds (demo policies count days in fractions of a second)."""
    sd = StageDuration.__table__
    stmt = select(sd.c.stage, sd.c.seconds).where(sd.c.seconds.is_not(None))
    if program:
        stmt = stmt.where(sd.c.program_id == program)
    seconds: dict[str, list[float]] = defaultdict(list)
    for stage, value in conn.execute(stmt):
        seconds[str(stage)].append(float(value))
    return [
        {
            "stage": stage,
            "completed_visits": len(seconds.get(stage, [])),
            "avg_seconds": round(sum(seconds[stage]) / len(seconds[stage]), 2) if seconds.get(stage) else None,
        }
        for stage in STAGE_ORDER
    ]
