"""Erasure and access for one person (issue 20): delete their keys, scrub derived plaintext, keep a ledger; and
gather everything held about them.

Erasure, in this order:

1. the key ids the person holds are read, then their keys are deleted from the key store: every sealed string made
   with them — on the topic, in ``event_log``, in Temporal histories, the archive, exports — is unreadable from now
   on, and the chains that cover those strings are untouched (crypto-shredding);
2. in one transaction: the reporting tables are scrubbed (the person's own free text — also plaintext written before
   sealing existed — becomes ``[erased]``; inside derived text, sealed tokens of their keys and the plaintext they
   wrote before sealing existed — found through the inventory in the events they acted in — become ``[erased]``), and
   a row is appended to the erasure ledger ``privacy_erasures``: who erased whom, when, a reason code, counts —
   no personal data — hash-chained to the row before it.

Counts, stages, instants and durations are never touched: every report adds up as before.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, inspect, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from domain.confidential import private_fields, private_texts
from domain.envelope import canonical_json
from domain.privacy.inventory import EVENT_FIELDS, Kind
from domain.privacy.keys import KeyStore
from domain.privacy.sealed import ERASED, SEALED_PREFIX, SEALED_RE, is_sealed
from projections.models import (
    CheckIn,
    EventLog,
    Goal,
    Meeting,
    Nudge,
    ProgramEnrollment,
    ProgramRoundEntry,
    RedefinitionOutcome,
    Relationship,
    Separation,
    StageTransition,
    SurveyResponse,
    table_of,
)
from projections.privacy.cipher import FieldCipher
from projections.privacy.keystore import ERASURES, ensure_tables

__all__ = [
    "GENESIS",
    "ErasureOutcome",
    "LedgerVerdict",
    "UnknownPerson",
    "audit_ledger",
    "erase_person",
    "export_person",
    "ledger_rows",
    "verify_ledger",
]

GENESIS = "0" * 64
LEDGER_ATTEMPTS = 8
"""Tries of an erasure's ledger append when another process appended the same ``seq`` first (two workers' retention
passes, or a pass and an erasure on request): the loser reads the new head and appends after it."""


class UnknownPerson(LookupError):
    """Nothing is held about this person: no relationship names them, no key, no erasure."""


@dataclass(frozen=True)
class ErasureOutcome:
    person_id: str
    erased: bool  # False: nothing was left to erase (erased before), nothing changed
    keys_erased: int
    rows_scrubbed: int
    seq: int | None = None  # the ledger row written (None when nothing changed)
    hash: str | None = None
    previous_erasures: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# (table, author column, personal text columns): the person's own free text in the reporting tables
_AUTHORED: tuple[tuple[Table, str, tuple[str, ...]], ...] = (
    (table_of(Meeting), "logged_by", ("notes",)),
    (table_of(Goal), "set_by", ("text",)),
    (table_of(CheckIn), "submitted_by", ("comment",)),
    (table_of(Separation), "initiated_by", ("reason",)),
    (table_of(RedefinitionOutcome), "person_id", ("note",)),
    (table_of(ProgramEnrollment), "person_id", ("withdrawn_reason",)),
)
# columns of derived text that may embed the person's sealed tokens
_DERIVED: tuple[tuple[Table, str], ...] = (
    (table_of(StageTransition), "reason"),
    (table_of(Relationship), "close_reason"),
    (table_of(Nudge), "message"),
    *((table, column) for table, _, columns in _AUTHORED for column in columns),
)


_MIN_SCRUB_LENGTH = 4
"""Plaintext shorter than this is not searched for inside derived text (it would match inside other words)."""


def _plaintexts(conn: Connection, person_id: str) -> set[str]:
    """The person's own free text written before sealing existed: the ``personal_text`` fields (the inventory) of
    the events they acted in, where not sealed."""
    log = table_of(EventLog)
    found: set[str] = set()
    for (envelope,) in conn.execute(select(log.c.envelope).where(log.c.actor_id == person_id)):
        data = json.loads(envelope)
        kind_of = EVENT_FIELDS.get(data.get("type", ""), {})
        payload = data.get("payload", {})
        for name, kind in kind_of.items():
            value = payload.get(name)
            if kind is not Kind.PERSONAL_TEXT:
                continue
            # a survey's answers: only its free text (the instrument says which), never its scores or choices
            values = private_texts(data["type"], payload) if isinstance(value, dict) else value
            values = values if isinstance(values, list) else [values]
            found |= {v for v in values if isinstance(v, str) and not is_sealed(v)}
    return {t for t in found if len(t) >= _MIN_SCRUB_LENGTH}


def _scrub_answers(conn: Connection, person_id: str, key_ids: list[str]) -> int:
    """``survey_responses.answers`` (canonical JSON): the person's own free-text answers become ``[erased]`` — sealed
    or written before sealing existed — and any sealed token of theirs in another response too; scores and choices
    stay (the feedback report counts them)."""
    table = table_of(SurveyResponse)
    mine = set(key_ids)
    needles = [table.c.submitted_by == person_id, *(table.c.answers.contains(f"{SEALED_PREFIX}{k}") for k in mine)]
    rows = conn.execute(select(table.c.relationship_id, table.c.seq, table.c.instrument, table.c.version,
                               table.c.submitted_by, table.c.answers).where(or_(*needles))).all()  # fmt: skip
    scrubbed = 0
    for rid, seq, instrument, version, author, text in rows:
        answers = json.loads(text)
        if author == person_id:
            payload = {"instrument": instrument, "version": version, "answers": answers}
            for path in private_fields("SurveySubmitted", payload):
                key = path.partition(".")[2]
                if answers.get(key) not in ("", None, ERASED):
                    answers[key] = ERASED
        for key, value in answers.items():
            if isinstance(value, str):
                answers[key] = SEALED_RE.sub(lambda m: ERASED if m.group(1) in mine else m.group(0), value)
        new = canonical_json(answers).decode("utf-8")
        if new != text:
            conn.execute(update(table).where(table.c.relationship_id == rid, table.c.seq == seq).values(answers=new))
            scrubbed += 1
    return scrubbed


ERASED_PROFILE = canonical_json(ERASED).decode("utf-8")
"""``program_enrollments.profile`` (a JSON column) of an erased person: the JSON string ``"[erased]"``; a round no
longer reads that enrollment (``projections.program_reads.program_enrollment``)."""


def _scrub_profiles(conn: Connection, person_id: str) -> int:
    """The person's enrollment profiles (skills, goals, interests, languages, department, line manager) become
    ``"[erased]"``; role, capacity, ranking (pseudonymous ids) and instants stay: the program's counts add up."""
    t = table_of(ProgramEnrollment)
    stmt = update(t).where(t.c.person_id == person_id, t.c.profile != ERASED_PROFILE).values(profile=ERASED_PROFILE)
    return conn.execute(stmt).rowcount or 0


