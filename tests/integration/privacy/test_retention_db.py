"""Retention per program on both stores (issue 20 item 6): the program's own period, projected by migration 0004's
``programs.retention_days``, erases on SQLite and PostgreSQL alike, each erasure its ledger row."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from projections.db import make_engine, migrate
from projections.privacy.erasure import verify_ledger
from projections.privacy.keystore import ERASURES
from projections.privacy.retention import retention_pass
from tests.unit.privacy.conftest import NOTES, build_program
from tests.unit.privacy.test_erasure import _dump
from tests.unit.privacy.test_retention import _set_retention

pytestmark = pytest.mark.integration


def test_a_programs_own_retention_erases_on_each_store(database_url: str) -> None:
    migrate(database_url)
    engine = make_engine(database_url, writer=True)
    try:
        program = build_program(engine)  # its relationships (program prog-1) closed in January 2026
        assert retention_pass(engine, program.store, None, datetime.now(UTC)).due == []  # no period: kept
        _set_retention(engine, "prog-1", 1)
        done = retention_pass(engine, program.store, None, datetime.now(UTC))
        assert [o.person_id for o in done.erased if o.erased] == ["bo", "m-r-legacy", "m-r-sealed"]
        with engine.connect() as conn:
            assert {r for (r,) in conn.execute(select(ERASURES.c.reason_code))} == {"retention"}
        assert verify_ledger(engine) is None and NOTES not in _dump(engine)
    finally:
        engine.dispose()
