"""Builders for domain tests: a fake clock, id sources and a driver that reaches every stage/sub-state."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

from domain import (
    AcceptMatch,
    Actor,
    CommandBase,
    ConsentSeparation,
    LifecyclePolicy,
    LogMeeting,
    Pause,
    ProposeSeparation,
    Role,
    SignAgreement,
    Stage,
    Substate,
    Terminate,
    builtin_policy,
    next_deadline,
)
from domain.scripting import DAY, T0, Script, proposal

US = timedelta(microseconds=1)

MANAGER = Actor(id="pm-1", role=Role.MANAGER)
MENTOR = Actor(id="m-1", role=Role.MENTOR)
MENTEE = Actor(id="e-1", role=Role.MENTEE)
STRANGER_MENTOR = Actor(id="m-7", role=Role.MENTOR)
STRANGER_MENTEE = Actor(id="e-7", role=Role.MENTEE)
SYSTEM_ACTOR = Actor(id="system", role=Role.SYSTEM)

POLICY = builtin_policy("mentoring-12m")


def uuid_source(start: int = 1) -> Iterator[str]:
    return (str(uuid.UUID(int=i)) for i in itertools.count(start))


class Driver(Script):
    """:class:`domain.scripting.Script` for rule-by-rule tests: a timer fires only when ticked (``later`` just moves
    the clock), ``do`` takes a ready command, and both answer the types of the events they sealed."""

    def __init__(
        self,
        policy: LifecyclePolicy = POLICY,
        relationship_id: str = "r-1",
        now: datetime = T0,
        ids: Iterator[str] | None = None,
        rules_version: int = 1,  # the suites written for rules version 1 keep proving it is kept; v2: test_rules_v2
    ) -> None:
        super().__init__(
            relationship_id,
            start=now,
            policy=policy,
            manager=MANAGER,
            mentor=MENTOR,
            mentee=MENTEE,
            ids=ids or uuid_source(),
            command_ids=(f"cmd-{n}" for n in itertools.count()),
            rules_version=rules_version,
        )

    def cid(self) -> str:
        return self.command_id()

    def do(self, cmd: CommandBase, at: datetime | None = None) -> list[str]:  # type: ignore[override]
        if at is not None:
            self.now = at
        return [e.type for e in self.execute(cmd)]

    def tick(self, at: datetime | None = None) -> list[str]:
        return [e.type for e in self.advance(at)]

    def tick_to_deadline(self) -> list[str]:
        d = next_deadline(self.state)
        assert d is not None
        return self.tick(d)

    def later(self, delta: timedelta) -> datetime:  # type: ignore[override]
        self.now = self.now + delta
        return self.now

    # --- the standard path ----------------------------------------------------------------------------

    def propose(self, by: Actor = MANAGER) -> Driver:  # type: ignore[override]
        self.execute(
            proposal(
                self.relationship_id,
                program_id=self.program_id,
                by=by,
                mentor_id=MENTOR.id,
                mentee_id=MENTEE.id,
                policy=self.policy,
                command_id=self.cid(),
                match_score="0.87",
                rules_version=self.rules_version,
            )
        )
        return self

    def accept_all(self) -> Driver:
        self.later(timedelta(hours=1))
        for who in (MENTOR, MENTEE):
            if who.id in self.state.acceptances_needed:
                self.do(AcceptMatch(command_id=self.cid(), actor=who))
        return self

    def sign_both(self) -> Driver:
        self.later(DAY)
        for who in (MENTOR, MENTEE):
            self.do(SignAgreement(command_id=self.cid(), actor=who, goals=[f"goal of {who.id}"], cadence="P2W"))
        return self

    def meet(self, by: Actor = MENTEE, held_at: datetime | None = None) -> list[str]:
        return self.do(LogMeeting(command_id=self.cid(), actor=by, held_at=held_at or self.now))

    def to_cultivation(self) -> Driver:
        """Two meetings in the trial, the second a few days before its end (on a biweekly cadence)."""
        self.later(DAY)
        self.meet()
        assert self.state.trial_ends_at is not None
        self.now = self.state.trial_ends_at - 5 * DAY
        self.meet()
        types = self.tick(self.state.trial_ends_at)
        assert types == ["StageChanged"], types
        return self

    def pause(self) -> Driver:
        self.later(DAY)
        self.do(Pause(command_id=self.cid(), actor=MENTOR, reason="parental leave"))
        return self

    def propose_separation(self) -> Driver:
        self.later(DAY)
        self.do(ProposeSeparation(command_id=self.cid(), actor=MENTOR, reason="goals met"))
        return self

    def consent(self) -> Driver:
        self.later(DAY)
        self.do(ConsentSeparation(command_id=self.cid(), actor=MENTEE))
        return self

    def terminate(self) -> Driver:
        self.later(DAY)
        self.do(Terminate(command_id=self.cid(), actor=MANAGER, reason_code="conduct"))
        return self


POSITIONS: tuple[tuple[Stage, Substate], ...] = (
    (Stage.NONE, Substate.NONE),
    (Stage.INITIATION, Substate.PROPOSED),
    (Stage.INITIATION, Substate.KICKOFF_PENDING),
    (Stage.INITIATION, Substate.TRIAL),
    (Stage.CULTIVATION, Substate.ACTIVE),
    (Stage.CULTIVATION, Substate.PAUSED),
    (Stage.SEPARATION, Substate.AWAITING_CONSENT),
    (Stage.SEPARATION, Substate.CONTESTED),
    (Stage.SEPARATION, Substate.WINDING_DOWN),
    (Stage.REDEFINITION, Substate.AWAITING_OUTCOMES),
    (Stage.CLOSED, Substate.CLOSED),
)


def reach(position: tuple[Stage, Substate], policy: LifecyclePolicy = POLICY, rules_version: int = 1) -> Driver:
    """A driver whose relationship sits at ``position`` (reached through real commands and ticks)."""
    d = Driver(policy=policy, rules_version=rules_version)
    stage, sub = position
    if stage is Stage.NONE:
        return d
    d.propose()
    if sub is Substate.PROPOSED:
        return d
    if stage is Stage.CLOSED:
        return d.terminate()
    d.accept_all()
    if sub is Substate.KICKOFF_PENDING:
        return d
    d.sign_both()
    if sub is Substate.TRIAL:
        return d
    d.to_cultivation()
    if sub is Substate.ACTIVE:
        return d
    if sub is Substate.PAUSED:
        return d.pause()
    d.propose_separation()
    if sub is Substate.AWAITING_CONSENT:
        return d
    if sub is Substate.CONTESTED:
        assert d.tick_to_deadline() == ["SeparationContested", "StageChanged", "EscalatedToManager"]
        return d
    d.consent()
    if sub is Substate.WINDING_DOWN:
        return d
    assert d.tick_to_deadline() == ["StageChanged"]
    assert (d.state.stage, d.state.substate) == position
    return d
