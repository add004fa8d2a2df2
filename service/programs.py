"""The program operations of the application service (issue 14): create, enroll (one person or a whole file),
show, and the three ways of matching (the algorithmic round, suggestions for an admin or a mentee, the score table).

Commands go to the program's workflow (:mod:`workflows.program_client`); enrollments, capacity and lineage are read
from the projection (:mod:`projections.program_reads`) once it has caught up with the program's chain. The CLI and
the HTTP API both call :class:`ProgramService`; the pure helpers (:func:`round_data`, :func:`scores_data`,
:func:`suggest_data`) also serve ``--people FILE``, a round over a file without a program.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from domain import Actor, IllegalTransition, LifecyclePolicy, ProposeRelationship, RelationshipNotFound
from domain.matching import MatchingConfig, forbidden_reason, score_pair
from domain.matching.enrollment import Enrollment
from domain.matching.suggest import suggest
from domain.programs.commands import (
    MAX_ENROLL_BATCH,
    MAX_ROUND_PART,
    CloseCycle,
    ConfigureMatching,
    ConfigureProgram,
    CreateProgram,
    EnrollParticipants,
    Participant,
    RecordMatchingRound,
    WithdrawParticipant,
)
from domain.programs.core import CLOSED_RULE, decide_program
from domain.programs.events import RoundPair, RoundUnmatched, program_chain_id
from domain.programs.state import ProgramState
from matching import build_table, optimal_round
from projections import program_reads
from service.errors import InvalidArgument, ServiceUnavailable
from service.relationships import MentorflowService
from workflows.program_client import ProgramClient
from workflows.program_models import ProgramCommandResult

__all__ = ["ProgramService", "pair_ids", "round_data", "scores_data", "suggest_data"]

PROJECTION_WAIT = 15.0
"""Seconds a read waits for the projection to reach the program's chain head before it gives up (503)."""


def pair_ids(program: str, mentee: str, mentor: str) -> tuple[str, str]:
    """(relationship id, command id) of a round's proposal: derived, so a round run again proposes nothing twice."""
    digest = hashlib.sha256(f"{program}\0{mentee}\0{mentor}".encode()).hexdigest()[:24]
    return f"rel-{digest}", f"match-{digest}"


def scores_data(enrollment: Enrollment, config: MatchingConfig) -> dict[str, Any]:
    """``program scores --json``: mentees, mentors, remaining capacity, the table (null = forbidden)."""
    table = build_table(
        enrollment.mentees, enrollment.mentors, config, load=enrollment.load, excluded=enrollment.excluded
    )
    data: dict[str, Any] = table.to_json()
    return data


def suggest_data(program: str, enrollment: Enrollment, config: MatchingConfig, mentee: str, top: int) -> dict[str, Any]:
    chosen = next((e for e in enrollment.mentees if e.person_id == mentee), None)
    if chosen is None:
        raise InvalidArgument("mentee", f"{mentee!r} is not enrolled as a mentee of {program}")
    found = suggest(chosen, enrollment.mentors, config, top=top, load=enrollment.load, excluded=enrollment.excluded)
    return {
        "program": program,
        "mentee": mentee,
        "matching_version": config.version,
        "suggestions": [s.__dict__ for s in found],
    }


def round_data(program: str, enrollment: Enrollment, config: MatchingConfig, *, dry_run: bool) -> dict[str, Any]:
    """One optimal round over ``enrollment`` as ``program match --json`` prints it (the relationship ids are the
    ones the proposals get; None on a dry run)."""
    table = build_table(
        enrollment.mentees, enrollment.mentors, config, load=enrollment.load, excluded=enrollment.excluded
    )
    result = optimal_round(table, config.floor)
    mentees = {e.person_id: e for e in enrollment.mentees}
    mentors = {m.person_id: m for m in enrollment.mentors}
    proposals = [
        {
            "mentee": p.mentee,
            "mentor": p.mentor,
            "score": p.score,
            "explanation": score_pair(mentees[p.mentee], mentors[p.mentor], config).explanation,
            "relationship_id": None if dry_run else pair_ids(program, p.mentee, p.mentor)[0],
        }
        for p in result.proposals
    ]
    return {
        "program": program,
        "method": result.method,
        "matching_version": config.version,
        "dry_run": dry_run,
        "proposals": proposals,
        "unmatched": [{"mentee": u.mentee, "reason": u.reason, "detail": u.detail} for u in result.unmatched],
        "total_score": result.total_score,
    }


