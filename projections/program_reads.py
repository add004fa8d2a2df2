"""Every read of the program tables (issue 14): a program's row, its enrollment as a round needs it (profiles, the
open relationships per mentor, the pairs lineage excludes), and the capacity use per mentor.

Capacity and lineage come from the relationship tables of the same program: an open relationship (not closed)
counts against its mentor's capacity, a closed one frees it; a (mentee, mentor) pair whose trial failed
(``TrialFailed`` in the event log) or that a manager rematched (outcome ``rematched``) is never proposed again.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, and_, func, select

from domain.matching import Mentee, Mentor, Profile
from domain.matching.enrollment import Enrollment
from projections.models import EventLog, Program, ProgramEnrollment, Relationship

__all__ = ["capacity_use", "enrolled_people", "open_by_mentee", "program_enrollment", "program_row"]

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


def program_enrollment(conn: Connection, program_id: str) -> Enrollment:
    """The program's people as a round reads them, with the load and the exclusions of its relationships."""
    mentors, mentees = [], []
    for p in enrolled_people(conn, program_id):
        profile = Profile.model_validate(p["profile"])
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
