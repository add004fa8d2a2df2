"""Retention (issue 20): personal data of closed relationships is kept for a set time; past it, the person is erased
by the system, with its ledger row (reason code ``retention``).

Who is due: a mentor or mentee all of whose relationships are closed, the last one closed before ``now - keep``,
who still holds a data key or has text left to scrub (``erase_person`` decides; a person with nothing left is a
no-op). A person with a relationship still open keeps everything (their open relationship still needs it).
``mentorflow privacy retention --keep P730D`` runs one pass (``--watch SECONDS`` repeats it: a timer next to the
worker); ``MENTORFLOW_PRIVACY__RETENTION`` is the deployment's default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select, union_all

from domain.privacy.keys import KeyStore
from projections.models import Relationship, table_of
from projections.privacy.erasure import ErasureOutcome, erase_person

__all__ = ["RETENTION_ACTOR", "RetentionPass", "due_for_retention", "retention_pass"]

RETENTION_ACTOR = "retention"
"""The ledger's ``erased_by`` of an erasure the retention timer ran (role ``system``)."""


@dataclass
class RetentionPass:
    cutoff: datetime
    due: list[str] = field(default_factory=list)
    erased: list[ErasureOutcome] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "cutoff": self.cutoff.isoformat(),
            "due": self.due,
            "erased": [o.to_json() for o in self.erased if o.erased],
        }


def due_for_retention(engine: Engine, cutoff: datetime) -> list[str]:
    """The people whose every relationship closed before ``cutoff`` (sorted)."""
    rel = table_of(Relationship)
    people = union_all(
        select(rel.c.mentor_id.label("person"), rel.c.closed_at),
        select(rel.c.mentee_id.label("person"), rel.c.closed_at),
    ).subquery()
    still_open = func.count() - func.count(people.c.closed_at)  # rows without a close instant
    stmt = (
        select(people.c.person)
        .group_by(people.c.person)
        .having(still_open == 0, func.max(people.c.closed_at) < cutoff)
        .order_by(people.c.person)
    )
    with engine.connect() as conn:
        return list(conn.execute(stmt).scalars())


def retention_pass(
    engine: Engine, store: KeyStore, keep: timedelta, now: datetime, *, dry_run: bool = False
) -> RetentionPass:
    """Erase everyone due (``dry_run``: only say who)."""
    result = RetentionPass(cutoff=now - keep)
    result.due = due_for_retention(engine, result.cutoff)
    if dry_run:
        return result
    for person in result.due:
        outcome = erase_person(
            engine, store, person, by=RETENTION_ACTOR, by_role="system", reason_code="retention", now=now
        )
        result.erased.append(outcome)
    return result
