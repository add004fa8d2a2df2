"""The Alembic migrations build exactly the schema of the models, idempotently."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from projections.db import make_engine, migrate
from projections.models import Base


def test_upgrade_head_matches_the_models_and_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    migrate(url)
    migrate(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == {*Base.metadata.tables, "alembic_version"}
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        engine.dispose()


def _migrate_in_a_process(url: str) -> None:
    migrate(url)


def assert_processes_migrate_together(url: str, processes: int = 6) -> None:
    """``processes`` processes started at once all migrate ``url`` (a fresh database): each exits 0, one schema."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    started = [context.Process(target=_migrate_in_a_process, args=(url,)) for _ in range(processes)]
    for process in started:
        process.start()
    for process in started:
        process.join(120)
    assert [p.exitcode for p in started] == [0] * processes
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == {*Base.metadata.tables, "alembic_version"}
            assert conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1
    finally:
        engine.dispose()


def test_processes_starting_together_on_one_fresh_file_all_migrate(tmp_path: Path) -> None:
    """Worker, projector and API each migrate at start-up; started together they once raced on a fresh SQLite file
    ("database is locked", or both creating the version table). They take turns; the later ones find it current."""
    assert_processes_migrate_together(f"sqlite:///{tmp_path / 'fresh.db'}")