def proposal_commands(
    program: str,
    data: dict[str, Any],
    actor: Actor,
    policy: LifecyclePolicy,
    renewals: Mapping[str, int] | None = None,
) -> list[ProposeRelationship]:
    """The round's proposals as commands: method, score, explanation and the configuration's version recorded;
    ``renewals``: what each mentee already used this cycle (so the policy's cap holds across a rematch)."""
    used = renewals or {}
    commands = []
    for p in data["proposals"]:
        relationship_id, command_id = pair_ids(program, p["mentee"], p["mentor"])
        commands.append(
            ProposeRelationship(
                command_id=command_id,
                actor=actor,
                relationship_id=relationship_id,
                program_id=program,
                mentor_id=p["mentor"],
                mentee_id=p["mentee"],
                policy=policy,
                match_method="algorithmic",
                match_score=Decimal(str(p["score"])),
                match_explanation={k: Decimal(str(v)) for k, v in p["explanation"].items()},
                matching_version=data["matching_version"],
                renewals_used=used.get(p["mentee"]) or None,
            )
        )
    return commands


def _round_parts(program: str, data: dict[str, Any], actor: Actor) -> list[RecordMatchingRound]:
    """The round as ``MatchingRoundCompleted`` parts of at most ``MAX_ROUND_PART`` mentees (ids derived from the
    round's content, so recording it again appends nothing)."""
    entries: list[RoundPair | RoundUnmatched] = [
        RoundPair(
            mentee=p["mentee"], mentor=p["mentor"], score=Decimal(str(p["score"])), relationship_id=p["relationship_id"]
        )
        for p in data["proposals"]
    ] + [RoundUnmatched(mentee=u["mentee"], reason=u["reason"]) for u in data["unmatched"]]
    digest = hashlib.sha256(repr([e.model_dump(mode="json") for e in entries]).encode()).hexdigest()[:24]
    chunks = [entries[i : i + MAX_ROUND_PART] for i in range(0, len(entries), MAX_ROUND_PART)] or [[]]
    return [
        RecordMatchingRound(
            command_id=f"round-{digest}-{n}",
            actor=actor,
            program_id=program,
            round_id=f"round-{digest}",
            part=n,
            parts=len(chunks),
            matching_version=data["matching_version"],
            total_score=Decimal(str(data["total_score"])).quantize(Decimal("0.000001")),
            proposals=tuple(e for e in chunk if isinstance(e, RoundPair)),
            unmatched=tuple(e for e in chunk if isinstance(e, RoundUnmatched)),
        )
        for n, chunk in enumerate(chunks, start=1)
    ]


def _open_cycle(row: dict[str, Any]) -> None:
    """A closed program proposes nothing more (the round would be refused on its chain after the proposals)."""
    if row["closed_at"] is not None:
        raise IllegalTransition(CLOSED_RULE.format(program=row["program_id"]))


def _sender(programs: ProgramClient, command: Any) -> Callable[[Any], Awaitable[ProgramCommandResult]]:
    return lambda _: programs.send(command)


SEALED_ENROLL_BATCH = MAX_ENROLL_BATCH // 5
"""Participants per enrollment command when profiles are sealed: a sealed tag is up to ~6.5x its 64 characters, so
a participant at every profile limit (four lists of 50 tags of 4-byte characters, sealed) grows from about 14 KB to
about 82 KB; 20 of them stay near 1.64 MB, inside Temporal's 2 MB payload (domain/programs/commands.py
``MAX_ENROLL_BATCH``)."""


