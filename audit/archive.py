"""The archive of closed relationships' workflow histories, in the audit store (DESIGN §7).

Temporal keeps a closed workflow's history only for the namespace's retention; after that, ``verify`` reads the
archived copy instead. One row per run of the continue-as-new chain: the history as
``WorkflowHistory.to_json_dict()`` gives it (keys sorted), its sha256, the run's close status.

When is it written?

* :func:`archive_closed` — one pass: every ``RelationshipWorkflow`` whose last run is closed and that is not
  archived yet (a visibility query, so a just-closed workflow shows up about a second later). Idempotent.
  ``mentorflow audit archive`` runs one pass; ``mentorflow audit archive --watch`` and :func:`run_archiver` run it
  every ``interval`` seconds (a task next to the worker, or its own process).
* :func:`archive_relationship` — one relationship, if its workflow is closed; ``verify`` calls it whenever it reads
  a closed workflow's live history, so any verification before the retention also secures the archive.

A closed run's history never changes: a second archive of the same run with other content is refused (the first
copy stays) and reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Integer, MetaData, String, Text, insert, select
from sqlalchemy.engine import URL
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

from audit.temporal import WORKFLOW_TYPE, fetch_histories, workflow_id_of
from projections.db import make_engine
from projections.models import NAMING, UtcDateTime

__all__ = [
    "VERSION_TABLE",
    "ArchiveResult",
    "ArchivedHistory",
    "archive_closed",
    "archive_histories",
    "archive_relationship",
    "is_closed",
    "load_archived",
    "metadata",
    "migrate",
    "run_archiver",
]

log = logging.getLogger("mentorflow.audit.archive")

VERSION_TABLE = "alembic_version_audit"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
metadata = MetaData(naming_convention=NAMING)

_CLOSE_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: "completed",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: "failed",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: "timed_out",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: "canceled",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: "terminated",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: "continued_as_new",
}


class _Base(DeclarativeBase):
    metadata = metadata


class ArchivedHistory(_Base):
    __tablename__ = "audit_workflow_histories"

    workflow_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    relationship_id: Mapped[str] = mapped_column(String(200), index=True)
    run_index: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(64))
    events: Mapped[int] = mapped_column(Integer)
    history_sha256: Mapped[str] = mapped_column(String(64))
    history_json: Mapped[str] = mapped_column(Text)
    archived_at: Mapped[datetime] = mapped_column(UtcDateTime())


def migrate(url_or_engine: str | URL | Engine) -> None:
    """Create or upgrade the audit tables (idempotent); its own Alembic version table."""
    own = not isinstance(url_or_engine, Engine)
    engine = url_or_engine if isinstance(url_or_engine, Engine) else make_engine(url_or_engine)
    try:
        with engine.begin() as conn:
            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        if own:
            engine.dispose()


def close_status(history: WorkflowHistory) -> str | None:
    """How the run closed, or None while it runs."""
    return _CLOSE_EVENTS.get(history.events[-1].event_type) if history.events else None


def is_closed(histories: Sequence[WorkflowHistory]) -> bool:
    """The relationship's workflow is closed: its last run is closed and did not continue as new."""
    return bool(histories) and close_status(histories[-1]) not in (None, "continued_as_new")


@dataclass
class ArchiveResult:
    archived: list[str] = field(default_factory=list)
    """``workflow_id/run_id`` newly archived."""
    already: int = 0
    conflicts: list[str] = field(default_factory=list)
    """Runs whose archived copy differs from the history just read (the archived copy is kept)."""
    skipped_open: list[str] = field(default_factory=list)


