"""The dashboard's JSON: every number comes from the report functions (``Backend.report``), the same rows that
``mentorflow report`` prints, so the dashboard and the CLI always agree."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from api.backend import Backend
from api.dashboard.charts import bar_chart

__all__ = ["LATEST_TRANSITIONS", "STAGE_ORDER", "dashboard_data"]

STAGE_ORDER = ("initiation", "cultivation", "separation", "redefinition", "closed")
LATEST_TRANSITIONS = 15


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _stage_bars(rows: list[dict[str, Any]]) -> list[tuple[str, float]]:
    counts: dict[str, float] = {}
    for row in rows:
        stage = str(row.get("stage"))
        counts[stage] = counts.get(stage, 0.0) + _num(row.get("count", row.get("relationships", 0)))
    order = [s for s in STAGE_ORDER if s in counts] + sorted(s for s in counts if s not in STAGE_ORDER)
    return [(s, counts[s]) for s in order]


def _funnel_bars(rows: list[dict[str, Any]]) -> list[tuple[str, float]]:
    if not rows:
        return []
    if all("step" in r for r in rows):
        return [(str(r["step"]), _num(r.get("count"))) for r in rows]
    totals: dict[str, float] = {}
    for row in rows:
        for key, value in row.items():
            if key.endswith("_id") or isinstance(value, str | bool) or value is None:
                continue
            totals[key] = totals.get(key, 0.0) + _num(value)
    return list(totals.items())


def _duration_bars(rows: list[dict[str, Any]]) -> list[tuple[str, float]]:
    bars = []
    for row in rows:
        value = row.get("avg_seconds", row.get("mean_seconds", row.get("seconds")))
        if row.get("stage") is not None and value is not None:
            bars.append((str(row["stage"]), round(_num(value), 1)))
    order = {s: i for i, s in enumerate(STAGE_ORDER)}
    return sorted(bars, key=lambda b: order.get(b[0], 99))


def _latest(rows: list[dict[str, Any]], trigger: str) -> list[dict[str, Any]]:
    picked = [r for r in rows if r.get("trigger") == trigger]
    picked.sort(key=lambda r: (str(r.get("occurred_at", "")), r.get("seq", 0)), reverse=True)
    return picked[:LATEST_TRANSITIONS]


async def dashboard_data(backend: Backend, program: str | None) -> dict[str, Any]:
    stages, transitions, funnel, at_risk, durations, contested = await asyncio.gather(
        backend.report("stages", program),
        backend.report("transitions", program),
        backend.report("funnel", program),
        backend.report("at-risk", program),
        backend.report("durations", program),
        backend.contested(program),
    )
    stage_bars = _stage_bars(stages)
    funnel_bars = _funnel_bars(funnel)
    duration_bars = _duration_bars(durations)
    return {
        "program": program,
        "generated_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "total": sum(v for _, v in stage_bars),
        "stages": stages,
        "automatic": _latest(transitions, "timer"),
        "by_command": _latest(transitions, "command"),
        "transitions_total": len(transitions),
        "at_risk": at_risk,
        "contested": contested,
        "funnel": funnel,
        "durations": durations,
        "svg": {
            "stages": bar_chart("Relationships by stage", stage_bars, chart_id="chart-stages"),
            "funnel": bar_chart("Program funnel", funnel_bars, chart_id="chart-funnel"),
            "durations": bar_chart("Average time in stage", duration_bars, unit=" s", chart_id="chart-durations"),
        },
    }
