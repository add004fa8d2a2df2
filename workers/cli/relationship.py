"""``mentorflow relationship propose | do | show | list | republish`` (DESIGN §8), through the application service
(service/relationships.py ``MentorflowService``) that the HTTP API uses too.

Exit codes: 0 done; 2 bad usage or input (typer's usage errors, bad ``--by``, bad ``--data`` JSON, a field that
fails validation: the message names the field and the rule); 3 the command was refused by a domain rule (the message
names the rule; nothing was appended); 4 no such relationship; 5 Temporal kept refusing the command (busy) or could
not be reached.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.table import Table

from workers.cli.output import console, err_console, print_json

if TYPE_CHECKING:
    from service.relationships import MentorflowService

T = TypeVar("T")

EXIT_INPUT = 2
EXIT_REFUSED = 3
EXIT_NOT_FOUND = 4
EXIT_UNAVAILABLE = 5

EXIT_CODES_HELP = (
    "Exit codes: 0 done, 2 bad usage or input (names the field and the rule), 3 refused by a domain rule "
    "(prints the rule; nothing appended), 4 no such relationship, 5 Temporal busy or unreachable."
)

app = typer.Typer(
    help="Propose relationships, send them commands, show and list them. " + EXIT_CODES_HELP,
    no_args_is_help=True,
)

JSON_OPTION = typer.Option(False, "--json", help="machine-readable JSON on stdout")
BY_OPTION = typer.Option(..., "--by", help="who acts, ROLE:ID (role: mentor, mentee, manager)", metavar="ROLE:ID")


def _fail(message: str, code: int, as_json: bool) -> NoReturn:
    if as_json:
        print_json({"ok": False, "error": message, "exit_code": code})
    else:
        err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _actor(spec: str) -> Any:
    from domain import Actor

    role, sep, person = spec.partition(":")
    if not sep or not person.strip():
        raise typer.BadParameter(f"{spec!r} is not ROLE:ID (e.g. manager:mgr-7, mentor:ana)", param_hint="--by")
    try:
        return Actor(id=person.strip(), role=role.strip().lower())
    except ValidationError:
        raise typer.BadParameter(
            f"unknown role {role!r} (one of: mentor, mentee, manager, system)", param_hint="--by"
        ) from None


def _relationship_id(value: str) -> str:
    """Typer callback: a relationship id within the id limits (domain/limits.py), else exit 2 naming the rule."""
    from domain.limits import RELATIONSHIP_ID

    try:
        return str(RELATIONSHIP_ID.check(value))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


RELATIONSHIP_ARGUMENT = typer.Argument(..., help="relationship id", callback=_relationship_id)


def _person_id(value: str | None) -> str | None:
    """Typer callback: a person id within the id limits (domain/limits.py), else exit 2 naming the rule."""
    from domain.limits import PERSON_ID

    if value is None:
        return None
    try:
        return str(PERSON_ID.check(value))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


async def _events_json(service: Any, events: Any, reader: str | None) -> list[dict[str, Any]]:
    """The envelopes as JSON; for a participant ``reader``, their view (``MentorflowService.participant_events``):
    the partner's check-in comments and free-text survey answers withheld (``null``, named in ``withheld``;
    domain/confidential.py, issue 15), their own sealed text opened (named in ``opened``)."""
    if reader is None:
        return [e.to_json_dict() for e in events]
    return list(await service.participant_events(list(events), reader, lambda e: e.to_json_dict()))


def _participant(actor: Any) -> str | None:
    """The person id of a participant actor (mentor or mentee), None for a manager or the system."""
    return str(actor.id) if actor.role.value in ("mentor", "mentee") else None


def _validation_message(exc: ValidationError, prefix: str = "") -> str:
    parts = []
    for err in exc.errors(include_url=False):
        loc = [str(x) for x in err["loc"]]
        if loc and loc[0][:1].isupper():  # the union's tag (the command class): not a field
            loc = loc[1:]
        field = ".".join(loc) or "(command)"
        parts.append(f"{prefix}{field}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def _run(call: Callable[[MentorflowService], Awaitable[T]], as_json: bool) -> T:
    """Run ``call(service)`` on a :class:`service.relationships.MentorflowService` (the one the API serves; these
    commands only reach Temporal through it, never the projections database), and turn every failure into a
    message and an exit code."""
    from temporalio.service import RPCError

    from domain import DomainError, RelationshipNotFound
    from service.errors import ServiceUnavailable
    from service.relationships import MentorflowService
    from workers import connect
    from workers.settings import load_settings
    from workers.telemetry import cli_span, flush_tracing, setup_tracing
    from workflows.models import CommandIdConflict

    settings = load_settings()
    setup_tracing(settings, "cli")  # on only with MENTORFLOW_TELEMETRY__OTLP_ENDPOINT
    service = MentorflowService(lambda: connect.connect_client(settings), settings.database_url)

    async def main() -> T:
        with cli_span():
            return await call(service)

    try:
        try:
            result: T = asyncio.run(main())
        finally:
            flush_tracing()
    except DomainError as exc:
        _fail(f"refused ({exc.code}): {exc.rule}", EXIT_REFUSED, as_json)
    except RelationshipNotFound as exc:
        _fail(str(exc), EXIT_NOT_FOUND, as_json)
    except ServiceUnavailable as exc:
        _fail(f"{exc} (is it up? `mentorflow services status`)", EXIT_UNAVAILABLE, as_json)
    except CommandIdConflict as exc:
        _fail(str(exc), EXIT_INPUT, as_json)
    except RPCError as exc:
        _fail(
            f"Temporal refused the call: {exc} (`mentorflow services status` tells whether it can serve)",
            EXIT_UNAVAILABLE,
            as_json,
        )
    return result


def _load_policy(name: str | None, path: Path | None) -> Any:
    """A built-in policy, or one from a TOML/YAML file read within the file limits (workers/datafiles.py); any
    problem is a usage error (exit 2) naming the file and the rule."""
    from domain import DomainError, builtin_policy, policy_from_mapping
    from workers.datafiles import DataFileError, load_data_file

    if name and path:
        raise typer.BadParameter("give --policy or --policy-file, not both", param_hint="--policy")
    try:
        if path is None:
            return builtin_policy(name or "mentoring-12m")
        return policy_from_mapping(load_data_file(path))
    except DataFileError as exc:
        raise typer.BadParameter(str(exc), param_hint="--policy-file") from None
    except DomainError as exc:
        where = f"{path}: " if path else ""
        raise typer.BadParameter(where + exc.rule, param_hint="--policy-file" if path else "--policy") from None


def _result_json(result: Any, events: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON of a command's outcome (service.relationships.CommandOutcome, asked ``with_state``): keys scripts
    rely on; ``state`` is the whole state as a query read it just after the command returned (null when that read
    failed: the command is applied all the same, ``state_error`` says why and ``view`` where the command left it).
    ``events``: the sending participant's view of them (:func:`_events_json`); None: as recorded."""
    out = {
        "ok": True,
        "relationship_id": result.summary.relationship_id,
        "command_id": result.command_id,
        "duplicate": result.duplicate,
        "first_seq": result.first_seq,
        "last_seq": result.last_seq,
        "events": [e.to_json_dict() for e in result.events] if events is None else events,
        "state": None if result.state is None else result.state.model_dump(mode="json"),
    }
    if result.state is None:  # committed, but the state read after it failed: null state, the reason, the view
        out |= {"state_error": result.state_error, "view": result.summary.model_dump(mode="json")}
    return out


