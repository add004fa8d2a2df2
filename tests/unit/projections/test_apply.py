"""The apply logic against SQLite in memory: the projection agrees with the pure core's own fold, duplicates are
harmless, gaps and poison are recorded (never silent), offsets fence concurrent writers."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy import exc as sa_exc

from domain import Envelope, canonical_json, replay
from projections.apply import message_fault
from projections.decode import Message
from projections.models import (
    CheckIn,
    DeadLetter,
    EventLog,
    Goal,
    ProgramFunnel,
    Relationship,
    StageDuration,
    StageTransition,
)
from projections.offsets import OffsetsMoved, read_offsets
from projections.snapshot import diff_snapshots, snapshot
from projections.writer.base import RefusedValue
from tests.unit.projections.helpers import GROUP, TOPIC, as_topic, memory_engine, messages_of, project
from tests.unit.projections.scenarios import golden_v1, program


@pytest.fixture
def engine() -> Engine:
    return memory_engine()


def _histories(n: int = 200) -> tuple[tuple[Envelope, ...], ...]:
    return program()[:n]


def test_relationship_rows_agree_with_the_domain_fold(engine: Engine) -> None:
    histories = _histories()
    results = project(engine, as_topic(histories), batch=400)
    assert sum(r.applied for r in results) == sum(len(h) for h in histories)
    assert not any(r.rejected for r in results)
    with engine.connect() as conn:
        rows = {r.relationship_id: r for r in conn.execute(select(Relationship.__table__))}
    assert len(rows) == len(histories)
    for history in histories:
        state = replay(history)
        row = rows[state.relationship_id]
        assert (row.stage, row.substate, row.health) == (state.stage.value, state.substate.value, state.health.value)
        assert row.marginal == state.marginal
        assert row.outcome == (state.outcome.value if state.outcome else None)
        assert row.meetings == state.meetings
        assert row.last_meeting_at == state.last_meeting_at
        assert row.goals_set == len(state.goals)
        assert row.goals_completed == state.goals_completed
        assert row.check_ins == state.check_ins
        assert row.renewals == state.renewals
        assert row.pauses == state.pauses
        assert row.opened_at == state.opened_at
        assert row.closed_at == state.closed_at
        assert row.stage_entered_at == state.stage_entered_at
        assert row.substate_entered_at == state.substate_entered_at
        assert row.term_ends_at == state.term_ends_at
        assert (row.last_seq, row.last_hash) == (state.seq, state.last_hash)
        assert (row.mentor_id, row.mentee_id, row.program_id) == (state.mentor_id, state.mentee_id, state.program_id)


def test_child_tables_and_funnel_count_what_the_events_say(engine: Engine) -> None:
    histories = _histories()
    project(engine, as_topic(histories), batch=250)
    types = Counter(e.type for h in histories for e in h)
    closed = Counter(h[-1].payload["outcome"] for h in histories if h[-1].type == "RelationshipClosed")
    with engine.connect() as conn:

        def count(model: type) -> int:
            return int(conn.execute(select(func.count()).select_from(model)).scalar_one())

        assert count(EventLog) == sum(types.values())
        assert count(StageTransition) == types["StageChanged"]
        assert count(CheckIn) == types["CheckInSubmitted"]
        assert count(Goal) == types["GoalSet"]
        funnel = conn.execute(
            select(func.sum(ProgramFunnel.proposed), func.sum(ProgramFunnel.closed), func.sum(ProgramFunnel.kicked_off))
        ).one()
        assert tuple(funnel) == (len(histories), sum(closed.values()), types["TrialStarted"])
        # every stage visit but the current one is closed; durations are exact
        open_visits = conn.execute(select(func.count()).where(StageDuration.exited_at.is_(None))).scalar_one()
        still_open = conn.execute(select(func.count()).where(Relationship.stage != "closed")).scalar_one()
        assert open_visits == still_open
        for row in conn.execute(select(StageDuration.__table__).where(StageDuration.exited_at.is_not(None))):
            assert row.seconds == (row.exited_at - row.entered_at).total_seconds()


def test_batch_size_does_not_change_the_result() -> None:
    messages = as_topic(_histories(60))
    one, many = memory_engine(), memory_engine()
    project(one, messages, batch=1)
    project(many, messages, batch=10_000)
    with one.connect() as a, many.connect() as b:
        assert diff_snapshots(snapshot(a), snapshot(b)) == []


def test_duplicates_are_skipped_and_harmless(engine: Engine) -> None:
    histories = _histories(40)
    messages = as_topic(histories)
    project(engine, messages)
    with engine.connect() as conn:
        before = snapshot(conn)
    # the whole topic published again (new offsets), then the same offsets redelivered
    again = messages_of(
        [(m.key.decode(), m.value) for m in messages if m.key and m.value],
        start={p: max(m.offset for m in messages if m.partition == p) + 1 for p in {m.partition for m in messages}},
    )
    results = project(engine, again, batch=100)
    assert sum(r.duplicates for r in results) == len(messages)
    assert sum(r.applied for r in results) == 0
    redelivered = project(engine, messages, batch=100)
    assert sum(r.already_applied for r in redelivered) == len(messages)
    with engine.connect() as conn:
        after = snapshot(conn)
    assert not any(r.rejected for r in results + redelivered)
    before.pop("dead_letters"), after.pop("dead_letters")
    assert diff_snapshots(before, after) == []


def _reseal(data: dict[str, object]) -> bytes:
    body = {k: v for k, v in data.items() if k != "hash"}
    data = {**body, "hash": hashlib.sha256(canonical_json(body)).hexdigest()}
    return canonical_json(data)


def test_gap_is_an_alarm_not_silence(engine: Engine) -> None:
    history = _histories(4)[3]  # a full lifecycle
    kept = [e for e in history if e.seq != 5]
    results = project(engine, messages_of([(e.relationship_id, e.to_bytes()) for e in kept]))
    gaps = [r for res in results for r in res.rejected]
    assert [g.kind for g in gaps] == ["gap"] * (len(history) - 5)
    assert gaps[0].seq == 6 and "missing 5..5" in gaps[0].error
    with engine.connect() as conn:
        assert conn.execute(select(Relationship.last_seq)).scalar_one() == 4
        assert conn.execute(
            select(func.count()).select_from(DeadLetter).where(DeadLetter.kind == "gap")
        ).scalar_one() == len(gaps)


def test_poison_messages_are_dead_lettered_and_neighbours_applied(engine: Engine) -> None:
    good = _histories(2)[1]  # expired: a short history
    first, second = good[0], good[1]
    data = json.loads(second.to_bytes())
    tampered = dict(data, payload={**data["payload"], "reason": "tampered"})  # hash no longer matches
    unknown = _reseal(dict(data, type="MatchTeleported"))
    wrong_prev = _reseal(dict(data, prev_hash="f" * 64))
    bad_key = second.to_bytes()
    records = [
        ("x", b"\xff not json"),
        (first.relationship_id, first.to_bytes()),
        (first.relationship_id, canonical_json(tampered)),
        (first.relationship_id, unknown),
        (first.relationship_id, wrong_prev),
        (first.relationship_id, json.dumps(data, indent=1).encode()),  # not canonical
        (first.relationship_id, b'{"seq": 2}'),
    ]
    messages = messages_of(records, partitions=1)
    messages.append(Message(TOPIC, 0, len(messages), b"someone-else", bad_key))
    messages += messages_of(
        [(e.relationship_id, e.to_bytes()) for e in good[1:]], partitions=1, start={0: len(messages)}
    )
    (result,) = project(engine, messages)
    kinds = [(r.kind, r.message.offset, r.error.split(":")[0]) for r in result.rejected]
    assert kinds == [
        ("poison", 0, "undecodable"),
        ("poison", 2, "chain"),
        ("poison", 3, "upcast"),
        ("poison", 5, "shape"),
        ("poison", 6, "shape"),
        ("poison", 7, "shape"),
        ("poison", 4, "chain"),  # prev_hash is checked against the projection, after decoding
    ]
    assert result.applied == len(good)
    with engine.connect() as conn:
        assert conn.execute(select(Relationship.outcome)).scalar_one() == "expired"
        stored = conn.execute(select(DeadLetter.offset, DeadLetter.kind, DeadLetter.message_value)).all()
        assert sorted(o for o, _, _ in stored) == [0, 2, 3, 4, 5, 6, 7]
        assert {v for o, _, v in stored if o == 0} == {b"\xff not json"}
        assert read_offsets(conn, GROUP, [TOPIC]) == {(TOPIC, 0): len(messages)}


def test_a_stage_change_from_another_position_is_poison(engine: Engine) -> None:
    history = _histories(1)[0]  # declined
    change = next(e for e in history if e.type == "StageChanged" and e.seq > 2)
    data = json.loads(change.to_bytes())
    fake = dict(data, seq=3, prev_hash=history[1].hash, payload={**data["payload"], "from_stage": "cultivation"})
    (result,) = project(
        engine,
        messages_of(
            [(e.relationship_id, e.to_bytes()) for e in history[:2]] + [(change.relationship_id, _reseal(fake))]
        ),
    )
    assert [r.kind for r in result.rejected] == ["poison"]
    assert "StageChanged from cultivation" in result.rejected[0].error


def test_conflicting_duplicate_is_an_alarm(engine: Engine) -> None:
    history = _histories(1)[0]
    project(engine, messages_of([(e.relationship_id, e.to_bytes()) for e in history]))
    data = json.loads(history[1].to_bytes())
    forked = _reseal(dict(data, causation_id="another-command"))
    (result,) = project(engine, messages_of([(history[1].relationship_id, forked)], start={0: 100, 1: 100, 2: 100}))
    assert [(r.kind, r.seq) for r in result.rejected] == [("conflict", 2)]
    assert result.applied == 0


def test_v1_check_in_is_upcast_on_read(engine: Engine) -> None:
    lines = golden_v1()
    (result,) = project(engine, messages_of([("r-1", line) for line in lines]))
    assert result.applied == len(lines) and not result.rejected
    with engine.connect() as conn:
        check_in = conn.execute(select(CheckIn.__table__)).one()
        stored = conn.execute(select(EventLog.envelope).where(EventLog.type == "CheckInSubmitted")).scalar_one()
    v1 = json.loads(stored)
    assert v1["schema_version"] == 1 and "score" in v1["payload"]  # stored verbatim ...
    assert check_in.schema_version == 1
    assert check_in.satisfaction == (v1["payload"]["score"] + 1) // 2  # ... and upcast when projected
    assert stored.encode() == lines[[json.loads(x)["type"] for x in lines].index("CheckInSubmitted")]


@pytest.mark.parametrize(
    ("exc", "theirs"),
    [
        (sa_exc.IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")), True),
        (sa_exc.DataError("INSERT", {}, Exception("value too long")), True),
        (RefusedValue("value too long"), True),
        (RecursionError("maximum recursion depth exceeded"), True),
        (KeyError("from_stage"), True),
        (sa_exc.OperationalError("SELECT", {}, Exception("database is locked")), False),
        (sa_exc.OperationalError("SELECT", {}, Exception("server closed the connection")), False),
        (sa_exc.ProgrammingError("SELECT", {}, Exception("no such column")), False),
        (sa_exc.InterfaceError("SELECT", {}, Exception("connection already closed")), False),
        (sa_exc.DBAPIError("SELECT", {}, Exception("gone"), connection_invalidated=True), False),
        (OffsetsMoved({}), False),
        (KeyboardInterrupt(), False),
    ],
)
def test_a_failure_is_the_messages_unless_the_database_does_not_answer(exc: BaseException, theirs: bool) -> None:
    assert message_fault(exc) is theirs


def test_a_missing_table_fails_the_batch_instead_of_dead_lettering_every_message(engine: Engine) -> None:
    """Not the messages' fault: the batch is rolled back and retried, nothing is dead-lettered for it."""
    history = _histories(4)[3]
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE meetings")
    with pytest.raises(sa_exc.OperationalError, match="no such table"):
        project(engine, messages_of([(e.relationship_id, e.to_bytes()) for e in history]))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(DeadLetter)).scalar_one() == 0
        assert read_offsets(conn, GROUP, [TOPIC]) == {}


