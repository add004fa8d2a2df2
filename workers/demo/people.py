"""The demo's people: the names and goals of the simulated participants, the people files a program enrolls, and the
roster the stories after the round draw on (the enrolled mentees nobody matched yet, the mentors' free slots)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from domain.matching import MatchingConfig, Mentee, Mentor, forbidden_reason, score_pair

__all__ = ["GOALS", "MENTEES", "MENTORS", "Pick", "Roster", "people_rows"]

MENTORS = [
    "ada", "grace", "alan", "barbara", "donald", "edsger", "frances", "john", "katherine", "leslie", "margaret",
    "niklaus", "radia", "shafi", "tim", "vint", "whitfield", "yukihiro", "anita", "dennis",
]  # fmt: skip
MENTEES = [
    "amara", "bo", "chen", "dara", "emeka", "farah", "gita", "hugo", "ines", "jonas", "kofi", "lena", "mateo",
    "noor", "oskar", "priya", "quinn", "rosa", "sami", "tariq", "uma", "vera", "wen", "xavi", "yara", "zoe",
]  # fmt: skip
GOALS = [
    "present at the team all-hands",
    "lead a design review",
    "ship a first open-source contribution",
    "prepare for the promotion panel",
    "learn to give structured feedback",
    "negotiate a project scope",
    "mentor an intern",
]
CAPACITIES = (1, 2, 3, 3)
"""The mentors' capacities in turn: 66 slots for 30 mentors, enough for the 60 mentees and the rematches."""


def people_rows(size: int, seed: int | None, n_mentors: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The people of a program of ``size`` stories, the same for the same size and seed: ``size + 4`` mentees and
    ``n_mentors`` mentors (capacity 1 to 3), every pair sharing a language. Returned as (mentors, mentees)."""
    rng = random.Random(f"{seed}-{size}")
    skills = [g.replace(" ", "-") for g in GOALS]
    mentors = [
        {
            "person": f"{MENTORS[i % len(MENTORS)]}-m{i + 1:03d}",
            "role": "mentor",
            "capacity": CAPACITIES[i % len(CAPACITIES)],
            "profile": {"skills": rng.sample(skills, 3), "languages": ["en"], "seniority_years": rng.randint(5, 20)},
        }
        for i in range(n_mentors)
    ]
    mentees = [
        {
            "person": f"{MENTEES[i % len(MENTEES)]}-e{i + 1:03d}",
            "role": "mentee",
            "profile": {"goals": rng.sample(skills, 2), "languages": ["en"], "seniority_years": rng.randint(0, 3)},
        }
        for i in range(size + 4)
    ]
    return mentors, mentees


@dataclass(frozen=True)
class Pick:
    """A manager's choice for a story: the pair, its score and explanation under the program's configuration."""

    mentor: str
    mentee: str
    score: float
    explanation: dict[str, float]
    matching_version: str


@dataclass
class Roster:
    """Who the stories after the round pair: each new story the next enrolled mentee nobody matched yet, a rematch
    the same mentee; the mentor is the best-scoring one with a free slot (never the one being left, never one a hard
    constraint forbids, never a negative score), as a manager picks from the suggestions. Slots are not given back
    when a relationship closes (the program's capacity use stays within every mentor's capacity)."""

    mentors: list[Mentor]
    waiting: list[Mentee]
    config: MatchingConfig
    slots: dict[str, int] = field(default_factory=dict)
    known: dict[str, Mentee] = field(default_factory=dict)

    @classmethod
    def of(cls, mentors: list[dict[str, Any]], mentees: list[dict[str, Any]], config: MatchingConfig) -> Roster:
        people = [Mentee(person_id=r["person"], profile=r["profile"]) for r in mentees]
        found = [Mentor(person_id=r["person"], profile=r["profile"], capacity=r["capacity"]) for r in mentors]
        return cls(found, people, config, {m.person_id: m.capacity for m in found}, {p.person_id: p for p in people})

    def taken(self, mentor: str, mentee: str) -> None:
        """A pair the round or a hand match made: the mentee is matched, the mentor has a slot less."""
        self.slots[mentor] = self.slots.get(mentor, 0) - 1
        self.waiting = [m for m in self.waiting if m.person_id != mentee]

    def pick(self, mentee_id: str | None, leaving: str | None) -> Pick | None:
        """A pair for a new story (``mentee_id`` None: the first waiting mentee some free mentor fits; the others
        wait, hard to match) or a rematch; None when nobody fits (the story then pairs people from outside the
        program's files)."""
        if mentee_id is not None:
            known = self.known.get(mentee_id)
            return None if known is None else self._pair(known, leaving)
        for mentee in self.waiting:
            pick = self._pair(mentee, leaving)
            if pick is not None:
                return pick
        return None

    def _pair(self, mentee: Mentee, leaving: str | None) -> Pick | None:
        free = [
            m
            for m in self.mentors
            if self.slots[m.person_id] > 0 and m.person_id != leaving and forbidden_reason(mentee, m) is None
        ]
        scored = [(score, m) for m in free if (score := score_pair(mentee, m, self.config)).total >= 0]
        if not scored:  # a proposal records a score of 0 or more (a pair under the floor may still be picked)
            return None
        best, mentor = max(scored, key=lambda s: s[0].total)  # the first of equals: file order
        self.taken(mentor.person_id, mentee.person_id)
        return Pick(mentor.person_id, mentee.person_id, best.total, best.explanation, self.config.version)
