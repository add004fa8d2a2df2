"""Erasure over the projection database: keys gone, derived plaintext scrubbed, chains and reports untouched, the
ledger chained; unknown, repeated and unauthorised erasures; the access export."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, select, text, update

from domain import verify_chain
from domain.errors import NotAllowedForRole
from domain.privacy.sealed import ERASED
from projections import read_model
from projections.models import EventLog, table_of
from projections.privacy.erasure import UnknownPerson, erase_person, export_person, verify_ledger
from projections.privacy.keystore import ERASURES
from service.errors import InvalidArgument
from service.privacy import PrivacyService
from tests.unit.privacy.conftest import COMMENT, GOAL, LEGACY, NOTES, REASON, SECRETS, Program


def _dump(engine: Engine, skip: tuple[str, ...] = ()) -> str:
    """Every value of every table (but ``skip``), as text: what a raw search of the database would see."""
    with engine.connect() as conn:
        tables = [t for t in inspect(conn).get_table_names() if t not in skip]
        rows = (row for t in tables for row in conn.execute(text(f"SELECT * FROM {t}")))
        return "\n".join("\t".join(str(value) for value in row) for row in rows)


def _reports(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {name: fn(conn) for name, fn in read_model.REPORTS.items() if name != "at-risk"}


def _erase(program: Program, person: str = "bo", **kw: Any) -> Any:
    return erase_person(program.engine, program.store, person, by="pm-1", by_role="manager", **kw)


def test_sealed_text_never_reaches_the_database_in_plaintext(program: Program) -> None:
    dump = _dump(program.engine)
    assert not [s for s in SECRETS if s in dump]
    assert LEGACY in dump  # the legacy relationship was written before sealing: plaintext, for the scrub below


def test_erasure_shreds_scrubs_and_keeps_every_chain_and_total(program: Program) -> None:
    before = _reports(program.engine)
    export = export_person(program.engine, program.cipher, "bo")
    assert NOTES in str(export) and COMMENT in str(export) and REASON in str(export) and GOAL in str(export)

    outcome = _erase(program, reason_code="gdpr-art17")
    assert outcome.erased and outcome.keys_erased == 1 and outcome.rows_scrubbed >= 5 and outcome.seq == 1

    dump = _dump(program.engine)
    assert LEGACY not in _dump(program.engine, skip=("event_log",))  # scrubbed from every reporting table
    assert LEGACY in dump  # the legacy events themselves cannot change: their chain covers the plaintext
    assert _reports(program.engine) == before  # counts, stages, durations unchanged
    with program.engine.connect() as conn:
        for rid, log in (("r-sealed", program.sealed.log), ("r-legacy", program.legacy.log)):
            stored = conn.execute(
                select(table_of(EventLog).c.envelope).where(table_of(EventLog).c.relationship_id == rid)
            ).scalars()
            report = verify_chain(list(stored))
            assert report.ok and report.checked == len(log)  # the chain covers the ciphertext: untouched
    after = str(export_person(program.engine, program.cipher, "bo"))
    assert not [s for s in SECRETS if s in after] and ERASED in after
    assert "mentor goal" in str(export_person(program.engine, program.cipher, "m-r-sealed"))  # not bo's: readable
    assert verify_ledger(program.engine) is None


def test_erasing_twice_is_a_no_op_that_says_so_and_an_unknown_person_is_an_error(program: Program) -> None:
    _erase(program)
    dump = _dump(program.engine)
    again = _erase(program)
    assert not again.erased and again.keys_erased == 0 and again.previous_erasures == 1
    assert _dump(program.engine) == dump  # nothing else changed
    with pytest.raises(UnknownPerson, match="nobody-7"):
        _erase(program, "nobody-7")
    assert _dump(program.engine) == dump


def test_a_person_who_wrote_again_after_an_erasure_is_erased_again(program: Program) -> None:
    _erase(program)
    token = program.cipher.seal_text("bo", "new text", "c9/notes")  # a new key, made on first use
    assert program.cipher.open_text(token) == "new text"
    again = _erase(program)
    assert again.erased and again.keys_erased == 1 and again.seq == 2
    assert program.cipher.open_text(token) == ERASED


def test_an_edited_ledger_row_is_found(program: Program) -> None:
    _erase(program)
    _erase(program, "m-r-sealed")
    with program.engine.begin() as conn:
        conn.execute(update(ERASURES).where(ERASURES.c.seq == 1).values(erased_by="someone-else"))
    assert "row 1" in (verify_ledger(program.engine) or "")


def test_the_service_refuses_roles_bad_ids_and_free_text_reasons(tmp_path: Any) -> None:
    service = PrivacyService(f"sqlite:///{tmp_path / 'p.db'}")

    async def go() -> None:
        with pytest.raises(NotAllowedForRole, match="manager or platform"):
            await service.erase("bo", by_id="bo", by_role="mentee")
        with pytest.raises(InvalidArgument, match="reason"):
            await service.erase("bo", by_id="pm", by_role="manager", reason_code="because she asked nicely")
        with pytest.raises(InvalidArgument, match="person"):
            await service.erase("bo/../x", by_id="pm", by_role="manager")
        with pytest.raises(UnknownPerson):
            await service.erase("bo", by_id="pm", by_role="manager")
        with pytest.raises(UnknownPerson):
            await service.export("bo")

    asyncio.run(go())
    service.close()


def test_a_program_enrollment_is_exported_and_its_withdrawal_reason_scrubbed(program: Program) -> None:
    from datetime import UTC, datetime

    from projections.models import ProgramEnrollment

    with program.engine.begin() as conn:
        conn.execute(
            table_of(ProgramEnrollment).insert().values(
                program_id="prog-1", person_id="bo", role="mentee", profile='{"languages": ["en"]}', capacity=None,
                preferences="[]", enrolled_by="pm-1", enrolled_at=datetime(2026, 1, 1, tzinfo=UTC), enrolled_seq=2,
                withdrawn_at=datetime(2026, 2, 1, tzinfo=UTC), withdrawn_reason="withdrawn-wren-4 burnout",
            )
        )  # fmt: skip
    exported = export_person(program.engine, program.cipher, "bo")
    assert exported["authored"]["program_enrollments"][0]["withdrawn_reason"] == "withdrawn-wren-4 burnout"
    _erase(program)
    assert "withdrawn-wren-4" not in _dump(program.engine)


def test_retention_erases_people_whose_relationships_all_closed_before_the_cutoff(program: Program) -> None:
    from datetime import timedelta

    from projections.privacy.retention import retention_pass

    closed_at = program.sealed.state.closed_at
    assert closed_at is not None  # the rematch closed it
    now = closed_at + timedelta(days=400)
    early = retention_pass(program.engine, program.store, timedelta(days=500), now)
    assert early.due == [] and verify_ledger(program.engine) is None
    dry = retention_pass(program.engine, program.store, timedelta(days=365), now, dry_run=True)
    assert dry.due == ["bo", "m-r-legacy", "m-r-sealed"] and program.store.key_ids_of("bo")
    done = retention_pass(program.engine, program.store, timedelta(days=365), now)
    assert [o.person_id for o in done.erased if o.erased] == ["bo", "m-r-legacy", "m-r-sealed"]
    assert not program.store.key_ids_of("bo") and NOTES not in _dump(program.engine)
    with program.engine.connect() as conn:
        rows = conn.execute(select(ERASURES.c.erased_by, ERASURES.c.reason_code)).all()
    assert set(rows) == {("retention", "retention")}
    again = retention_pass(program.engine, program.store, timedelta(days=365), now + timedelta(days=1))
    assert not [o for o in again.erased if o.erased]  # nothing left: no new ledger rows
