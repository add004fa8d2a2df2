"""``mentorflow program create | enroll | show`` (issue 14): the program aggregate from the command line.

``enroll --file`` reads a .csv or .jsonl file of people (domain/matching/enrollment.py), checks every row, then checks
the whole file against the program (already enrolled, a preference for someone not a mentor): any problem exits 2
naming the line or row and the field, and nothing is enrolled. Exit codes as ``program``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.table import Table

from workers.cli.output import console, print_json
from workers.cli.program import EXIT_CODES_HELP, PROGRAM_ARGUMENT, app, read_people, with_service
from workers.cli.relationship import EXIT_INPUT, JSON_OPTION, _actor, _fail, _load_policy

BY_OPTION = typer.Option(..., "--by", help="who acts, ROLE:ID", metavar="ROLE:ID")


def _problem(option: str, exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(x) for x in first["loc"]) or "(value)"
    return f"{option}: {where}: {first['msg'].removeprefix('Value error, ')}"


def _matching(path: Path | None) -> Any:
    from domain import DomainError
    from domain.matching import DEFAULT_MATCHING, matching_from_mapping
    from workers.datafiles import DataFileError, load_data_file

    try:
        return matching_from_mapping(load_data_file(path)) if path else DEFAULT_MATCHING
    except DataFileError as exc:
        raise typer.BadParameter(str(exc), param_hint="--matching-file") from None
    except DomainError as exc:
        raise typer.BadParameter(f"{path}: {exc.rule}", param_hint="--matching-file") from None


def _result(result: Any) -> dict[str, Any]:
    return {"ok": True, **result.model_dump(mode="json")}


def _done(result: Any, as_json: bool, text: str) -> None:
    """A program command's result: the JSON of ``--json``, or ``text`` and the chain's seq for people."""
    if as_json:
        print_json(_result(result))
        return
    console.print(f"{text} (seq {result.last_seq})", highlight=False)


@app.command(epilog=EXIT_CODES_HELP)
def create(
    program: str = PROGRAM_ARGUMENT,
    name: str = typer.Option(..., "--name", help="the program's name"),
    policy: str | None = typer.Option(None, "--policy", help="default lifecycle policy (built-in name)"),
    policy_file: Path | None = typer.Option(None, "--policy-file", help="default policy from TOML or YAML"),
    matching_file: Path | None = typer.Option(None, "--matching-file", help="matching configuration TOML"),
    cycle_start: str | None = typer.Option(None, "--cycle-start", help="YYYY-MM-DD"),
    cycle_end: str | None = typer.Option(None, "--cycle-end", help="YYYY-MM-DD"),
    by: str = BY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a program: its name, default policy, cycle window and matching configuration."""
    from domain.programs.commands import CreateProgram

    try:
        command = CreateProgram(
            command_id=str(uuid.uuid4()),
            actor=_actor(by),
            program_id=program,
            name=name,
            default_policy=_load_policy(policy, policy_file),
            matching=_matching(matching_file),
            cycle_start=None if cycle_start is None else date.fromisoformat(cycle_start),
            cycle_end=None if cycle_end is None else date.fromisoformat(cycle_end),
        )
    except ValueError as exc:  # a ValidationError too
        text = _problem("program create", exc) if isinstance(exc, ValidationError) else f"--cycle-start/end: {exc}"
        _fail(text, EXIT_INPUT, as_json)
    result = with_service(lambda s: s.create(command), as_json)
    _done(result, as_json, f"program {program} created")


def _participant(person: str, role: str, capacity: int | None, profile: str | None, preferences: str | None) -> Any:
    from domain.programs.commands import Participant

    try:
        profile_data = json.loads(profile) if profile is not None else {}
    except (ValueError, RecursionError) as exc:
        raise typer.BadParameter(f"not valid JSON ({exc})", param_hint="--profile") from None
    if not isinstance(profile_data, dict):
        raise typer.BadParameter("must be a JSON object", param_hint="--profile")
    ranked = [p.strip() for p in preferences.split(",") if p.strip()] if preferences else []
    fields = {"person_id": person, "role": role, "profile": profile_data, "capacity": capacity, "preferences": ranked}
    try:
        return Participant.model_validate(fields)
    except ValidationError as exc:
        raise typer.BadParameter(_problem("participant", exc)) from None


def _from_file(path: Path, as_json: bool) -> tuple[list[Any], str]:
    from domain.programs.commands import Participant

    enrollment, raw = read_people(path, "--file", as_json)
    if enrollment.load or enrollment.excluded:
        _fail(
            f"--file {path}: nothing enrolled: open_relationships and excluded are for --people files; a program "
            f"counts them from its relationships",
            EXIT_INPUT,
            as_json,
        )
    people = [
        Participant(person_id=m.person_id, role="mentor", profile=m.profile, capacity=m.capacity)
        for m in enrollment.mentors
    ] + [
        Participant(person_id=e.person_id, role="mentee", profile=e.profile, preferences=e.preferences)
        for e in enrollment.mentees
    ]
    return people, hashlib.sha256(raw).hexdigest()


