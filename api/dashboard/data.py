"""The dashboard's JSON. The stage distribution, the funnel and the at-risk list are the rows of
:mod:`projections.read_model` (``Backend.report``, what ``mentorflow report`` prints), so the dashboard and the CLI
always agree; the latest transitions, the contested list and the time in stage are rows of the same tables; the
matching panels of one program are its ``report matching`` (:mod:`api.dashboard.matching`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from api.backend import Backend
from api.dashboard.charts import bar_chart
from api.dashboard.matching import matching_panels, matching_report_of

__all__ = ["FUNNEL_STEPS", "LATEST_TRANSITIONS", "SIDE_EXITS", "dashboard_data", "feedback_bars"]

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


def feedback_bars(rows: list[dict[str, Any]]) -> dict[str, list[tuple[str, float]]]:
    """The feedback report's rows as the dashboard's bars: the response rate per instrument (all cycles, %), the mean
    satisfaction per stage, the career/psychosocial mix per stage (% of the stage's tags)."""
    asked: dict[str, float] = {}
    answered: dict[str, float] = {}
    for r in rows:
        if r.get("section") == "response_rate":
            asked[r["instrument"]] = asked.get(r["instrument"], 0) + _num(r["asked"])
            answered[r["instrument"]] = answered.get(r["instrument"], 0) + _num(r["answered"])
    scores: dict[str, list[float]] = {}
    for r in rows:
        if r.get("section") == "satisfaction":
            scores.setdefault(str(r["stage"]), []).extend([_num(r["mean"])] * int(_num(r["n"])))
    return {
        "response_rates": [(k, round(100 * answered[k] / v, 1)) for k, v in asked.items() if v],
        "satisfaction": [(k, round(sum(v) / len(v), 2)) for k, v in scores.items() if v],
        "function_mix": [
            (f"{r['stage']} {r['group']}", round(100 * _num(r["share"]), 1))
            for r in rows
            if r.get("section") == "function_mix"
        ],
    }


async def dashboard_data(backend: Backend, program: str | None) -> dict[str, Any]:
    reports, matching = await asyncio.gather(
        asyncio.gather(
            backend.report("stages", program),
            backend.report("funnel", program),
            backend.report("at-risk", program),
            backend.contested(program),
            backend.latest_transitions(program, "timer", LATEST_TRANSITIONS),
            backend.latest_transitions(program, "command", LATEST_TRANSITIONS),
            backend.time_in_stage(program),
            backend.report("feedback", program),
        ),
        matching_report_of(backend, program),
    )
    stages, funnel, at_risk, contested, automatic, by_command, durations, feedback = reports
    fb = feedback_bars(feedback)
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
        "matching": matching,
        "svg": {
            **matching_panels(matching),
            "stages": bar_chart("Relationships by stage (now)", stage_bars, chart_id="chart-stages"),
            "funnel": bar_chart("Funnel: relationships that reached each step", funnel_bars, chart_id="chart-funnel"),
            "outcomes": bar_chart("Side exits and redefinition outcomes", exit_bars, chart_id="chart-outcomes"),
            "durations": bar_chart(
                "Average time in stage (completed visits)", duration_bars, unit=" s", chart_id="chart-durations"
            ),
            "response-rates": bar_chart(
                "Survey response rate by instrument", fb["response_rates"], unit=" %", chart_id="chart-response-rates"
            ),
            "satisfaction": bar_chart(
                "Mean satisfaction (1-5) by stage", fb["satisfaction"], chart_id="chart-satisfaction"
            ),
            "function-mix": bar_chart(
                "Kram function mix: % of each stage's tags",
                fb["function_mix"],
                unit=" %",
                chart_id="chart-function-mix",
            ),
        },
    }
