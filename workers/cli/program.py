"""``mentorflow program scores | match`` (issue 14): a matching round over an enrollment file.

Until the program aggregate holds enrollments, both read the people from ``--people F`` (CSV or JSON Lines, see
domain/matching/enrollment.py): every row is checked first, and a file with any bad row changes nothing (exit 2, each
problem as ``line N: field: rule``). ``--matching-file`` is the TOML matching configuration (weights, floor, version).

``program match`` without ``--dry-run`` proposes each pair through the existing update-with-start path
(``relationship propose``), match method ``algorithmic`` and the pair's score. The relationship id and the command
id derive from (program, mentee, mentor), so running the same round again after a failure proposes nothing twice.

Exit codes as ``relationship``: 0 done, 2 bad usage or input, 3 a proposal refused by a domain rule, 5 Temporal busy
or unreachable.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import typer
from rich.table import Table

from workers.cli.output import console, print_json
from workers.cli.relationship import (
    EXIT_CODES_HELP,
    EXIT_INPUT,
    JSON_OPTION,
    _actor,
    _fail,
    _load_policy,
    _run,
)

app = typer.Typer(
    help="Programs: the score table and the optimal matching round over an enrollment file. " + EXIT_CODES_HELP,
    no_args_is_help=True,
)

_FORMATS: dict[str, Literal["csv", "jsonl"]] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def _program_id(value: str) -> str:
    from domain.limits import PROGRAM_ID

    try:
        return str(PROGRAM_ID.check(value))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


PROGRAM_ARGUMENT = typer.Argument(..., help="program id", callback=_program_id)
PEOPLE_OPTION = typer.Option(..., "--people", help="the enrollment: a .csv or .jsonl file (one person and role a row)")
MATCHING_OPTION = typer.Option(None, "--matching-file", help="matching configuration TOML (default: built-in)")


def _inputs(people: Path, matching_file: Path | None, as_json: bool) -> tuple[Any, Any]:
    """The enrollment and the matching configuration, or exit 2 naming the file, the line, the field and the rule."""
    from domain import DomainError
    from domain.limits import MAX_ENROLLMENT_FILE_BYTES
    from domain.matching import DEFAULT_MATCHING, matching_from_mapping
    from domain.matching.enrollment import EnrollmentFileError, parse_people
    from workers.datafiles import DataFileError, load_data_file, read_bounded_text

    fmt = _FORMATS.get(people.suffix.lower())
    if fmt is None:
        _fail(
            f"--people {people}: name a .csv or .jsonl file (got {people.suffix or 'no suffix'})", EXIT_INPUT, as_json
        )
    try:
        enrollment = parse_people(
            read_bounded_text(people, MAX_ENROLLMENT_FILE_BYTES, "MAX_ENROLLMENT_FILE_BYTES"), fmt
        )
        config = matching_from_mapping(load_data_file(matching_file)) if matching_file else DEFAULT_MATCHING
    except DataFileError as exc:
        _fail(str(exc), EXIT_INPUT, as_json)
    except EnrollmentFileError as exc:
        _fail(f"--people {people}: nothing enrolled: {exc}", EXIT_INPUT, as_json)
    except DomainError as exc:
        _fail(f"--matching-file {matching_file}: {exc.rule}", EXIT_INPUT, as_json)
    return enrollment, config


def _table(people: Path, matching_file: Path | None, as_json: bool) -> tuple[Any, Any, Any]:
    from matching import build_table

    enrollment, config = _inputs(people, matching_file, as_json)
    table = build_table(
        enrollment.mentees, enrollment.mentors, config, load=enrollment.load, excluded=enrollment.excluded
    )
    return enrollment, config, table


@app.command(epilog=EXIT_CODES_HELP)
def scores(
    program: str = PROGRAM_ARGUMENT,
    people: Path = PEOPLE_OPTION,
    matching_file: Path | None = MATCHING_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Every (mentee, mentor) score: row = mentee, column = mentor, null = a hard constraint forbids the pair."""
    _, config, table = _table(people, matching_file, as_json)
    data = table.to_json()
    if as_json:
        print_json(data)
        return
    view = Table(title=f"{program}: scores (matching {config.version}, floor {config.floor:g})")
    view.add_column("mentee")
    for mentor in data["mentors"]:
        view.add_column(f"{mentor} ({data['capacity'][mentor]})", justify="right")
    for mentee, row in zip(data["mentees"], data["scores"], strict=True):
        view.add_row(mentee, *("—" if v is None else f"{v:g}" for v in row))
    console.print(view)


