"""What every process's metrics share: the HTTP endpoint and the periodic sampler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

__all__ = ["periodically", "serve_registry"]

log = logging.getLogger("mentorflow.metrics")


def serve_registry(registry: CollectorRegistry, host: str, port: int) -> Any | None:
    """Serve ``registry`` at ``http://host:port/metrics`` from a daemon thread; the server, or None when the port is
    0 (off) or cannot be bound (logged: metrics never stop the work)."""
    if port == 0:
        return None
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        log.error("metrics: cannot serve /metrics on %s:%d (%s); running on without it", host, port, exc)
        return None
    log.info("metrics on http://%s:%d/metrics", host, port)
    return server


async def periodically(stop: asyncio.Event, seconds: float, sample: Callable[[], Awaitable[None]]) -> None:
    """Run ``sample`` now and then every ``seconds`` until ``stop``; a failed sample is logged and retried next time
    (at most ``seconds`` of it: a sample never outlives its period)."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(sample(), timeout=seconds)
        except Exception as exc:
            log.warning("metrics: sample failed (%s: %s)", type(exc).__name__, exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)
