"""``mentorflow demo``: a realistic mentoring program on the real stack, with live progress and the reports."""

from __future__ import annotations

import typer

from workers.cli.output import console, err_console
from workers.services.process import ServiceError, ServiceUnusable
from workers.settings import load_settings


def demo(
    relationships: int = typer.Option(
        56,
        "--relationships",
        "-n",
        min=1,
        max=500,
        help="initial relationships (each rematch adds a successor: 56 make about 60)",
    ),
    term: float = typer.Option(
        90.0,
        "--term",
        min=20.0,
        max=600.0,
        help="agreement term in seconds for a full "
        "12-month relationship (the demo policy's 1 day = 0.25 s); shorter = a quicker demo",
    ),
    keep_running: bool = typer.Option(
        False, "--keep-running", help="leave worker, projector and API running (the dashboard stays up)"
    ),
    program: str = typer.Option(None, "--program", help="program id (default: a new one per run)"),
    seed: int = typer.Option(None, "--seed", help="random seed of the simulated participants"),
    json_output: bool = typer.Option(False, "--json", help="progress on stderr; the result and reports as JSON"),
    stop_only: bool = typer.Option(False, "--stop", help="only stop what an earlier --keep-running left running"),
) -> None:
    """Run ~60 relationships under the `demo` policy through all four stages (about 2-3 minutes), print the stage,
    transition and funnel reports, and the addresses of the dashboard and the Temporal UI."""
    from workers.demo.runner import DemoOptions, run_demo, stop_processes

    settings = load_settings()
    if stop_only:
        stopped = stop_processes(settings)
        console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
        return
    options = DemoOptions(
        relationships=relationships,
        term=term,
        keep_running=keep_running,
        json_output=json_output,
        program=program,
        seed=seed,
    )
    try:
        result = run_demo(settings, options)
    except ServiceError as exc:
        err_console.print(f"[red]demo failed:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2 if isinstance(exc, ServiceUnusable) else 1) from exc
    if result.errors or not result.verification.get("ok", True):
        raise typer.Exit(1)
