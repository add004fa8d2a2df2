"""``mentorflow services up | down | status``: the whole local stack at once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from workers.services import kafka, postgres, temporal
from workers.services.lag import consumer_lag, outbox_status
from workers.services.process import read_pid, stop
from workers.settings import Settings


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    address: str
    healthy: bool
    pid: int | None
    managed: bool
    detail: str = ""
    extra: dict[str, object] = field(default_factory=dict)
    problem: str = ""  # something answers but cannot serve: what, and what to do (then healthy is False)

    @property
    def health(self) -> str:
        """``up``, ``down``, or ``answers but cannot serve: <error>; <what to do>``."""
        return self.problem or ("up" if self.healthy else "down")

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "address": self.address,
            "healthy": self.healthy,
            "health": self.health,
            "problem": self.problem or None,
            "pid": self.pid,
            "managed": self.managed,
            "detail": self.detail,
            **self.extra,
        }


def services_up(settings: Settings, *, with_postgres: bool = False) -> dict[str, str]:
    """Start what is not running (each waits for a real health answer); idempotent."""
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    results = {"temporal": temporal.start(settings), "kafka": kafka.start(settings)}
    if with_postgres:
        results["postgres"] = postgres.start(settings)
    return results


def services_down(settings: Settings) -> dict[str, str]:
    """Stop only what we started (pid files / our own PostgreSQL data dir).

    The app processes that ``mentorflow demo`` leaves running (worker, projector, API: ``demo-*`` pid files) stop
    first, so they never outlive the services they talk to."""
    run_dir = settings.run_dir
    apps = sorted(p.stem for p in (run_dir / "pids").glob("*.pid") if p.stem not in {temporal.NAME, kafka.NAME})
    stopped_apps = {name: "stopped" if stop(run_dir, name) else "was not running" for name in apps}
    return stopped_apps | {
        "temporal": "stopped" if stop(run_dir, temporal.NAME) else "was not started by us",
        "kafka": "stopped" if stop(run_dir, kafka.NAME, timeout=40) else "was not started by us",
        "postgres": "stopped" if postgres.stop(settings) else "was not started by us",
    }


WEDGED_SCAN_TIMEOUT = 20.0


def wedged_workflows(settings: Settings) -> dict[str, object]:
    """Running relationships whose workflow task keeps failing (``wedged_workflows``), or why that is unknown."""
    from workers.connect import temporal_client
    from workers.services.wedged import find_wedged

    async def scan() -> dict[str, object]:
        client = await temporal_client(settings)
        found = await find_wedged(client)
        return {
            "wedged_workflows": [w.as_dict() for w in found.wedged],
            "scanned_workflows": found.scanned,
            "scan_truncated": found.truncated,
        }

    try:
        return asyncio.run(asyncio.wait_for(scan(), timeout=WEDGED_SCAN_TIMEOUT))
    except Exception as exc:
        return {"wedged_workflows": None, "wedged_scan_error": f"{type(exc).__name__}: {exc}"}


def services_status(settings: Settings, *, scan_workflows: bool = True) -> list[ServiceStatus]:
    run_dir = settings.run_dir
    temporal_pid = read_pid(run_dir, temporal.NAME)
    kafka_pid = read_pid(run_dir, kafka.NAME)
    pg_pid = postgres.running_pid(settings)
    ui = f"UI http://{settings.temporal.host}:{settings.temporal.ui_port}" if settings.temporal.ui else "headless"
    temporal_answers = temporal.healthy(settings)
    temporal_problem = (temporal.cannot_serve(settings) if temporal_answers else None) or ""
    temporal_healthy = temporal_answers and not temporal_problem
    kafka_healthy = kafka.healthy(settings)
    scan_temporal = temporal_healthy and scan_workflows
    return [
        ServiceStatus(
            "temporal",
            settings.temporal.address,
            temporal_healthy,
            temporal_pid,
            temporal_pid is not None,
            ui,
            {**wedged_workflows(settings), **outbox_status(settings)} if scan_temporal else {},
            problem=temporal_problem,
        ),
        ServiceStatus(
            "kafka",
            settings.kafka.bootstrap_servers,
            kafka_healthy,
            kafka_pid,
            kafka_pid is not None,
            f"topic {settings.kafka.events_topic}",
            consumer_lag(settings) if kafka_healthy and scan_workflows else {},
        ),
        ServiceStatus(
            "postgres",
            f"{settings.postgres.host}:{settings.postgres.port}",
            postgres.healthy(settings),
            pg_pid,
            pg_pid is not None,
            "optional (--with-postgres)",
        ),
    ]
