"""``mentorflow audit verify --all`` also checks the erasure ledger's chain (issue 20): intact, it says so and exits 0;
a row edited behind the ledger's back fails the run (exit 1) naming the row; a store without privacy tables has an
empty ledger and is not written to (an auditor reads)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import inspect, update
from typer.testing import CliRunner

from projections.db import make_engine, migrate
from projections.privacy.erasure import erase_person
from projections.privacy.keystore import ERASURES, SqlKeyStore
from workers.cli.app import app

pytestmark = pytest.mark.integration


def _verify_all(url: str, topic: str, *extra: str) -> tuple[int, str]:
    args = ["audit", "verify", "--all", "--no-temporal", "--settle", "0", "--database-url", url, "--topic", topic]
    result = CliRunner().invoke(app, [*args, *extra], catch_exceptions=False)
    return result.exit_code, result.stdout


def test_verify_all_checks_the_erasure_ledger(sqlite_url: str, kafka_topic: str) -> None:
    migrate(sqlite_url)
    engine = make_engine(sqlite_url, writer=True)
    code, out = _verify_all(sqlite_url, kafka_topic, "--json")
    assert code == 0, out
    assert json.loads(out.splitlines()[-1])["erasure_ledger"] == {"ok": True, "rows": 0, "problem": None}
    assert not inspect(engine).has_table(ERASURES.name)  # read-only: the auditor made no table

    store = SqlKeyStore(engine)
    for person in ("bo", "cy"):
        store.key_for(person)  # known to the key store: erasable
        erase_person(engine, store, person, by="pm-1", by_role="manager")
    code, out = _verify_all(sqlite_url, kafka_topic)
    assert code == 0 and "erasure ledger: 2 rows, chain intact" in out, out

    with engine.begin() as conn:  # someone edits who erased row 2
        conn.execute(update(ERASURES).where(ERASURES.c.seq == 2).values(erased_by="someone-else"))
    code, out = _verify_all(sqlite_url, kafka_topic, "--json")
    summary = json.loads(out.splitlines()[-1])
    assert code == 1 and summary["ok"] is True  # every relationship is intact: the ledger alone fails the run
    assert summary["erasure_ledger"]["ok"] is False and "row 2" in summary["erasure_ledger"]["problem"]
    engine.dispose()
