"""A scripted program of 200 relationships (declined, expired, rematched, full lifecycle, terminated, at risk,
contested, paused, renewed, did not start, …) published to a topic; the projector's tables hold what the events on
the topic say. The expected numbers are computed here from the raw topic (plain JSON), not with projector code."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import func, select

from projections.db import make_engine, migrate, wait_for_seq
from projections.models import Base
from projections.projector import Projector
from projections.read_model import at_risk, funnel
from tests.integration.projections.conftest import TopicMessage, program_records, publish, read_topic

NUDGE_TYPES = {"AcceptanceReminderSent", "NudgeSent", "EscalatedToManager", "InactivityWarningSent", "NoticeSent"}


def expected_from(messages: list[TopicMessage]) -> dict[str, Any]:
    events: dict[tuple[str, int], dict[str, Any]] = {}
    for m in sorted(messages, key=lambda m: (m.partition, m.offset)):
        assert m.value is not None
        e = json.loads(m.value)
        events.setdefault((e["relationship_id"], e["seq"]), e)  # a duplicate is the same event
    by_rel: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (rid, _), e in sorted(events.items()):
        by_rel[rid].append(e)
    types = Counter(e["type"] for e in events.values())
    changes = [e["payload"] for e in events.values() if e["type"] == "StageChanged"]
    final_stage: Counter[str] = Counter()
    health: dict[str, str] = {}
    funnel_: dict[str, Counter[str]] = defaultdict(Counter)
    for rid, history in by_rel.items():
        program = history[0]["program_id"]
        stages = [e["payload"] for e in history if e["type"] == "StageChanged"]
        final_stage[stages[-1]["to_stage"]] += 1
        healths = [e["payload"]["to_health"] for e in history if e["type"] == "HealthChanged"]
        if stages[-1]["to_stage"] != "closed" and healths and healths[-1] != "green":
            health[rid] = healths[-1]
        f = funnel_[program]
        f["proposed"] += 1
        f["accepted"] += any(s["to_substate"] == "kickoff_pending" for s in stages)
        f["kicked_off"] += any(e["type"] == "TrialStarted" for e in history)
        for stage in ("cultivation", "separation", "redefinition"):
            f[stage] += any(s["to_stage"] == stage for s in stages)
        closed = [e["payload"]["outcome"] for e in history if e["type"] == "RelationshipClosed"]
        if closed:
            f["closed"] += 1
            f[closed[0]] += 1
    return {
        "relationships": len(by_rel),
        "event_log": len(events),
        "stage_transitions": types["StageChanged"],
        "stage_durations": sum(1 for c in changes if c["to_stage"] not in (c["from_stage"], "closed")),
        "meetings": types["MeetingLogged"],
        "goals": types["GoalSet"],
        "goals_completed": types["GoalCompleted"],
        "check_ins": types["CheckInSubmitted"],
        "nudges": sum(types[t] for t in NUDGE_TYPES),
        "separations": types["SeparationProposed"]
        + sum(1 for c in changes if c["from_stage"] == "cultivation" and c["to_substate"] == "winding_down"),
        "redefinition_outcomes": types["RedefinitionRecorded"],
        "final_stage": dict(final_stage),
        "at_risk_health": health,
        "funnel": {p: dict(c) for p, c in funnel_.items()},
        "last_seq": {rid: h[-1]["seq"] for rid, h in by_rel.items()},
    }


def assert_tables_match(engine: Any, expected: dict[str, Any]) -> None:
    """Every reporting table holds what the topic says (``expected_from``)."""
    with engine.connect() as conn:

        def count(table: str, where: Any = None) -> int:
            t = Base.metadata.tables[table]
            stmt = select(func.count()).select_from(t)
            return int(conn.execute(stmt if where is None else stmt.where(where(t))).scalar_one())

        for table in (
            "relationships",
            "event_log",
            "stage_transitions",
            "stage_durations",
            "meetings",
            "goals",
            "check_ins",
            "nudges",
            "separations",
            "redefinition_outcomes",
        ):
            assert count(table) == expected[table], table
        assert count("goals", lambda t: t.c.completed_at.is_not(None)) == expected["goals_completed"]
        assert count("dead_letters") == 0
        rel = Base.metadata.tables["relationships"]
        stages = dict(conn.execute(select(rel.c.stage, func.count()).group_by(rel.c.stage)).all())
        assert stages == expected["final_stage"]
        assert dict(conn.execute(select(rel.c.relationship_id, rel.c.last_seq)).all()) == expected["last_seq"]
        funnel_rows = {r["program_id"]: r for r in funnel(conn)}
        for program_id, counts in expected["funnel"].items():
            row = funnel_rows[program_id]
            assert {k: row[k] for k in counts} == counts, program_id
        risky = {r["relationship_id"]: r["health"] for r in at_risk(conn) if r["health"] != "green"}
        assert risky == expected["at_risk_health"]


async def test_projection_counts_equal_what_the_topic_says(
    bootstrap: str, kafka_topic: str, dead_letter_topic: str, database_url: str, unique_id: str
) -> None:
    records = program_records(200)
    await publish(bootstrap, kafka_topic, records)
    migrate(database_url)
    projector = Projector(
        database_url=database_url, bootstrap_servers=bootstrap, topic=kafka_topic, group_id=f"g-{unique_id}"
    )
    async with projector:
        metrics = await projector.run(until_caught_up=True)
    assert (metrics.applied, metrics.gaps, metrics.poison, metrics.conflicts) == (len(records), 0, 0, 0)

    expected = expected_from(await read_topic(bootstrap, kafka_topic))
    assert expected["relationships"] == 201
    engine = make_engine(database_url)
    try:
        assert_tables_match(engine, expected)
        # read-your-writes
        rid, seq = next(iter(expected["last_seq"].items()))
        assert wait_for_seq(engine, rid, seq, timeout=5) == seq
    finally:
        engine.dispose()
