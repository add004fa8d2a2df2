"""The read model's queries (DESIGN §6): every read of the projection tables the CLI, the HTTP API, the dashboard
and the demo make, from one module with one stage order.

Reports for program managers (``mentorflow report …``): each is a function ``(conn, program=None, …) -> list[dict]``
of JSON-friendly rows, with its column order in :data:`COLUMNS`; the CLI renders them as a rich table, CSV or JSON.
Lists of rows (the list endpoint, the dashboard's contested separations and latest transitions) and the time in
stage in seconds follow. All synchronous: the async callers run them in a worker thread.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from domain.stages import STAGE_RANK, Stage
from projections.feedback_report import FEEDBACK_COLUMNS, feedback
from projections.models import FUNNEL_COLUMNS, ProgramFunnel, Relationship, StageDuration, StageTransition

__all__ = [
    "COLUMNS",
    "REPORTS",
    "STAGE_ORDER",
    "at_risk",
    "contested",
    "funnel",
    "latest_transitions",
    "list_relationships",
    "programs",
    "stage_health_counts",
    "stages",
    "time_in_stage",
    "transitions",
]

STAGE_ORDER: tuple[str, ...] = tuple(stage.value for stage in sorted(STAGE_RANK, key=STAGE_RANK.__getitem__)[1:])
"""initiation, cultivation, separation, redefinition, closed: the domain's order (``domain.stages.STAGE_RANK``)."""
_DAY = 86_400.0


def _days(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / _DAY, 1)


def _visit_seconds(conn: Connection, program: str | None) -> dict[str, list[float]]:
    """Seconds of every completed stage visit (``stage_durations`` rows with an end), by stage."""
    sd = StageDuration.__table__
    visits = select(sd.c.stage, sd.c.seconds).where(sd.c.seconds.is_not(None))
    if program:
        visits = visits.where(sd.c.program_id == program)
    seconds: dict[str, list[float]] = defaultdict(list)
    for stage, value in conn.execute(visits):
        seconds[str(stage)].append(float(value))
    return seconds


def stages(conn: Connection, program: str | None = None) -> list[dict[str, Any]]:
    """Per stage: relationships in it now, and the time completed visits spent in it (days)."""
    rel = Relationship.__table__
    now_in = select(rel.c.stage, func.count()).group_by(rel.c.stage)
    if program:
        now_in = now_in.where(rel.c.program_id == program)
    current = {stage: int(n) for stage, n in conn.execute(now_in)}
    durations = _visit_seconds(conn, program)
    rows = []
    for stage in STAGE_ORDER:
        d = durations.get(stage, [])
        rows.append(
            {
                "stage": stage,
                "relationships": current.get(stage, 0),
                "completed_visits": len(d),
                "avg_days": _days(statistics.fmean(d)) if d else None,
                "median_days": _days(statistics.median(d)) if d else None,
                "max_days": _days(max(d)) if d else None,
            }
        )
    return rows


def stage_health_counts(conn: Connection) -> list[tuple[str, str, str, int]]:
    """``(program, stage, health, relationships)`` for every combination present: the operator's gauge (bounded by
    programs x stages x health values, never by relationship)."""
    rel = Relationship.__table__
    query = select(rel.c.program_id, rel.c.stage, rel.c.health, func.count()).group_by(
        rel.c.program_id, rel.c.stage, rel.c.health
    )
    return [(program, stage, health, int(n)) for program, stage, health, n in conn.execute(query)]


def transitions(conn: Connection, program: str | None = None) -> list[dict[str, Any]]:
    """How relationships moved: every (from → to, trigger) with its count and the last time it happened."""
    st = StageTransition.__table__
    stmt = select(
        st.c.from_stage,
        st.c.from_substate,
        st.c.to_stage,
        st.c.to_substate,
        st.c.trigger,
        func.count().label("count"),
        func.max(st.c.occurred_at).label("last_at"),
    ).group_by(st.c.from_stage, st.c.from_substate, st.c.to_stage, st.c.to_substate, st.c.trigger)
    if program:
        stmt = stmt.where(st.c.program_id == program)
    rows = [
        {
            "from": f"{r['from_stage']}/{r['from_substate']}",
            "to": f"{r['to_stage']}/{r['to_substate']}",
            "trigger": r["trigger"],
            "count": int(r["count"]),
            "last_at": _instant(r["last_at"]),
        }
        for r in conn.execute(stmt).mappings()
    ]
    rows.sort(key=lambda r: (-r["count"], r["from"], r["to"], r["trigger"]))
    return rows


