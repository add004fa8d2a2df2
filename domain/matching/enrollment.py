"""Bulk enrollment: people from CSV or JSON Lines text, every row checked, nothing half-applied (issue 14).

Each row is one person in one role (a person enrolled as mentor and as mentee has two rows). JSON Lines::

    {"person": "ana", "role": "mentor", "capacity": 2, "profile": {"skills": ["python"], "languages": ["en"]}}
    {"person": "bo", "role": "mentee", "preferences": ["ana"], "profile": {"goals": ["python"], "languages": ["en"]}}

CSV: a header with ``person`` and ``role``, any of ``capacity``, ``preferences``, ``excluded``, ``open_relationships``
and the profile's fields as columns (``skills``, ``goals``, ``interests``, ``languages``, ``timezone``,
``seniority_years``, ``department``, ``line_manager``); a list is written ``a;b;c``; an empty cell is absent.

Two fields serve a round read from a file before the program aggregate holds them: ``excluded`` (a mentee's mentors
whose trial failed) and ``open_relationships`` (a mentor's open relationships, counted against its capacity).

:func:`parse_people` reads every row before it answers: either the whole enrollment, or
:class:`EnrollmentFileError` listing every problem as ``line N: field: rule`` (at most ``MAX_REPORTED_PROBLEMS``).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domain.limits import MAX_CAPACITY, MAX_ENROLLMENT_FILE_BYTES, MAX_ENROLLMENT_ROWS, MAX_PREFERENCES, PERSON_ID
from domain.matching.profile import Mentee, Mentor, Profile

__all__ = [
    "CSV_LIST_SEPARATOR",
    "MAX_REPORTED_PROBLEMS",
    "Enrollment",
    "EnrollmentFileError",
    "EnrollmentRow",
    "parse_people",
]

CSV_LIST_SEPARATOR = ";"
MAX_REPORTED_PROBLEMS = 50
"""Problems listed in one refusal at most (the count of the rest is given)."""

_PROFILE_FIELDS = tuple(Profile.model_fields)
_LIST_FIELDS = {"skills", "goals", "interests", "languages", "preferences", "excluded"}

PersonId = Annotated[str, PERSON_ID]


class EnrollmentRow(BaseModel):
    """One row: a person in one role. ``capacity`` is a mentor's, ``preferences`` a mentee's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    person: PersonId
    role: Literal["mentor", "mentee"]
    profile: Profile
    capacity: int | None = Field(default=None, ge=1, le=MAX_CAPACITY)
    preferences: tuple[PersonId, ...] = Field(default=(), max_length=MAX_PREFERENCES)
    excluded: tuple[PersonId, ...] = ()
    open_relationships: int = Field(default=0, ge=0, le=MAX_CAPACITY)


@dataclass(frozen=True)
class Enrollment:
    """Everything a round needs: the people, the open relationships per mentor, the excluded (mentee, mentor)."""

    mentees: tuple[Mentee, ...]
    mentors: tuple[Mentor, ...]
    load: dict[str, int]
    excluded: frozenset[tuple[str, str]]


class EnrollmentFileError(ValueError):
    """The file cannot be enrolled; ``problems`` are ``line N: field: rule`` (or a file-level problem)."""

    def __init__(self, problems: list[str]) -> None:
        shown = problems[:MAX_REPORTED_PROBLEMS]
        more = len(problems) - len(shown)
        super().__init__("; ".join(shown) + (f"; and {more} more" if more else ""))
        self.problems = problems


