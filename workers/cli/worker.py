"""``mentorflow worker``: run RelationshipWorkflow and its activities until SIGTERM/SIGINT."""

from __future__ import annotations

from pathlib import Path

import typer

from workers.cli.output import err_console

MAX_CACHED_WORKFLOWS = 100_000
"""``--max-cached-workflows`` at most: each cached workflow holds its state and events in the worker's memory."""


def worker(
    task_queue: str | None = typer.Option(
        None, "--task-queue", help="default: settings (MENTORFLOW_TEMPORAL__TASK_QUEUE)"
    ),
    topic: str | None = typer.Option(None, "--topic", help="default: <prefix>.relationship-events"),
    webhook: str | None = typer.Option(None, "--webhook", help="deliver notifications by POSTing JSON to this URL"),
    notification_log: Path | None = typer.Option(
        None, "--notification-log", help="log sink file (default: <run dir>/logs/notifications.jsonl)"
    ),
    log_level: str = typer.Option("INFO", "--log-level"),
    archive_interval: float = typer.Option(
        60.0, "--archive-interval", help="seconds between passes archiving closed workflow histories; 0 = off"
    ),
    max_cached_workflows: int | None = typer.Option(
        None,
        "--max-cached-workflows",
        min=0,
        max=MAX_CACHED_WORKFLOWS,
        help="workflows kept in memory between tasks (default: the SDK's 1000); 0 = replay every task",
    ),
) -> None:
    """Run the worker: workflows + the Kafka publishing and notification activities. Creates the events topic if
    missing. SIGTERM/SIGINT shut it down gracefully (in-flight activities finish or are retried elsewhere)."""
    from workers.settings import load_settings
    from workers.telemetry import setup_logging
    from workers.worker import WORKFLOW_CACHE, WorkerConfig, main

    settings = load_settings()
    setup_logging(settings, log_level)
    config = WorkerConfig(
        settings=settings,
        topic=topic,
        task_queue=task_queue,
        webhook_url=webhook,
        notification_log=notification_log,
        archive_interval=archive_interval or None,
        max_cached_workflows=WORKFLOW_CACHE if max_cached_workflows is None else max_cached_workflows,
        metrics=True,
    )
    try:
        main(config)
    except RuntimeError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
