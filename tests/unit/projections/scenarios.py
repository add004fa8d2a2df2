"""A scripted program of relationships along varied paths, produced with the pure core (``domain.execute`` /
``domain.advance`` over a simulated clock, ``itertools.count``-based ids): the exact envelopes the workflow
publishes. Timers fire as the workflow would fire them: before each command, every deadline up to ``now``."""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from domain import (
    AcceptMatch,
    Actor,
    CommandBase,
    CompleteGoal,
    ConsentSeparation,
    DeclineMatch,
    Envelope,
    LogMeeting,
    Pause,
    ProposeSeparation,
    RecordRedefinition,
    RequestRematch,
    RequestRenewal,
    ResolveSeparation,
    Resume,
    Role,
    SetGoal,
    SignAgreement,
    SubmitCheckIn,
    Terminate,
    builtin_policy,
)
from domain.scripting import DAY, T0, Script

POLICY = builtin_policy("mentoring-12m")
MANAGER = Actor(id="pm-1", role=Role.MANAGER)
PROGRAMS = ("prog-a", "prog-b", "prog-c")
GOLDEN_V1 = Path(__file__).resolve().parents[2] / "golden" / "relationship-checkin-v1.jsonl"

PATHS = (
    "declined",
    "expired",
    "rematched",
    "full_lifecycle",
    "terminated",
    "at_risk",
    "mutual_separation",
    "contested",
    "paused",
    "renewed",
    "did_not_start",
    "open_initiation",
    "inactivity",
)


