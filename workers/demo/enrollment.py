"""The demo's program starts from enrollment (issue 14): the program is created with the demo policy, its people are
generated from a seeded generator, written to a people file under the run dir and enrolled with the bulk path, and
one algorithmic round proposes the first pairs; the stories then drive those relationships (``Sim`` skips the
proposal of a pair the round already proposed). All through the application service, as the CLI does.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from pathlib import Path
from typing import Any

from domain import Actor, LifecyclePolicy
from domain.matching import DEFAULT_MATCHING
from domain.programs.commands import CreateProgram, Participant
from service.programs import ProgramService
from workers.demo.scenarios import GOALS, MENTEES, MENTORS, Pair, Sim

__all__ = ["ROUND_SIZE", "enroll_and_match", "matching_report", "people_rows"]

ROUND_SIZE = 8
"""Pairs the algorithmic round proposes: as many as the demo onboards at once."""

ROUND_EXPIRY = "PT7S"
"""The program's policy lets a match wait 28 demo days (the demo's hand proposals 14): the round proposes its pairs
one after the other before anyone answers, which on a loaded machine takes longer than 3.5 s."""


def program_policy(policy: LifecyclePolicy) -> LifecyclePolicy:
    """The program's default policy: ``policy`` with the round's longer match expiry (validated, own version)."""
    data = policy.model_dump(mode="json")
    data.update(acceptance_expiry=ROUND_EXPIRY, version=f"{policy.version}-program")
    return LifecyclePolicy.model_validate(data)


def people_rows(program: str, size: int, seed: int | None) -> list[dict[str, Any]]:
    """``size`` mentors (capacity 1) and ``size`` mentees, the same for the same program size and seed: every pair
    shares a language and each mentee has goals some mentor teaches."""
    rng = random.Random(f"{seed}-{size}")
    skills = [g.replace(" ", "-") for g in GOALS]
    rows: list[dict[str, Any]] = []
    for i in range(size):
        taught = rng.sample(skills, 3)
        profile = {"skills": taught, "languages": ["en"], "seniority_years": rng.randint(5, 20)}
        rows.append(
            {"person": f"{MENTORS[i % len(MENTORS)]}-m{i + 1:03d}", "role": "mentor", "capacity": 1, "profile": profile}
        )
    for i in range(size):
        wanted = rng.sample(skills, 2)
        profile = {"goals": wanted, "languages": ["en"], "seniority_years": rng.randint(0, 3)}
        rows.append({"person": f"{MENTEES[i % len(MENTEES)]}-e{i + 1:03d}", "role": "mentee", "profile": profile})
    return rows


def _participants(rows: list[dict[str, Any]]) -> list[Participant]:
    return [
        Participant(
            person_id=r["person"], role=r["role"], profile=r["profile"], capacity=r.get("capacity"), preferences=()
        )
        for r in rows
    ]


async def enroll_and_match(service: ProgramService, sim: Sim, run_dir: Path, size: int, seed: int | None) -> list[Pair]:
    """Create the program, enroll the people file, run one round; returns the proposed pairs (already proposed)."""
    manager = sim.manager
    await service.create(
        CreateProgram(
            command_id=str(uuid.uuid4()),
            actor=manager,
            program_id=sim.program,
            name=f"mentorflow demo {sim.program}",
            default_policy=program_policy(sim.policy),
            matching=DEFAULT_MATCHING,
        )
    )
    rows = people_rows(sim.program, size, seed)
    path = run_dir / "demo" / sim.program / "people.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = "".join(json.dumps(r) + "\n" for r in rows).encode()
    path.write_bytes(raw)
    await service.enroll_all(sim.program, manager, _participants(rows), hashlib.sha256(raw).hexdigest())
    data = await service.match(sim.program, Actor(id=manager.id, role=manager.role), dry_run=False)
    return [sim.adopt(p["relationship_id"], p["mentor"], p["mentee"]) for p in data["proposals"]]


async def matching_report(service: ProgramService, program: str) -> dict[str, Any]:
    """``mentorflow report matching --program P``."""
    return await service.matching_report(program)
