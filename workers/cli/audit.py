"""``mentorflow audit history | replay | verify | export | archive`` (DESIGN §7, §8): the auditors' toolkit.

Every command reads; none writes to the event stores (``archive`` and ``verify`` add to the archive of closed
workflow histories). ``--json`` gives machine-readable output. ``verify`` exits 1 on any difference.
"""

from __future__ import annotations

import asyncio
import json
import sys
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from service.audit import EXPORT_FORMATS, AuditService
from workers.cli.output import console, err_console, print_json
from workers.services.process import write_private
from workers.settings import Settings, load_settings

app = typer.Typer(
    help="Auditors: history, state at an instant, verification across stores, export.", no_args_is_help=True
)

SOURCE_HELP = "where to read the events: event_log (the audit store), kafka (the topic) or temporal"
DB_HELP = "SQLAlchemy URL of the audit store (default: the configured database)"
TOPIC_HELP = "Kafka topic (default: the configured events topic)"


def print_json_line(data: Any) -> None:
    """One JSON document on one line of stdout (JSON Lines), written as soon as it is known."""
    print(json.dumps(data, sort_keys=True, separators=(",", ":"), default=str), flush=True)


def parse_at(text: str) -> datetime:
    """An ISO-8601 instant; ``Z`` or an offset; a naive instant is taken as UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO-8601 instant (e.g. 2026-02-21T14:00:00Z)") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def auditor(
    settings: Settings, *, temporal_source: str = "auto", **options: Any
) -> AbstractAsyncContextManager[AuditService]:
    """:func:`workers.auditing.open_auditor` (the application's audit service), with ``--temporal-source``
    checked."""
    from workers.auditing import open_auditor

    if temporal_source not in ("auto", "live", "archive"):
        raise typer.BadParameter("--temporal-source must be auto, live or archive")
    return open_auditor(settings, temporal_source=temporal_source, **options)  # type: ignore[arg-type]


def _reading(source: str, database_url: str | None, topic: str | None) -> AbstractAsyncContextManager[AuditService]:
    """An auditor over the one store ``source`` (and the database for the archive of closed histories)."""
    return auditor(
        load_settings(),
        database_url=database_url,
        topic=topic,
        temporal=source == "temporal",
        kafka=source == "kafka",
        database=source in ("event_log", "temporal"),
    )


async def _envelopes(relationship_id: str, source: str, database_url: str | None, topic: str | None) -> list[Any]:
    async with _reading(source, database_url, topic) as a:
        return await a.envelopes(relationship_id, source)


def _load(relationship_id: str, source: str, database_url: str | None, topic: str | None) -> list[Any]:
    try:
        return asyncio.run(_envelopes(relationship_id, source, database_url, topic))
    except (LookupError, ValueError) as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


@app.command()
def history(
    relationship_id: str = typer.Argument(..., metavar="R"),
    source: str = typer.Option("event_log", "--source", help=SOURCE_HELP),
    database_url: str | None = typer.Option(None, "--database-url", help=DB_HELP),
    topic: str | None = typer.Option(None, "--topic", help=TOPIC_HELP),
    json_output: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """The timeline: seq, instant, actor, event, the stage after it, short hash."""
    from audit.history import timeline

    rows = timeline(_load(relationship_id, source, database_url, topic))
    if json_output:
        print_json([r.to_dict() for r in rows])
        return
    table = Table(title=f"relationship {relationship_id} ({source})")
    for column in ("seq", "instant", "actor", "event", "stage after", "hash"):
        table.add_column(column, no_wrap=column != "actor")
    for r in rows:
        stage = r.stage if r.substate in ("", r.stage, "none") else f"{r.stage}/{r.substate}"
        mark = "" if r.chain_ok else " [red]✗ chain[/red]"
        table.add_row(str(r.seq), r.to_dict()["occurred_at"], r.actor, r.event, stage, r.short_hash + mark)
    console.print(table)
    if not all(r.chain_ok for r in rows):
        err_console.print("[red]the chain is broken at the rows marked ✗; run `mentorflow audit verify`[/red]")


@app.command()
def replay(
    relationship_id: str = typer.Argument(..., metavar="R"),
    at: str = typer.Option(..., "--at", help="the instant, ISO-8601 (naive = UTC), e.g. 2026-02-21T14:00:00Z"),
    source: str = typer.Option("event_log", "--source", help=SOURCE_HELP),
    full: bool = typer.Option(False, "--full", help="the whole state, not the summary"),
    database_url: str | None = typer.Option(None, "--database-url", help=DB_HELP),
    topic: str | None = typer.Option(None, "--topic", help=TOPIC_HELP),
    json_output: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """The state at an instant: a fold of evolve over the events with occurred_at <= INSTANT."""
    from audit.history import state_summary
    from domain import ChainBroken

    instant = parse_at(at)

    async def fold() -> Any:
        async with _reading(source, database_url, topic) as a:
            return await a.state_at(relationship_id, instant, source)

    try:
        state = asyncio.run(fold())
    except ChainBroken as exc:
        err_console.print(f"[red]cannot replay a broken chain: {exc}[/red]")
        raise typer.Exit(1) from exc
    except (LookupError, ValueError) as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    data = state.model_dump(mode="json") if full else state_summary(state)
    if json_output:
        print_json({"at": instant.isoformat().replace("+00:00", "Z"), "state": data})
        return
    table = Table(title=f"relationship {relationship_id} at {instant.isoformat().replace('+00:00', 'Z')}")
    table.add_column("field")
    table.add_column("value")
    for key, value in data.items():
        table.add_row(key, str(value))
    console.print(table)


def _print_report(report: Any) -> None:
    for i, line in enumerate(report.lines()):
        style = ("green" if report.ok else "red") if i == 0 else None
        console.print(line, style=style, markup=False, highlight=False, soft_wrap=True)


async def _verify_all(auditor: Any, program: str | None, concurrency: int, processes: int | None) -> Any:
    """``verify --all`` under a progress bar on stderr (relationships done / total, rate, elapsed time)."""
    progress = Progress(
        TextColumn(f"verifying{'' if program is None else f' program {program}'}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )
    task = progress.add_task("verify", total=None, rate="reading the stores")
    started = asyncio.get_running_loop().time()

    def tick(done: int, total: int) -> None:
        elapsed = asyncio.get_running_loop().time() - started
        rate = f"{done / elapsed:,.0f} relationships/s" if elapsed > 0 and done else ""
        progress.update(task, completed=done, total=total, rate=rate)

    with progress:
        return await auditor.verify_all(program=program, progress=tick, concurrency=concurrency, processes=processes)


def _print_summary(summary: Any, json_output: bool, ledger: Any = None) -> None:
    """``--json``: one line per relationship (its report), then one summary line; else the failed reports and the
    verdict with the time it took. ``ledger``: the erasure ledger's verdict (``erasure_ledger``; null without the
    audit store)."""
    if json_output:
        for report in summary.reports:
            print_json_line(report.to_dict())
        print_json_line(
            {
                "summary": True,
                "ok": summary.ok,
                "program": summary.program,
                "relationships": len(summary.reports),
                "failed": summary.failed,
                "warnings": summary.warnings,
                "seconds": round(summary.seconds, 3),
                "scan_seconds": round(summary.scan_seconds, 3),
                "relationships_per_second": round(summary.rate, 1),
                "reports": [r.to_dict() for r in summary.reports if not r.ok],
                "erasure_ledger": None if ledger is None else ledger.to_json(),
            }
        )
        return
    for report in summary.reports:
        if not report.ok:
            _print_report(report)
    verdict = "[green]all intact[/green]" if summary.ok else f"[red]{len(summary.failed)} FAILED[/red]"
    if summary.warnings:
        verdict += f" ({summary.warnings} warning{'s' if summary.warnings != 1 else ''}: `audit verify R` names them)"
    of = "" if summary.program is None else f" of program {summary.program}"
    console.print(
        f"{len(summary.reports)} relationships{of} verified in {summary.seconds:.2f} s "
        f"({summary.rate:,.1f}/s): {verdict}",
        soft_wrap=True,
    )
    if ledger is not None and ledger.ok:
        console.print(f"erasure ledger: {ledger.rows} row{'s' if ledger.rows != 1 else ''}, chain intact")
    elif ledger is not None:
        console.print(f"[red]{ledger.problem} (`mentorflow privacy ledger`)[/red]", soft_wrap=True)


@app.command()
def verify(
    relationship_id: str | None = typer.Argument(None, metavar="[R]"),
    all_: bool = typer.Option(False, "--all", help="every relationship any store knows"),
    program: str | None = typer.Option(
        None, "--program", help="with --all: only the relationships of this program", show_default=False
    ),
    no_temporal: bool = typer.Option(False, "--no-temporal", help="compare event_log and Kafka only (no replay)"),
    temporal_source: str = typer.Option(
        "auto", "--temporal-source", help="auto (live history, else the archive) | live | archive"
    ),
    no_replay: bool = typer.Option(False, "--no-replay", help="skip the Replayer"),
    database_url: str | None = typer.Option(None, "--database-url", help=DB_HELP),
    topic: str | None = typer.Option(None, "--topic", help=TOPIC_HELP),
    concurrency: int = typer.Option(16, "--concurrency", min=1, help="relationships read from Temporal at once"),
    processes: int = typer.Option(
        None,
        "--processes",
        min=1,
        max=2,
        help="with --all: 2 scans the topic in a second process while this one reads the event log; 1: all here; "
        "default: 2 when the topic holds 100,000 messages or more and the load leaves a core idle",
    ),
    settle: float = typer.Option(
        5.0,
        "--settle",
        min=0.0,
        max=300.0,
        help="seconds to keep re-reading a relationship whose only differences are a store behind at its tail "
        "(publishing or projecting in progress) before reporting them",
    ),
    json_output: bool = typer.Option(
        False, "--json", help="machine-readable output (with --all: one JSON line per relationship, then a summary)"
    ),
) -> None:
    """Recompute the chain in each store, cross-check event_log, Kafka and the Temporal history (same events, same
    hashes, none missing, none extra) and replay the workflow history. Exits 1 on any difference."""
    from audit.verify import checked_program

    if (relationship_id is None) == (not all_):
        err_console.print("[red]give a relationship id or --all (not both)[/red]")
        raise typer.Exit(2)
    if processes is not None and not all_:
        err_console.print("[red]--processes: only with --all[/red]")
        raise typer.Exit(2)
    if program is not None:
        if not all_:
            err_console.print("[red]--program: only with --all[/red]")
            raise typer.Exit(2)
        try:
            checked_program(program)
        except ValueError as exc:
            err_console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
    settings = load_settings()

    async def run() -> bool:
        async with auditor(
            settings,
            database_url=database_url,
            topic=topic,
            temporal=not no_temporal,
            temporal_source=temporal_source,
            replay=not no_replay,
            settle=settle,
        ) as a:
            if relationship_id is not None:
                report = await a.verify(relationship_id)
                print_json(report.to_dict()) if json_output else _print_report(report)
                return bool(report.ok)
            summary = await _verify_all(a, program, concurrency, processes)
            ledger = await a.erasure_ledger()  # the privacy erasures' own chain (docs/privacy.md)
            _print_summary(summary, json_output, ledger)
            return bool(summary.ok) and (ledger is None or ledger.ok)

    from projections.processes import fewer_collections

    with fewer_collections():  # a bulk read: the collector would traverse every record read so far, again and again
        ok = asyncio.run(run())
    if not ok:
        raise typer.Exit(1)


@app.command()
def export(
    relationship_id: str = typer.Argument(..., metavar="R"),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl | csv"),
    output: Path | None = typer.Option(None, "--output", "-o", help="file to write (default: stdout)"),
    source: str = typer.Option("event_log", "--source", help=SOURCE_HELP),
    no_temporal: bool = typer.Option(False, "--no-temporal", help="verify against event_log and Kafka only"),
    database_url: str | None = typer.Option(None, "--database-url", help=DB_HELP),
    topic: str | None = typer.Option(None, "--topic", help=TOPIC_HELP),
    participant: str | None = typer.Option(
        None,
        "--for-participant",
        help="export for this participant: the partner's check-in comments and free-text survey answers are withheld",
    ),
) -> None:
    """The history with the verification result and the policy version(s) in force. Re-verify the JSON Lines file
    with docs/verify_history.py (standard library only)."""
    if fmt not in EXPORT_FORMATS:
        raise typer.BadParameter("--format must be jsonl or csv")
    settings = load_settings()

    async def run() -> tuple[str, Any, int]:
        async with auditor(settings, database_url=database_url, topic=topic, temporal=not no_temporal) as a:
            return await a.export(relationship_id, "csv" if fmt == "csv" else "jsonl", source, participant)

    try:
        text, report, count = asyncio.run(run())
    except (LookupError, ValueError) as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    if output is None:
        sys.stdout.write(text)
    else:
        write_private(output, text)  # personal data (names, notes, goals): owner-only from the start
        err_console.print(f"wrote {count} events to {output}")
    if not report.ok:
        err_console.print(f"[yellow]verification FAILED ({len(report.errors)} differences, recorded in the export)")


@app.command()
def archive(
    watch: bool = typer.Option(False, "--watch", help="keep archiving every --interval seconds"),
    interval: float = typer.Option(60.0, "--interval", min=1.0),
    database_url: str | None = typer.Option(None, "--database-url", help=DB_HELP),
    json_output: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Archive the workflow history of every closed relationship not archived yet (Temporal deletes it after the
    namespace's retention; verify then reads the archive)."""
    from audit.archive import archive_closed, run_archiver
    from projections.db import make_engine

    settings = load_settings()

    async def run() -> Any:
        from workers.connect import temporal_client

        client = await temporal_client(settings)
        engine = make_engine(database_url or settings.database_url)
        try:
            if watch:
                await run_archiver(client, engine, asyncio.Event(), interval)
                return None
            return await archive_closed(client, engine)
        finally:
            engine.dispose()

    result = asyncio.run(run())
    if result is None:
        return
    data = {
        "archived": result.archived,
        "already_archived": result.already,
        "conflicts": result.conflicts,
        "still_open": result.skipped_open,
    }
    if json_output:
        print_json(data)
    else:
        console.print(
            f"archived {len(result.archived)} workflow run(s); {result.already} relationship(s) already archived"
            + (
                f"; [red]{len(result.conflicts)} conflicts: {', '.join(result.conflicts)}[/red]"
                if result.conflicts
                else ""
            )
        )
    if result.conflicts:
        raise typer.Exit(1)
