"""Every read of the program tables (issue 14): a program's row, its enrollment as a round needs it (profiles, the
open relationships per mentor, the pairs lineage excludes), and the capacity use per mentor.

Capacity and lineage come from the relationship tables of the same program: an open relationship (not closed)
counts against its mentor's capacity, a closed one frees it; a (mentee, mentor) pair whose trial failed
(``TrialFailed`` in the event log) or that a manager rematched (outcome ``rematched``) is never proposed again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, and_, func, select

from domain.matching import Mentee, Mentor, Profile
from domain.matching.enrollment import Enrollment
from domain.privacy.sealed import ERASED, is_sealed
from projections.models import EventLog, Program, ProgramEnrollment, ProgramRoundEntry, Relationship

__all__ = [
    "SCORE_BANDS",
    "capacity_use",
    "enrolled_people",
    "matching_report",
    "open_by_mentee",
    "program_enrollment",
    "program_row",
    "renewals_by_mentee",
]

_EXCLUDING_OUTCOMES = ("rematched",)


def program_row(conn: Connection, program_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(Program).where(Program.program_id == program_id)).mappings().first()
    return None if row is None else dict(row)


def enrolled_people(conn: Connection, program_id: str) -> list[dict[str, Any]]:
    """Everyone enrolled and not withdrawn, by role then person."""
    t = ProgramEnrollment
    rows = conn.execute(
        select(t.person_id, t.role, t.profile, t.capacity, t.preferences, t.enrolled_at)
        .where(t.program_id == program_id, t.withdrawn_at.is_(None))
        .order_by(t.role, t.person_id)
    ).mappings()
    return [
        {**row, "profile": json.loads(row["profile"]), "preferences": json.loads(row["preferences"])} for row in rows
    ]


def _open_load(conn: Connection, program_id: str) -> dict[str, int]:
    r = Relationship
    rows = conn.execute(
        select(r.mentor_id, func.count()).where(r.program_id == program_id, r.closed_at.is_(None)).group_by(r.mentor_id)
    )
    return {mentor: int(n) for mentor, n in rows}


def open_by_mentee(conn: Connection, program_id: str) -> dict[str, str]:
    """Mentee → an open relationship of theirs in the program (a mentee in one is not in a round)."""
    r = Relationship
    rows = conn.execute(
        select(r.mentee_id, func.min(r.relationship_id))
        .where(r.program_id == program_id, r.closed_at.is_(None))
        .group_by(r.mentee_id)
    )
    return {mentee: rid for mentee, rid in rows}


def renewals_by_mentee(conn: Connection, program_id: str) -> dict[str, int]:
    """Renewals each mentee used in the program's relationships (the cycle's): a new proposal carries them, so the
    policy's ``max_renewals`` holds per mentee across a rematch."""
    r = Relationship
    rows = conn.execute(
        select(r.mentee_id, func.max(r.renewals)).where(r.program_id == program_id).group_by(r.mentee_id)
    )
    return {mentee: int(n) for mentee, n in rows if n}


def _excluded(conn: Connection, program_id: str) -> frozenset[tuple[str, str]]:
    r, log = Relationship, EventLog
    failed = select(log.relationship_id).where(log.program_id == program_id, log.type == "TrialFailed")
    rows = conn.execute(
        select(r.mentee_id, r.mentor_id).where(
            r.program_id == program_id,
            (r.relationship_id.in_(failed)) | and_(r.outcome.in_(_EXCLUDING_OUTCOMES)),
        )
    )
    return frozenset((mentee, mentor) for mentee, mentor in rows)


_UNOPENED = frozenset({ERASED, "[unreadable]"})
"""What a reader shows for a sealed string whose key is gone or whose text did not authenticate (``FieldCipher``)."""


def _scorable(profile: Any) -> bool:
    """An opened profile the score can read: no value erased, unreadable or still sealed (no cipher opened it) — a
    time zone or seniority in that state has no offset or number, and an erased person has nothing to match on."""
    if isinstance(profile, str):
        return profile not in _UNOPENED and not is_sealed(profile)
    if isinstance(profile, dict):
        return all(_scorable(v) for v in profile.values())
    if isinstance(profile, list | tuple):
        return all(_scorable(v) for v in profile)
    return True


def program_enrollment(
    conn: Connection, program_id: str, open_profiles: Callable[[list[Any]], list[Any]] | None = None
) -> Enrollment:
    """The program's people as a round reads them, with the load and the exclusions of its relationships.
    ``open_profiles``: opens the sealed fields of every profile at once (``FieldCipher.open_json``; docs/privacy.md).
    A profile that is not all plaintext then (erased, or sealed with no cipher to open it) is left out of the round."""
    mentors, mentees = [], []
    people = enrolled_people(conn, program_id)
    opened = open_profiles([p["profile"] for p in people]) if open_profiles is not None else None
    for i, p in enumerate(people):
        data = opened[i] if opened is not None else p["profile"]
        if not _scorable(data):
            continue
        profile = Profile.model_validate(data)
        if p["role"] == "mentor":
            mentors.append(Mentor(person_id=p["person_id"], profile=profile, capacity=p["capacity"]))
        else:
            mentees.append(Mentee(person_id=p["person_id"], profile=profile, preferences=tuple(p["preferences"])))
    return Enrollment(tuple(mentees), tuple(mentors), _open_load(conn, program_id), _excluded(conn, program_id))


