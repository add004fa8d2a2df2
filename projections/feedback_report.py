"""``mentorflow report feedback``: what the surveys say, from ``survey_requests``, ``survey_responses`` and
``function_tags``. One row per figure, its kind in ``section``:

==================  ===========================================================================================
section             row
==================  ===========================================================================================
response_rate       per instrument and cycle (the n-th request of that instrument in a relationship): asked,
                    answered, response_rate (answered / asked), expired (requests that expired)
satisfaction        per stage and role: n answers, mean, distribution (``score:count`` of the 1-5 scale)
trend               per cohort (``group``: the month the relationship kicked off) and stage: n answers, mean
gap                 per stage: n pairs whose mentor and mentee both answered, mean (mentor minus mentee, their
                    latest in the stage), share (the pairs 2 or more apart)
function_mix        per stage and family (career / psychosocial): n tags (meetings, goals, answers), share of the
                    stage's tags
program_evaluation  per question of the program evaluation: n answers, mean, distribution
==================  ===========================================================================================

No free text appears here: the report is for the program, the answers' text stays with its readers."""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import Connection, select

from domain.instrument import builtin_instrument
from projections.models import FunctionTag, Relationship, SurveyRequest, SurveyResponse

__all__ = ["FEEDBACK_COLUMNS", "feedback"]

FEEDBACK_COLUMNS: tuple[str, ...] = (
    "section",
    "instrument",
    "cycle",
    "stage",
    "group",
    "asked",
    "answered",
    "response_rate",
    "expired",
    "n",
    "mean",
    "distribution",
    "share",
)

_STAGES = ("initiation", "cultivation", "separation", "redefinition", "closed")
_GAP_FLAG = 2


def _rows(conn: Connection, table: Any, program: str | None) -> list[dict[str, Any]]:
    stmt = select(table)
    if program:
        stmt = stmt.where(table.c.program_id == program)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def _row(section: str, **values: Any) -> dict[str, Any]:
    return {column: values.get(column) for column in FEEDBACK_COLUMNS} | {"section": section}


def _mean(values: list[int]) -> float | None:
    return round(statistics.fmean(values), 2) if values else None


def _distribution(values: list[int]) -> str:
    counts = Counter(values)
    return " ".join(f"{k}:{counts[k]}" for k in sorted(counts))


def _stage_key(stage: str) -> int:
    return _STAGES.index(stage) if stage in _STAGES else len(_STAGES)


def _response_rates(requests: list[dict[str, Any]], responses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answered = Counter((r["relationship_id"], r["request_id"]) for r in responses if r["request_id"])
    seen: Counter[tuple[str, str]] = Counter()
    by_cycle: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in sorted(requests, key=lambda r: (r["relationship_id"], r["requested_seq"])):
        seen[(r["relationship_id"], r["instrument"])] += 1
        by_cycle[(r["instrument"], seen[(r["relationship_id"], r["instrument"])])].append(r)
    rows = []
    for (instrument, cycle), group in sorted(by_cycle.items()):
        asked = sum(r["asked"] for r in group)
        got = sum(answered[(r["relationship_id"], r["request_id"])] for r in group)
        rows.append(
            _row(
                "response_rate",
                instrument=instrument,
                cycle=cycle,
                asked=asked,
                answered=got,
                response_rate=round(got / asked, 3) if asked else None,
                expired=sum(1 for r in group if r["expired_at"] is not None),
            )
        )
    return rows


def _satisfaction(responses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    scores: dict[tuple[str, str], list[int]] = defaultdict(list)
    for r in responses:
        if r["satisfaction"] is not None:
            scores[(r["stage"], r["role"])].append(int(r["satisfaction"]))
    return [
        _row("satisfaction", stage=stage, group=role, n=len(v), mean=_mean(v), distribution=_distribution(v))
        for (stage, role), v in sorted(scores.items(), key=lambda kv: (_stage_key(kv[0][0]), kv[0][1]))
    ]


def _trend(conn: Connection, responses: list[dict[str, Any]], program: str | None) -> list[dict[str, Any]]:
    rel = Relationship.__table__
    stmt = select(rel.c.relationship_id, rel.c.kicked_off_at)
    if program:
        stmt = stmt.where(rel.c.program_id == program)
    cohort = {rid: at.strftime("%Y-%m") for rid, at in conn.execute(stmt) if at is not None}
    scores: dict[tuple[str, str], list[int]] = defaultdict(list)
    for r in responses:
        if r["satisfaction"] is not None and r["relationship_id"] in cohort:
            scores[(cohort[r["relationship_id"]], r["stage"])].append(int(r["satisfaction"]))
    return [
        _row("trend", group=group, stage=stage, n=len(v), mean=_mean(v))
        for (group, stage), v in sorted(scores.items(), key=lambda kv: (kv[0][0], _stage_key(kv[0][1])))
    ]


def _gaps(responses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    latest: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)  # (relationship, stage) -> role -> score
    for r in sorted(responses, key=lambda r: (r["relationship_id"], r["seq"])):
        if r["satisfaction"] is not None:
            latest[(r["relationship_id"], r["stage"])][r["role"]] = int(r["satisfaction"])
    gaps: dict[str, list[int]] = defaultdict(list)
    for (_, stage), by_role in latest.items():
        if {"mentor", "mentee"} <= set(by_role):
            gaps[stage].append(by_role["mentor"] - by_role["mentee"])
    return [
        _row(
            "gap",
            stage=stage,
            group="mentor-mentee",
            n=len(v),
            mean=_mean(v),
            share=round(sum(1 for g in v if abs(g) >= _GAP_FLAG) / len(v), 3),
        )
        for stage, v in sorted(gaps.items(), key=lambda kv: _stage_key(kv[0]))
    ]


def _function_mix(tags: list[dict[str, Any]]) -> list[dict[str, Any]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for t in tags:
        counts[t["stage"]][t["family"]] += 1
    rows = []
    for stage in sorted(counts, key=_stage_key):
        total = sum(counts[stage].values())
        for family in ("career", "psychosocial"):
            n = counts[stage][family]
            rows.append(_row("function_mix", stage=stage, group=family, n=n, share=round(n / total, 3)))
    return rows


def _program_evaluation(responses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    values: dict[tuple[int, str], list[int]] = defaultdict(list)
    for r in responses:
        if r["instrument"] != "program_evaluation":
            continue
        for key, value in json.loads(r["answers"]).items():
            if isinstance(value, int):
                values[(int(r["version"]), key)].append(value)
    rows = []
    for (version, key), v in sorted(values.items()):
        question = builtin_instrument("program_evaluation", version).question(key)
        group = key if question is None or question.min is None else f"{key} ({question.min}-{question.max})"
        rows.append(
            _row(
                "program_evaluation",
                instrument="program_evaluation",
                group=group,
                n=len(v),
                mean=_mean(v),
                distribution=_distribution(v),
            )
        )
    return rows


def feedback(conn: Connection, program: str | None = None) -> list[dict[str, Any]]:
    """Response rates, satisfaction by stage and role and by cohort, mentor-mentee gaps, the Kram function mix by stage
    and the program evaluation (see the module's table)."""
    requests = _rows(conn, SurveyRequest.__table__, program)
    responses = _rows(conn, SurveyResponse.__table__, program)
    tags = _rows(conn, FunctionTag.__table__, program)
    return [
        *_response_rates(requests, responses),
        *_satisfaction(responses),
        *_trend(conn, responses, program),
        *_gaps(responses),
        *_function_mix(tags),
        *_program_evaluation(responses),
    ]
