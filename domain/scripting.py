"""Scripting a relationship's lifecycle with the pure core: a simulated clock, deterministic ids, and
``execute`` / ``advance`` exactly as the workflow calls them, so every envelope is one the workflow would seal.

The one helper behind the domain and projection tests, the audit fixtures and the benchmark histories; the
Temporal-driven scripts (workflow tests, the demo) build their commands with :func:`command` and :func:`proposal`.

::

    s = Script("r-1")
    s.propose()
    s.later(timedelta(hours=5))
    s.do(AcceptMatch, s.mentor)
    s.at(s.state.trial_ends_at)  # every timer due on the way fires at its own deadline

Nothing here reads the clock or draws random numbers: ``start`` and the id sources are the caller's.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from domain.actors import Actor, Role
from domain.commands import (
    AcceptMatch,
    CommandBase,
    ConsentSeparation,
    ProposeRelationship,
    ProposeSeparation,
    RecordRedefinition,
    SignAgreement,
)
from domain.envelope import Envelope
from domain.policy import LifecyclePolicy, builtin_policy
from domain.runtime import IdSource, advance, execute
from domain.state import RelationshipState
from domain.timers import next_deadline

__all__ = ["DAY", "T0", "Script", "command", "deterministic_ids", "proposal"]

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
"""A Monday morning: where scripted histories start unless told otherwise."""
DAY = timedelta(days=1)

C = TypeVar("C", bound=CommandBase)


def deterministic_ids(namespace: str) -> Iterator[str]:
    """Event ids ``uuid5(namespace, "1")``, ``uuid5(namespace, "2")``, … — the same history twice is byte-identical."""
    space = uuid.uuid5(uuid.NAMESPACE_URL, namespace)
    return (str(uuid.uuid5(space, str(n))) for n in itertools.count(1))


def command(make: type[C], actor: Actor, command_id: str, **fields: Any) -> C:
    """One command of class ``make`` by ``actor`` (fields validated by the command's model)."""
    return make(command_id=command_id, actor=actor, **fields)


def proposal(
    relationship_id: str,
    *,
    program_id: str,
    by: Actor,
    mentor_id: str,
    mentee_id: str,
    policy: LifecyclePolicy,
    command_id: str,
    match_method: str = "algorithmic",
    match_score: Decimal | str | None = None,
    predecessor_id: str | None = None,
    rules_version: int | None = None,
) -> ProposeRelationship:
    """The ProposeRelationship that starts ``relationship_id``, proposed ``by`` a manager or a participant."""
    return ProposeRelationship(
        command_id=command_id,
        actor=by,
        relationship_id=relationship_id,
        program_id=program_id,
        mentor_id=mentor_id,
        mentee_id=mentee_id,
        policy=policy,
        match_method=match_method,
        match_score=Decimal(str(match_score)) if match_score is not None else None,
        predecessor_id=predecessor_id,
        rules_version=rules_version,
    )


class Script:
    """One relationship driven through the pure core on a simulated clock; ``log`` holds every envelope sealed.

    Defaults: the ``mentoring-12m`` policy, mentor ``m-<id>`` and mentee ``e-<id>``, event ids from
    :func:`deterministic_ids` of ``mentorflow:<id>``, command ids ``<id>-c1``, ``<id>-c2``, …"""

    def __init__(
        self,
        relationship_id: str,
        *,
        start: datetime = T0,
        policy: LifecyclePolicy | None = None,
        program_id: str = "prog-1",
        manager: Actor | None = None,
        mentor: Actor | None = None,
        mentee: Actor | None = None,
        ids: IdSource | None = None,
        command_ids: Iterator[str] | None = None,
        rules_version: int | None = None,
    ) -> None:
        rid = relationship_id
        self.rules_version = rules_version  # None: the current rules (domain/rules.py)
        self.relationship_id = rid
        self.policy = policy or builtin_policy("mentoring-12m")
        self.program_id = program_id
        self.manager = manager or Actor(id="pm-1", role=Role.MANAGER)
        self.mentor = mentor or Actor(id=f"m-{rid}", role=Role.MENTOR)
        self.mentee = mentee or Actor(id=f"e-{rid}", role=Role.MENTEE)
        self.ids: IdSource = ids or deterministic_ids(f"mentorflow:{rid}")
        self.command_ids = command_ids or (f"{rid}-c{n}" for n in itertools.count(1))
        self.state = RelationshipState.new(rid)
        self.start = start
        self.now = start
        self.log: list[Envelope] = []

    def command_id(self) -> str:
        return next(self.command_ids)

    # --- the clock ------------------------------------------------------------------------------------------------
    def at(self, when: datetime) -> list[Envelope]:
        """Fire every timer due up to ``when``, each at its own deadline (as the workflow wakes), then move the clock
        to ``when`` (never back). Returns what the timers sealed."""
        sealed: list[Envelope] = []
        while (deadline := next_deadline(self.state)) is not None and deadline <= when:
            sealed += self.advance(deadline)
        self.now = max(self.now, when)
        return sealed

    def later(self, delta: timedelta) -> list[Envelope]:
        return self.at(self.now + delta)

    def advance(self, when: datetime | None = None) -> list[Envelope]:
        """One ``advance`` at ``when`` (default: now): every timer rule due at that instant, in one go."""
        if when is not None:
            self.now = when
        self.state, sealed = advance(self.state, self.now, self.ids)
        self.log += sealed
        return sealed

    # --- commands ---------------------------------------------------------------------------------------------
    def execute(self, cmd: CommandBase) -> list[Envelope]:
        """``execute`` ``cmd`` at the current instant (raises the DomainError of a refusal; nothing is sealed)."""
        self.state, sealed = execute(self.state, cmd, self.now, self.ids)
        self.log += sealed
        return sealed

    def do(self, make: type[CommandBase], actor: Actor, **fields: Any) -> list[Envelope]:
        """Build a ``make`` command by ``actor`` with the next command id, and execute it now."""
        return self.execute(command(make, actor, self.command_id(), **fields))

    def kickoff(
        self,
        accept_after: timedelta = timedelta(hours=6),
        sign_after: timedelta = 2 * DAY,
        goals: tuple[str, str] = ("learn the codebase", "ship a feature"),
        cadence: str = "P2W",
    ) -> list[Envelope]:
        """Propose; both accept after ``accept_after``; both sign (one goal each) ``sign_after`` later: the trial
        starts."""
        start = len(self.log)
        self.propose()
        self.later(accept_after)
        self.do(AcceptMatch, self.mentor)
        self.do(AcceptMatch, self.mentee)
        self.later(sign_after)
        self.do(SignAgreement, self.mentor, goals=[goals[0]], cadence=cadence)
        self.do(SignAgreement, self.mentee, goals=[goals[1]], cadence=cadence)
        return self.log[start:]

    def separate_and_redefine(self, outcome: str = "collegial") -> list[Envelope]:
        """A day later the mentor proposes to separate, a day later the mentee consents; the wind-down runs out; a
        day later both record ``outcome``."""
        start = len(self.log)
        self.later(DAY)
        self.do(ProposeSeparation, self.mentor, reason="goals met")
        self.later(DAY)
        self.do(ConsentSeparation, self.mentee)
        assert self.state.winding_down_since is not None and self.state.policy is not None, "winding down"
        self.at(self.state.policy.wind_down.add_to(self.state.winding_down_since))  # (and any survey due before)
        self.later(DAY)
        self.do(RecordRedefinition, self.mentor, outcome=outcome)
        self.do(RecordRedefinition, self.mentee, outcome=outcome)
        return self.log[start:]

    def propose(self, match_score: Decimal | str | None = "0.87", **overrides: Any) -> list[Envelope]:
        fields: dict[str, Any] = {
            "program_id": self.program_id,
            "by": self.manager,
            "mentor_id": self.mentor.id,
            "mentee_id": self.mentee.id,
            "policy": self.policy,
            "match_score": match_score,
            "rules_version": self.rules_version,
            **overrides,
        }
        return self.execute(proposal(self.relationship_id, command_id=self.command_id(), **fields))
