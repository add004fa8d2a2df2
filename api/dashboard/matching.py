"""The dashboard's matching panels (issue 14 item 7): the bars of ``report matching`` for one program — the funnel
from enrollment, the side exits and the unmatched, outcomes by match method and by score band, capacity use by
mentor. The numbers are the report's own (``ProgramService.matching_report``, :func:`projections.program_reads.
matching_report`, what ``mentorflow report matching --program P`` prints), only arranged as bars."""

from __future__ import annotations

from typing import Any

from api.dashboard.charts import bar_chart
from domain import RelationshipNotFound

__all__ = ["MATCHING_CHARTS", "MATCHING_FUNNEL", "matching_bars", "matching_panels", "matching_report_of"]

MATCHING_FUNNEL = ("enrolled", "matched", "accepted", "kicked_off", "cultivation", "completed")

Bars = list[tuple[str, float]]


def _outcome_bars(rows: list[dict[str, Any]], key: str) -> Bars:
    """Per group: the share of its relationships that completed, labelled with how many there are."""
    return [(f"{r[key]} (n={r['relationships']})", float(r["completed_pct"])) for r in rows]


def matching_bars(report: dict[str, Any] | None) -> dict[str, Bars]:
    """The report's numbers as bars (none at all when ``report`` is None: no program chosen, or not a program)."""
    if report is None:
        return {"funnel": [], "exits": [], "by_method": [], "by_band": [], "capacity": []}
    funnel = report["funnel"]
    exits: Bars = [(name, float(n)) for name, n in funnel["side_exits"].items() if n]
    exits.append(("withdrawn", float(funnel["withdrawn"])))
    exits += [(f"unmatched: {why}", float(n)) for why, n in sorted(funnel["unmatched_reasons"].items())]
    capacity: Bars = [
        (f"{c['mentor']} {c['open']}/{c['capacity']}", round(100.0 * c["open"] / c["capacity"], 1))
        for c in report["capacity"]
        if c["capacity"]
    ]
    return {
        "funnel": [(step, float(funnel[step])) for step in MATCHING_FUNNEL],
        "exits": exits,
        "by_method": _outcome_bars(report["by_method"], "match_method"),
        "by_band": _outcome_bars(report["by_score_band"], "band"),
        "capacity": capacity,
    }


MATCHING_CHARTS: dict[str, tuple[str, str, str]] = {
    # svg key: (bars key, title, unit)
    "matching-funnel": ("funnel", "Mentees: furthest step from enrollment", ""),
    "matching-exits": ("exits", "Side exits, withdrawn, unmatched", ""),
    "by-method": ("by_method", "Completed % by match method", " %"),
    "by-band": ("by_band", "Completed % by match score band", " %"),
    "capacity-use": ("capacity", "Capacity in use by mentor (open/capacity)", " %"),
}


def matching_panels(report: dict[str, Any] | None) -> dict[str, str]:
    """The SVG of each matching chart (``chart-<key>``)."""
    bars = matching_bars(report)
    return {
        key: bar_chart(
            title if report is not None else f"{title} (choose a program)",
            bars[name],
            unit=unit,
            chart_id=f"chart-{key}",
        )
        for key, (name, title, unit) in MATCHING_CHARTS.items()
    }


async def matching_report_of(backend: Any, program: str | None) -> dict[str, Any] | None:
    """``report matching`` for ``program``; None for all programs or a program that is not an aggregate (a
    relationship's program string only)."""
    if program is None:
        return None
    try:
        report: dict[str, Any] = await backend.matching_report(program)
    except RelationshipNotFound:
        return None
    return report