def _print_result(result: Any, as_json: bool, events: list[dict[str, Any]] | None = None) -> None:
    if as_json:
        print_json(_result_json(result, events))
        return
    s = result.summary  # the whole state's fields printed here are the view's too
    if result.last_seq < result.first_seq:
        appended = "nothing appended"
    else:
        types = ", ".join(e.type for e in result.events) or "(events no longer held)"
        appended = f"seq {result.first_seq}..{result.last_seq}: {types}"
    again = " (already applied: same command id)" if result.duplicate else ""
    console.print(f"[green]accepted[/green]{again} {s.relationship_id}: {appended}", highlight=False, soft_wrap=True)
    console.print(f"now {s.stage.value}/{s.substate.value}, health {s.health.value}, seq {s.seq}", highlight=False)
    if result.state_error is not None:
        err_console.print(f"[yellow]warning:[/yellow] {result.state_error}", highlight=False, soft_wrap=True)


@app.command(epilog=EXIT_CODES_HELP)
def propose(
    program: str = typer.Option(..., "--program", help="program id"),
    mentor: str = typer.Option(..., "--mentor", help="mentor's person id"),
    mentee: str = typer.Option(..., "--mentee", help="mentee's person id"),
    by: str = BY_OPTION,
    relationship_id: str | None = typer.Option(None, "--id", help="relationship id (default: generated)"),
    policy: str | None = typer.Option(None, "--policy", help="built-in policy name (default mentoring-12m)"),
    policy_file: Path | None = typer.Option(None, "--policy-file", help="a policy in TOML or YAML"),
    match_method: str = typer.Option("manual", "--match-method"),
    match_score: float | None = typer.Option(None, "--match-score"),
    command_id: str | None = typer.Option(None, "--command-id", help="idempotency key (default: generated)"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Propose a relationship (starts its workflow)."""
    from decimal import Decimal

    from domain.scripting import proposal

    actor = _actor(by)
    pinned = _load_policy(policy, policy_file)
    try:
        command = proposal(
            relationship_id or f"rel-{uuid.uuid4().hex[:12]}",
            program_id=program,
            by=actor,
            mentor_id=mentor,
            mentee_id=mentee,
            policy=pinned,
            command_id=command_id or str(uuid.uuid4()),
            match_method=match_method,
            match_score=Decimal(str(match_score)) if match_score is not None else None,
        )
    except ValidationError as exc:
        _fail(f"invalid proposal: {_validation_message(exc)}", EXIT_INPUT, as_json)
    result = _run(lambda service: service.propose(command, with_state=True), as_json)
    _print_result(result, as_json)


@app.command("do", epilog=EXIT_CODES_HELP)
def do_command(
    relationship_id: str = RELATIONSHIP_ARGUMENT,
    command_name: str = typer.Argument(..., metavar="COMMAND", help="kebab-case, e.g. accept-match, log-meeting"),
    by: str = BY_OPTION,
    data: str | None = typer.Option(None, "--data", help='the command\'s fields as JSON, e.g. \'{"reason": "..."}\''),
    command_id: str | None = typer.Option(None, "--command-id", help="idempotency key (default: generated)"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Send a command to a relationship. A refused command exits 3 and prints the rule it broke."""
    from domain import COMMAND_NAMES_KEBAB, DomainError, command_adapter, command_from_kebab

    try:
        cls = command_from_kebab(command_name)
    except DomainError as exc:
        _fail(exc.rule, EXIT_INPUT, as_json)
    if cls.__name__ == "ProposeRelationship":
        _fail("use `mentorflow relationship propose` to start a relationship", EXIT_INPUT, as_json)
    fields: dict[str, Any] = {}
    if data:
        try:
            fields = json.loads(data)
        except json.JSONDecodeError as exc:
            _fail(f"--data is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", EXIT_INPUT, as_json)
        if not isinstance(fields, dict):
            _fail("--data must be a JSON object of the command's fields", EXIT_INPUT, as_json)
    reserved = {"type", "actor"} & fields.keys()
    if reserved:
        _fail(f"--data must not set {sorted(reserved)}: use COMMAND and --by", EXIT_INPUT, as_json)
    actor = _actor(by)
    payload = {
        **fields,
        "type": cls.__name__,
        "command_id": command_id or fields.get("command_id") or str(uuid.uuid4()),
        "actor": actor.model_dump(mode="json"),
    }
    try:
        command = command_adapter().validate_python(payload)
    except ValidationError as exc:
        known = ", ".join(n for n in COMMAND_NAMES_KEBAB if n != "propose-relationship")
        _fail(f"invalid {command_name}: {_validation_message(exc)} (commands: {known})", EXIT_INPUT, as_json)
    reader = _participant(actor)

    async def send(service: Any) -> tuple[Any, list[dict[str, Any]] | None]:
        result = await service.send(relationship_id, command, with_state=True)
        return result, (await _events_json(service, result.events, reader) if reader and as_json else None)

    result, seen = _run(send, as_json)
    _print_result(result, as_json, seen)


@app.command(epilog=EXIT_CODES_HELP)
def show(
    relationship_id: str = RELATIONSHIP_ARGUMENT,
    events: bool = typer.Option(False, "--events", help="also list the events the workflow holds"),
    for_participant: str | None = typer.Option(
        None,
        "--for-participant",
        metavar="PERSON",
        callback=_person_id,
        help="show it to this participant: the partner's check-in comments and free-text survey answers are withheld",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show a relationship's current state (authoritative: from its workflow)."""

    async def call(service: Any) -> tuple[Any, Any, Any, Any]:
        state = await service.state(relationship_id)
        status = await service.publishing(relationship_id)
        page = await service.events_held(relationship_id) if events else None
        seen = await _events_json(service, page.events, for_participant) if page is not None and as_json else None
        return state, status, page, seen

    state, status, page, seen = _run(call, as_json)
    if as_json:
        out: dict[str, Any] = {"state": state.model_dump(mode="json"), "publishing": status.model_dump(mode="json")}
        if seen is not None:
            out["events"] = seen
        print_json(out)
        return
    table = Table(title=f"relationship {state.relationship_id}", show_header=False)
    rows = [
        ("program", state.program_id),
        ("mentor / mentee", f"{state.mentor_id} / {state.mentee_id}"),
        ("stage", f"{state.stage.value}/{state.substate.value}"),
        ("health", state.health.value + (" (marginal)" if state.marginal else "")),
        ("outcome", state.outcome.value if state.outcome else "-"),
        ("policy", f"{state.policy.name} {state.policy.version}" if state.policy else "-"),
        ("meetings", f"{state.meetings} (last {state.last_meeting_at or '-'})"),
        ("goals", f"{state.goals_completed}/{len(state.goals)} completed"),
        ("renewals", str(state.renewals)),
        ("term ends", str(state.term_ends_at or "-")),
        ("seq / published", f"{state.seq} / {status.published_through} ({status.outbox} queued)"),
    ]
    for key, value in rows:
        table.add_row(key, str(value))
    console.print(table)
    if page is not None:
        for e in page.events:
            console.print(f"{e.seq:>5}  {e.to_json_dict()['occurred_at']}  {e.type}  by {e.actor}", highlight=False)


@app.command("list", epilog=EXIT_CODES_HELP)
def list_relationships(
    program: str | None = typer.Option(None, "--program"),
    stage: str | None = typer.Option(None, "--stage"),
    substate: str | None = typer.Option(None, "--substate"),
    health: str | None = typer.Option(None, "--health"),
    limit: int = typer.Option(100, "--limit", min=1),
    as_json: bool = JSON_OPTION,
) -> None:
    """List relationships by program / stage (Temporal visibility: about a second behind)."""
    from service.relationships import ListFilter

    wanted = ListFilter(program=program, stage=stage, substate=substate, health=health, limit=limit)
    rows = _run(lambda service: service.running(wanted), as_json)
    if as_json:
        print_json([r.model_dump(mode="json") for r in rows])
        return
    table = Table("relationship", "program", "stage", "substate", "health", "workflow")
    for r in rows:
        table.add_row(
            r.relationship_id, r.program or "", r.stage or "", r.substate or "", r.health or "", r.workflow_status
        )
    console.print(table)


@app.command(epilog=EXIT_CODES_HELP)
def republish(
    relationship_id: str = RELATIONSHIP_ARGUMENT,
    dry_run: bool = typer.Option(False, "--dry-run", help="say what would be published, publish nothing"),
    topic: str | None = typer.Option(None, "--topic", help="Kafka topic (default: the configured events topic)"),
    database_url: str | None = typer.Option(
        None, "--database-url", help="the audit store, for the archive of closed histories (default: configured)"
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Publish from the Temporal history what the events topic lacks (an operator's repair, for a workflow that was
    terminated or cannot run before its outbox published: `audit verify` says "extra, not in kafka"). Only envelopes
    of an intact chain that the topic does not contradict; 3 when the history or the topic forbids it (nothing
    published). Safe to repeat: a second run publishes nothing."""
    from contextlib import AsyncExitStack

    from activities.publishing import KafkaPublisher
    from service.errors import ServiceUnavailable
    from service.republishing import republish as carry_out
    from workers.auditing import open_auditor
    from workers.settings import load_settings

    settings = load_settings()

    async def call(_: Any) -> Any:
        kafka = None if dry_run else KafkaPublisher(settings.kafka.access, topic or settings.kafka.events_topic)
        try:
            async with AsyncExitStack() as stores:
                try:
                    audit = await stores.enter_async_context(
                        open_auditor(settings, database_url=database_url, topic=topic, replay=False)
                    )
                except Exception as exc:  # Temporal's connect, the audit database's URL: named, not a traceback
                    raise ServiceUnavailable(f"cannot open Temporal and the audit store: {exc}") from exc
                return await carry_out(audit, relationship_id, None if kafka is None else kafka.send_batch)
        finally:
            if kafka is not None:
                await kafka.close()

    plan = _run(call, as_json)
    if plan.refused is not None:
        _fail(plan.refused, EXIT_REFUSED, as_json)
    out = {"ok": True, "dry_run": dry_run, "published": 0 if dry_run else len(plan.envelopes), **plan.to_dict()}
    if as_json:
        print_json(out)
        return
    todo = out["to_publish"]
    if not todo["count"]:
        console.print(
            f"{relationship_id}: the topic holds every seq through {plan.made_through}: nothing to publish",
            highlight=False,
            soft_wrap=True,
        )
        return
    verb = "would publish" if dry_run else "published"
    held = f"1..{plan.on_topic_through}" if plan.on_topic_through else "none of it"
    console.print(
        f"{relationship_id}: {verb} seq {todo['first_seq']}..{todo['last_seq']} ({todo['count']} envelopes) from the "
        f"Temporal history; the topic held {held}",
        highlight=False,
        soft_wrap=True,
    )
