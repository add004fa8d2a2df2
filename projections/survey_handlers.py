"""What the survey events (rules v3) and Kram function tags do to the projection: ``survey_requests``,
``survey_responses`` (a ``CheckInSubmitted`` also reads as a pulse v1 response) and ``function_tags``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from domain.confidential import check_in_as_pulse
from domain.envelope import canonical_json
from domain.kram import family_of
from domain.survey_evolve import functions_answered, satisfaction_answered
from projections.decode import Decoded
from projections.models import FunctionTag, SurveyRequest, SurveyResponse, table_of
from projections.writer import PendingWrites

__all__ = ["SURVEY_HANDLERS", "check_in_response", "tag_functions"]


def tag_functions(w: PendingWrites, row: dict[str, Any], d: Decoded, functions: Iterable[str], source: str) -> None:
    env = d.head
    for function in dict.fromkeys(functions):
        w.insert(
            table_of(FunctionTag),
            (env.relationship_id, env.seq, function),
            {
                "relationship_id": env.relationship_id,
                "seq": env.seq,
                "function": function,
                "program_id": row["program_id"],
                "family": family_of(function),
                "source": source,
                "stage": row["stage"],
            },
        )


def _response(w: PendingWrites, row: dict[str, Any], d: Decoded, values: dict[str, Any]) -> None:
    env = d.head
    w.insert(
        table_of(SurveyResponse),
        (env.relationship_id, env.seq),
        {
            "relationship_id": env.relationship_id,
            "seq": env.seq,
            "program_id": row["program_id"],
            "stage": row["stage"],
            "submitted_at": d.event.at,
            "submitted_by": d.event.by,
            "role": d.event.role.value,
            **values,
        },
    )


def check_in_response(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    """A check-in is a pulse v1 response without a request (the upcast on read of issue 15). Its comment stays in
    ``check_ins`` only (sealed, and scrubbed there by an erasure): the response row carries the score."""
    e = d.event
    answers = check_in_as_pulse(e.satisfaction, "")
    values = {"request_id": None, "instrument": "pulse", "version": 1, "satisfaction": e.satisfaction}
    _response(w, row, d, {**values, "answers": canonical_json(answers).decode("utf-8")})


def _on_requested(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    e, env = d.event, d.head
    w.insert(
        table_of(SurveyRequest),
        (env.relationship_id, e.request_id),
        {
            "relationship_id": env.relationship_id,
            "request_id": e.request_id,
            "program_id": row["program_id"],
            "instrument": e.instrument,
            "version": e.version,
            "stage": row["stage"],
            "requested_at": e.at,
            "requested_seq": env.seq,
            "asked": len(e.to),
            "reminded_at": None,
            "expired_at": None,
        },
    )


def _on_reminded(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    w.update(table_of(SurveyRequest), (d.head.relationship_id, d.event.request_id), {"reminded_at": d.event.at})


def _on_expired(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    w.update(table_of(SurveyRequest), (d.head.relationship_id, d.event.request_id), {"expired_at": d.event.at})


def _on_submitted(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    e = d.event
    values = {
        "request_id": e.request_id,
        "instrument": e.instrument,
        "version": e.version,
        "satisfaction": satisfaction_answered(e),
        "answers": canonical_json(e.model_dump(mode="json")["answers"]).decode("utf-8"),
    }
    _response(w, row, d, values)
    tag_functions(w, row, d, functions_answered(e), "survey")
    if values["satisfaction"] is not None and e.role.value in ("mentor", "mentee"):
        row[f"{e.role.value}_satisfaction"] = values["satisfaction"]


SURVEY_HANDLERS: dict[str, Callable[[PendingWrites, dict[str, Any], Decoded], None]] = {
    "SurveyRequested": _on_requested,
    "SurveyReminded": _on_reminded,
    "SurveySubmitted": _on_submitted,
    "SurveyExpired": _on_expired,
}
