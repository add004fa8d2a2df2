"""The program's pure core: ``decide`` (command → events or a ``DomainError``), ``evolve`` (event → state) and
``execute`` (both, sealed into the chain), each by an explicit table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.actors import Role
from domain.envelope import Envelope, seal
from domain.errors import IllegalTransition, InvalidCommand, NotAllowedForRole, RelationshipNotFound
from domain.events import EventBase
from domain.limits import MAX_ID_LENGTH
from domain.programs.commands import (
    CONFIGURABLE,
    CloseCycle,
    ConfigureMatching,
    ConfigureProgram,
    CreateProgram,
    EnrollParticipants,
    RecordMatchingRound,
    WithdrawParticipant,
)
from domain.programs.events import (
    CHAIN_PREFIX,
    CycleClosed,
    MatchingConfigured,
    MatchingRoundCompleted,
    ParticipantEnrolled,
    ParticipantWithdrawn,
    ProgramConfigured,
    ProgramCreated,
    program_chain_id,
)
from domain.programs.state import ProgramState, member_key

__all__ = [
    "CLOSED_RULE",
    "MAX_PROGRAM_ID_LENGTH",
    "WITHDRAW_RULE",
    "decide_program",
    "evolve_program",
    "execute_program",
]

MAX_PROGRAM_ID_LENGTH = MAX_ID_LENGTH - len(CHAIN_PREFIX)
"""A program with a chain: its chain id ``program:<P>`` must fit the ``String(200)`` id columns."""

IdSource = Callable[[], str]

CLOSED_RULE = "program {program}: its cycle is closed; nothing more is accepted"
"""The refusal of any command after ``CycleClosed`` (also given for a closed program whose workflow has ended)."""


WITHDRAW_RULE = (
    "WithdrawParticipant: a participant withdraws only their own enrollment in their own role (mentor:ID as mentor, "
    "mentee:ID as mentee); a manager anyone"
)
"""The refusal of a participant withdrawing someone else, or themself from a role they do not act in."""


def _manager(command: Any) -> None:
    if command.actor.role is not Role.MANAGER:
        raise NotAllowedForRole(f"{command.type}: only a manager may do this (got {command.actor.role.value})")


def _create(state: ProgramState, c: CreateProgram, now: datetime) -> list[EventBase]:
    _manager(c)
    if state.exists:
        raise IllegalTransition(f"program {c.program_id} already exists (created at seq 1)")
    if len(c.program_id) > MAX_PROGRAM_ID_LENGTH:
        raise InvalidCommand(
            f"program_id: must be at most {MAX_PROGRAM_ID_LENGTH} characters (MAX_ID_LENGTH less the chain prefix "
            f"{CHAIN_PREFIX!r})"
        )
    return [
        ProgramCreated(
            at=now,
            program_id=c.program_id,
            name=c.name,
            by=c.actor.id,
            default_policy=c.default_policy,
            matching=c.matching,
            cycle_start=c.cycle_start,
            cycle_end=c.cycle_end,
        )
    ]


def _configure(state: ProgramState, c: ConfigureMatching, now: datetime) -> list[EventBase]:
    _manager(c)
    return [MatchingConfigured(at=now, by=c.actor.id, matching=c.matching)]


def _configure_program(state: ProgramState, c: ConfigureProgram, now: datetime) -> list[EventBase]:
    _manager(c)
    start = c.cycle_start if c.cycle_start is not None else state.cycle_start
    end = c.cycle_end if c.cycle_end is not None else state.cycle_end
    if (start is None) != (end is None):
        raise InvalidCommand("cycle_start, cycle_end: the program has no cycle window; give both")
    if start is not None and end is not None and end <= start:
        raise InvalidCommand(f"cycle_end: must be after cycle_start ({start.isoformat()})")
    given = {f: getattr(c, f) for f in CONFIGURABLE if getattr(c, f) is not None}
    return [ProgramConfigured(at=now, by=c.actor.id, **given)]


def _may_enroll(c: EnrollParticipants) -> None:
    if c.actor.role is Role.MANAGER:
        return
    (only,) = c.participants if len(c.participants) == 1 else (None,)
    if only is None or only.person_id != c.actor.id or only.role != c.actor.role.value:
        raise NotAllowedForRole(
            "EnrollParticipants: a participant enrolls only themself in their own role (mentor:ID as mentor, "
            "mentee:ID as mentee); a manager enrolls anyone"
        )


def _enroll(state: ProgramState, c: EnrollParticipants, now: datetime) -> list[EventBase]:
    _may_enroll(c)
    new_mentors = {p.person_id for p in c.participants if p.role == "mentor"}
    seen: set[str] = set()
    for i, p in enumerate(c.participants):
        key = member_key(p.role, p.person_id)
        where = f"participants[{i}] ({p.person_id})"
        if key in state.members or key in seen:
            raise InvalidCommand(f"{where}: person_id: already enrolled as {p.role} in program {c.program_id}")
        if key in state.withdrawn:
            raise InvalidCommand(f"{where}: person_id: withdrew as {p.role} from program {c.program_id} this cycle")
        seen.add(key)
    for i, p in enumerate(c.participants):
        unknown = [m for m in p.preferences if m not in new_mentors and not state.is_enrolled("mentor", m)]
        if unknown:
            raise InvalidCommand(
                f"participants[{i}] ({p.person_id}): preferences: {', '.join(map(repr, unknown))} is not an enrolled "
                f"mentor of program {c.program_id}"
            )
    return [
        ParticipantEnrolled(
            at=now,
            person_id=p.person_id,
            role=p.role,
            by=c.actor.id,
            profile=p.profile,
            capacity=p.capacity,
            preferences=p.preferences,
        )
        for p in c.participants
    ]


def _withdrawn_event(state: ProgramState, c: WithdrawParticipant, now: datetime) -> list[EventBase]:
    if not state.is_enrolled(c.role, c.person_id):
        raise InvalidCommand(f"person_id: {c.person_id} is not enrolled as {c.role} in program {c.program_id}")
    return [ParticipantWithdrawn(at=now, person_id=c.person_id, role=c.role, by=c.actor.id, reason=c.reason)]


def _withdraw(state: ProgramState, c: WithdrawParticipant, now: datetime) -> list[EventBase]:
    if c.actor.role is not Role.MANAGER and (c.actor.id != c.person_id or c.actor.role.value != c.role):
        raise NotAllowedForRole(WITHDRAW_RULE)
    return _withdrawn_event(state, c, now)


def _withdraw_v1(state: ProgramState, c: WithdrawParticipant, now: datetime) -> list[EventBase]:
    """The first rule, kept for histories recorded under it: only the person's id was checked, so ``mentee:X``
    could withdraw X's mentor enrollment."""
    if c.actor.role is not Role.MANAGER and c.actor.id != c.person_id:
        raise NotAllowedForRole(WITHDRAW_RULE)
    return _withdrawn_event(state, c, now)