@app.command(epilog=EXIT_CODES_HELP)
def enroll(
    program: str = PROGRAM_ARGUMENT,
    person: str | None = typer.Option(None, "--person", help="the person's id"),
    role: str | None = typer.Option(None, "--role", help="mentor or mentee"),
    capacity: int | None = typer.Option(None, "--capacity", help="a mentor's mentees at once (1 to 50)"),
    profile: str | None = typer.Option(None, "--profile", help='JSON: {"skills": [...], "languages": ["en"], ...}'),
    preferences: str | None = typer.Option(None, "--preferences", help="a mentee's ranked mentors: A,B,C"),
    file: Path | None = typer.Option(None, "--file", help="people.csv or people.jsonl (a manager's bulk enrollment)"),
    by: str = BY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Enroll one person in one role, or everyone in a file (all or nothing)."""
    from domain.programs.commands import EnrollParticipants

    actor = _actor(by)
    if file is not None:
        if person or role or capacity is not None or profile or preferences:
            raise typer.BadParameter("give --file alone, or --person and --role", param_hint="--file")
        people, digest = _from_file(file, as_json)
        results = with_service(lambda s: s.enroll_all(program, actor, people, digest), as_json)
        summary = {"ok": True, "program": program, "enrolled": len(people), "commands": len(results)}
        summary["last_seq"] = results[-1].last_seq if results else None
        if as_json:
            print_json(summary)
            return
        console.print(f"{program}: {len(people)} enrolled (seq {summary['last_seq']})", highlight=False)
        return
    if person is None or role not in ("mentor", "mentee"):
        raise typer.BadParameter("give --person ID and --role mentor|mentee (or --file)", param_hint="--role")
    participant = _participant(person, role, capacity, profile, preferences)
    command = EnrollParticipants(
        command_id=str(uuid.uuid4()), actor=actor, program_id=program, participants=(participant,)
    )
    result = with_service(lambda s: s.enroll(command), as_json)
    _done(result, as_json, f"{person} enrolled in {program} as {role}")


@app.command(epilog=EXIT_CODES_HELP)
def propose(
    program: str = PROGRAM_ARGUMENT,
    mentee: str = typer.Option(..., "--mentee", help="the mentee's person id"),
    mentor: str = typer.Option(..., "--mentor", help="the mentor's person id (from `program suggest`)"),
    by: str = BY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Admin matching (--by manager:ID) or self matching (--by mentee:ID, the mentee themself): propose one pair
    with its score and explanation; the mentor accepts or declines as for any proposal."""
    actor = _actor(by)
    data = with_service(lambda s: s.propose_pair(program, mentee, mentor, actor), as_json)
    if as_json:
        print_json(data)
        return
    console.print(
        f"{program}: {data['method']} proposal {data['relationship_id']}: {mentee} with {mentor} "
        f"(score {data['score']:g}, matching {data['matching_version']})",
        highlight=False,
    )


@app.command(epilog=EXIT_CODES_HELP)
def show(program: str = PROGRAM_ARGUMENT, as_json: bool = JSON_OPTION) -> None:
    """The program: configuration, counts, mentors with their capacity use, mentees with their relationship."""
    data = with_service(lambda s: s.show(program), as_json)
    if as_json:
        print_json(data)
        return
    counts = data["counts"]
    console.print(
        f"[bold]{program}[/bold] {data['name']!r}: policy {data['policy_name']} {data['policy_version']}, matching "
        f"{data['matching_version']}, cycle {data['cycle_start'] or '—'} to {data['cycle_end'] or '—'}, retention "
        f"{data.get('retention_days') or '—'} days; "
        f"{counts['mentors']} mentors, {counts['mentees']} mentees, {counts['rounds']} rounds; seq {data['seq']}"
        + (f"; closed {data['closed_at']}" if data["closed_at"] else ""),
        highlight=False,
    )
    view = Table(title="mentors")
    for col in ("mentor", "capacity", "open", "free", "relationships"):
        view.add_column(col)
    for m in data["mentors"]:
        view.add_row(m["person"], *(str(m[k]) for k in ("capacity", "open", "free", "relationships")))
    console.print(view)
    mentees = Table(title="mentees")
    for col in ("mentee", "preferences", "relationship"):
        mentees.add_column(col)
    for e in data["mentees"]:
        mentees.add_row(e["person"], ", ".join(e["preferences"]), e["relationship_id"] or "—")
    console.print(mentees)