class ProgramService(MentorflowService):
    """:class:`MentorflowService` with the program operations."""

    async def _programs(self) -> ProgramClient:
        """The program client beside the relationship client: it seals every command it sends (its cipher)."""
        client: Any = await self._c()
        return ProgramClient.of(client)

    async def create(self, command: CreateProgram) -> ProgramCommandResult:
        programs = await self._programs()
        return await self._call(lambda _: programs.create(command))

    async def _cipher(self) -> Any:
        """The client's field cipher (``MENTORFLOW_PRIVACY__ENCRYPT``), or None."""
        client: Any = await self._c()
        return getattr(client, "privacy", None)

    async def enroll(self, command: EnrollParticipants) -> ProgramCommandResult:
        """Enroll (the program client seals each profile under its person's key: ``ProgramClient.sealed``). Sealed
        profiles grow up to ~6x, so with sealing on a command of more than ``SEALED_ENROLL_BATCH`` people is checked
        whole first (all or nothing) and sent in slices whose ids derive from its command id (as ``enroll_all``)."""
        if len(command.participants) <= SEALED_ENROLL_BATCH or await self._cipher() is None:
            return await self._send(command)
        results = await self._enroll_slices(command.program_id, command.actor, command.participants, command.command_id)
        return results[-1].model_copy(update={"command_id": command.command_id, "first_seq": results[0].first_seq})

    async def withdraw(self, command: WithdrawParticipant) -> ProgramCommandResult:
        """Withdraw (the program client seals the reason under the withdrawn person's key)."""
        return await self._send(command)

    async def configure(self, command: ConfigureMatching | ConfigureProgram) -> ProgramCommandResult:
        return await self._send(command)

    async def close_cycle(self, command: CloseCycle) -> ProgramCommandResult:
        return await self._send(command)

    async def _send(self, command: Any) -> ProgramCommandResult:
        """Send ``command`` to the program's workflow; a program whose cycle closed has no running workflow to take
        it, so its refusal names the closed cycle (as the workflow's own rule does), not a missing program."""
        programs = await self._programs()
        try:
            return await self._call(_sender(programs, command))
        except RelationshipNotFound:
            state = await self._call(lambda _: programs.state(command.program_id))  # still not found: raises
            if state.closed:
                raise IllegalTransition(CLOSED_RULE.format(program=command.program_id)) from None
            raise

    async def program_state(self, program_id: str) -> ProgramState:
        programs = await self._programs()
        return await self._call(lambda _: programs.state(program_id))

    async def enroll_all(
        self, program_id: str, actor: Actor, people: Sequence[Participant], digest: str
    ) -> list[ProgramCommandResult]:
        """A whole file: checked in full against the program first (nothing is sent when any row is refused),
        then sent in slices of ``MAX_ENROLL_BATCH`` whose command ids derive from the file's ``digest`` (sending
        the same file again appends nothing)."""
        return await self._enroll_slices(program_id, actor, people, f"enroll-{digest[:32]}")

    async def _enroll_slices(
        self, program_id: str, actor: Actor, people: Sequence[Participant], prefix: str
    ) -> list[ProgramCommandResult]:
        """``people`` checked in full against the program (nothing is sent when any row is refused), then sent in
        slices (``SEALED_ENROLL_BATCH`` with sealing on, else ``MAX_ENROLL_BATCH``), command ids ``<prefix>-<n>``."""
        state = await self.program_state(program_id)
        whole = EnrollParticipants.model_construct(
            command_id="check", actor=actor, program_id=program_id, participants=tuple(people)
        )
        decide_program(state, whole, datetime.now(UTC))  # a DomainError names the row (participants[i]) and field
        results = []
        size = SEALED_ENROLL_BATCH if await self._cipher() is not None else MAX_ENROLL_BATCH
        for n in range(0, len(people), size):
            command = EnrollParticipants(
                command_id=f"{prefix}-{n // size + 1}",
                actor=actor,
                program_id=program_id,
                participants=tuple(people[n : n + size]),
            )
            results.append(await self._send(command))
        return results

    async def _caught_up(self, program_id: str) -> dict[str, Any]:
        """The program's projected row once it has the workflow's chain head (exists: else RelationshipNotFound)."""
        state = await self.program_state(program_id)
        deadline = time.monotonic() + PROJECTION_WAIT
        while True:
            row = await self._read(lambda conn: program_reads.program_row(conn, program_id))
            if row is not None and row["last_seq"] >= state.seq:
                return row
            if time.monotonic() >= deadline:
                have = 0 if row is None else row["last_seq"]
                raise ServiceUnavailable(
                    f"the projection has seq {have} of {program_chain_id(program_id)}, not {state.seq}, after "
                    f"{PROJECTION_WAIT:g} s (is `mentorflow projector` running?)"
                )
            await asyncio.sleep(0.1)

    async def matching_inputs(self, program_id: str, *, in_round: bool) -> tuple[dict[str, Any], Enrollment]:
        """The program's row and its enrollment (``in_round``: without mentees already in an open relationship)."""
        row = await self._caught_up(program_id)
        cipher = await self._cipher()
        open_profiles = cipher.open_json if cipher is not None else None  # sealed tags: the score reads plaintext

        def read(conn: Any) -> Enrollment:
            enrollment = program_reads.program_enrollment(conn, program_id, open_profiles)
            if not in_round:
                return enrollment
            busy = program_reads.open_by_mentee(conn, program_id)
            mentees = tuple(e for e in enrollment.mentees if e.person_id not in busy)
            return Enrollment(mentees, enrollment.mentors, enrollment.load, enrollment.excluded)

        return row, await self._read(read)

    @staticmethod
    def config_of(row: dict[str, Any]) -> MatchingConfig:
        return MatchingConfig.model_validate_json(row["matching"])

    async def scores(self, program_id: str) -> dict[str, Any]:
        row, enrollment = await self.matching_inputs(program_id, in_round=True)
        return scores_data(enrollment, self.config_of(row))

    async def suggestions(self, program_id: str, mentee: str, top: int) -> dict[str, Any]:
        row, enrollment = await self.matching_inputs(program_id, in_round=False)
        return suggest_data(program_id, enrollment, self.config_of(row), mentee, top)

    async def match(self, program_id: str, actor: Actor | None, *, dry_run: bool) -> dict[str, Any]:
        """One algorithmic round; unless ``dry_run``, each pair is proposed (update-with-start, the program's
        default policy) and the round is recorded on the program's chain."""
        row, enrollment = await self.matching_inputs(program_id, in_round=True)
        data = round_data(program_id, enrollment, self.config_of(row), dry_run=dry_run)
        if dry_run:
            return data
        _open_cycle(row)
        if actor is None or actor.role.value != "manager":
            raise InvalidArgument("by", "an algorithmic round is proposed by a manager (manager:ID)")
        policy = LifecyclePolicy.model_validate_json(row["policy"])
        renewals = await self._read(lambda conn: program_reads.renewals_by_mentee(conn, program_id))
        for command in proposal_commands(program_id, data, actor, policy, renewals):
            await self.propose(command)
        programs = await self._programs()
        for part in _round_parts(program_id, data, actor):
            await self._call(_sender(programs, part))
        return data

    async def propose_pair(self, program_id: str, mentee: str, mentor: str, actor: Actor) -> dict[str, Any]:
        """Admin matching (a manager proposes a suggested pair: method ``admin``) or self matching (the mentee asks
        a mentor: method ``self``); the mentor accepts or declines as for any proposal. The pair must be allowed by
        every hard constraint and the mentor must have a free slot; the proposal records score, explanation and the
        configuration's version, and pins the program's default policy."""
        if actor.role.value == "manager":
            method = "admin"
        elif actor.role.value == "mentee" and actor.id == mentee:
            method = "self"
        else:
            raise InvalidArgument("by", "a manager (admin matching) or the mentee themself (self matching) proposes")
        row, enrollment = await self.matching_inputs(program_id, in_round=False)
        _open_cycle(row)
        config = self.config_of(row)
        the_mentee = next((e for e in enrollment.mentees if e.person_id == mentee), None)
        the_mentor = next((m for m in enrollment.mentors if m.person_id == mentor), None)
        if the_mentee is None:
            raise InvalidArgument("mentee", f"{mentee!r} is not enrolled as a mentee of {program_id}")
        if the_mentor is None:
            raise InvalidArgument("mentor", f"{mentor!r} is not enrolled as a mentor of {program_id}")
        forbidden = forbidden_reason(the_mentee, the_mentor, enrollment.excluded)
        if forbidden is not None:
            raise InvalidArgument("mentor", f"a hard constraint forbids {mentee} with {mentor}: {forbidden}")
        if the_mentor.capacity - enrollment.load.get(mentor, 0) <= 0:
            raise InvalidArgument("mentor", f"{mentor} has no free slot (capacity {the_mentor.capacity}, all open)")
        scored = score_pair(the_mentee, the_mentor, config)
        if scored.total < 0:  # a proposal records a score of 0 to 1000 (MatchScore)
            raise InvalidArgument(
                "mentor",
                f"{mentee} with {mentor} scores {scored.total:g} ({scored.explanation}): a proposal records a "
                f"score of 0 or more; choose a mentor from the suggestions",
            )
        pair: dict[str, Any] = {
            "mentee": mentee,
            "mentor": mentor,
            "score": scored.total,
            "explanation": scored.explanation,
            "relationship_id": pair_ids(program_id, mentee, mentor)[0],
        }
        data = {"program": program_id, "method": method, "matching_version": config.version}
        policy = LifecyclePolicy.model_validate_json(row["policy"])
        renewals = await self._read(lambda conn: program_reads.renewals_by_mentee(conn, program_id))
        (command,) = proposal_commands(program_id, {**data, "proposals": [pair]}, actor, policy, renewals)
        await self.propose(command.model_copy(update={"match_method": method}))
        return {**pair, **data}

    async def matching_report(self, program_id: str) -> dict[str, Any]:
        """``mentorflow report matching --program P``: funnel from enrollment, outcomes by method and score band,
        capacity use (from the projection; a program the projection does not know is RelationshipNotFound)."""
        row = await self._read(lambda conn: program_reads.program_row(conn, program_id))
        if row is None:
            raise RelationshipNotFound(program_chain_id(program_id), f"program {program_id} does not exist")
        return await self._read(lambda conn: program_reads.matching_report(conn, program_id))

    async def show(self, program_id: str) -> dict[str, Any]:
        """The program: its chain head and configuration, its people with their capacity use."""
        row, _ = await self.matching_inputs(program_id, in_round=False)

        def read(conn: Any) -> dict[str, Any]:
            people = program_reads.enrolled_people(conn, program_id)
            use = {u["mentor"]: u for u in program_reads.capacity_use(conn, program_id)}
            busy = program_reads.open_by_mentee(conn, program_id)
            return {
                "mentors": [
                    {"person": p["person_id"], **{k: v for k, v in use[p["person_id"]].items() if k != "mentor"}}
                    for p in people
                    if p["role"] == "mentor"
                ],
                "mentees": [
                    {
                        "person": p["person_id"],
                        "preferences": p["preferences"],
                        "relationship_id": busy.get(p["person_id"]),
                    }
                    for p in people
                    if p["role"] == "mentee"
                ],
            }

        people = await self._read(read)
        keep = (
            "name",
            "created_by",
            "policy_name",
            "policy_version",
            "matching_version",
            "cycle_start",
            "cycle_end",
            "retention_days",
        )
        return {
            "program": program_id,
            **{k: row[k] for k in keep},
            "created_at": row["created_at"].isoformat(),
            "closed_at": None if row["closed_at"] is None else row["closed_at"].isoformat(),
            "counts": {k: row[k] for k in ("mentors", "mentees", "withdrawn", "rounds")},
            "seq": row["last_seq"],
            "last_hash": row["last_hash"],
            **people,
        }