def _scrub(conn: Connection, person_id: str, key_ids: list[str]) -> int:
    scrubbed = _scrub_answers(conn, person_id, key_ids) + _scrub_profiles(conn, person_id)
    for table, author, columns in _AUTHORED:
        for column in columns:
            col = table.c[column]
            stmt = update(table).where(table.c[author] == person_id, col != "", col != ERASED).values({column: ERASED})
            scrubbed += conn.execute(stmt).rowcount or 0
    mine = set(key_ids)
    plain = sorted(_plaintexts(conn, person_id), key=len, reverse=True)
    needles = [f"{SEALED_PREFIX}{k}" for k in key_ids] + plain
    if not needles:
        return scrubbed

    def clean(text: str) -> str:
        text = SEALED_RE.sub(lambda m: ERASED if m.group(1) in mine else m.group(0), text)
        for p in plain:
            text = text.replace(p, ERASED)
        return text

    for table, column in _DERIVED:
        col = table.c[column]
        keys = list(table.primary_key.columns)
        hits = conn.execute(select(*keys, col).where(or_(*(col.contains(n, autoescape=True) for n in needles))))
        for row in hits.all():
            new = clean(row[-1])
            if new != row[-1]:
                conn.execute(update(table).where(*(k == row[i] for i, k in enumerate(keys))).values({column: new}))
                scrubbed += 1
    return scrubbed


def _row_hash(row: dict[str, Any]) -> str:
    data = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items() if k != "hash"}
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _known(conn: Connection, person_id: str) -> bool:
    rel = table_of(Relationship)
    named = conn.execute(
        select(func.count())
        .select_from(rel)
        .where(or_(rel.c.mentor_id == person_id, rel.c.mentee_id == person_id, rel.c.proposed_by == person_id))
    ).scalar_one()
    acted = conn.execute(
        select(func.count()).select_from(table_of(EventLog)).where(table_of(EventLog).c.actor_id == person_id)
    ).scalar_one()
    enrollments = table_of(ProgramEnrollment)
    enrolled = conn.execute(
        select(func.count()).select_from(enrollments).where(enrollments.c.person_id == person_id)
    ).scalar_one()
    return bool(named or acted or enrolled)


