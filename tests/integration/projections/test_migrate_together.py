"""Processes migrating one fresh PostgreSQL database at once take turns (an advisory lock in the migrating
transaction); the SQLite case is a unit test (tests/unit/projections/test_migrations.py)."""

from __future__ import annotations

import pytest

from tests.unit.projections.test_migrations import assert_processes_migrate_together


@pytest.mark.postgres
def test_processes_starting_together_on_one_fresh_database_all_migrate(postgres_url: str) -> None:
    assert_processes_migrate_together(postgres_url)
