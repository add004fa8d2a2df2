"""After the faults: what the stores hold, against what the clients were told.

* every accepted command's envelopes are in ``event_log`` with the event ids the client was given, and every
  accepted meeting is one row of ``meetings`` (the reporting table), no more;
* no command was applied twice: the envelopes caused by a command id are exactly those of its accepted answer (two
  accepted answers for one command id carry the same envelopes);
* a ``refused``, ``busy`` or ``unreachable`` answer left nothing behind; an ``unknown`` one was resolved by
  re-sending it;
* every relationship of the run verifies three-way (event log, topic, Temporal history) and its history replays.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import bindparam, select

from benchmarks.chaos.load import NOTHING_APPLIED, Answer, Ledger
from projections.db import make_engine
from projections.models import EventLog, Meeting
from workers.settings import Settings

COMMANDED_MEETING = "MeetingLogged"


@dataclass
class Problem:
    command_id: str
    relationship_id: str
    started: float
    kind: str  # lost | duplicated | mismatch
    detail: str


@dataclass
class Findings:
    problems: list[Problem] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    resolved_unknown: int = 0
    verified: int = 0
    verify_failed: list[str] = field(default_factory=list)
    verify_warnings: int = 0
    events: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems and not self.verify_failed

    def count(self, kind: str, within: Callable[[float], bool] = lambda _t: True) -> int:
        return sum(1 for p in self.problems if p.kind == kind and within(p.started))


def _stored(
    settings: Settings, relationships: list[str]
) -> tuple[list[tuple[str, int, str, str | None, str]], set[tuple[str, int]]]:
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            log = conn.execute(
                select(
                    EventLog.relationship_id, EventLog.seq, EventLog.event_id, EventLog.causation_id, EventLog.type
                ).where(EventLog.relationship_id.in_(bindparam("ids", expanding=True))),
                {"ids": relationships},
            ).all()
            meetings = conn.execute(
                select(Meeting.relationship_id, Meeting.seq).where(
                    Meeting.relationship_id.in_(bindparam("ids", expanding=True))
                ),
                {"ids": relationships},
            ).all()
    finally:
        engine.dispose()
    return [tuple(row) for row in log], {tuple(row) for row in meetings}  # type: ignore[misc]


def compare(settings: Settings, ledger: Ledger) -> Findings:
    """The ledger against event_log and the meetings table."""
    found = Findings()
    log, meetings = _stored(settings, ledger.relationships)
    found.events = len(log)
    by_cause: dict[str, set[tuple[str, int, str]]] = defaultdict(set)
    for rid, seq, event_id, cause, _type in log:
        if cause:
            by_cause[cause].add((rid, seq, event_id))
    final = ledger.final()
    accepted: dict[str, list[Answer]] = defaultdict(list)
    for a in ledger.answers:
        if a.outcome == "accepted":
            accepted[a.command_id].append(a)
    for command_id, answer in final.items():
        found.outcomes[answer.outcome] += 1
        applied = by_cause.get(command_id, set())
        first = min((a for a in ledger.answers if a.command_id == command_id), key=lambda a: a.started)
        note = judge(answer, applied, accepted.get(command_id, []))
        if note is not None:
            found.problems.append(Problem(command_id, answer.relationship_id, first.started, *note))
    meeting_events = {(rid, seq) for rid, seq, _event, _cause, type_ in log if type_ == COMMANDED_MEETING}
    for rid, seq in sorted(meeting_events - meetings):
        found.problems.append(Problem("", rid, 0.0, "lost", f"meeting seq {seq} is not in the meetings table"))
    for rid, seq in sorted(meetings - meeting_events):
        found.problems.append(Problem("", rid, 0.0, "duplicated", f"meetings row seq {seq} has no MeetingLogged"))
    found.resolved_unknown = sum(
        1
        for cid, a in final.items()
        if a.outcome != "unknown" and any(b.outcome == "unknown" for b in ledger.answers if b.command_id == cid)
    )
    return found


def judge(answer: Answer, applied: set[tuple[str, int, str]], accepted: list[Answer]) -> tuple[str, str] | None:
    if answer.outcome == "accepted":
        told = {(a.relationship_id, seq, eid) for a in accepted for seq, eid in a.events}
        if len({tuple(a.events) for a in accepted}) > 1:
            return "duplicated", f"accepted {len(accepted)} times with different envelopes"
        if told - applied:
            return "lost", f"accepted, but event_log lacks {sorted(told - applied)[:3]}"
        if applied - told:
            return "duplicated", f"event_log holds envelopes of it nobody was told of: {sorted(applied - told)[:3]}"
        return None
    if answer.outcome in NOTHING_APPLIED and applied:
        return "mismatch", f"told {answer.outcome} ({answer.status}), but {len(applied)} envelopes were appended"
    if answer.outcome == "unknown":
        return "mismatch", f"outcome still unknown after re-sending: {answer.detail}"
    return None


async def verify_three_way(settings: Settings, program: str, found: Findings) -> None:
    """``mentorflow audit verify --all --program P``: event_log x topic x Temporal history, and the replay."""
    from workers.auditing import open_auditor

    async with open_auditor(settings) as auditor:
        summary = await auditor.verify_all(program=program)
    found.verified = len(summary.reports)
    found.verify_failed = [f"{r.relationship_id}: {r.to_dict()}" for r in summary.reports if not r.ok]
    found.verify_warnings = summary.warnings


async def drained(settings: Settings, relationships: list[str], *, within: float) -> list[str]:
    """Wait until every relationship's events are published and projected (event_log holds the workflow's last
    seq); the ones that are not within ``within`` seconds."""
    from workflows.client import MentorflowClient
    from workflows.connection import connect

    client = MentorflowClient(
        await connect(settings.temporal.address, settings.temporal.namespace), task_queue=settings.temporal.task_queue
    )
    engine = make_engine(settings.database_url)
    deadline = time.monotonic() + within
    pending = list(relationships)
    try:
        while pending and time.monotonic() < deadline:
            with engine.connect() as conn:
                rows = conn.execute(
                    select(EventLog.relationship_id, EventLog.seq).where(
                        EventLog.relationship_id.in_(bindparam("ids", expanding=True))
                    ),
                    {"ids": pending},
                ).all()
            projected: dict[str, int] = defaultdict(int)
            for rid, seq in rows:
                projected[rid] = max(projected[rid], seq)
            still = []
            for rid in pending:
                try:
                    status = await client.status(rid)
                except Exception:
                    still.append(rid)
                    continue
                if status.outbox or projected[rid] < status.seq:
                    still.append(rid)
            pending = still
            if pending:
                await asyncio.sleep(1)
    finally:
        engine.dispose()
    return pending
