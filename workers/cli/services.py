"""``mentorflow services up | down | status``."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from workers.cli.output import console, err_console, print_json
from workers.services import services_down, services_status, services_up
from workers.services.process import ServiceError, ServiceUnusable
from workers.services.stack import ServiceStatus
from workers.settings import load_settings

CANNOT_SERVE = "answers but cannot serve"

app = typer.Typer(help="The local stack: Temporal dev server, Kafka broker, (PostgreSQL).", no_args_is_help=True)


@app.command()
def up(
    with_postgres: bool = typer.Option(False, "--with-postgres", help="also run a PostgreSQL cluster under .run/"),
    json_output: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Start whatever is not running yet and wait until each service answers a health call. Exits 2 when something
    answers on a service's port but cannot serve (the message says what to stop), 1 when a service fails to start."""
    settings = load_settings()
    try:
        if json_output:
            results = services_up(settings, with_postgres=with_postgres)
        else:
            with console.status(
                "starting the local stack (Temporal, Kafka" + (", PostgreSQL)" if with_postgres else ")")
            ):
                results = services_up(settings, with_postgres=with_postgres)
    except ServiceError as exc:
        err_console.print(f"[red]services up failed:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2 if isinstance(exc, ServiceUnusable) else 1) from exc
    if json_output:
        print_json(results)
        return
    for name, result in results.items():
        console.print(f"[green]✓[/green] {name}: {result}")


@app.command()
def down(json_output: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """Stop the services that `up` started (and only those)."""
    results = services_down(load_settings())
    if json_output:
        print_json(results)
        return
    for name, result in results.items():
        console.print(f"{name}: {result}")


@app.command()
def status(json_output: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """What runs where. Exits 1 if Temporal or Kafka is not healthy (down, or answers but cannot serve)."""
    statuses = services_status(load_settings())
    if json_output:
        print_json([s.as_dict() for s in statuses])
    else:
        table = Table(title="mentorflow services")
        for column in ("service", "address", "health", "pid", "started by us", "detail"):
            table.add_column(column)
        for s in statuses:
            table.add_row(
                s.name,
                s.address,
                "[green]up[/green]" if s.healthy else f"[red]{CANNOT_SERVE if s.problem else 'down'}[/red]",
                str(s.pid or "-"),
                "yes" if s.managed else "no",
                s.detail,
            )
        console.print(table)
        for s in statuses:
            if s.problem:  # the whole message (error, pid, what to do) does not fit a column
                err_console.print(f"[red]{s.name}[/red] {escape(s.problem)}", highlight=False, soft_wrap=True)
        _print_wedged(statuses)
        _print_lag_and_outbox(statuses)
    if not all(s.healthy for s in statuses if s.name != "postgres"):
        raise typer.Exit(1)


def _print_wedged(statuses: list[ServiceStatus]) -> None:
    """Relationships whose workflow task keeps failing: named at once, with the error (issue 11)."""
    extra = next((s.extra for s in statuses if s.name == "temporal"), {})
    if "wedged_scan_error" in extra:
        console.print(f"[yellow]could not look for failing workflow tasks:[/yellow] {extra['wedged_scan_error']}")
        return
    wedged = extra.get("wedged_workflows")
    if not isinstance(wedged, list):
        return
    if not wedged:
        console.print(f"workflows: none of {extra.get('scanned_workflows', 0)} running has a failing workflow task")
        return
    table = Table(title=f"[red]{len(wedged)} workflow(s) whose workflow task keeps failing[/red]")
    for column in ("workflow", "attempt", "last error"):
        table.add_column(column)
    for w in wedged:
        table.add_row(str(w["workflow_id"]), str(w["attempt"]), str(w["error"]))
    console.print(table)


def _print_lag_and_outbox(statuses: list[ServiceStatus]) -> None:
    """Consumer lag per group and the sampled outboxes (issue 18); docs/operations.md says what to do about them."""
    extras = {s.name: s.extra for s in statuses}
    kafka, temporal = extras.get("kafka", {}), extras.get("temporal", {})
    if "consumer_lag_error" in kafka:
        console.print(f"[yellow]could not read consumer lag:[/yellow] {kafka['consumer_lag_error']}")
    groups = kafka.get("consumer_groups")
    if isinstance(groups, list) and groups:
        table = Table(title="consumer lag (committed offsets vs end offsets)")
        for column in ("group", "topic", "lag", "by partition"):
            table.add_column(column)
        for g in groups:
            by_partition = " ".join(f"{p}:{n}" for p, n in g["partitions"].items())
            table.add_row(str(g["group"]), str(g["topic"]), str(g["lag"]), by_partition)
        console.print(table)
    elif isinstance(groups, list):
        console.print("consumer lag: no consumer group has committed offsets on the events topic yet")
    if "outbox_error" in temporal:
        console.print(f"[yellow]could not sample the outboxes:[/yellow] {temporal['outbox_error']}")
    outbox = temporal.get("outbox")
    if isinstance(outbox, dict):
        age = outbox["oldest_age_seconds"]
        more = " (more running; sample truncated)" if outbox["truncated"] else ""
        console.print(
            f"outbox: {outbox['depth']} unpublished event(s) in {outbox['backlogged']} of {outbox['sampled']} running "
            f"relationship(s) sampled{more}; oldest {'-' if age is None else f'{age:.1f} s'}"
        )