def _previous(conn: Connection, person_id: str) -> int:
    ledger = ERASURES
    return int(
        conn.execute(select(func.count()).select_from(ledger).where(ledger.c.person_id == person_id)).scalar_one()
    )


def erase_person(
    engine: Engine,
    store: KeyStore,
    person_id: str,
    *,
    by: str,
    by_role: str,
    reason_code: str = "request",
    now: datetime | None = None,
) -> ErasureOutcome:
    """Erase ``person_id`` (see the module doc). Raises :class:`UnknownPerson` when nothing names them; a person
    with nothing left to erase (erased before, nothing written since) is a no-op: ``erased`` False."""
    ensure_tables(engine)
    key_ids = store.key_ids_of(person_id)
    with engine.connect() as conn:
        known, previous = _known(conn, person_id), _previous(conn, person_id)
    if not (known or key_ids or previous):
        raise UnknownPerson(f"no relationship, event or key names person {person_id}: nothing to erase")
    keys_erased = store.erase(person_id)
    entry = {
        "person_id": person_id,
        "erased_by": by,
        "erased_by_role": by_role,
        "reason_code": reason_code,
        "erased_at": (now or datetime.now(UTC)).replace(microsecond=0),
        "keys_erased": keys_erased,
    }
    for attempt in range(1, LEDGER_ATTEMPTS + 1):
        try:
            return _scrub_and_append(engine, entry, key_ids, previous)
        except (IntegrityError, OperationalError) as exc:  # the same seq appended first elsewhere: rolled back
            if attempt == LEDGER_ATTEMPTS or not _lost_the_race(exc):
                raise
            time.sleep(random.uniform(0, 0.05 * 2**attempt))
    raise AssertionError("unreachable")  # pragma: no cover


def _lost_the_race(exc: IntegrityError | OperationalError) -> bool:
    """Another transaction appended first: the ledger's seq taken (a unique conflict), or SQLite refusing to turn
    this transaction's read into a write after another one committed (``database is locked``)."""
    return isinstance(exc, IntegrityError) or "locked" in str(exc.orig)


def _scrub_and_append(engine: Engine, entry: dict[str, Any], key_ids: list[str], previous: int) -> ErasureOutcome:
    """One transaction: scrub the reporting tables, then append the ledger row after the head it reads."""
    person_id, keys_erased = entry["person_id"], entry["keys_erased"]
    ledger = ERASURES
    with engine.begin() as conn:
        scrubbed = _scrub(conn, person_id, key_ids)
        if previous and not keys_erased and not scrubbed:
            return ErasureOutcome(person_id, False, 0, 0, previous_erasures=previous)
        last = conn.execute(select(ledger.c.seq, ledger.c.hash).order_by(ledger.c.seq.desc()).limit(1)).first()
        row: dict[str, Any] = {
            "seq": (last[0] + 1) if last else 1,
            **entry,
            "rows_scrubbed": scrubbed,
            "prev_hash": last[1] if last else GENESIS,
        }
        row["hash"] = _row_hash(row)
        conn.execute(ledger.insert().values(row))
    return ErasureOutcome(person_id, True, keys_erased, scrubbed, row["seq"], row["hash"], previous)


def ledger_rows(conn: Connection, person_id: str | None = None) -> list[dict[str, Any]]:
    ledger = ERASURES
    stmt = select(ledger).order_by(ledger.c.seq)
    if person_id is not None:
        stmt = stmt.where(ledger.c.person_id == person_id)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def verify_ledger(engine: Engine) -> str | None:
    """None when the erasure ledger's chain holds; otherwise the first problem."""
    ensure_tables(engine)
    with engine.connect() as conn:
        return _ledger_problem(ledger_rows(conn))


@dataclass(frozen=True)
class LedgerVerdict:
    """The erasure ledger as an auditor finds it: how many rows, and the first problem of its chain (None: holds)."""

    rows: int
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "rows": self.rows, "problem": self.problem}


