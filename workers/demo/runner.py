"""``mentorflow demo``: bring the stack up, start worker, projector and API, run a program of simulated
relationships with live progress, then print the reports (the functions ``mentorflow report`` prints) and the
addresses of the dashboard and the Temporal UI.

Processes are started detached with pid files under ``.run/pids`` (``demo-worker``, ``demo-projector``,
``demo-api``) and logs under ``.run/logs``; ones a previous ``--keep-running`` left are reused. Each run is a new
program id, so running it again just adds a program.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from domain import Stage
from workers.demo.enrollment import enroll_and_match, matching_report
from workers.demo.scenarios import PATIENCE, SCENARIOS, Sim, plan
from workers.demo.surveys import demo_policy
from workers.services.process import (
    ServiceError,
    is_alive,
    log_file,
    pid_file,
    port_open,
    read_pid,
    spawn,
    stop,
    tail,
    wait_until,
    write_private,
)
from workers.settings import Settings

__all__ = ["DemoOptions", "DemoResult", "run_demo", "stop_processes"]

PROCESSES = ("demo-worker", "demo-projector", "demo-api")
STAGES = ("initiation", "cultivation", "separation", "redefinition", "closed")
REPORT_NAMES = ("stages", "transitions", "funnel", "at-risk", "feedback")


@dataclass
class DemoOptions:
    relationships: int = 56
    term: float = 90.0
    keep_running: bool = False
    json_output: bool = False
    program: str | None = None
    seed: int | None = None
    deadline: float = 170.0  # seconds for the program itself; stragglers are reported, not waited for
    stagger: float = 0.35  # seconds between two proposals


@dataclass
class DemoResult:
    program: str
    relationships: int
    seconds: float
    drive_seconds: float
    reports: dict[str, list[dict[str, Any]]]
    dashboard: str
    temporal_ui: str
    open_relationships: list[str]
    commands: int
    rejected: int
    rejections: dict[str, int]
    stories: dict[str, int]
    latency: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    started_processes: list[str] = field(default_factory=list)
    verification: dict[str, Any] = field(default_factory=dict)
    """``mentorflow audit verify --all --program P`` over the program, run by the demo at its end."""
    matching: dict[str, Any] = field(default_factory=dict)
    """``mentorflow report matching --program P``: the funnel from enrollment, outcomes by method."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# --- processes ----------------------------------------------------------------------------------------------------


DASHBOARD_SPEC = "auditor:demo-dashboard"
"""The demo's API token is read-only: it ends up in a browser (the dashboard link), so it can never write."""


def demo_token(settings: Settings) -> str:
    """The read-only token of the demo's dashboard, made once and kept under the run dir (so a kept API keeps
    working); the file is created 0600."""
    path = settings.run_dir / "demo" / "token"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = "demo-" + secrets.token_urlsafe(24)
    write_private(path, token + "\n")
    return token


def _mentorflow() -> list[str]:
    exe = Path(sys.executable).with_name("mentorflow")
    return [str(exe)] if exe.exists() else [sys.executable, "-c", "from workers.cli import main; main()"]


def _api_base(settings: Settings) -> str:
    return f"http://{settings.api.host}:{settings.api.port}"


def _api_answers(settings: Settings, token: str) -> bool:
    try:
        response = httpx.get(
            f"{_api_base(settings)}/dashboard/programs", headers={"Authorization": f"Bearer {token}"}, timeout=2
        )
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def start_processes(settings: Settings, token: str, say: Callable[[str], None]) -> list[str]:
    """Start worker, projector and API unless already running; returns the names this call started."""
    run_dir = settings.run_dir
    mf = _mentorflow()
    env = {"MENTORFLOW_API__TOKENS": json.dumps({**settings.api.tokens, token: DASHBOARD_SPEC})}
    started: list[str] = []
    for name, argv in (
        ("demo-worker", [*mf, "worker"]),
        ("demo-projector", [*mf, "projector"]),
        ("demo-api", [*mf, "api"]),
    ):
        if read_pid(run_dir, name) is not None:
            if name != "demo-api" or _api_answers(settings, token):
                say(f"{name.removeprefix('demo-')}: running (pid {read_pid(run_dir, name)})")
                continue
            stop(run_dir, name)
        if name == "demo-api" and port_open(settings.api.host, settings.api.port):
            if _api_answers(settings, token):
                say(f"api: answering on {_api_base(settings)}")
                continue
            raise ServiceError(
                f"port {settings.api.port} is taken by a process that is not the demo's API; stop it or set "
                f"MENTORFLOW_API__PORT"
            )
        pid = spawn(run_dir, name, argv, env=env)
        started.append(name)
        say(f"{name.removeprefix('demo-')}: started (pid {pid}, log {log_file(run_dir, name)})")
    for name in ("demo-worker", "demo-projector"):
        if name in started:
            time.sleep(0.5)
            alive = read_pid(run_dir, name)
            if alive is None or not is_alive(alive):
                raise ServiceError(f"{name} exited at start-up; see {log_file(run_dir, name)}")
    if "demo-api" in started or read_pid(run_dir, "demo-api") is not None:
        wait_until(
            lambda: _api_answers(settings, token),
            what="the API",
            timeout=120,  # fails at once if the API died; a loaded machine can take long to import and bind
            pid=read_pid(run_dir, "demo-api"),
            log=log_file(run_dir, "demo-api"),
        )
    return started


