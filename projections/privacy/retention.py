"""Retention (issue 20): personal data of closed relationships is kept for a set time; past it, the person is erased
by the system, with its ledger row (reason code ``retention``).

How long: a program's own ``retention_days`` (``mentorflow program configure P --retention-days N``, the
``programs`` table) for the relationships of that program; the deployment's period (``--keep-days`` /
``MENTORFLOW_PRIVACY__RETENTION_DAYS``) for the others, and when none is given they are kept.

Who is due (:func:`people_due`): a mentor or mentee every relationship of whom is closed longer ago than the
retention of its program, who still holds a data key or has text left to scrub (``erase_person`` decides; a person
with nothing left is a no-op). A person with a relationship still open, or closed in a program with no period, keeps
everything. ``mentorflow privacy retention`` runs one pass (``--watch SECONDS`` repeats it); the worker runs one
every ``MENTORFLOW_PRIVACY__RETENTION_INTERVAL_SECONDS`` by itself (:func:`run_retention`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select, union_all

from domain.privacy.keys import KeyStore
from projections.models import Program, Relationship, table_of
from projections.privacy.erasure import ErasureOutcome, erase_person

__all__ = [
    "FIRST_PASS_DELAY",
    "RETENTION_ACTOR",
    "RetentionPass",
    "people_due",
    "program_retention",
    "retention_pass",
    "run_retention",
]

log = logging.getLogger("mentorflow.retention")

FIRST_PASS_DELAY = 10.0
"""Seconds after its start a worker runs its first retention pass (then every interval): a worker restarted more often
than the interval still runs it, and the worker is polling its task queue by then."""

RETENTION_ACTOR = "retention"
"""The ledger's ``erased_by`` of an erasure the retention timer ran (role ``system``)."""

Closing = tuple[str, str, datetime | None]
"""(person, program, closed at or None while open): one per relationship and participant."""


@dataclass
class RetentionPass:
    cutoff: datetime | None  # the deployment's: closed before it is due (None: only programs with their own)
    programs: dict[str, int] = field(default_factory=dict)  # the programs' own retention, in days
    due: list[str] = field(default_factory=list)
    erased: list[ErasureOutcome] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "cutoff": None if self.cutoff is None else self.cutoff.isoformat(),
            "programs": self.programs,
            "due": self.due,
            "erased": [o.to_json() for o in self.erased if o.erased],
        }


def _utc(instant: datetime) -> datetime:
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def people_due(
    closings: Iterable[Closing], programs: Mapping[str, timedelta], default: timedelta | None, now: datetime
) -> list[str]:
    """The people (sorted) every relationship of whom closed longer ago than its program's retention
    (``programs``, else ``default``; neither: never due)."""
    kept: set[str] = set()
    past: set[str] = set()
    for person, program, closed_at in closings:
        keep = programs.get(program, default)
        if closed_at is None or keep is None or _utc(closed_at) >= _utc(now) - keep:
            kept.add(person)
        else:
            past.add(person)
    return sorted(past - kept)


def program_retention(engine: Engine) -> dict[str, int]:
    """The programs that set their own retention: program id → days."""
    programs = table_of(Program)
    stmt = select(programs.c.program_id, programs.c.retention_days).where(programs.c.retention_days.is_not(None))
    with engine.connect() as conn:
        return {p: int(d) for p, d in conn.execute(stmt)}


def _closings(engine: Engine) -> list[Closing]:
    rel = table_of(Relationship)
    stmt = union_all(
        select(rel.c.mentor_id, rel.c.program_id, rel.c.closed_at),
        select(rel.c.mentee_id, rel.c.program_id, rel.c.closed_at),
    )
    with engine.connect() as conn:
        return [(p, g, c) for p, g, c in conn.execute(stmt)]


def retention_pass(
    engine: Engine, store: KeyStore, keep: timedelta | None, now: datetime, *, dry_run: bool = False
) -> RetentionPass:
    """Erase everyone due (``keep``: the deployment's period, None for none; ``dry_run``: only say who)."""
    result = RetentionPass(cutoff=None if keep is None else now - keep, programs=program_retention(engine))
    programs = {p: timedelta(days=d) for p, d in result.programs.items()}
    result.due = people_due(_closings(engine), programs, keep, now)
    if dry_run:
        return result
    for person in result.due:
        outcome = erase_person(
            engine, store, person, by=RETENTION_ACTOR, by_role="system", reason_code="retention", now=now
        )
        result.erased.append(outcome)
    return result


async def run_retention(
    engine: Engine,
    store: KeyStore,
    stop: asyncio.Event,
    interval: float,
    keep: timedelta | None,
    first_delay: float = FIRST_PASS_DELAY,
) -> None:
    """:func:`retention_pass` ``first_delay`` seconds after the start (at most ``interval``), then every ``interval``
    seconds until ``stop`` is set (a task next to the worker, like the archiver): each erasure gets its row in the
    erasure ledger (the issue's ``PersonErased`` fact: erased by ``retention``, role ``system``, reason code
    ``retention``). Several workers' passes may meet: the ledger append retries on a taken seq
    (``erase_person``)."""
    wait = min(first_delay, interval)
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=wait)
        if stop.is_set():
            return
        wait = interval
        try:
            result = await asyncio.to_thread(retention_pass, engine, store, keep, datetime.now(UTC))
            erased = [o.person_id for o in result.erased if o.erased]
            if erased:
                log.info("retention erased %d people", len(erased))
        except Exception:  # keep the timer going; the error is logged
            log.exception("retention pass failed")
