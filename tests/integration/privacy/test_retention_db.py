"""Retention per program on both stores (issue 20 item 6): the program's own period, projected by migration 0004's
``programs.retention_days``, erases on SQLite and PostgreSQL alike, each erasure its ledger row — also when several
erasures append to the ledger at the same moment."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from projections.db import make_engine, migrate
from projections.privacy.erasure import ErasureOutcome, erase_person, verify_ledger
from projections.privacy.keystore import ERASURES, SqlKeyStore
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


def test_erasures_that_meet_on_the_ledger_each_get_their_row(database_url: str) -> None:
    """Several processes' passes (or a pass and a request) append to the ledger at once: the seq one of them took
    first is read again and the others append after it, so every erasure has its row and the chain holds."""
    migrate(database_url)
    people = [f"meet-{n}" for n in range(6)]
    engines = [make_engine(database_url) for _ in people]  # one per "process", each with its own connections
    try:
        for person in people:
            SqlKeyStore(engines[0]).key_for(person)
        start = threading.Barrier(len(people))

        def erase(n: int) -> ErasureOutcome:
            engine = engines[n]
            start.wait()
            return erase_person(engine, SqlKeyStore(engine), people[n], by="retention", by_role="system",
                                reason_code="retention")  # fmt: skip

        with ThreadPoolExecutor(len(people)) as pool:
            outcomes = list(pool.map(erase, range(len(people))))
        assert all(o.erased and o.keys_erased == 1 for o in outcomes)
        with engines[0].connect() as conn:
            rows = conn.execute(select(ERASURES.c.seq, ERASURES.c.person_id).order_by(ERASURES.c.seq)).all()
        assert [seq for seq, _ in rows] == list(range(1, len(people) + 1))
        assert sorted(p for _, p in rows) == people and sorted(o.seq for o in outcomes) == [s for s, _ in rows]
        assert verify_ledger(engines[0]) is None
    finally:
        for engine in engines:
            engine.dispose()