def stop_processes(settings: Settings, names: list[str] | tuple[str, ...] = PROCESSES) -> list[str]:
    return [name for name in names if stop(settings.run_dir, name)]


async def _wait_for_worker(client: Any, settings: Settings, seconds: float = 180.0) -> None:
    """Until a worker polls the task queue (the demo's, or any other one).

    A loaded machine (CI's two cores running the suite) can take well over 30 s from spawning the worker to its first
    poll, so the wait is patient while the demo's worker is alive and fails at once, with its log, when it died.
    """
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    log = log_file(settings.run_dir, "demo-worker")
    deadline = time.monotonic() + seconds
    request = DescribeTaskQueueRequest(
        namespace=settings.temporal.namespace,
        task_queue=TaskQueue(name=settings.temporal.task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    while True:
        response = await client.workflow_service.describe_task_queue(request)
        if response.pollers:
            return
        if pid_file(settings.run_dir, "demo-worker").exists() and read_pid(settings.run_dir, "demo-worker") is None:
            raise ServiceError(f"the demo's worker exited before it polled; see {log}:\n{tail(log)}")
        if time.monotonic() > deadline:
            raise ServiceError(
                f"no worker polls task queue {settings.temporal.task_queue!r} after {seconds:.0f} s; see {log}:\n"
                f"{tail(log)}"
            )
        await asyncio.sleep(0.3)


# --- the program --------------------------------------------------------------------------------------------------


def _progress(sim: Sim, program: str, started: float, finished: int, total: int) -> Group:
    states = list(sim.states.values())
    stages = Counter(s.stage.value for s in states)
    table = Table(title=f"program {program} — {time.monotonic() - started:5.1f} s", title_justify="left")
    for stage in STAGES:
        table.add_column(stage, justify="right")
    table.add_row(*(str(stages.get(stage, 0)) for stage in STAGES))
    health = Counter(s.health.value for s in states if s.stage is Stage.CULTIVATION)
    outcomes = Counter(s.outcome.value for s in states if s.outcome is not None)
    contested = sum(1 for s in states if s.substate.value == "contested")
    paused = sum(1 for s in states if s.substate.value == "paused")
    detail = Table.grid(padding=(0, 2))
    detail.add_row(
        f"[yellow]yellow {health.get('yellow', 0)}[/yellow]",
        f"[red]red {health.get('red', 0)}[/red]",
        f"contested {contested}",
        f"paused {paused}",
        f"stories done {finished}/{total}",
        f"commands {sim.stats.commands} (refused {sim.stats.rejected})",
    )
    closed = Table.grid(padding=(0, 2))
    closed.add_row(*([f"{k} {v}" for k, v in sorted(outcomes.items())] or ["no relationship closed yet"]))
    return Group(table, detail, closed)


def _program_service(settings: Settings, client: Any = None) -> Any:
    from service.programs import ProgramService
    from workers.connect import connect_client

    async def connect() -> Any:
        return client if client is not None else await connect_client(settings)

    return ProgramService(connect, settings.database_url)


async def _enroll(settings: Settings, client: Any, sim: Sim, size: int, seed: int | None, console: Console) -> Any:
    """The program starts from enrollment: created, its people enrolled from files, one algorithmic round, the admin
    and self matches chosen from suggestions. Returns the service (open: the stories propose the hand matches)."""
    service = _program_service(settings, client)
    await service.start()
    try:
        proposed = await enroll_and_match(service, sim, settings.run_dir, size, seed)
    except BaseException:
        await service.close()
        raise
    console.print(
        f"program {sim.program}: people enrolled from {settings.run_dir / 'demo' / sim.program}/people*.jsonl; the "
        f"algorithmic round proposed {proposed} pairs"
    )
    return service


async def read_matching(settings: Settings, program: str) -> dict[str, Any]:
    service = _program_service(settings)
    await service.start()
    try:
        report: dict[str, Any] = await matching_report(service, program)
        return report
    finally:
        await service.close()


async def drive(settings: Settings, opts: DemoOptions, program: str, console: Console) -> tuple[Sim, float]:
    from workers.connect import connect_client

    # retries RPC timeouts (same command id); publishes its commands' envelopes itself (the workflows backstop it)
    client = await connect_client(settings, busy_timeout=PATIENCE, publishes=True)
    await _wait_for_worker(client.client, settings)
    # The built-in demo policy with a survey schedule (workers/demo/surveys.py); --term shortens the agreement term the
    # participants sign (the policy is unchanged).
    sim = Sim(client, program, demo_policy(), term=opts.term, seed=opts.seed)
    service = await _enroll(settings, client, sim, opts.relationships, opts.seed, console)
    stories = plan(opts.relationships)
    total = len(stories)
    finished = 0
    started = time.monotonic()

    async def run_story(index: int, name: str) -> None:
        nonlocal finished
        fraction, story = SCENARIOS[name]
        pair = sim.new_pair(name, fraction)
        if not pair.proposed:  # a pair of the round answers at once (its match expires 3.5 s after the round)
            await asyncio.sleep(index * opts.stagger)  # proposals trickle in (the dev server on 2 cores takes ~30/s)
        try:
            await story(sim, pair)
        except Exception as exc:  # a story must never take the demo down; it is reported
            sim.stats.errors.append(f"{pair.relationship_id} ({name}): {type(exc).__name__}: {exc}")
        finally:
            finished += 1

    tasks = [asyncio.create_task(run_story(i, name)) for i, name in enumerate(stories)]

    def running() -> bool:
        return not all(t.done() for t in tasks) and time.monotonic() - started < opts.deadline

    try:
        if console.is_terminal:
            with Live(_progress(sim, program, started, 0, total), console=console, refresh_per_second=4) as live:
                while running():
                    live.update(_progress(sim, program, started, finished, total))
                    await asyncio.sleep(0.25)
                live.update(_progress(sim, program, started, finished, total))
        else:  # a log, not a screen: one line every 10 s
            last = 0.0
            while running():
                if time.monotonic() - last >= 10:
                    last = time.monotonic()
                    counts = Counter(s.stage.value for s in sim.states.values())
                    console.print(
                        f"{time.monotonic() - started:5.1f} s  "
                        + "  ".join(f"{stage} {counts.get(stage, 0)}" for stage in STAGES)
                        + f"  stories done {finished}/{total}"
                    )
                await asyncio.sleep(0.25)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await service.close()
    # the final states, straight from the workflows (one that does not answer is reported, not fatal)
    pairs = [p for p in sim.pairs.values() if p.relationship_id in sim.states]
    answers = await asyncio.gather(*(sim.refresh(p) for p in pairs), return_exceptions=True)
    for pair, answer in zip(pairs, answers, strict=True):
        if isinstance(answer, BaseException):
            sim.stats.errors.append(f"{pair.relationship_id}: its workflow did not answer: {answer}")
    return sim, time.monotonic() - started


async def wait_for_projections(settings: Settings, sim: Sim, seconds: float = 120.0) -> list[str]:
    """Read-your-writes: until the projection tables hold every event the program produced. Returns laggards."""
    from projections.db import make_engine, wait_for_seq_async

    engine = make_engine(settings.database_url)
    late: list[str] = []
    try:

        async def one(rid: str, seq: int) -> None:
            try:
                await wait_for_seq_async(engine, rid, seq, seconds)
            except TimeoutError:
                late.append(rid)

        await asyncio.gather(*(one(rid, s.seq) for rid, s in sim.states.items()))
    finally:
        engine.dispose()
    return late


def read_reports(settings: Settings, program: str) -> dict[str, list[dict[str, Any]]]:
    from projections.db import make_engine
    from projections.read_model import REPORTS, time_in_stage

    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            reports = {name: REPORTS[name](conn, program=program) for name in REPORT_NAMES}
            reports["time-in-stage"] = time_in_stage(conn, program)  # what the dashboard charts, in seconds
            return reports
    finally:
        engine.dispose()


def print_reports(console: Console, reports: dict[str, list[dict[str, Any]]]) -> None:
    from projections.read_model import COLUMNS

    titles = {
        "stages": "Relationships per stage now, and time in each stage (days of wall time)",
        "transitions": "Stage transitions: from → to, by what",
        "funnel": "Program funnel",
        "at-risk": "At-risk relationships (yellow/red or marginal) still open",
        "feedback": "Feedback summary: response rates, satisfaction by stage and role, gaps, Kram mix, evaluation",
    }
    for name in REPORT_NAMES:
        rows = reports[name]
        table = Table(title=titles[name], title_justify="left")
        if name == "funnel":  # one column per program: the steps read top to bottom
            table.add_column("step")
            for row in rows:
                table.add_column(str(row["program_id"]), justify="right")
            for column in COLUMNS[name][1:]:
                table.add_row(column, *("" if row.get(column) is None else str(row.get(column)) for row in rows))
        else:
            # the feedback report's rows fill the columns of their section only: show the columns some row fills
            columns = [c for c in COLUMNS[name] if name != "feedback" or any(r.get(c) is not None for r in rows)]
            for column in columns:
                table.add_column(column, overflow="fold")
            for row in rows:
                table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
        console.print(table)
        if not rows:
            console.print("[dim]  no rows[/dim]")
        if name == "stages" and "time-in-stage" in reports:  # the demo's days are fractions of a second
            seconds = Table(title="Average time in stage, seconds (demo policy: 1 day = 0.25 s)", title_justify="left")
            for column in ("stage", "completed_visits", "avg_seconds", "avg_demo_days"):
                seconds.add_column(column, justify="left" if column == "stage" else "right")
            for row in reports["time-in-stage"]:
                avg = row["avg_seconds"]
                days = "" if avg is None else f"{avg / 0.25:.0f}"
                seconds.add_row(row["stage"], str(row["completed_visits"]), "" if avg is None else str(avg), days)
            console.print(seconds)


def print_matching(console: Console, matching: dict[str, Any]) -> None:
    """The matching funnel from enrollment (``report matching``), then the outcomes by method and by score band."""
    funnel = dict(matching.get("funnel", {}))
    table = Table(title="Matching funnel from enrollment (report matching)", title_justify="left")
    table.add_column("step")
    table.add_column("mentees", justify="right")
    for step, value in funnel.items():
        shown = ", ".join(f"{k} {v}" for k, v in value.items()) if isinstance(value, dict) else str(value)
        table.add_row(step, shown)
    console.print(table)
    for section in ("by_method", "by_score_band"):
        rows = matching.get(section) or []
        if not rows:
            continue
        outcomes = Table(title=f"Matching outcomes {section.replace('_', ' ')}", title_justify="left")
        for column in rows[0]:
            outcomes.add_column(str(column), overflow="fold")
        for row in rows:
            outcomes.add_row(*("" if v is None else str(v) for v in row.values()))
        console.print(outcomes)


async def verify_program(settings: Settings, program: str) -> Any:
    """What an auditor runs after the demo, ``mentorflow audit verify --all --program P``: every relationship of
    the program across the event log, the topic and its workflow history (replayed)."""
    from workers.auditing import open_auditor

    async with open_auditor(settings) as auditor:
        return await auditor.verify_all(program=program)


def _verification(summary: Any) -> dict[str, Any]:
    return {
        "ok": summary.ok,
        "relationships": len(summary.reports),
        "failed": summary.failed,
        "warnings": summary.warnings,
        "seconds": round(summary.seconds, 2),
        "reports": [r.to_dict() for r in summary.reports if not r.ok],
    }


def print_verification(console: Console, program: str, summary: Any) -> None:
    """The ending: the same verdict ``mentorflow audit verify --all --program P`` prints."""
    for report in summary.reports:
        if not report.ok:
            for i, line in enumerate(report.lines()):
                console.print(line, style="red" if i == 0 else None, markup=False, highlight=False, soft_wrap=True)
    verdict = "[green]all intact[/green]" if summary.ok else f"[red]{len(summary.failed)} FAILED[/red]"
    if summary.warnings:
        verdict += f" ({summary.warnings} warnings)"
    console.print(
        f"[bold]Audit:[/bold] {len(summary.reports)} relationships of program {program} verified across the event "
        f"log, the Kafka topic and their Temporal histories (replayed) in {summary.seconds:.1f} s: {verdict}",
        soft_wrap=True,
    )
    console.print(f"Same check from the CLI:    mentorflow audit verify --all --program {program}")


def run_demo(settings: Settings, opts: DemoOptions) -> DemoResult:
    from workers.services import services_up

    console = Console(stderr=opts.json_output)
    if not console.is_terminal:
        console = Console(stderr=opts.json_output, width=max(console.width, 140))  # a log: no need to wrap at 80
    say: Callable[[str], None] = console.print
    t0 = time.monotonic()
    program = opts.program or f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:4]}"
    with console.status("the local stack: Temporal dev server and Kafka"):
        for name, status in services_up(settings).items():
            say(f"{name}: {status}")
    token = demo_token(settings)
    started = start_processes(settings, token, say)
    dashboard = f"{_api_base(settings)}/dashboard?program={quote(program)}#token={token}"
    query = quote(f'MentorflowProgram="{program}"')
    temporal_ui = (
        f"http://{settings.temporal.host}:{settings.temporal.ui_port}/namespaces/{settings.temporal.namespace}"
        f"/workflows?query={query}"
    )
    say(f"\n[bold]Watch it live:[/bold] {dashboard}\n")
    try:
        sim, drive_seconds = asyncio.run(drive(settings, opts, program, console))
        with console.status("waiting for the projections to catch up"):
            late = asyncio.run(wait_for_projections(settings, sim))
        if late:
            say(f"[yellow]the projections have not caught up with {len(late)} relationship(s)[/yellow]")
        reports = read_reports(settings, program)
        matching = asyncio.run(read_matching(settings, program))
    finally:
        if not opts.keep_running:
            stop_processes(settings, started)
    with console.status(f"verifying program {program}: event log, topic, workflow histories"):
        summary = asyncio.run(verify_program(settings, program))
    result = DemoResult(
        program=program,
        relationships=len(sim.pairs),
        seconds=round(time.monotonic() - t0, 1),
        drive_seconds=round(drive_seconds, 1),
        reports=reports,
        dashboard=dashboard,
        temporal_ui=temporal_ui,
        open_relationships=sorted(rid for rid, s in sim.states.items() if not s.is_closed),
        commands=sim.stats.commands,
        rejected=sim.stats.rejected,
        rejections=dict(sim.stats.rejections),
        stories=dict(Counter(p.scenario for p in sim.pairs.values())),
        latency=sim.stats.latency(),
        errors=sim.stats.errors,
        started_processes=started,
        verification=_verification(summary),
        matching=matching,
    )
    if opts.json_output:
        print(json.dumps(result.to_dict(), indent=2, default=str))
        return result
    print_reports(console, reports)
    print_matching(console, matching)
    console.print(
        f"\n[bold]{result.relationships}[/bold] relationships in program [bold]{program}[/bold]: "
        f"{result.commands} commands ({result.rejected} refused by the rules: late answers and races with timers), "
        f"{result.seconds:.0f} s in all."
    )
    if result.open_relationships:
        console.print(f"[yellow]still open at the deadline:[/yellow] {', '.join(result.open_relationships)}")
    for error in result.errors:
        console.print(f"[red]story failed:[/red] {error}")
    console.print(f"Same numbers from the CLI:  mentorflow report funnel --program {program}")
    console.print(f"The matching funnel:        mentorflow report matching --program {program}")
    print_verification(console, program, summary)
    console.print(f"Dashboard:    {dashboard}")
    console.print(f"Temporal UI:  {temporal_ui}")
    if opts.keep_running:
        console.print("Worker, projector and API keep running; stop them with: mentorflow demo --stop")
    else:
        console.print(
            "[dim]Worker, projector and API were stopped; run with --keep-running to keep the dashboard.[/dim]"
        )
    return result
