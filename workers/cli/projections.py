"""``mentorflow projector`` and ``mentorflow projections rebuild``."""

from __future__ import annotations

import asyncio

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from projections.rebuild import rebuild as run_rebuild
from projections.rebuild import topic_size
from workers.cli.output import console, err_console, print_json
from workers.settings import load_settings

app = typer.Typer(help="The projection tables (reporting and audit store).", no_args_is_help=True)


def projector(
    topic: str = typer.Option(None, "--topic", help="default: the settings' events topic"),
    group: str = typer.Option(
        None, "--group", help="consumer group (and projection_offsets key); default <topic prefix>-projector"
    ),
    database_url: str = typer.Option(None, "--database-url", help="default: the settings' database URL"),
    max_records: int = typer.Option(5000, "--max-records", help="messages per batch (one transaction)"),
    session_timeout_ms: int = typer.Option(10_000, "--session-timeout-ms"),
    json_output: bool = typer.Option(False, "--json", help="print the final metrics as JSON"),
    log_level: str = typer.Option("INFO", "--log-level"),
) -> None:
    """Run the projector: Kafka → projection tables, exactly once, until SIGTERM/SIGINT."""
    from workers.projector import main

    metrics = main(
        load_settings(),
        topic=topic,
        group_id=group,
        database_url=database_url,
        max_records=max_records,
        session_timeout_ms=session_timeout_ms,
        log_level=log_level,
    )
    if json_output:
        print_json(metrics.as_dict())
    else:
        console.print(f"projector stopped: {metrics.as_dict()}")


@app.command()
def rebuild(
    topic: str = typer.Option(None, "--topic", help="default: the settings' events topic"),
    group: list[str] = typer.Option(
        None,
        "--group",
        help="live consumer group(s) whose offsets move with the swap; default <topic prefix>-projector",
    ),
    database_url: str = typer.Option(None, "--database-url", help="default: the settings' database URL"),
    processes: int = typer.Option(
        None,
        "--processes",
        min=1,
        max=2,
        help="2: decode in a second process while this one writes; 1: all here; default: 2 when the topic holds "
        "20,000 messages or more and the load leaves a core idle (with no idle core two processes are slower)",
    ),
    json_output: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Replay the topic from offset 0 into a new table-set generation and swap it in when caught up, while the live
    projector keeps serving."""
    settings = load_settings()
    topic = topic or settings.kafka.events_topic
    url = database_url or settings.database_url
    bootstrap = settings.kafka.access
    group = group or [settings.kafka.projector_group_id]

    async def go() -> object:
        if json_output:
            return await run_rebuild(
                database_url=url, bootstrap_servers=bootstrap, topic=topic, live_groups=group, processes=processes
            )
        total = await topic_size(bootstrap, topic)
        columns = (
            TextColumn("[bold]rebuilding[/bold] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("events"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console) as progress:
            task = progress.add_task(topic, total=total)

            def advance(n: int) -> None:
                done = progress.tasks[0].completed + n
                if done > (progress.tasks[0].total or 0):
                    progress.update(task, total=done)
                progress.advance(task, n)

            return await run_rebuild(
                database_url=url,
                bootstrap_servers=bootstrap,
                topic=topic,
                live_groups=group,
                progress=advance,
                processes=processes,
            )

    try:
        result = asyncio.run(go())
    except Exception as exc:
        err_console.print(f"[red]rebuild failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    summary = result.as_dict()  # type: ignore[attr-defined]
    if json_output:
        print_json(summary)
        return
    console.print(
        f"[green]✓[/green] rebuilt {summary['events']} events ({summary['applied']} applied, "
        f"{summary['rejected']} dead letters) in {summary['seconds']} s "
        f"({summary['events_per_second']} events/s) from {summary['generation']}; swapped in "
        f"in {summary['swap_seconds']} s; offsets of {', '.join(summary['groups']) or 'no group'} moved"
    )
