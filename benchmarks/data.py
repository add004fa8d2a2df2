"""Histories for the benchmarks, made by the pure core (``domain.execute`` / ``domain.advance`` on a simulated
clock), so every envelope is exactly what the workflow would seal.

A million envelopes through ``execute`` take about 80 s; instead :func:`templates` builds a few dozen distinct
relationships once and :class:`Replicator` stamps out copies of them with a new relationship id and new event ids,
re-hashing each chain (string templating of the canonical JSON plus one sha256 per envelope): every copy is a valid,
distinct chain that ``verify_chain`` and the projector accept.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from domain import (
    Actor,
    CompleteGoal,
    DeclineMatch,
    Envelope,
    LifecyclePolicy,
    LogMeeting,
    RequestRematch,
    Role,
    SetGoal,
    SubmitCheckIn,
    Terminate,
    canonical_json,
    scripting,
)
from domain.limits import MAX_GOALS_PER_RELATIONSHIP
from domain.rules import RULES_V2
from domain.scripting import DAY, T0

__all__ = ["T0", "Replicator", "Script", "full_lifecycle", "long_history", "templates"]

RID_MARK = "RIDXQZRIDXQZ"  # stands for the relationship id inside a template (appears in ids, actors, payloads)


class Script(scripting.Script):
    """A benchmark relationship (manager ``pm-bench``, program ``prog-bench``) on :class:`domain.scripting.Script`,
    with the benchmark's building blocks."""

    def __init__(
        self,
        relationship_id: str,
        start: datetime = T0,
        policy: LifecyclePolicy | None = None,
        program_id: str = "prog-bench",
    ) -> None:
        super().__init__(
            relationship_id,
            start=start,
            policy=policy,
            program_id=program_id,
            manager=Actor(id="pm-bench", role=Role.MANAGER),
            ids=scripting.deterministic_ids(f"mentorflow-bench:{relationship_id}"),
            rules_version=RULES_V2,  # the recorded shapes the audit tests and benchmarks count on (no surveys)
        )

    def propose(self, match_score: Decimal | str | None = "0.81", **overrides: Any) -> list[Envelope]:
        return super().propose(match_score, **overrides)

    def meeting(self, gap_days: float = 10, who: Actor | None = None) -> None:
        self.later(timedelta(days=gap_days))
        self.do(LogMeeting, who or self.mentee, held_at=self.now - timedelta(hours=1), duration_minutes=50)

    def to_cultivation(self) -> None:
        self.kickoff()
        self.meeting(7)
        self.meeting(14)
        assert self.state.trial_ends_at is not None
        self.at(self.state.trial_ends_at)

    def activity(self, rounds: int, variant: int) -> None:
        for i in range(rounds):
            self.meeting(8 + (i + variant) % 9, self.mentor if i % 2 else self.mentee)
            if i % 3 == variant % 3:
                self.do(SetGoal, self.mentee, text=f"goal {i} of variant {variant}")
            if i % 4 == 1:
                self.do(SubmitCheckIn, self.mentee, satisfaction=2 + (i + variant) % 4, comment="fine")
            if i % 5 == 4 and self.state.goals:
                open_goals = [g for g, goal in self.state.goals.items() if goal.completed_at is None]
                if open_goals:
                    self.do(CompleteGoal, self.mentee, goal_id=open_goals[0])


def full_lifecycle(
    relationship_id: str,
    *,
    start: datetime = T0,
    policy: LifecyclePolicy | None = None,
    program_id: str = "prog-audit",
) -> list[Envelope]:
    """One relationship through initiation → cultivation → separation → redefinition → closed (``collegial``),
    ``mentoring-12m`` by default, for the audit tests and the ``verify --all`` seeding. Timers fire at their
    deadlines, as the workflow fires them; event ids are deterministic (uuid5 of the relationship id and a counter)."""
    s = scripting.Script(
        relationship_id,
        start=start,
        policy=policy,
        program_id=program_id,
        manager=Actor(id="pm-audit", role=Role.MANAGER),
        rules_version=RULES_V2,  # the recorded shape the audit tests count on (no surveys)
    )
    s.kickoff(accept_after=timedelta(hours=5))
    for gap in (7, 14):
        s.later(gap * DAY)
        s.do(LogMeeting, s.mentee, held_at=s.now - timedelta(hours=1), duration_minutes=60)
    assert s.state.trial_ends_at is not None
    s.at(s.state.trial_ends_at)  # trial passed: cultivation
    for _ in range(4):
        s.later(20 * DAY)
        s.do(LogMeeting, s.mentor, held_at=s.now - timedelta(hours=1), duration_minutes=45)
    s.separate_and_redefine("collegial")
    assert s.state.is_closed, (s.state.stage, s.state.substate)
    return s.log