def _record_round(state: ProgramState, c: RecordMatchingRound, now: datetime) -> list[EventBase]:
    _manager(c)
    strangers = [p.mentee for p in c.proposals if not state.is_enrolled("mentee", p.mentee)]
    strangers += [p.mentor for p in c.proposals if not state.is_enrolled("mentor", p.mentor)]
    strangers += [u.mentee for u in c.unmatched if not state.is_enrolled("mentee", u.mentee)]
    if strangers:
        raise InvalidCommand(f"proposals, unmatched: {', '.join(sorted(set(strangers)))} not enrolled in the role")
    return [
        MatchingRoundCompleted(
            at=now,
            round_id=c.round_id,
            part=c.part,
            parts=c.parts,
            by=c.actor.id,
            method=c.method,
            matching_version=c.matching_version,
            total_score=c.total_score,
            proposals=c.proposals,
            unmatched=c.unmatched,
        )
    ]


def _close(state: ProgramState, c: CloseCycle, now: datetime) -> list[EventBase]:
    _manager(c)
    return [CycleClosed(at=now, by=c.actor.id)]


Decider = Callable[[ProgramState, Any, datetime], list[EventBase]]

_DECIDERS: dict[str, Decider] = {
    "CreateProgram": _create,
    "ConfigureMatching": _configure,
    "ConfigureProgram": _configure_program,
    "EnrollParticipants": _enroll,
    "WithdrawParticipant": _withdraw,
    "RecordMatchingRound": _record_round,
    "CloseCycle": _close,
}
_LEGACY_DECIDERS: dict[str, Decider] = _DECIDERS | {"WithdrawParticipant": _withdraw_v1}
"""The rules before the own-role withdrawal rule (``legacy=True``): replaying programs recorded under them."""


