"""6. Matching: one algorithmic round for 5,000 mentees x 1,000 mentors (capacities 1-5), no service involved.

The people are generated from a fixed seed (skills, goals and interests from small vocabularies, one or two of six
languages, seven time zones, 0-30 years of seniority, a line manager among the mentors for one mentee in ten, three
ranked preferences each, one failed trial for one mentee in fifty) and scored with the default matching configuration.

* **time**: the score table (:func:`matching.build_table`) plus the optimal round (:func:`matching.optimal_round`,
  ``scipy.optimize.linear_sum_assignment``); baseline: the same table plus the greedy round. Target: under a minute.
* **peak memory**: tracemalloc's peak over the table and the optimal round (a second pass, so the timed one carries
  no tracing); baseline: the dense score table alone (mentees x mentors x 8 bytes).
* **total score / exact**: the round's total against an independent exact solve of the same table
  (:func:`matching.exact.sparse_exact_total`: min-cost full bipartite matching, LAPJVsp on a sparse graph of the
  eligible pairs with one "stay unmatched" column per mentee). 1.00 means the round is optimal.
* **total score / greedy**: the round's total against the greedy baseline's (best pair first): how much the optimal
  assignment gains.
"""

from __future__ import annotations

import asyncio
import random
import time
import tracemalloc

from benchmarks.common import Result
from domain.matching import DEFAULT_MATCHING, Mentee, Mentor, Profile
from matching import build_table, greedy_round, optimal_round
from matching.exact import sparse_exact_total

NAME = "matching"
SIZE = (5_000, 1_000)
SMOKE_SIZE = (200, 40)
SEED = 14
TIME_TARGET_S = 60.0

_SKILLS = [f"skill-{i}" for i in range(60)]
_INTERESTS = [f"interest-{i}" for i in range(40)]
_LANGUAGES = ["en", "fr", "de", "es", "pt", "ja"]
_ZONES = ["UTC", "Europe/Paris", "Europe/London", "America/New_York", "America/Sao_Paulo", "Asia/Tokyo", "UTC+05:30"]


def people(n_mentees: int, n_mentors: int, seed: int = SEED) -> tuple[list[Mentee], list[Mentor], set[tuple[str, str]]]:
    """A reproducible program: mentees, mentors and the (mentee, mentor) pairs whose trial failed."""
    rng = random.Random(seed)
    mentor_ids = [f"mentor-{j:05d}" for j in range(n_mentors)]

    def profile(manager: str | None = None) -> Profile:
        return Profile(
            skills=tuple(rng.sample(_SKILLS, 5)),
            goals=tuple(rng.sample(_SKILLS, 3)),
            interests=tuple(rng.sample(_INTERESTS, 4)),
            languages=tuple(rng.sample(_LANGUAGES, rng.choice((1, 1, 2)))),
            timezone=rng.choice(_ZONES),
            seniority_years=rng.randint(0, 30),
            department=f"dept-{rng.randint(0, 19)}",
            line_manager=manager,
        )

    mentors = [Mentor(person_id=m, profile=profile(), capacity=rng.randint(1, 5)) for m in mentor_ids]
    mentees = []
    excluded: set[tuple[str, str]] = set()
    for i in range(n_mentees):
        mentee_id = f"mentee-{i:05d}"
        manager = rng.choice(mentor_ids) if rng.random() < 0.1 else None
        mentees.append(
            Mentee(person_id=mentee_id, profile=profile(manager), preferences=tuple(rng.sample(mentor_ids, 3)))
        )
        if rng.random() < 0.02:
            excluded.add((mentee_id, rng.choice(mentor_ids)))
    return mentees, mentors, excluded


def measure(n_mentees: int, n_mentors: int) -> list[Result]:
    mentees, mentors, excluded = people(n_mentees, n_mentors)
    floor = DEFAULT_MATCHING.floor
    size = f"{n_mentees:,} x {n_mentors:,}"

    started = time.perf_counter()
    table = build_table(mentees, mentors, DEFAULT_MATCHING, excluded=excluded)
    table_s = time.perf_counter() - started
    optimal = optimal_round(table, floor)
    optimal_s = time.perf_counter() - started

    started = time.perf_counter()
    greedy = greedy_round(build_table(mentees, mentors, DEFAULT_MATCHING, excluded=excluded), floor)
    greedy_s = time.perf_counter() - started

    started = time.perf_counter()
    exact = sparse_exact_total(table, floor)
    exact_s = time.perf_counter() - started

    tracemalloc.start()
    optimal_round(build_table(mentees, mentors, DEFAULT_MATCHING, excluded=excluded), floor)
    peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    table_mb = n_mentees * n_mentors * 8 / 2**20

    counts = (
        f"{len(optimal.proposals):,} proposed, {len(optimal.unmatched):,} unmatched, "
        f"capacity {int(table.remaining.sum()):,}; table {table_s:.1f} s"
    )
    return [
        Result(
            NAME,
            f"optimal round {size} (capacities 1-5)",
            optimal_s,
            "s",
            greedy_s,
            "greedy round on the same table",
            f"< {TIME_TARGET_S:.0f} s",
            optimal_s < TIME_TARGET_S,
            counts,
        ),
        Result(NAME, f"peak memory of the round {size}", peak_mb, "MB", table_mb, "the dense score table alone"),
        Result(
            NAME,
            f"total score {size} / independent exact solve",
            optimal.total_score,
            "score",
            exact,
            f"min-cost bipartite matching, sparse LAPJVsp, {exact_s:.1f} s",
            "1.00 (optimal)",
            abs(optimal.total_score - exact) <= 1e-6 * max(1.0, abs(exact)),
        ),
        Result(
            NAME,
            f"total score {size} / greedy baseline",
            optimal.total_score,
            "score",
            greedy.total_score,
            f"greedy, best pair first: {len(greedy.proposals):,} proposed",
        ),
    ]


async def run(smoke: bool) -> list[Result]:
    n_mentees, n_mentors = SMOKE_SIZE if smoke else SIZE
    return await asyncio.to_thread(measure, n_mentees, n_mentors)
