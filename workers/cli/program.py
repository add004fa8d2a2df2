"""``mentorflow program scores | suggest | match``: matching over a program's enrollment (issue 14).

Without ``--people`` the three read the program's enrollment from the projection (``program create`` and ``program
enroll``, workers/cli/program_admin.py): the open relationships of the program count against each mentor's capacity
(a closed one frees it), a mentee already in an open relationship is not in a round, and a pair whose trial failed
or that a manager rematched is never proposed again. With ``--people F`` (CSV or JSON Lines, see
domain/matching/enrollment.py) they read the people from the file instead, as before the program aggregate:
every row is checked first, and a file with any bad row changes nothing (exit 2, each problem as
``line N: field: rule``); ``--matching-file`` is then the TOML matching configuration.

``program match`` without ``--dry-run`` proposes each pair through update-with-start (match method
``algorithmic``, score, explanation, the configuration's version); the relationship and command ids derive from
(program, mentee, mentor), so running the same round again proposes nothing twice. For a program, the round is also
recorded on its chain (``MatchingRoundCompleted``) and the proposals pin the program's default policy.

Exit codes: 0 done, 2 bad usage or input, 3 refused by a domain rule, 4 no such program, 5 Temporal busy or
unreachable, or the projection behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import typer
from rich.table import Table

from workers.cli.output import console, print_json
from workers.cli.relationship import (
    EXIT_INPUT,
    EXIT_NOT_FOUND,
    EXIT_REFUSED,
    EXIT_UNAVAILABLE,
    JSON_OPTION,
    _actor,
    _fail,
    _load_policy,
    _run,
)

T = TypeVar("T")

EXIT_CODES_HELP = (
    "Exit codes: 0 done, 2 bad usage or input (names the field and the rule), 3 refused by a domain rule, "
    "4 no such program, 5 Temporal busy or unreachable (or the projection behind)."
)

app = typer.Typer(
    help="Programs: create, enroll, show; the score table, suggestions and the optimal matching round. "
    + EXIT_CODES_HELP,
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
PEOPLE_OPTION = typer.Option(
    None, "--people", help="read the people from this .csv or .jsonl file instead of the program's enrollment"
)
MATCHING_OPTION = typer.Option(None, "--matching-file", help="with --people: matching configuration TOML")


def with_service(call: Callable[[Any], Awaitable[T]], as_json: bool, database_url: str | None = None) -> T:
    """Run ``call(ProgramService)`` and turn every failure into a message and an exit code: a refused input
    (``InvalidCommand``, ``InvalidArgument``) exits 2 naming the field, any other domain refusal 3."""
    from domain import DomainError, InvalidCommand, RelationshipNotFound
    from service.errors import InvalidArgument, ServiceUnavailable
    from service.programs import ProgramService
    from workers.connect import connect_client
    from workers.settings import load_settings

    settings = load_settings().on_database(database_url)  # the key store too

    async def main() -> T:
        service = ProgramService(lambda: connect_client(settings), settings.database_url)
        await service.start()
        try:
            return await call(service)
        finally:
            await service.close()

    try:
        return asyncio.run(main())
    except InvalidCommand as exc:
        _fail(f"refused ({exc.code}): {exc.rule}", EXIT_INPUT, as_json)
    except DomainError as exc:
        _fail(f"refused ({exc.code}): {exc.rule}", EXIT_REFUSED, as_json)
    except InvalidArgument as exc:
        _fail(str(exc), EXIT_INPUT, as_json)
    except RelationshipNotFound as exc:
        _fail(str(exc), EXIT_NOT_FOUND, as_json)
    except ServiceUnavailable as exc:
        _fail(str(exc), EXIT_UNAVAILABLE, as_json)


def read_people(people: Path, option: str, as_json: bool) -> tuple[Any, bytes]:
    """The enrollment in a .csv/.jsonl file and its bytes, or exit 2 naming the file, the line, the field and the
    rule (nothing is enrolled)."""
    from domain.limits import MAX_ENROLLMENT_FILE_BYTES
    from domain.matching.enrollment import EnrollmentFileError, parse_people
    from workers.datafiles import DataFileError, read_bounded_text

    fmt = _FORMATS.get(people.suffix.lower())
    if fmt is None:
        _fail(
            f"{option} {people}: name a .csv or .jsonl file (got {people.suffix or 'no suffix'})", EXIT_INPUT, as_json
        )
    try:
        text = read_bounded_text(people, MAX_ENROLLMENT_FILE_BYTES, "MAX_ENROLLMENT_FILE_BYTES")
        return parse_people(text, fmt), text.encode("utf-8", "surrogatepass")
    except DataFileError as exc:
        _fail(str(exc), EXIT_INPUT, as_json)
    except EnrollmentFileError as exc:
        _fail(f"{option} {people}: nothing enrolled: {exc}", EXIT_INPUT, as_json)


def _file_inputs(people: Path, matching_file: Path | None, as_json: bool) -> tuple[Any, Any]:
    from domain import DomainError
    from domain.matching import DEFAULT_MATCHING, matching_from_mapping
    from workers.datafiles import DataFileError, load_data_file

    enrollment, _ = read_people(people, "--people", as_json)
    try:
        config = matching_from_mapping(load_data_file(matching_file)) if matching_file else DEFAULT_MATCHING
    except DataFileError as exc:
        _fail(str(exc), EXIT_INPUT, as_json)
    except DomainError as exc:
        _fail(f"--matching-file {matching_file}: {exc.rule}", EXIT_INPUT, as_json)
    return enrollment, config


@app.command(epilog=EXIT_CODES_HELP)
def scores(
    program: str = PROGRAM_ARGUMENT,
    people: Path | None = PEOPLE_OPTION,
    matching_file: Path | None = MATCHING_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Every (mentee, mentor) score: row = mentee, column = mentor, null = a hard constraint forbids the pair."""
    from service.programs import scores_data

    if people is not None:
        enrollment, config = _file_inputs(people, matching_file, as_json)
        data = scores_data(enrollment, config)
    else:
        data = with_service(lambda s: s.scores(program), as_json)
    if as_json:
        print_json(data)
        return
    view = Table(title=f"{program}: scores")
    view.add_column("mentee")
    for mentor in data["mentors"]:
        view.add_column(f"{mentor} ({data['capacity'][mentor]})", justify="right")
    for mentee, row in zip(data["mentees"], data["scores"], strict=True):
        view.add_row(mentee, *("—" if v is None else f"{v:g}" for v in row))
    console.print(view)