class Rel(Script):
    """A relationship of the scripted program: ``m-<n>``/``e-<n>`` from its id's suffix, a shared id source, a seeded
    random source for the varied details; once closed, further commands are skipped."""

    def __init__(
        self, relationship_id: str, program_id: str, start: datetime, ids: Iterator[str], rng: random.Random
    ) -> None:
        n = relationship_id.rsplit("-", 1)[-1]
        super().__init__(
            relationship_id,
            start=start,
            policy=POLICY,
            program_id=program_id,
            manager=MANAGER,
            mentor=Actor(id=f"m-{n}", role=Role.MENTOR),
            mentee=Actor(id=f"e-{n}", role=Role.MENTEE),
            ids=ids,
            command_ids=(f"{relationship_id}-c{i}" for i in itertools.count()),
        )
        self.rng = rng

    def do(self, make: type[CommandBase], actor: Actor, **fields: object) -> list[Envelope]:
        return [] if self.state.is_closed else super().do(make, actor, **fields)

    # -- building blocks --------------------------------------------------------------------------------
    def propose(self, match_score: Decimal | str | None = None, **overrides: Any) -> list[Envelope]:
        # rules version 1: the projection's marginal rule is version 1's (see projections/handlers.py)
        overrides.setdefault("rules_version", 1)
        return super().propose(match_score or f"0.{self.rng.randint(50, 99)}", **overrides)

    def accept(self) -> None:
        self.later(timedelta(hours=self.rng.randint(1, 60)))
        for who in (self.mentor, self.mentee):
            self.do(AcceptMatch, who)

    def sign(self) -> None:
        self.later(DAY * self.rng.randint(1, 5))
        for who in (self.mentor, self.mentee):
            self.do(SignAgreement, who, goals=[f"goal {self.rng.randint(1, 3)} of {who.id}"], cadence="P2W")

    def meet(self, gap_days: int = 14) -> None:
        self.later(DAY * gap_days)
        who = self.rng.choice((self.mentor, self.mentee))
        self.do(LogMeeting, who, held_at=self.now - timedelta(hours=2), duration_minutes=self.rng.choice((30, 60, 90)))

    def check_in(self, satisfaction: int | None = None) -> None:
        who = self.rng.choice((self.mentor, self.mentee))
        self.do(SubmitCheckIn, who, satisfaction=satisfaction or self.rng.randint(1, 5), comment="ok")

    def to_cultivation(self) -> None:
        self.propose()
        self.accept()
        self.sign()
        self.meet(7)
        self.meet(14)
        assert self.state.trial_ends_at is not None
        self.at(self.state.trial_ends_at)
        assert self.state.stage.value == "cultivation", (self.relationship_id, self.state.stage)

    def cultivate(self, months: int) -> None:
        for _ in range(months * 2):
            self.meet(14)
            if self.rng.random() < 0.3:
                self.check_in()
            if self.rng.random() < 0.2:
                self.do(SetGoal, self.mentee, text=f"goal {len(self.state.goals) + 1}")
            open_goals = [g for g, v in self.state.goals.items() if not v.completed]
            if open_goals and self.rng.random() < 0.3:
                self.do(CompleteGoal, self.mentee, goal_id=open_goals[0])

    def redefine(self) -> None:
        self.later(DAY * 35)  # wind-down is 30 days
        assert self.state.stage.value == "redefinition", (self.relationship_id, self.state.stage, self.state.substate)
        choice = self.rng.random()
        if choice < 0.3:
            self.do(RecordRedefinition, self.mentor, outcome="collegial")
            self.do(RecordRedefinition, self.mentee, outcome="collegial")
        elif choice < 0.55:
            self.do(RecordRedefinition, self.mentor, outcome="friendship")
            self.later(DAY * 2)
            self.do(RecordRedefinition, self.mentee, outcome="friendship")
        elif choice < 0.8:
            self.do(RecordRedefinition, self.mentor, outcome="collegial")
            self.do(RecordRedefinition, self.mentee, outcome="ended")
        else:
            self.do(RecordRedefinition, self.mentor, outcome="friendship")
            self.later(DAY * 95)  # the follow-up window closes: ended

    # -- paths ------------------------------------------------------------------------------------------
    def run(self, path: str) -> None:
        getattr(self, f"path_{path}")()

    def path_declined(self) -> None:
        self.propose()
        self.later(DAY * self.rng.randint(1, 10))
        self.do(DeclineMatch, self.rng.choice((self.mentor, self.mentee)), reason="not a good fit")

    def path_expired(self) -> None:
        self.propose()
        self.later(DAY)
        self.do(AcceptMatch, self.mentor)
        self.later(DAY * 15)

    def path_rematched(self) -> None:
        self.propose()
        self.accept()
        self.sign()
        self.meet(7)
        self.later(DAY * 3)
        self.do(RequestRematch, self.mentee, reason="different goals")

    def path_full_lifecycle(self) -> None:
        self.to_cultivation()
        self.cultivate(11)
        self.check_in()
        assert self.state.term_ends_at is not None
        self.at(self.state.term_ends_at + DAY)
        self.redefine()

    def path_terminated(self) -> None:
        self.propose()
        step = self.rng.randint(0, 3)
        if step >= 1:
            self.accept()
        if step >= 2:
            self.sign()
        if step >= 3:
            self.meet(7)
            self.meet(14)
            assert self.state.trial_ends_at is not None
            self.at(self.state.trial_ends_at)
            self.cultivate(2)
        self.later(DAY)
        self.do(Terminate, MANAGER, reason_code=self.rng.choice(("conduct", "left_company", "program_ended")))

    def path_at_risk(self) -> None:
        self.to_cultivation()
        self.cultivate(1)
        if self.rng.random() < 0.5:
            self.check_in(3)  # marginal
        self.later(DAY * self.rng.choice((46, 62)))  # yellow, or red

    def path_mutual_separation(self) -> None:
        self.to_cultivation()
        self.cultivate(self.rng.randint(1, 4))
        self.later(DAY)
        self.do(ProposeSeparation, self.mentor, reason="goals met")
        self.later(DAY * 2)
        self.do(ConsentSeparation, self.mentee)
        self.redefine()

    def path_contested(self) -> None:
        self.to_cultivation()
        self.cultivate(1)
        self.later(DAY)
        self.do(ProposeSeparation, self.mentee, reason="no time")
        self.later(DAY * 15)  # the consent window runs out: contested
        self.later(DAY)
        if self.rng.random() < 0.5:
            self.do(ResolveSeparation, MANAGER, resolution="reconcile", note="talked it through")
            self.cultivate(1)
        else:
            self.do(ResolveSeparation, MANAGER, resolution="end")
            self.redefine()

    def path_paused(self) -> None:
        self.to_cultivation()
        self.cultivate(1)
        self.later(DAY)
        self.do(Pause, self.mentor, reason="parental leave")
        if self.rng.random() < 0.5:
            self.later(DAY * 20)
            self.do(Resume, self.mentor)
            self.meet(3)
        else:
            self.later(DAY * 61)  # maximum pause: resumed automatically
            self.meet(1)

    def path_renewed(self) -> None:
        self.to_cultivation()
        self.cultivate(3)
        self.later(DAY)
        self.do(RequestRenewal, self.mentor)
        self.do(RequestRenewal, self.mentee)
        self.cultivate(1)

    def path_did_not_start(self) -> None:
        self.propose()
        self.accept()
        self.later(DAY * 95)  # nudge, escalation, then initiation gives up

    def path_open_initiation(self) -> None:
        self.propose()
        if self.rng.random() < 0.5:
            self.later(DAY * 4)  # acceptance reminder
        else:
            self.accept()
            self.later(DAY * 8)  # kickoff nudge

    def path_inactivity(self) -> None:
        self.to_cultivation()
        # yellow, red, warning, winding down for inactivity, then (maybe) redefinition
        self.later(DAY * self.rng.choice((80, 100)))


def uuid_source(start: int) -> Iterator[str]:
    return (str(uuid.UUID(int=i)) for i in itertools.count(start))


@cache
def program(count: int = 200, seed: int = 7) -> tuple[tuple[Envelope, ...], ...]:
    """``count`` relationships; one tuple of envelopes (its whole history) per relationship. Deterministic."""
    rng = random.Random(seed)
    ids = uuid_source(1_000_000)
    out = []
    for i in range(count):
        rel = Rel(
            relationship_id=f"rel-{i:04d}",
            program_id=PROGRAMS[i % len(PROGRAMS)],
            start=T0 + timedelta(hours=7 * i),
            ids=ids,
            rng=random.Random(rng.random()),
        )
        rel.run(PATHS[i % len(PATHS)])
        out.append(tuple(rel.log))
    return tuple(out)


def golden_v1() -> list[bytes]:
    """A published history with a ``CheckInSubmitted`` v1 (``score`` 1-10): upcast on read."""
    return [line.encode("utf-8") for line in GOLDEN_V1.read_text().splitlines() if line.strip()]