def test_a_message_the_database_refuses_is_isolated_in_any_batch(engine: Engine) -> None:
    """A constraint violation in the middle of a batch: the batch is applied in halves down to the culprit, which is
    dead-lettered with the database's error; every other message of the batch is applied exactly once."""
    histories = _histories(12)
    h = histories[3]
    goals = [e for e in h if e.type == "GoalSet"]
    forged = _reseal(
        dict(json.loads(goals[1].to_bytes()), payload={**goals[1].payload, "goal_id": goals[0].payload["goal_id"]})
    )
    good = as_topic(histories, partitions=1)  # one partition: offset = index
    cut = next(i for i, m in enumerate(good) if m.value == goals[1].to_bytes())
    project(engine, good[:cut])
    rest = good[cut:]
    batch = messages_of(
        [(h[0].relationship_id, forged)] + [(m.key.decode(), m.value) for m in rest if m.key and m.value],
        partitions=1,
        start={0: cut},
    )
    (result,) = project(engine, batch, batch=len(batch))
    assert [(r.kind, r.seq, r.error.split(":")[0]) for r in result.rejected] == [("poison", goals[1].seq, "apply")]
    assert "UNIQUE" in result.rejected[0].error
    assert result.applied == len(rest)
    reference = memory_engine()
    project(reference, good)
    with engine.connect() as a, reference.connect() as b:
        mine, clean = snapshot(a), snapshot(b)
    assert len(mine.pop("dead_letters")) == 1 and clean.pop("dead_letters") == []
    mine.pop("event_log"), clean.pop("event_log")  # the forged message shifted the Kafka offsets by one
    assert diff_snapshots(mine, clean) == []
