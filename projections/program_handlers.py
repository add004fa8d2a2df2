"""What each program event does to the program tables (issue 14): the program chain's entries of
:data:`projections.handlers.HANDLERS`. ``row`` is the program's row in ``programs`` (changed in place, like a
relationship's row); the enrollments and the round entries are pending writes."""

from __future__ import annotations

from typing import Any

from domain import canonical_json
from projections.decode import Decoded
from projections.models import Program, ProgramEnrollment, ProgramRoundEntry, table_of
from projections.writer import PendingWrites

__all__ = ["PROGRAM_HANDLERS", "PROGRAM_TABLE"]

PROGRAM_TABLE = table_of(Program)
_ENROLLMENTS = table_of(ProgramEnrollment)
_ROUNDS = table_of(ProgramRoundEntry)
_COUNTER = {"mentor": "mentors", "mentee": "mentees"}


def _json(value: Any) -> str:
    return canonical_json(value).decode("utf-8")


def _matching(e: Any) -> dict[str, Any]:
    return {"matching_version": e.matching.version, "matching": _json(e.matching.model_dump(mode="json"))}


def _on_created(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    e, env = d.event, d.head
    row.update(
        {
            "program_id": env.program_id,
            "name": e.name,
            "created_by": e.by,
            "policy_name": e.default_policy.name,
            "policy_version": e.default_policy.version,
            "policy": _json(e.default_policy.model_dump(mode="json")),
            **_matching(e),
            "cycle_start": None if e.cycle_start is None else e.cycle_start.isoformat(),
            "cycle_end": None if e.cycle_end is None else e.cycle_end.isoformat(),
            "retention_days": None,
            "created_at": env.occurred_at,
            "closed_at": None,
            "mentors": 0,
            "mentees": 0,
            "withdrawn": 0,
            "rounds": 0,
        }
    )


def _on_matching_configured(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    row.update(_matching(d.event))


def _on_program_configured(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    e = d.event
    if e.name is not None:
        row["name"] = e.name
    if e.default_policy is not None:
        policy = e.default_policy
        row.update(policy_name=policy.name, policy_version=policy.version, policy=_json(policy.model_dump(mode="json")))
    if e.matching is not None:
        row.update(_matching(e))
    for day in ("cycle_start", "cycle_end"):
        if getattr(e, day) is not None:
            row[day] = getattr(e, day).isoformat()
    if e.retention_days is not None:
        row["retention_days"] = e.retention_days


def _on_enrolled(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    e, env = d.event, d.head
    w.insert(
        _ENROLLMENTS,
        (env.program_id, e.person_id, e.role),
        {
            "program_id": env.program_id,
            "person_id": e.person_id,
            "role": e.role,
            "profile": _json(e.profile.model_dump(mode="json")),
            "capacity": e.capacity,
            "preferences": _json(list(e.preferences)),
            "enrolled_by": e.by,
            "enrolled_at": env.occurred_at,
            "enrolled_seq": env.seq,
            "withdrawn_at": None,
            "withdrawn_reason": None,
        },
    )
    row[_COUNTER[e.role]] += 1


def _on_withdrawn(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    e, env = d.event, d.head
    w.update(
        _ENROLLMENTS,
        (env.program_id, e.person_id, e.role),
        {"withdrawn_at": env.occurred_at, "withdrawn_reason": e.reason},
    )
    row[_COUNTER[e.role]] -= 1
    row["withdrawn"] += 1


def _on_round(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    e, env = d.event, d.head
    common = {
        "program_id": env.program_id,
        "round_id": e.round_id,
        "method": e.method,
        "matching_version": e.matching_version,
        "recorded_at": env.occurred_at,
        "seq": env.seq,
    }
    for p in e.proposals:
        pair = {"mentor_id": p.mentor, "score": str(p.score), "relationship_id": p.relationship_id, "reason": None}
        w.insert(_ROUNDS, (env.program_id, e.round_id, p.mentee), {**common, "mentee_id": p.mentee, **pair})
    for u in e.unmatched:
        miss = {"mentor_id": None, "score": None, "relationship_id": None, "reason": u.reason}
        w.insert(_ROUNDS, (env.program_id, e.round_id, u.mentee), {**common, "mentee_id": u.mentee, **miss})
    if e.part == e.parts:
        row["rounds"] += 1


def _on_closed(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    row["closed_at"] = d.head.occurred_at


PROGRAM_HANDLERS = {
    "ProgramCreated": _on_created,
    "MatchingConfigured": _on_matching_configured,
    "ProgramConfigured": _on_program_configured,
    "ParticipantEnrolled": _on_enrolled,
    "ParticipantWithdrawn": _on_withdrawn,
    "MatchingRoundCompleted": _on_round,
    "CycleClosed": _on_closed,
}
