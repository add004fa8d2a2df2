"""Program profiles under privacy (issue 20 with issue 14): the access export holds a person's enrollment with its
profile and the program chain's events about them; an erasure scrubs the profile from ``program_enrollments`` and the
next round no longer reads that enrollment, while the program's counts and every chain stay as they were."""

from __future__ import annotations

import json

from sqlalchemy import select

from domain import verify_chain
from domain.matching import Profile
from domain.privacy.sealed import ERASED, is_sealed, key_ids_in
from domain.programs.commands import EnrollParticipants, Participant, WithdrawParticipant
from projections.db import make_engine
from projections.models import EventLog, Program, ProgramEnrollment, table_of
from projections.privacy.erasure import erase_person, export_person
from projections.program_reads import program_enrollment
from tests.sentinels import sentinel_years
from tests.unit.privacy.conftest import Program as World
from tests.unit.privacy.test_erasure import _dump
from tests.unit.programs.test_program_core import MANAGER, created, enroll, mentor, run
from tests.unit.projections.helpers import as_topic, project

YEARS = sentinel_years()  # a raw search of the database finds it only if it leaked
BO_PROFILE = Profile(
    languages=("en", "pt"), goals=("finance-kite-3",), interests=("birding-tern-8",), department="treasury-gull-4",
    timezone="Asia/Kathmandu", seniority_years=YEARS, line_manager="lm-9",
)  # fmt: skip
BO_TAGS = ("finance-kite-3", "birding-tern-8", "treasury-gull-4", "Asia/Kathmandu", repr(YEARS))


def _enrolled(world: World) -> list[bytes]:
    state, chain = created()
    state, more = enroll(state, mentor("ana", 2), Participant(person_id="bo", role="mentee", profile=BO_PROFILE))
    chain += more
    project(world.engine, as_topic([chain]), group="programs")  # its own consumer group: offsets from 0
    return [e.to_bytes() for e in chain]


def _row(world: World) -> dict[str, object]:
    with world.engine.connect() as conn:
        rows = conn.execute(select(ProgramEnrollment).where(ProgramEnrollment.person_id == "bo")).mappings().all()
    [row] = rows
    return dict(row)


def test_the_export_holds_the_profile_and_the_enrollment_event(program: World) -> None:
    _enrolled(program)
    exported = export_person(program.engine, program.cipher, "bo")
    [enrollment] = exported["authored"]["program_enrollments"]
    assert enrollment["profile"]["goals"] == ["finance-kite-3"] and enrollment["profile"]["languages"] == ["en", "pt"]
    [event] = exported["enrollment_events"]
    assert event["type"] == "ParticipantEnrolled" and event["chain_id"] == "program:p1"
    assert event["payload"]["profile"]["department"] == "treasury-gull-4"
    assert "ana" not in {e["payload"]["person_id"] for e in exported["enrollment_events"]}  # only bo's own


def test_erasure_scrubs_the_profile_and_the_round_no_longer_reads_it(program: World) -> None:
    chain = _enrolled(program)
    with program.engine.connect() as conn:
        assert {m.person_id for m in program_enrollment(conn, "p1").mentees} == {"bo"}
        counts = conn.execute(select(Program.mentors, Program.mentees, Program.withdrawn)).one()
    outcome = erase_person(program.engine, program.store, "bo", by="pm-1", by_role="manager")
    assert outcome.erased
    row = _row(program)
    assert json.loads(str(row["profile"])) == ERASED and not [t for t in BO_TAGS if t in str(row)]
    assert row["withdrawn_at"] is None and row["enrolled_seq"] > 0  # the enrollment itself stays: counts add up
    with program.engine.connect() as conn:
        enrollment = program_enrollment(conn, "p1")
        assert enrollment.mentees == () and [m.person_id for m in enrollment.mentors] == ["ana"]
        assert conn.execute(select(Program.mentors, Program.mentees, Program.withdrawn)).one() == counts
        log = table_of(EventLog)
        stored = conn.execute(select(log.c.envelope).where(log.c.relationship_id == "program:p1")).scalars().all()
    assert verify_chain(list(stored)).ok and len(stored) == len(chain)  # the program chain is untouched
    again = erase_person(program.engine, program.store, "bo", by="pm-1", by_role="manager")
    assert not again.erased  # nothing left: the scrubbed profile is not scrubbed twice


