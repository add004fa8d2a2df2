"""The demo's program starts from enrollment (issue 14): the program is created with the demo policy, its people are
generated from a seeded generator, written to a people file under the run dir and enrolled with the bulk path, and
one algorithmic round proposes the first pairs; the stories then drive those relationships (``Sim`` skips the
proposal of a pair the round already proposed). The next two are an admin and a self match from suggestions; every
later story pairs the next enrolled mentee with the best-scoring mentor that has a free slot (``people.Roster``, a
manager's pick, recorded with its score and explanation), so the funnel from enrollment covers the whole program.
All through the application service, as the CLI does.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

from domain import Actor, LifecyclePolicy, Role
from domain.matching import DEFAULT_MATCHING
from domain.programs.commands import CreateProgram, Participant
from service.programs import ProgramService, pair_ids
from workers.demo.people import Roster, people_rows
from workers.demo.scenarios import Pair, Sim

__all__ = ["ROUND_SIZE", "enroll_and_match", "matching_report"]

ROUND_SIZE = 8
"""Pairs the algorithmic round proposes: as many as the demo onboards at once."""

ROUND_EXPIRY = "PT11S"
"""The program's policy lets a match wait 44 demo days (the most ``initiation_give_up`` leaves room for): the round
proposes its pairs one after the other before anyone answers, and every proposal of the demo pins this policy (the
program's default). With the demo policy's 14 days (3.5 s), or 28, a loaded machine's answers (p95 over 8 s in a full
demo next to other test runs) let matches expire that no story meant to: a full ``make demo`` counted 13 expired
where 2 stories let one expire."""


def program_policy(policy: LifecyclePolicy) -> LifecyclePolicy:
    """The program's default policy: ``policy`` with the round's longer match expiry (validated, own version)."""
    data = policy.model_dump(mode="json")
    data.update(acceptance_expiry=ROUND_EXPIRY, version=f"{policy.version}-program")
    return LifecyclePolicy.model_validate(data)


HAND_MATCHES = ("admin", "self")
"""After the round: a manager proposes a suggested mentor (admin match), a mentee asks one (self match)."""


def _participants(rows: list[dict[str, Any]]) -> list[Participant]:
    return [
        Participant(
            person_id=r["person"], role=r["role"], profile=r["profile"], capacity=r.get("capacity"), preferences=()
        )
        for r in rows
    ]


def _write(path: Path, raw: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)


async def _enroll_file(service: ProgramService, sim: Sim, path: Path, rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` as a people file and enroll it the way ``program enroll --file`` does."""
    raw = "".join(json.dumps(r) + "\n" for r in rows).encode()
    await asyncio.to_thread(_write, path, raw)
    await service.enroll_all(sim.program, sim.manager, _participants(rows), hashlib.sha256(raw).hexdigest())


async def enroll_and_match(service: ProgramService, sim: Sim, run_dir: Path, size: int, seed: int | None) -> int:
    """Create the program; enroll the round's people file and run one round; enroll the rest and pick the admin and
    self matches from suggestions (proposed when their stories start). Returns the round's proposals."""
    manager = sim.manager
    sim.policy = program_policy(sim.policy)  # the hand proposals pin the program's default policy too
    await service.create(
        CreateProgram(
            command_id=str(uuid.uuid4()),
            actor=manager,
            program_id=sim.program,
            name=f"mentorflow demo {sim.program}",
            default_policy=sim.policy,
            matching=DEFAULT_MATCHING,
        )
    )
    hand = HAND_MATCHES if size >= 4 else ()
    in_round = min(ROUND_SIZE, size) - len(hand)
    n_mentors = max((size + 4) // 2, min(ROUND_SIZE, size) + len(hand))  # 60 mentees and 30 mentors at full size
    mentors, mentees = people_rows(size, seed, n_mentors)
    roster = Roster.of(mentors, mentees, DEFAULT_MATCHING)
    folder = run_dir / "demo" / sim.program
    await _enroll_file(service, sim, folder / "people.jsonl", mentors[:in_round] + mentees[:in_round])
    data = await service.match(sim.program, Actor(id=manager.id, role=manager.role), dry_run=False)
    for p in data["proposals"]:
        sim.adopt(p["relationship_id"], p["mentor"], p["mentee"])
        roster.taken(p["mentor"], p["mentee"])
    await _enroll_file(service, sim, folder / "people-more.jsonl", mentors[in_round:] + mentees[in_round:])
    taken: set[str] = set()
    for via, mentee in zip(hand, (m["person"] for m in mentees[in_round:]), strict=False):
        found = await service.suggestions(sim.program, mentee, 5)
        mentor = next(s["mentor"] for s in found["suggestions"] if s["mentor"] not in taken)
        taken.add(mentor)
        sim.adopt(pair_ids(sim.program, mentee, mentor)[0], mentor, mentee, via=via)
        roster.taken(mentor, mentee)
    sim.picker = roster.pick  # the later stories pair the rest of the enrolled people

    async def propose(pair: Pair) -> Any:
        by = manager if pair.via == "admin" else Actor(id=pair.mentee, role=Role.MENTEE)
        return await service.propose_pair(sim.program, pair.mentee, pair.mentor, by)

    sim.matchmaker = propose
    return len(data["proposals"])


async def matching_report(service: ProgramService, program: str) -> dict[str, Any]:
    """``mentorflow report matching --program P``."""
    return await service.matching_report(program)