def archive_histories(
    engine: Engine, relationship_id: str, histories: Sequence[WorkflowHistory], result: ArchiveResult | None = None
) -> ArchiveResult:
    """Store the runs of a closed relationship (``histories`` first run first). Refuses an open workflow."""
    result = result or ArchiveResult()
    if not is_closed(histories):
        result.skipped_open.append(workflow_id_of(relationship_id))
        return result
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for index, history in enumerate(histories):
            # sorted keys: the proto JSON of a map (headers, search attributes) comes in no fixed order
            text = json.dumps(history.to_json_dict(), sort_keys=True, separators=(",", ":"))
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            key = f"{history.workflow_id}/{history.run_id}"
            stored = conn.execute(
                select(ArchivedHistory.history_sha256).where(
                    ArchivedHistory.workflow_id == history.workflow_id, ArchivedHistory.run_id == history.run_id
                )
            ).scalar_one_or_none()
            if stored is not None:
                if stored == digest:
                    result.already += 1
                else:
                    log.error("archived history of %s differs from the live one; the archived copy is kept", key)
                    result.conflicts.append(key)
                continue
            conn.execute(
                insert(ArchivedHistory).values(
                    workflow_id=history.workflow_id,
                    run_id=history.run_id,
                    relationship_id=relationship_id,
                    run_index=index,
                    status=close_status(history) or "open",
                    events=len(history.events),
                    history_sha256=digest,
                    history_json=text,
                    archived_at=now,
                )
            )
            result.archived.append(key)
    return result


def load_archived(engine: Engine, relationship_id: str) -> list[WorkflowHistory]:
    """The archived runs, first run first (``[]`` when none, or when the archive table does not exist yet)."""
    from sqlalchemy import inspect

    with engine.connect() as conn:
        if not inspect(conn).has_table(ArchivedHistory.__tablename__):
            return []
        rows = conn.execute(
            select(ArchivedHistory.workflow_id, ArchivedHistory.history_json)
            .where(ArchivedHistory.relationship_id == relationship_id)
            .order_by(ArchivedHistory.run_index)
        ).all()
    return [WorkflowHistory.from_json(workflow_id, text) for workflow_id, text in rows]


def archived_relationship_ids(engine: Engine) -> set[str]:
    from sqlalchemy import inspect

    with engine.connect() as conn:
        if not inspect(conn).has_table(ArchivedHistory.__tablename__):
            return set()
        return set(conn.execute(select(ArchivedHistory.relationship_id).distinct()).scalars())


async def archive_relationship(client: Client, engine: Engine, relationship_id: str) -> ArchiveResult:
    histories = await fetch_histories(client, relationship_id)
    return await asyncio.to_thread(archive_histories, engine, relationship_id, histories)


async def archive_closed(client: Client, engine: Engine, *, task_queue: str | None = None) -> ArchiveResult:
    """One pass over every closed ``RelationshipWorkflow`` not archived yet (of one task queue when given)."""
    await asyncio.to_thread(migrate, engine)
    done = await asyncio.to_thread(archived_relationship_ids, engine)
    result = ArchiveResult()
    query = f"WorkflowType = '{WORKFLOW_TYPE}' AND ExecutionStatus != 'Running' AND ExecutionStatus != 'ContinuedAsNew'"
    if task_queue:
        query += f" AND TaskQueue = '{task_queue}'"
    prefix = workflow_id_of("")
    async for execution in client.list_workflows(query):
        if not execution.id.startswith(prefix):
            continue
        relationship_id = execution.id[len(prefix) :]
        if relationship_id in done:
            result.already += 1
            continue
        histories = await fetch_histories(client, relationship_id)
        await asyncio.to_thread(archive_histories, engine, relationship_id, histories, result)
        done.add(relationship_id)
    return result


async def run_archiver(
    client: Client, engine: Engine, stop: asyncio.Event, interval: float = 60.0, *, task_queue: str | None = None
) -> None:
    """:func:`archive_closed` every ``interval`` seconds until ``stop`` is set (a task next to the worker)."""
    while not stop.is_set():
        try:
            result = await archive_closed(client, engine, task_queue=task_queue)
            if result.archived or result.conflicts:
                log.info("archived %d workflow runs (%d conflicts)", len(result.archived), len(result.conflicts))
        except Exception:  # keep archiving on the next round; the error is logged
            log.exception("archive pass failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