def capacity_use(conn: Connection, program_id: str) -> list[dict[str, Any]]:
    """Per enrolled mentor: capacity, open relationships, relationships ever, free slots."""
    load = _open_load(conn, program_id)
    r = Relationship
    ever = dict(
        conn.execute(select(r.mentor_id, func.count()).where(r.program_id == program_id).group_by(r.mentor_id)).all()
    )
    return [
        {
            "mentor": p["person_id"],
            "capacity": p["capacity"],
            "open": load.get(p["person_id"], 0),
            "free": max(p["capacity"] - load.get(p["person_id"], 0), 0),
            "relationships": int(ever.get(p["person_id"], 0)),
        }
        for p in enrolled_people(conn, program_id)
        if p["role"] == "mentor"
    ]


# --- the matching report ---------------------------------------------------------------------------------------

SCORE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("0-5", 0.0, 5.0),
    ("5-10", 5.0, 10.0),
    ("10-15", 10.0, 15.0),
    ("15+", 15.0, float("inf")),
)
"""The score bands of ``report matching`` (the default configuration scores 0 to about 20)."""
COMPLETED_OUTCOMES = ("collegial", "friendship", "ended")
SIDE_EXITS = ("declined", "expired", "did_not_start", "terminated", "rematched")
FUNNEL_STEPS = ("matched", "accepted", "kicked_off", "cultivation", "completed")
_STEP_COLUMNS = {"accepted": "accepted_at", "kicked_off": "kicked_off_at", "cultivation": "cultivation_at"}


def _band(score: str | None) -> str:
    if score is None:
        return "none"
    value = float(score)
    return next(name for name, low, high in SCORE_BANDS if low <= value < high)


def _reached(r: dict[str, Any]) -> set[str]:
    """The funnel steps one relationship reached."""
    steps = {"matched"} | {step for step, column in _STEP_COLUMNS.items() if r[column] is not None}
    if r["redefinition_at"] is not None or r["outcome"] in COMPLETED_OUTCOMES:
        steps.add("completed")
    return steps


def _outcomes(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(r[key], []).append(r)
    out = []
    for name in sorted(groups):
        members = groups[name]
        reached = [_reached(r) for r in members]
        satisfaction = [r["mentee_satisfaction"] for r in members if r["mentee_satisfaction"] is not None]
        out.append(
            {
                key: name,
                "relationships": len(members),
                **{step: sum(step in s for s in reached) for step in FUNNEL_STEPS[1:]},
                "side_exits": sum(r["outcome"] in SIDE_EXITS for r in members),
                "open": sum(r["closed_at"] is None for r in members),
                "completed_pct": round(100.0 * sum("completed" in s for s in reached) / len(members), 1),
                "mentee_satisfaction": round(sum(satisfaction) / len(satisfaction), 2) if satisfaction else None,
            }
        )
    return out


def _last_reasons(conn: Connection, program_id: str, mentees: list[str]) -> dict[str, int]:
    """Why the still-unmatched mentees were left out by the latest round that named them (``not_in_a_round``)."""
    e = ProgramRoundEntry
    latest: dict[str, str] = {}
    stmt = select(e.mentee_id, e.reason).where(e.program_id == program_id, e.reason.is_not(None)).order_by(e.seq)
    for mentee, reason in conn.execute(stmt):
        latest[mentee] = str(reason)
    counts: dict[str, int] = {}
    for m in mentees:
        reason = latest.get(m, "not_in_a_round")
        counts[reason] = counts.get(reason, 0) + 1
    return counts


def matching_report(conn: Connection, program_id: str) -> dict[str, Any]:
    """``mentorflow report matching --program P``: the funnel from enrollment (each enrolled mentee counted once, at
    the furthest step any of their relationships reached), the side exits and the unmatched; outcomes by match
    method and by score band; capacity use per mentor."""
    t = ProgramEnrollment
    mentees = conn.execute(
        select(t.person_id, t.withdrawn_at).where(t.program_id == program_id, t.role == "mentee")
    ).all()
    r = Relationship
    rows = [
        {**row, "band": _band(row["match_score"])}
        for row in conn.execute(select(r).where(r.program_id == program_id)).mappings()
    ]
    by_mentee: dict[str, set[str]] = {}
    exits: dict[str, int] = dict.fromkeys(SIDE_EXITS, 0)
    for row in rows:
        by_mentee.setdefault(row["mentee_id"], set()).update(_reached(row))
        if row["outcome"] in exits:
            exits[row["outcome"]] += 1
    enrolled = {m for m, _ in mentees}
    funnel: dict[str, Any] = {"enrolled": len(enrolled)}
    for step in FUNNEL_STEPS:
        funnel[step] = sum(step in by_mentee.get(m, set()) for m in enrolled)
    funnel["withdrawn"] = sum(w is not None for _, w in mentees)
    unmatched = [m for m, w in mentees if w is None and m not in by_mentee]
    funnel["unmatched"] = len(unmatched)
    funnel["unmatched_reasons"] = _last_reasons(conn, program_id, unmatched)
    funnel["side_exits"] = exits
    return {
        "program": program_id,
        "funnel": funnel,
        "by_method": _outcomes(rows, "match_method"),
        "by_score_band": _outcomes(rows, "band"),
        "capacity": capacity_use(conn, program_id),
    }
