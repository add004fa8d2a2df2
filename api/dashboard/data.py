"""The dashboard's JSON. The stage distribution, the funnel and the at-risk list are the rows of
:mod:`projections.read_model` (``Backend.report``, what ``mentorflow report`` prints), so the dashboard and the CLI
always agree; the latest transitions, the contested list and the time in stage are rows of the same tables."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from api.backend import Backend
from api.dashboard.charts import bar_chart

__all__ = ["FUNNEL_STEPS", "LATEST_TRANSITIONS", "SIDE_EXITS", "dashboard_data"]

LATEST_TRANSITIONS = 15
FUNNEL_STEPS = ("proposed", "accepted", "kicked_off", "cultivation", "separation", "redefinition")
SIDE_EXITS = ("declined", "expired", "rematched", "terminated", "did_not_start")
OUTCOMES = ("collegial", "friendship", "ended")


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def funnel_totals(rows: list[dict[str, Any]]) -> dict[str, int]:
    """The funnel rows (one per program) summed: the numbers the funnel chart shows."""
    totals: dict[str, int] = {}
    for row in rows:
        for key in (*FUNNEL_STEPS, "closed", "open", *SIDE_EXITS, *OUTCOMES):
            if key in row:
                totals[key] = totals.get(key, 0) + int(_num(row[key]))
    return totals


async def dashboard_data(backend: Backend, program: str | None) -> dict[str, Any]:
    stages, funnel, at_risk, contested, automatic, by_command, durations = await asyncio.gather(
        backend.report("stages", program),
        backend.report("funnel", program),
        backend.report("at-risk", program),
        backend.contested(program),
        backend.latest_transitions(program, "timer", LATEST_TRANSITIONS),
        backend.latest_transitions(program, "command", LATEST_TRANSITIONS),
        backend.time_in_stage(program),
    )
    stage_bars = [(str(r["stage"]), _num(r.get("relationships"))) for r in stages]
    totals = funnel_totals(funnel)
    funnel_bars = [(step, float(totals.get(step, 0))) for step in FUNNEL_STEPS if step in totals]
    exit_bars = [(name, float(totals.get(name, 0))) for name in (*SIDE_EXITS, *OUTCOMES) if name in totals]
    duration_bars = [(str(r["stage"]), _num(r["avg_seconds"])) for r in durations if r.get("avg_seconds") is not None]
    return {
        "program": program,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "total": int(sum(v for _, v in stage_bars)),
        "stages": stages,
        "funnel": funnel,
        "funnel_totals": totals,
        "at_risk": at_risk,
        "contested": contested,
        "automatic": automatic,
        "by_command": by_command,
        "time_in_stage": durations,
        "svg": {
            "stages": bar_chart("Relationships by stage (now)", stage_bars, chart_id="chart-stages"),
            "funnel": bar_chart("Funnel: relationships that reached each step", funnel_bars, chart_id="chart-funnel"),
            "outcomes": bar_chart("Side exits and redefinition outcomes", exit_bars, chart_id="chart-outcomes"),
            "durations": bar_chart(
                "Average time in stage (completed visits)", duration_bars, unit=" s", chart_id="chart-durations"
            ),
        },
    }