def _template(rid: str, variant: int) -> list[Envelope]:
    s = Script(rid, start=T0 + timedelta(hours=variant))
    shape = variant % 6
    if shape == 0:  # the whole lifecycle
        s.to_cultivation()
        s.activity(4 + variant % 5, variant)
        s.separate_and_redefine("collegial" if variant % 2 else "friendship")
    elif shape == 1:  # open, in cultivation
        s.to_cultivation()
        s.activity(6 + variant % 7, variant)
    elif shape == 2:  # declined
        s.propose()
        s.later(DAY)
        s.do(DeclineMatch, s.mentee, reason="schedule")
    elif shape == 3:  # rematched during the trial
        s.kickoff()
        s.meeting(5)
        s.do(RequestRematch, s.mentee, reason="different goals")
    elif shape == 4:  # lapsed: timers at risk, then terminated
        s.to_cultivation()
        s.activity(2, variant)
        s.later(70 * DAY)
        s.do(Terminate, s.manager, reason_code="inactive")
    else:  # long and healthy, then ended
        s.to_cultivation()
        s.activity(12 + variant % 5, variant)
        s.separate_and_redefine("ended")
    return s.log


def templates(count: int = 24) -> list[list[Envelope]]:
    """``count`` distinct relationships (six shapes, varying lengths), relationship id :data:`RID_MARK`."""
    return [_template(RID_MARK, v) for v in range(count)]


def long_history(relationship_id: str, events: int) -> list[Envelope]:
    """One relationship with at least ``events`` envelopes (a long cultivation: meetings, goals, check-ins)."""
    s = Script(relationship_id)
    s.to_cultivation()
    i = 0
    while len(s.log) < events:
        # many small commands a few hours apart: the term (12 months) is never reached
        s.later(timedelta(hours=3))
        if i % 4 == 0 or (i % 4 == 1 and len(s.state.goals) >= MAX_GOALS_PER_RELATIONSHIP):
            s.do(LogMeeting, s.mentee, held_at=s.now - timedelta(minutes=30), duration_minutes=30)
        elif i % 4 == 1:
            s.do(SetGoal, s.mentee, text=f"goal {i}")
        elif i % 4 == 2:
            s.do(SubmitCheckIn, s.mentor, satisfaction=4, comment="")
        else:
            open_goals = [g for g, goal in s.state.goals.items() if goal.completed_at is None]
            if open_goals:
                s.do(CompleteGoal, s.mentee, goal_id=open_goals[0])
        i += 1
    return s.log[:events]


# --- replication ---------------------------------------------------------------------------------------------

_EID_MARK = "00000000-0000-4000-8000-00000000e1d0"
_PREV_MARK = "p" * 64
_HASH_MARK = "h" * 64


@dataclass
class _Piece:
    hashed: list[str]  # the hashed body split at the marks (rid, eid, prev alternate as the splits say)
    full: list[str]
    hashed_order: list[str]
    full_order: list[str]


def _split(text: str, marks: dict[str, str]) -> tuple[list[str], list[str]]:
    """Split ``text`` at every occurrence of the marks; returns the literal pieces and the mark names between."""
    pieces: list[str] = []
    order: list[str] = []
    rest = text
    while True:
        found = [(rest.find(m), name, m) for name, m in marks.items() if m in rest]
        if not found:
            pieces.append(rest)
            return pieces, order
        pos, name, mark = min(found)
        pieces.append(rest[:pos])
        order.append(name)
        rest = rest[pos + len(mark) :]


def _compile(env: Envelope) -> _Piece:
    body = env.hashed_dict()
    body["event_id"] = _EID_MARK
    body["prev_hash"] = _PREV_MARK
    hashed_text = canonical_json(body).decode()
    full_text = canonical_json({**body, "hash": _HASH_MARK}).decode()
    marks = {"rid": RID_MARK, "eid": _EID_MARK, "prev": _PREV_MARK, "hash": _HASH_MARK}
    hashed, h_order = _split(hashed_text, marks)
    full, f_order = _split(full_text, marks)
    return _Piece(hashed, full, h_order, f_order)


def _join(pieces: list[str], order: list[str], values: dict[str, str]) -> str:
    out = [pieces[0]]
    for name, piece in zip(order, pieces[1:], strict=True):
        out.append(values[name])
        out.append(piece)
    return "".join(out)


class Replicator:
    """Copies of the templates as canonical message bytes, each copy a distinct valid chain.

    ``copy(i)`` returns ``(relationship_id, [value bytes...])`` for copy ``i`` (template ``i % len(templates)``)."""

    def __init__(self, prefix: str, template_logs: list[list[Envelope]]) -> None:
        self.prefix = prefix
        self.compiled = [[_compile(e) for e in log] for log in template_logs]
        self.sizes = [len(log) for log in template_logs]

    def relationship_id(self, i: int) -> str:
        return f"{self.prefix}-{i:07d}"

    def copy(self, i: int) -> tuple[str, list[bytes]]:
        rid = self.relationship_id(i)
        prev = "0" * 64
        out: list[bytes] = []
        sha = hashlib.sha256
        for seq, piece in enumerate(self.compiled[i % len(self.compiled)], 1):
            values = {"rid": rid, "eid": f"{i:08x}-{seq:04x}-4000-8000-{i % 997:012x}", "prev": prev}
            digest = sha(_join(piece.hashed, piece.hashed_order, values).encode()).hexdigest()
            values["hash"] = digest
            out.append(_join(piece.full, piece.full_order, values).encode())
            prev = digest
        return rid, out

    def copies_for(self, events: int) -> Iterator[tuple[str, list[bytes]]]:
        """Copies until at least ``events`` envelopes were produced (the last copy is whole)."""
        total = 0
        for i in itertools.count():
            if total >= events:
                return
            rid, values = self.copy(i)
            total += len(values)
            yield rid, values