def funnel(conn: Connection, program: str | None = None) -> list[dict[str, Any]]:
    """Per program: proposed → accepted → kicked off → cultivation → separation → redefinition, the side exits, and
    the conversion of each step from proposals (percent)."""
    pf = ProgramFunnel.__table__
    stmt = select(pf).order_by(pf.c.program_id)
    if program:
        stmt = stmt.where(pf.c.program_id == program)
    rows = []
    for r in conn.execute(stmt).mappings():
        row: dict[str, Any] = {"program_id": r["program_id"], **{c: int(r[c]) for c in FUNNEL_COLUMNS}}
        row["open"] = row["proposed"] - row["closed"]
        for step in ("accepted", "kicked_off", "cultivation", "separation", "redefinition"):
            row[f"{step}_pct"] = round(100.0 * row[step] / row["proposed"], 1) if row["proposed"] else None
        rows.append(row)
    return rows


def at_risk(conn: Connection, program: str | None = None, as_of: datetime | None = None) -> list[dict[str, Any]]:
    """Open relationships whose health is yellow/red (no meeting for a while, low or falling satisfaction) or that are
    marginal (a middle check-in score), red first, then the longest without a meeting; ``health_reason`` says why
    the health last changed."""
    as_of = as_of or datetime.now(UTC)
    rel = Relationship.__table__
    stmt = select(rel).where(rel.c.stage != "closed", (rel.c.health != "green") | rel.c.marginal.is_(True))
    if program:
        stmt = stmt.where(rel.c.program_id == program)
    rows = []
    for r in conn.execute(stmt).mappings():
        since = r["last_meeting_at"] or r["kicked_off_at"] or r["opened_at"]
        rows.append(
            {
                "relationship_id": r["relationship_id"],
                "program_id": r["program_id"],
                "mentor_id": r["mentor_id"],
                "mentee_id": r["mentee_id"],
                "stage": f"{r['stage']}/{r['substate']}",
                "health": r["health"],
                "marginal": bool(r["marginal"]),
                "meetings": int(r["meetings"]),
                "last_meeting_at": _instant(r["last_meeting_at"]),
                "days_without_meeting": _days((as_of - since).total_seconds()) if since else None,
                "health_reason": r["health_reason"],
            }
        )
    rank = {"red": 0, "yellow": 1, "green": 2}
    rows.sort(key=lambda r: (rank.get(r["health"], 3), -(r["days_without_meeting"] or 0), r["relationship_id"]))
    return rows


def _instant(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


REPORTS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "stages": stages,
    "transitions": transitions,
    "funnel": funnel,
    "at-risk": at_risk,
    "feedback": feedback,
}

COLUMNS: dict[str, tuple[str, ...]] = {
    "stages": ("stage", "relationships", "completed_visits", "avg_days", "median_days", "max_days"),
    "transitions": ("from", "to", "trigger", "count", "last_at"),
    "funnel": (
        "program_id",
        "proposed",
        "accepted",
        "kicked_off",
        "cultivation",
        "separation",
        "redefinition",
        "closed",
        "open",
        "declined",
        "expired",
        "rematched",
        "terminated",
        "did_not_start",
        "collegial",
        "friendship",
        "ended",
        "accepted_pct",
        "kicked_off_pct",
        "cultivation_pct",
        "separation_pct",
        "redefinition_pct",
    ),
    "at-risk": (
        "relationship_id",
        "program_id",
        "mentor_id",
        "mentee_id",
        "stage",
        "health",
        "marginal",
        "meetings",
        "last_meeting_at",
        "days_without_meeting",
        "health_reason",
    ),
    "feedback": FEEDBACK_COLUMNS,
}


# --- lists of rows and the time in stage (the list endpoint, the dashboard, the demo) -------------------------

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
    return _instant(value) if isinstance(value, datetime) else value


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
    seconds = _visit_seconds(conn, program)
    return [
        {
            "stage": stage,
            "completed_visits": len(seconds.get(stage, [])),
            "avg_seconds": round(sum(seconds[stage]) / len(seconds[stage]), 2) if seconds.get(stage) else None,
        }
        for stage in STAGE_ORDER
        if stage != Stage.CLOSED  # a closed relationship never completes a visit of "closed"
    ]
