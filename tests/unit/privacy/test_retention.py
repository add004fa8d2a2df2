"""Retention per program (issue 20 item 6): who is due (a pure rule), a program's own period honoured by the pass
over a projection, and the timer that runs the pass by itself."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from domain.programs.commands import ConfigureProgram
from projections.models import Program as ProgramRow
from projections.models import table_of
from projections.privacy.erasure import verify_ledger
from projections.privacy.keystore import ERASURES
from projections.privacy.retention import FIRST_PASS_DELAY, people_due, retention_pass, run_retention
from tests.unit.privacy.conftest import NOTES, Program
from tests.unit.privacy.test_erasure import _dump
from tests.unit.programs.test_program_core import MANAGER, _cid, created, run
from tests.unit.projections.helpers import as_topic, project
from workers.settings import PrivacySettings

NOW = datetime(2027, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def _closed(days_ago: int) -> datetime:
    return NOW - days_ago * DAY


@pytest.mark.parametrize(
    ("closings", "programs", "default", "due"),
    [
        # the program's own period, not the deployment's
        ([("ann", "p", _closed(40))], {"p": 30 * DAY}, 365 * DAY, ["ann"]),
        ([("ann", "p", _closed(40))], {"p": 60 * DAY}, 10 * DAY, []),
        # a program without its own: the deployment's; neither: kept
        ([("ann", "q", _closed(40))], {"p": 30 * DAY}, 10 * DAY, ["ann"]),
        ([("ann", "q", _closed(400))], {"p": 30 * DAY}, None, []),
        # every relationship must be past its program's period
        ([("ann", "p", _closed(40)), ("ann", "q", _closed(5))], {"p": 30 * DAY, "q": 30 * DAY}, None, []),
        ([("ann", "p", _closed(40)), ("ann", "q", _closed(50))], {"p": 30 * DAY}, 45 * DAY, ["ann"]),
        ([("ann", "p", _closed(40)), ("ann", "q", _closed(50))], {"p": 30 * DAY}, None, []),
        # an open relationship keeps everything; exactly at the period is not past it
        ([("ann", "p", _closed(40)), ("ann", "p", None)], {"p": 30 * DAY}, None, []),
        ([("ann", "p", _closed(30)), ("bo", "p", _closed(31))], {"p": 30 * DAY}, None, ["bo"]),
        # naive instants (SQLite) are UTC
        ([("ann", "p", _closed(40).replace(tzinfo=None))], {"p": 30 * DAY}, None, ["ann"]),
    ],
)
def test_a_person_is_due_only_when_every_relationship_is_past_its_programs_retention(
    closings: list[tuple[str, str, datetime | None]],
    programs: dict[str, timedelta],
    default: timedelta | None,
    due: list[str],
) -> None:
    assert people_due(closings, programs, default, NOW) == due


def _set_retention(engine: Engine, program_id: str, days: int) -> None:
    """The program ``program_id`` on its own chain, configured with ``days`` of retention, projected."""
    state, chain = created(program_id)
    command = ConfigureProgram(command_id=_cid(), actor=MANAGER, program_id=program_id, retention_days=days)
    _, more = run(state, command)
    # another consumer group: the relationships' messages already took these offsets in the default one
    assert all(not r.rejected for r in project(engine, as_topic([chain + more]), group="retention-test"))
    with engine.connect() as conn:
        assert conn.execute(select(table_of(ProgramRow).c.retention_days)).scalar_one() == days


def test_the_pass_honours_a_programs_own_retention_without_a_deployment_period(program: Program) -> None:
    closed_at = program.sealed.state.closed_at
    assert closed_at is not None and program.sealed.program_id == "prog-1"
    now = closed_at + 100 * DAY
    assert retention_pass(program.engine, program.store, None, now).due == []  # no period anywhere: kept
    _set_retention(program.engine, "prog-1", 120)
    early = retention_pass(program.engine, program.store, 30 * DAY, now)  # the program's 120 days win over 30
    assert (early.due, early.programs) == ([], {"prog-1": 120})
    done = retention_pass(program.engine, program.store, None, now + 30 * DAY)
    assert [o.person_id for o in done.erased if o.erased] == ["bo", "m-r-legacy", "m-r-sealed"]
    assert NOTES not in _dump(program.engine) and verify_ledger(program.engine) is None
    assert done.to_json()["cutoff"] is None and done.to_json()["programs"] == {"prog-1": 120}


def test_the_timer_runs_the_pass_by_itself_and_stops(program: Program, caplog: pytest.LogCaptureFixture) -> None:
    _set_retention(program.engine, "prog-1", 1)  # the scripted relationships closed in 2026
    caplog.set_level(logging.INFO, logger="mentorflow.retention")

    async def timer() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run_retention(program.engine, program.store, stop, 0.05, None))
        for _ in range(600):  # the in-memory database is one connection: wait on the log, not on a query
            await asyncio.sleep(0.05)
            if any("retention erased 3 people" in r.getMessage() for r in caplog.records):
                break
        stop.set()
        await asyncio.wait_for(task, timeout=30)

    asyncio.run(timer())
    with program.engine.connect() as conn:
        rows = conn.execute(select(ERASURES.c.person_id, ERASURES.c.erased_by, ERASURES.c.reason_code)).all()
    assert sorted(rows) == [(p, "retention", "retention") for p in ("bo", "m-r-legacy", "m-r-sealed")]
    assert verify_ledger(program.engine) is None


def test_the_first_pass_comes_shortly_after_the_start_not_one_interval_later(
    program: Program, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker restarted more often than its interval (an hour by default) still runs the pass: the first one comes
    ``first_delay`` seconds after the start; the next one only an interval later."""
    _set_retention(program.engine, "prog-1", 1)
    caplog.set_level(logging.INFO, logger="mentorflow.retention")
    assert PrivacySettings().retention_interval_seconds > FIRST_PASS_DELAY  # the default: an hour

    async def timer() -> bool:
        stop = asyncio.Event()
        task = asyncio.create_task(run_retention(program.engine, program.store, stop, 3600, None, first_delay=0.05))
        ran = False
        for _ in range(600):  # up to 30 s on a loaded machine; an hour's interval would never get here
            await asyncio.sleep(0.05)
            ran = any("retention erased 3 people" in r.getMessage() for r in caplog.records)
            if ran:
                break
        stop.set()
        await asyncio.wait_for(task, timeout=30)
        return ran

    assert asyncio.run(timer())
    with program.engine.connect() as conn:
        assert len(conn.execute(select(ERASURES.c.seq)).all()) == 3