def test_a_profile_is_sealed_under_its_persons_key_and_the_round_reads_it_opened(
    program_file: tuple[str, World],
) -> None:
    """Sealing at the program client (``FieldCipher.seal_profiles``): every tag, the department, the time zone and
    the seniority under the enrolled person's own key — not the enrolling manager's — the line manager (a
    pseudonymous id) plain; the program's rules accept the sealed form; the projection holds ciphertext; the round
    opens every profile at once and reads exactly what was enrolled, and leaves out a profile it cannot open (a file
    database: the key store reads on its own connection, as in the service)."""
    url, program = program_file
    reader = make_engine(url)  # as the service reads (deferred transactions), the key store beside it
    state, chain = created()
    command = EnrollParticipants(
        command_id="c-enroll-1",
        actor=MANAGER,
        program_id="p1",
        participants=(mentor("ana", 2), Participant(person_id="bo", role="mentee", profile=BO_PROFILE)),
    )
    sealed = program.cipher.seal_profiles(command)
    assert sealed == program.cipher.seal_profiles(command)  # a re-sent enrollment keeps its fingerprint
    bo = sealed.participants[1].profile
    assert all(is_sealed(t) for t in (*bo.goals, *bo.interests, *bo.languages, bo.department or "", bo.timezone))
    assert isinstance(bo.seniority_years, str) and is_sealed(bo.seniority_years)
    assert bo.line_manager == "lm-9" and not program.store.key_ids_of("mgr-1")
    assert key_ids_in(bo.goals[0]) == set(program.store.key_ids_of("bo"))
    state, more = run(state, sealed)  # the program's own rules take the sealed tags (the NAME rule's sealed length)
    project(program.engine, as_topic([chain + more]), group="programs")
    assert not [t for t in BO_TAGS if t in _dump(program.engine)]
    with reader.connect() as conn:
        closed = {m.person_id: m.profile for m in program_enrollment(conn, "p1").mentees}
        opened = {m.person_id: m.profile for m in program_enrollment(conn, "p1", program.cipher.open_json).mentees}
    assert "bo" not in closed and opened["bo"] == BO_PROFILE  # matching reads the plaintext profile, or not at all
    assert opened["bo"].years == YEARS and isinstance(opened["bo"].seniority_years, float)
    erase_person(program.engine, program.store, "bo", by="pm-1", by_role="manager")
    with reader.connect() as conn:
        assert program_enrollment(conn, "p1", program.cipher.open_json).mentees == ()
    reader.dispose()
    events = export_person(program.engine, program.cipher, "bo")["enrollment_events"]
    assert events[0]["payload"]["profile"]["goals"] == [ERASED]  # the chain keeps the ciphertext: shredded


def test_a_withdrawal_reason_is_sealed_under_the_withdrawn_persons_key(program: World) -> None:
    state, chain = created()
    state, more = enroll(state, mentor("ana", 2), Participant(person_id="bo", role="mentee", profile=BO_PROFILE))
    withdraw = WithdrawParticipant(command_id="c-w-1", actor=MANAGER, program_id="p1", person_id="bo", role="mentee",
                                   reason="withdrawn-wren-4 burnout")  # fmt: skip
    sealed = program.cipher.seal_withdrawal(withdraw)
    assert sealed == program.cipher.seal_withdrawal(withdraw) and is_sealed(sealed.reason)
    assert key_ids_in(sealed.reason) == set(program.store.key_ids_of("bo")) and not program.store.key_ids_of("mgr-1")
    assert program.cipher.seal_withdrawal(withdraw.model_copy(update={"reason": ""})).reason == ""  # nothing to seal
    state, withdrawn = run(state, sealed)  # the program's rule takes the sealed reason (NOTE's sealed length)
    project(program.engine, as_topic([chain + more + withdrawn]), group="programs")
    assert "withdrawn-wren-4" not in _dump(program.engine)
    exported = export_person(program.engine, program.cipher, "bo")
    assert exported["authored"]["program_enrollments"][0]["withdrawn_reason"] == "withdrawn-wren-4 burnout"
    erase_person(program.engine, program.store, "bo", by="pm-1", by_role="manager")
    events = export_person(program.engine, program.cipher, "bo")["enrollment_events"]
    assert [e["payload"]["reason"] for e in events if e["type"] == "ParticipantWithdrawn"] == [ERASED]
