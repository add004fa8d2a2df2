"""Engines, migrations and read-your-writes for the projection database (SQLite by default, PostgreSQL by URL).

SQLite: WAL journal (readers never block the projector and see only committed batches), ``synchronous=NORMAL``
(durable against a killed process, which is what exactly-once needs here; a power cut may lose the last committed
batches, never half of one: the rows and the offsets of a batch commit or vanish together, and the projector
re-applies from the stored offsets), a busy timeout, and for writer engines ``BEGIN IMMEDIATE`` so a batch holds the
write lock from its first read of the offsets to its commit.
"""

from __future__ import annotations

import asyncio
import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, make_url, select, text
from sqlalchemy.engine import URL

from projections.models import Relationship
from projections.writer.postgres import COPY_OPTION

__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "is_sqlite",
    "make_engine",
    "migrate",
    "sqlite_path",
    "wait_for_seq",
    "wait_for_seq_async",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 60_000


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str | URL) -> Path | None:
    """The database file of a SQLite URL (None for in-memory)."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def redacted(url: str) -> str:
    """``url`` fit to print or log: the password replaced by ``***``."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(
    url: str | URL,
    *,
    writer: bool = False,
    search_path: str | None = None,
    bulk: bool = False,
    **kwargs: Any,
) -> Engine:
    """An engine for the projection tables. ``writer=True``: SQLite transactions start with ``BEGIN IMMEDIATE``.
    ``search_path`` (PostgreSQL): the schema unqualified names resolve to (a rebuild's table-set generation).
    ``bulk=True``: for a rebuild's generation only, which is thrown away unless the rebuild completes: no durability
    (SQLite: the rollback journal in memory, so savepoints still roll back, and ``synchronous=OFF``; PostgreSQL:
    ``synchronous_commit=off``, and the projection's inserts through ``COPY``)."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        path = sqlite_path(u)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        connect_args: dict[str, Any] = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        engine = create_engine(u, connect_args=connect_args, **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
            cursor = dbapi_connection.cursor()
            if bulk:
                cursor.execute("PRAGMA journal_mode=MEMORY")
                cursor.execute("PRAGMA synchronous=OFF")
            else:
                if path is not None:
                    cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

        return engine
    pg_args: dict[str, Any] = dict(kwargs.pop("connect_args", {}))
    options = [f"-c search_path={search_path}"] if search_path else []
    if bulk:
        options.append("-c synchronous_commit=off")
        kwargs["execution_options"] = {**kwargs.get("execution_options", {}), COPY_OPTION: True}
    if options:
        pg_args["options"] = " ".join(options)
    return create_engine(u, connect_args=pg_args, pool_pre_ping=True, **kwargs)


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


MIGRATION_LOCK_KEY = 0x6D656E746F72
"""PostgreSQL advisory lock held by the transaction that migrates ("mentor" in hex)."""


@contextmanager
def _migration_lock(url: URL) -> Iterator[None]:
    """One migration at a time per database. The worker, the projector and the API each migrate at start-up; started
    together on one fresh SQLite file they raced ("database is locked", or both creating ``alembic_version``). SQLite:
    an exclusive lock on a file beside the database (SQLite's processes share one machine); PostgreSQL: an advisory
    lock taken inside the migrating transaction (see :func:`migrate`); in-memory SQLite needs none."""
    path = sqlite_path(url)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".migrate.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def migrate(url_or_engine: str | URL | Engine, revision: str = "head") -> None:
    """``alembic upgrade head`` programmatically (idempotent; concurrent callers take turns, the later ones find the
    schema current)."""
    url = url_or_engine.url if isinstance(url_or_engine, Engine) else make_url(url_or_engine)
    with _migration_lock(url):
        own = not isinstance(url_or_engine, Engine)
        engine = make_engine(url_or_engine) if not isinstance(url_or_engine, Engine) else url_or_engine
        try:
            with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
                cfg = alembic_config()
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
        finally:
            if own:
                engine.dispose()


def _applied_seq(engine: Engine, relationship_id: str) -> int:
    with engine.connect() as conn:
        value = conn.execute(
            select(Relationship.last_seq).where(Relationship.relationship_id == relationship_id)
        ).scalar_one_or_none()
    return int(value or 0)


def wait_for_seq(
    engine_or_url: Engine | str,
    relationship_id: str,
    seq: int,
    timeout: float = 10.0,
    *,
    poll_interval: float = 0.05,
) -> int:
    """Read-your-writes: block until the projection has applied ``seq`` of ``relationship_id`` (returns the applied
    seq, ``>= seq``). Raises ``TimeoutError`` after ``timeout`` seconds."""
    own = not isinstance(engine_or_url, Engine)
    engine = make_engine(engine_or_url) if not isinstance(engine_or_url, Engine) else engine_or_url
    deadline = time.monotonic() + timeout
    try:
        while True:
            applied = _applied_seq(engine, relationship_id)
            if applied >= seq:
                return applied
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"projection has seq {applied} of relationship {relationship_id}, not {seq}, after {timeout} s"
                )
            time.sleep(poll_interval)
    finally:
        if own:
            engine.dispose()


async def wait_for_seq_async(
    engine_or_url: Engine | str,
    relationship_id: str,
    seq: int,
    timeout: float = 10.0,  # noqa: ASYNC109 - same signature as wait_for_seq
    *,
    poll_interval: float = 0.05,
) -> int:
    """:func:`wait_for_seq` for async callers (the API): polls in a worker thread, never blocks the loop."""
    own = not isinstance(engine_or_url, Engine)
    engine = make_engine(engine_or_url) if not isinstance(engine_or_url, Engine) else engine_or_url
    deadline = time.monotonic() + timeout
    try:
        while True:
            applied = await asyncio.to_thread(_applied_seq, engine, relationship_id)
            if applied >= seq:
                return applied
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"projection has seq {applied} of relationship {relationship_id}, not {seq}, after {timeout} s"
                )
            await asyncio.sleep(poll_interval)
    finally:
        if own:
            engine.dispose()