def audit_ledger(engine: Engine) -> LedgerVerdict:
    """Read-only (``mentorflow audit verify --all``): the ledger's chain checked; a database without the privacy
    tables has an empty ledger, which holds."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(ERASURES.name):
            return LedgerVerdict(0, None)
        rows = ledger_rows(conn)
    return LedgerVerdict(len(rows), _ledger_problem(rows))


def _ledger_problem(rows: list[dict[str, Any]]) -> str | None:
    prev = GENESIS
    for n, row in enumerate(rows, 1):
        if row["seq"] != n:
            return f"erasure ledger: seq {row['seq']} where {n} was expected (a row is missing)"
        if row["prev_hash"] != prev or _row_hash(row) != row["hash"]:
            return f"erasure ledger: row {n} does not match its hash (edited or reordered)"
        prev = row["hash"]
    return None


def _json_rows(conn: Connection, table: Table, where: Any) -> list[dict[str, Any]]:
    return [
        {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()}
        for r in conn.execute(select(table).where(where)).mappings()
    ]


_ENROLLMENT_EVENTS = ("ParticipantEnrolled", "ParticipantWithdrawn")


def _enrollment_events(conn: Connection, person_id: str) -> list[dict[str, Any]]:
    """The program chains' events about the person (their enrollments, with the profile as enrolled, and
    withdrawals): a manager acted in them, so they are not among the events the person acted in."""
    log = table_of(EventLog)
    rows = conn.execute(
        select(log.c.relationship_id, log.c.envelope)
        .where(log.c.type.in_(_ENROLLMENT_EVENTS), log.c.envelope.contains(person_id, autoescape=True))
        .order_by(log.c.relationship_id, log.c.seq)
    )
    found = [(rid, json.loads(envelope)) for rid, envelope in rows]
    return [{**data, "chain_id": rid} for rid, data in found if data.get("payload", {}).get("person_id") == person_id]


def export_person(engine: Engine, cipher: FieldCipher, person_id: str) -> dict[str, Any]:
    """Everything held about ``person_id``, opened: their relationships, the rows they authored or that are about
    them (meetings, goals, check-ins, survey responses, separations, redefinitions, program enrollments with their
    profiles, matching rounds), the events they acted in (payloads opened) and their erasures. Raises
    :class:`UnknownPerson` when nothing names them."""
    ensure_tables(engine)
    rel = table_of(Relationship)
    log = table_of(EventLog)
    with engine.connect() as conn:
        if not (_known(conn, person_id) or _previous(conn, person_id) or cipher.store.key_ids_of(person_id)):
            raise UnknownPerson(f"no relationship, event or key names person {person_id}")
        relationships = _json_rows(conn, rel, or_(rel.c.mentor_id == person_id, rel.c.mentee_id == person_id))
        authored = {table.name: _json_rows(conn, table, table.c[author] == person_id) for table, author, _ in _AUTHORED}
        responses = table_of(SurveyResponse)
        authored[responses.name] = [
            {**r, "answers": json.loads(r["answers"])}
            for r in _json_rows(conn, responses, responses.c.submitted_by == person_id)
        ]
        enrollments = table_of(ProgramEnrollment)
        authored[enrollments.name] = [
            {**r, "profile": json.loads(r["profile"]), "preferences": json.loads(r["preferences"])}
            for r in authored[enrollments.name]
        ]
        rounds = table_of(ProgramRoundEntry)
        authored[rounds.name] = _json_rows(
            conn, rounds, or_(rounds.c.mentee_id == person_id, rounds.c.mentor_id == person_id)
        )
        events = [
            {**json.loads(envelope), "relationship_id": rid}
            for rid, envelope in conn.execute(
                select(log.c.relationship_id, log.c.envelope)
                .where(log.c.actor_id == person_id)
                .order_by(log.c.relationship_id, log.c.seq)
            )
        ]
        enrollment_events = _enrollment_events(conn, person_id)
        erasures = [
            {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()}
            for r in ledger_rows(conn, person_id)
        ]
    opened = cipher.open_json(
        {
            "relationships": relationships,
            "authored": authored,
            "events": events,
            "enrollment_events": enrollment_events,
        }
    )
    return {
        "person_id": person_id,
        "generated_at": datetime.now(UTC).isoformat(),
        "keys_held": len(cipher.store.key_ids_of(person_id)),
        **opened,
        "erasures": erasures,
    }