@app.command(epilog=EXIT_CODES_HELP)
def suggest(
    program: str = PROGRAM_ARGUMENT,
    mentee: str = typer.Option(..., "--mentee", help="the mentee's person id"),
    top: int = typer.Option(5, "--top", min=1, max=50, help="how many suggestions (1 to MAX_SUGGESTIONS, 50)"),
    people: Path | None = PEOPLE_OPTION,
    matching_file: Path | None = MATCHING_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """One mentee's ranked mentors with their explanations (admin or self matching: a person then proposes)."""
    from service.errors import InvalidArgument
    from service.programs import suggest_data

    if people is not None:
        enrollment, config = _file_inputs(people, matching_file, as_json)
        try:
            data = suggest_data(program, enrollment, config, mentee, top)
        except InvalidArgument as exc:
            _fail(f"--{exc}", EXIT_INPUT, as_json)
    else:
        data = with_service(lambda s: s.suggestions(program, mentee, top), as_json)
    if as_json:
        print_json(data)
        return
    view = Table(title=f"{program}: suggestions for {mentee} (matching {data['matching_version']})")
    for col in ("mentor", "score", "free", "explanation"):
        view.add_column(col)
    for s in data["suggestions"]:
        why = ", ".join(f"{k} {v:+g}" for k, v in s["explanation"].items() if v)
        mark = " (under the floor)" if s["below_floor"] else ""
        view.add_row(s["mentor"], f"{s['score']:g}{mark}", str(s["remaining_capacity"]), why)
    console.print(view)


@app.command(epilog=EXIT_CODES_HELP)
def match(
    program: str = PROGRAM_ARGUMENT,
    people: Path | None = PEOPLE_OPTION,
    matching_file: Path | None = MATCHING_OPTION,
    dry_run: bool = typer.Option(False, "--dry-run", help="compute the round, propose nothing"),
    by: str | None = typer.Option(None, "--by", help="manager:ID (required unless --dry-run)", metavar="ROLE:ID"),
    policy: str | None = typer.Option(None, "--policy", help="with --people: built-in policy (default mentoring-12m)"),
    policy_file: Path | None = typer.Option(None, "--policy-file", help="with --people: a policy in TOML or YAML"),
    as_json: bool = JSON_OPTION,
) -> None:
    """One optimal round: the largest total score within capacities and the hard constraints."""
    actor = None
    if not dry_run:
        if by is None:
            raise typer.BadParameter("required unless --dry-run (who proposes: manager:ID)", param_hint="--by")
        actor = _actor(by)
        if actor.role.value != "manager":
            raise typer.BadParameter("an algorithmic round is proposed by a manager (manager:ID)", param_hint="--by")
    if people is None:
        data = with_service(lambda s: s.match(program, actor, dry_run=dry_run), as_json)
    else:
        data = _match_file(program, people, matching_file, actor, _load_policy(policy, policy_file), as_json)
    if as_json:
        print_json(data)
        return
    _print_round(data)


def _match_file(
    program: str, people: Path, matching_file: Path | None, actor: Any, policy: Any, as_json: bool
) -> dict[str, Any]:
    """A round over a file: each pair proposed, one after the other, through the existing update-with-start path."""
    from service.programs import proposal_commands, round_data

    enrollment, config = _file_inputs(people, matching_file, as_json)
    data = round_data(program, enrollment, config, dry_run=actor is None)
    if actor is not None:
        commands = proposal_commands(program, data, actor, policy)

        async def send(client: Any) -> None:
            for command in commands:
                await client.propose(command)

        _run(send, as_json)
    return data


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