def decide_program(state: ProgramState, command: Any, now: datetime, *, legacy: bool = False) -> list[EventBase]:
    """The events ``command`` appends to the program, or the ``DomainError`` naming the rule it breaks
    (``legacy``: under the first rules, for a history recorded before the own-role withdrawal rule)."""
    if command.program_id != state.program_id:
        raise InvalidCommand(f"program_id: {command.program_id} is not this program ({state.program_id})")
    if command.type != "CreateProgram":
        if not state.exists:
            raise RelationshipNotFound(program_chain_id(state.program_id), f"program {state.program_id} does not exist")
        if state.closed:
            raise IllegalTransition(CLOSED_RULE.format(program=state.program_id))
    return (_LEGACY_DECIDERS if legacy else _DECIDERS)[command.type](state, command, now)


def _created(d: dict[str, Any], e: Any) -> None:
    d.update(
        name=e.name,
        default_policy=e.default_policy,
        matching=e.matching,
        cycle_start=e.cycle_start,
        cycle_end=e.cycle_end,
    )


def _configured(d: dict[str, Any], e: Any) -> None:
    d.update({f: getattr(e, f) for f in CONFIGURABLE if getattr(e, f) is not None})


def _counter(role: str) -> str:
    return "mentors" if role == "mentor" else "mentees"


def _enrolled(d: dict[str, Any], e: Any) -> None:
    d["members"].add(member_key(e.role, e.person_id))
    d[_counter(e.role)] += 1


def _withdrawn(d: dict[str, Any], e: Any) -> None:
    key = member_key(e.role, e.person_id)
    d["members"].discard(key)
    d["withdrawn"].add(key)
    d[_counter(e.role)] -= 1


def _round(d: dict[str, Any], e: Any) -> None:
    d["rounds"] += 1 if e.part == e.parts else 0


_EVOLVERS: dict[str, Callable[[dict[str, Any], Any], None]] = {
    "ProgramCreated": _created,
    "MatchingConfigured": lambda d, e: d.update(matching=e.matching),
    "ProgramConfigured": _configured,
    "ParticipantEnrolled": _enrolled,
    "ParticipantWithdrawn": _withdrawn,
    "MatchingRoundCompleted": _round,
    "CycleClosed": lambda d, e: d.update(closed=True),
}
"""Each evolver changes a draft of the state in place: a command's events are applied to one draft and copied once,
so enrolling 100 people into a program of 10,000 costs one copy of the members, not 100."""


def evolve_program(state: ProgramState, *events: EventBase) -> ProgramState:
    """The state after ``events`` (``seq`` and ``last_hash`` are the sealer's)."""
    draft: dict[str, Any] = {
        "members": set(state.members),
        "withdrawn": set(state.withdrawn),
        "mentors": state.mentors,
        "mentees": state.mentees,
        "rounds": state.rounds,
    }
    for event in events:
        _EVOLVERS[type(event).__name__](draft, event)
    draft["members"] = frozenset(draft["members"])
    draft["withdrawn"] = frozenset(draft["withdrawn"])
    return state.model_copy(update=draft)


@dataclass(frozen=True, slots=True)
class _Head:
    """The chain head between two events of one command (what :func:`seal` reads)."""

    relationship_id: str
    program_id: str | None
    seq: int
    last_hash: str


def execute_program(
    state: ProgramState, command: Any, now: datetime, new_id: IdSource, *, legacy: bool = False
) -> tuple[ProgramState, list[Envelope]]:
    """``decide_program``, then evolve and seal each event into the program's chain."""
    events = decide_program(state, command, now, legacy=legacy)
    head = _Head(state.relationship_id, state.program_id, state.seq, state.last_hash)
    envelopes: list[Envelope] = []
    for event in events:
        envelope = seal(head, event, event_id=new_id(), actor=command.actor, causation_id=command.command_id)
        head = _Head(head.relationship_id, head.program_id, envelope.seq, envelope.hash)
        envelopes.append(envelope)
    return evolve_program(state, *events).model_copy(update={"seq": head.seq, "last_hash": head.last_hash}), envelopes