def test_the_worker_runs_the_timer_next_to_it_unless_it_is_off(program: Program) -> None:
    from workers.settings import load_settings
    from workers.worker import WorkerConfig, _retention_task

    settings = load_settings()

    async def start() -> None:
        stop = asyncio.Event()
        assert _retention_task(WorkerConfig(settings, retention_interval=0), program.engine, stop) is None
        assert _retention_task(WorkerConfig(settings, retention_interval=60), None, stop) is None  # no database
        task = _retention_task(WorkerConfig(settings, retention_interval=60), program.engine, stop)
        assert task is not None and not task.done()
        stop.set()
        await asyncio.wait_for(task, timeout=30)

    asyncio.run(start())


def test_the_cli_runs_a_programs_own_retention_without_a_deployment_period(
    program_file: tuple[str, Program], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.unit.privacy.test_doors import _cli, _cli_json

    monkeypatch.setenv("MENTORFLOW_PRIVACY__RETENTION_DAYS", "0")
    url, program = program_file
    code, out = _cli("privacy", "retention", "--dry-run", "--database-url", url)
    assert code == 2 and "retention is off" in out and "--retention-days" in out
    _set_retention(program.engine, "prog-1", 1)
    code, data = _cli_json("privacy", "retention", "--dry-run", "--json", "--database-url", url)
    assert code == 0, data
    assert (data["cutoff"], data["programs"], data["due"]) == (None, {"prog-1": 1}, ["bo", "m-r-legacy", "m-r-sealed"])
