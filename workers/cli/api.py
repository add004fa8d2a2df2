"""``mentorflow api``: the HTTP API and the dashboard (uvicorn), over the live backend."""

from __future__ import annotations

from typing import Any

import typer

from workers.cli.output import console, err_console
from workers.settings import Settings, load_settings


def build_app(settings: Settings, tokens: dict[str, str] | None = None) -> Any:
    """The FastAPI app over Temporal (the client), the projection tables and the audit stores of ``settings``.
    With ``settings.metrics.api`` it also serves ``GET /metrics`` (Prometheus text, no token: aggregates only)."""
    from fastapi import Response

    from api.app import create_app
    from service.programs import ProgramService
    from workers.connect import connect_client
    from workers.metrics.process_api import CONTENT_TYPE_LATEST, ApiMetrics
    from workflows.client import MentorflowClient

    metrics = ApiMetrics()

    async def connect() -> MentorflowClient:
        # a long-lived caller: it publishes its commands' envelopes itself, the workflows only backstop it
        return await connect_client(
            settings, publishes=True, publish_observer=metrics.observe_publish, on_command=metrics.observe
        )

    backend = ProgramService(
        connect,
        settings.database_url,
        kafka_bootstrap=settings.kafka.access,
        topic=settings.kafka.events_topic,
    )
    from service.privacy import PrivacyService

    privacy = PrivacyService(settings.database_url)
    app = create_app(
        backend,
        settings.api.tokens if tokens is None else tokens,
        privacy=privacy,
        codec=settings.privacy.codec(),
        codec_origins=settings.codec_origins,
        codec_local_ui=settings.privacy.codec_local_ui,
    )
    if settings.metrics.api:

        async def prometheus_metrics() -> Response:
            return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

        app.add_api_route("/metrics", prometheus_metrics, methods=["GET"], include_in_schema=False)
    return app


def api(
    host: str = typer.Option(None, "--host", help="default: MENTORFLOW_API__HOST (127.0.0.1)"),
    port: int = typer.Option(None, "--port", help="default: MENTORFLOW_API__PORT (8000)"),
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) and the dashboard (/dashboard). Tokens: MENTORFLOW_API__TOKENS."""
    import uvicorn

    from workers.telemetry import setup_logging, setup_tracing

    settings = load_settings()
    setup_tracing(settings, "api")
    if not settings.api.tokens:
        err_console.print(
            "[yellow]no API tokens configured[/yellow]: every call will be 401. Set MENTORFLOW_API__TOKENS, e.g. "
            """'{"<at least 24 random characters>": "manager:ana"}'"""
        )
    host = host or settings.api.host
    port = port or settings.api.port
    from api.auth import TokenConfigError

    try:
        app = build_app(settings)
    except TokenConfigError as exc:
        err_console.print(f"[red]the API does not start:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    console.print(f"mentorflow api on http://{host}:{port} (docs /docs, dashboard /dashboard)")
    setup_logging(settings)  # only once it serves: a refused start (tests call it in-process) leaves logging alone
    from workers.connect import warn_if_plaintext

    warn_if_plaintext(settings)  # sealing turned off: one line at start (its clients then say nothing more)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
