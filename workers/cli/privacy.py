"""``mentorflow privacy erase PERSON --by manager:ID [--reason CODE]`` and ``mentorflow privacy export PERSON``
(issue 20, docs/privacy.md), over :class:`service.privacy.PrivacyService`."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import typer

from workers.cli.output import console, print_json
from workers.cli.relationship import (
    EXIT_INPUT,
    EXIT_NOT_FOUND,
    EXIT_REFUSED,
    EXIT_UNAVAILABLE,
    JSON_OPTION,
    _fail,
)
from workers.settings import load_settings

T = TypeVar("T")

EXIT_CODES_HELP = (
    "Exit codes: 0 done (also: nothing left to erase, which it says), 2 bad input (names the field and the rule), "
    "3 refused (the role may not erase), 4 nothing names this person, 5 the database did not answer."
)

app = typer.Typer(
    help="A data subject's erasure and access requests (docs/privacy.md). " + EXIT_CODES_HELP, no_args_is_help=True
)


def _run(call: Coroutine[Any, Any, T], as_json: bool) -> T:
    from sqlalchemy.exc import OperationalError

    from domain.errors import NotAllowedForRole
    from service.errors import InvalidArgument
    from service.privacy import UnknownPerson

    try:
        return asyncio.run(call)
    except InvalidArgument as exc:
        _fail(str(exc), EXIT_INPUT, as_json)
    except NotAllowedForRole as exc:
        _fail(f"refused ({exc.code}): {exc.rule}", EXIT_REFUSED, as_json)
    except UnknownPerson as exc:
        _fail(str(exc), EXIT_NOT_FOUND, as_json)
    except OperationalError as exc:
        _fail(f"the database did not answer: {exc.orig}", EXIT_UNAVAILABLE, as_json)


def _service(database_url: str | None) -> Any:
    from service.privacy import PrivacyService

    return PrivacyService(database_url or load_settings().database_url)


DATABASE_OPTION = typer.Option(None, "--database-url", help="default: MENTORFLOW_DATABASE__URL (the embedded SQLite)")


@app.command(epilog=EXIT_CODES_HELP)
def erase(
    person: str = typer.Argument(..., help="the person id to erase"),
    by: str = typer.Option(..., "--by", help="who erases, manager:ID or platform:ID", metavar="ROLE:ID"),
    reason: str = typer.Option("request", "--reason", help="a reason code (request, gdpr-art17, retention, …)"),
    as_json: bool = JSON_OPTION,
    database_url: str | None = DATABASE_OPTION,
) -> None:
    """Erase a person: delete their data keys (their sealed text reads [erased] everywhere, every chain still
    verifies), scrub their text from the reporting tables, record the erasure in the ledger."""
    role, sep, by_id = by.partition(":")
    if not sep or not by_id.strip() or not role.strip():
        _fail(f"--by: {by!r} is not ROLE:ID (e.g. manager:mgr-7)", EXIT_INPUT, as_json)
    service = _service(database_url)
    try:
        outcome = _run(
            service.erase(person, by_id=by_id.strip(), by_role=role.strip().lower(), reason_code=reason), as_json
        )
    finally:
        service.close()
    if as_json:
        print_json({"ok": True, **outcome.to_json()})
    elif outcome.erased:
        console.print(
            f"erased {person}: {outcome.keys_erased} key(s) deleted, {outcome.rows_scrubbed} row(s) scrubbed; "
            f"ledger row {outcome.seq} ({outcome.hash[:12] if outcome.hash else '-'})",
            highlight=False,
        )
    else:
        console.print(
            f"nothing to erase: {person} was erased before ({outcome.previous_erasures} ledger row(s)) and nothing "
            "of theirs was written since; nothing changed",
            highlight=False,
        )


@app.command(epilog=EXIT_CODES_HELP)
def export(
    person: str = typer.Argument(..., help="the person id"),
    as_json: bool = typer.Option(True, "--json", help="JSON on stdout (the only format)"),
    database_url: str | None = DATABASE_OPTION,
) -> None:
    """Everything held about a person, opened, as JSON: their relationships, the text they wrote, the events they
    acted in, their erasures (an access request). Give it to that person only."""
    service = _service(database_url)
    try:
        data = _run(service.export(person), True)
    finally:
        service.close()
    print_json(data)


@app.command(epilog=EXIT_CODES_HELP)
def retention(
    keep_days: int = typer.Option(
        None, "--keep-days", help="default: MENTORFLOW_PRIVACY__RETENTION_DAYS (0 there: retention is off)"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="only list who is due"),
    watch: float = typer.Option(0, "--watch", help="run a pass every SECONDS until interrupted (0: one pass)"),
    as_json: bool = JSON_OPTION,
    database_url: str | None = DATABASE_OPTION,
) -> None:
    """Erase, as the system (reason code retention), everyone whose relationships all closed longer ago than the
    retention of their program (its own, `program configure --retention-days`, else --keep-days); each erasure gets
    its ledger row. --watch repeats it (the worker also runs it by itself)."""
    import time

    days = keep_days if keep_days is not None else load_settings().privacy.retention_days
    if keep_days == 0:
        _fail("retention is off: give --keep-days N or set MENTORFLOW_PRIVACY__RETENTION_DAYS", EXIT_INPUT, as_json)
    if watch < 0:
        _fail("--watch: must be 0 (one pass) or a number of seconds", EXIT_INPUT, as_json)
    service = _service(database_url)
    try:
        while True:
            result = _run(service.retention(days or None, dry_run=dry_run), as_json)
            if as_json:
                print_json({"ok": True, "dry_run": dry_run, **result.to_json()})
            else:
                erased = [o.person_id for o in result.erased if o.erased]
                verb = "due" if dry_run else "erased"
                shown = result.due if dry_run else erased
                cutoff = "none" if result.cutoff is None else f"closed before {result.cutoff:%Y-%m-%d}"
                console.print(
                    f"retention ({cutoff}; {len(result.programs)} programs with their own): {len(shown)} {verb}",
                    highlight=False,
                )
            if not watch:
                return
            time.sleep(watch)
    finally:
        service.close()


@app.command(epilog="Exit codes: 0 the ledger's chain holds, 1 it does not (the first break is named), 5 no database.")
def ledger(as_json: bool = JSON_OPTION, database_url: str | None = DATABASE_OPTION) -> None:
    """The erasure ledger (who erased whom, when, why — no personal data) and a check of its hash chain: an auditor's
    proof that no erasure row was removed or edited."""
    service = _service(database_url)
    try:
        result = _run(service.ledger(), as_json)
    finally:
        service.close()
    if as_json:
        print_json(result)
    else:
        for row in result["rows"]:
            console.print(
                f"{row['seq']:>4}  {row['erased_at']}  {row['person_id']}  by "
                f"{row['erased_by_role']}:{row['erased_by']}  ({row['reason_code']}; {row['keys_erased']} keys, "
                f"{row['rows_scrubbed']} rows)",
                highlight=False,
            )
        console.print("ledger chain intact" if result["ok"] else f"[red]ledger BROKEN[/red]: {result['problem']}")
    if not result["ok"]:
        raise typer.Exit(1)