@app.command(epilog=EXIT_CODES_HELP)
def suggest(
    program: str = PROGRAM_ARGUMENT,
    people: Path = PEOPLE_OPTION,
    mentee: str = typer.Option(..., "--mentee", help="the mentee's person id"),
    top: int = typer.Option(5, "--top", min=1, max=50, help="how many suggestions (1 to MAX_SUGGESTIONS, 50)"),
    matching_file: Path | None = MATCHING_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """One mentee's ranked mentors with their explanations (admin or self matching: a person then proposes)."""
    from domain.matching.suggest import suggest as ranked

    enrollment, config = _inputs(people, matching_file, as_json)
    chosen = next((e for e in enrollment.mentees if e.person_id == mentee), None)
    if chosen is None:
        _fail(f"--mentee: {mentee!r} is not enrolled as a mentee in {people}", EXIT_INPUT, as_json)
    found = ranked(chosen, enrollment.mentors, config, top=top, load=enrollment.load, excluded=enrollment.excluded)
    data = {
        "program": program,
        "mentee": mentee,
        "matching_version": config.version,
        "suggestions": [s.__dict__ for s in found],
    }
    if as_json:
        print_json(data)
        return
    view = Table(title=f"{program}: suggestions for {mentee} (matching {config.version})")
    for col in ("mentor", "score", "free", "explanation"):
        view.add_column(col)
    for s in found:
        why = ", ".join(f"{k} {v:+g}" for k, v in s.explanation.items() if v)
        mark = " (under the floor)" if s.below_floor else ""
        view.add_row(s.mentor, f"{s.score:g}{mark}", str(s.remaining_capacity), why)
    console.print(view)


def pair_ids(program: str, mentee: str, mentor: str) -> tuple[str, str]:
    """(relationship id, command id) of a round's proposal: derived, so a round run again proposes nothing twice."""
    digest = hashlib.sha256(f"{program}\0{mentee}\0{mentor}".encode()).hexdigest()[:24]
    return f"rel-{digest}", f"match-{digest}"


@app.command(epilog=EXIT_CODES_HELP)
def match(
    program: str = PROGRAM_ARGUMENT,
    people: Path = PEOPLE_OPTION,
    matching_file: Path | None = MATCHING_OPTION,
    dry_run: bool = typer.Option(False, "--dry-run", help="compute the round, propose nothing"),
    by: str | None = typer.Option(None, "--by", help="manager:ID (required unless --dry-run)", metavar="ROLE:ID"),
    policy: str | None = typer.Option(None, "--policy", help="built-in policy name (default mentoring-12m)"),
    policy_file: Path | None = typer.Option(None, "--policy-file", help="a policy in TOML or YAML"),
    as_json: bool = JSON_OPTION,
) -> None:
    """One optimal round: the largest total score within capacities and the hard constraints."""
    from domain.matching import score_pair
    from matching import optimal_round

    actor = None
    if not dry_run:
        if by is None:
            raise typer.BadParameter("required unless --dry-run (who proposes: manager:ID)", param_hint="--by")
        actor = _actor(by)
        if actor.role.value != "manager":
            raise typer.BadParameter("an algorithmic round is proposed by a manager (manager:ID)", param_hint="--by")
    pinned = None if dry_run else _load_policy(policy, policy_file)
    enrollment, config, table = _table(people, matching_file, as_json)
    result = optimal_round(table, config.floor)
    mentees = {e.person_id: e for e in enrollment.mentees}
    mentors = {m.person_id: m for m in enrollment.mentors}
    proposals = [
        {
            "mentee": p.mentee,
            "mentor": p.mentor,
            "score": p.score,
            "explanation": score_pair(mentees[p.mentee], mentors[p.mentor], config).explanation,
            "relationship_id": None if dry_run else pair_ids(program, p.mentee, p.mentor)[0],
        }
        for p in result.proposals
    ]
    if actor is not None:
        _propose_all(program, proposals, actor, pinned, config.version, as_json)
    data = {
        "program": program,
        "method": result.method,
        "matching_version": config.version,
        "dry_run": dry_run,
        "proposals": proposals,
        "unmatched": [{"mentee": u.mentee, "reason": u.reason, "detail": u.detail} for u in result.unmatched],
        "total_score": result.total_score,
    }
    if as_json:
        print_json(data)
        return
    _print_round(data)


def _propose_all(
    program: str, proposals: list[dict[str, Any]], actor: Any, policy: Any, version: str, as_json: bool
) -> None:
    """Propose every pair, one after the other, through the existing update-with-start path; each proposal records
    the decision: method, score, explanation and the matching configuration's version."""
    from domain import ProposeRelationship

    commands = []
    for p in proposals:
        relationship_id, command_id = pair_ids(program, p["mentee"], p["mentor"])
        commands.append(
            ProposeRelationship(
                command_id=command_id,
                actor=actor,
                relationship_id=relationship_id,
                program_id=program,
                mentor_id=p["mentor"],
                mentee_id=p["mentee"],
                policy=policy,
                match_method="algorithmic",
                match_score=Decimal(str(p["score"])),
                match_explanation={k: Decimal(str(v)) for k, v in p["explanation"].items()},
                matching_version=version,
            )
        )

    async def send(client: Any) -> None:
        for command in commands:
            await client.propose(command)

    _run(send, as_json)


def _print_round(data: dict[str, Any]) -> None:
    verb = "would propose" if data["dry_run"] else "proposed"
    console.print(
        f"{data['program']}: {verb} {len(data['proposals'])} (total score {data['total_score']:g}, matching "
        f"{data['matching_version']}), {len(data['unmatched'])} unmatched",
        highlight=False,
    )
    view = Table()
    for col in ("mentee", "mentor", "score", "relationship"):
        view.add_column(col)
    for p in data["proposals"]:
        view.add_row(p["mentee"], p["mentor"], f"{p['score']:g}", p["relationship_id"] or "—")
    for u in data["unmatched"]:
        view.add_row(u["mentee"], "—", "", f"unmatched: {u['reason']}")
    console.print(view)