def _csv_records(text: str) -> list[tuple[int, Any]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = {"person", "role"} - set(reader.fieldnames or ())
    if missing:
        raise EnrollmentFileError([f"line 1: the CSV header lacks {', '.join(sorted(missing))}"])
    records: list[tuple[int, Any]] = []
    for row in reader:
        if None in row:
            records.append((reader.line_num, "more cells than the header has columns"))
            continue
        record: dict[str, Any] = {"profile": {}}
        for key, cell in row.items():
            if cell is None or not cell.strip():
                continue
            value: Any = cell.strip()
            if key in _LIST_FIELDS:
                value = [v.strip() for v in value.split(CSV_LIST_SEPARATOR) if v.strip()]
            (record["profile"] if key in _PROFILE_FIELDS else record)[key] = value
        records.append((reader.line_num, record))
    return records


def _jsonl_records(text: str) -> list[tuple[int, Any]]:
    records: list[tuple[int, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((number, json.loads(line)))
        except (json.JSONDecodeError, RecursionError) as exc:
            records.append((number, f"not valid JSON: {getattr(exc, 'msg', 'nested too deeply')}"))
    return records


_READERS = {"csv": _csv_records, "jsonl": _jsonl_records}


def _row_problems(number: int, exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(x) for x in err["loc"]) or "(row)"
        out.append(f"line {number}: {field}: {err['msg'].removeprefix('Value error, ')}")
    return out


def _rows(text: str, fmt: str) -> tuple[list[tuple[int, EnrollmentRow]], list[str]]:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_ENROLLMENT_FILE_BYTES:
        raise EnrollmentFileError([f"{size} bytes, at most {MAX_ENROLLMENT_FILE_BYTES} (MAX_ENROLLMENT_FILE_BYTES)"])
    records = _READERS[fmt](text)
    if len(records) > MAX_ENROLLMENT_ROWS:
        raise EnrollmentFileError([f"{len(records)} rows, at most {MAX_ENROLLMENT_ROWS} (MAX_ENROLLMENT_ROWS)"])
    rows: list[tuple[int, EnrollmentRow]] = []
    problems: list[str] = []
    for number, record in records:
        if isinstance(record, str):
            problems.append(f"line {number}: {record}")
            continue
        try:
            rows.append((number, EnrollmentRow.model_validate(record)))
        except ValidationError as exc:
            problems.extend(_row_problems(number, exc))
    return rows, problems


def _role_problems(number: int, row: EnrollmentRow, mentor_ids: set[str]) -> list[str]:
    out = []
    if row.role == "mentor" and row.capacity is None:
        out.append(f"line {number}: capacity: a mentor must give one (1 to {MAX_CAPACITY}, MAX_CAPACITY)")
    if row.role == "mentee" and row.capacity is not None:
        out.append(f"line {number}: capacity: only a mentor has a capacity")
    if row.role == "mentor" and (row.preferences or row.excluded):
        out.append(f"line {number}: preferences: only a mentee ranks mentors or excludes them")
    if row.role == "mentee" and row.open_relationships:
        out.append(f"line {number}: open_relationships: only a mentor's count against a capacity")
    for field, names in (("preferences", row.preferences), ("excluded", row.excluded)):
        out.extend(f"line {number}: {field}: {n!r} is not an enrolled mentor" for n in names if n not in mentor_ids)
    if row.person in row.preferences:
        out.append(f"line {number}: preferences: must not name the mentee themself")
    if len(set(row.preferences)) != len(row.preferences):
        out.append(f"line {number}: preferences: must not name a mentor twice")
    return out


def parse_people(text: str, fmt: Literal["csv", "jsonl"]) -> Enrollment:
    """The enrollment in ``text`` (see the module), or :class:`EnrollmentFileError` with every problem."""
    rows, problems = _rows(text, fmt)
    mentor_ids = {row.person for _, row in rows if row.role == "mentor"}
    seen: dict[tuple[str, str], int] = {}
    for number, row in rows:
        key = (row.person, row.role)
        if key in seen:
            problems.append(
                f"line {number}: person: {row.person!r} is already enrolled as {row.role} (line {seen[key]})"
            )
        seen.setdefault(key, number)
        problems.extend(_role_problems(number, row, mentor_ids))
    if not rows and not problems:
        problems.append("the file enrolls nobody")
    if problems:
        raise EnrollmentFileError(problems)
    mentors = tuple(
        Mentor(person_id=r.person, profile=r.profile, capacity=r.capacity or 0) for _, r in rows if r.role == "mentor"
    )
    mentees = tuple(
        Mentee(person_id=r.person, profile=r.profile, preferences=r.preferences) for _, r in rows if r.role == "mentee"
    )
    load = {r.person: r.open_relationships for _, r in rows if r.role == "mentor" and r.open_relationships}
    excluded = frozenset((r.person, m) for _, r in rows for m in r.excluded)
    return Enrollment(mentees, mentors, load, excluded)
