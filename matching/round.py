"""One matching round: the optimal capacitated assignment, and a greedy baseline to compare it with.

**Optimal** (:func:`optimal_round`): the largest total score subject to each mentor's remaining capacity and the hard
constraints, solved exactly with ``scipy.optimize.linear_sum_assignment`` on the table with each mentor expanded into
one column per free slot. A pair may be proposed when it is allowed (not NaN), scores at least the floor and above
0; every other cell of the matrix is 0, which stands for "not matched": with no negative weight, a full rectangular
assignment that drops its 0 cells is exactly a largest-total capacitated matching (any matching extends to a full
assignment with 0 cells, and the other way round). A pair at 0 adds nothing and is not proposed.

**Deterministic ties**: rows are mentees sorted by id, columns mentors sorted by id with their slots in order
(:mod:`matching.table`), and the solver is deterministic on a given matrix: the same enrollment gives the same
proposals whatever order people were given in. Among assignments of equal total, the one returned is the solver's
first on that sorted matrix.

**Unmatched** mentees, each with its reason (``UNMATCHED_REASONS``): ``no_feasible_mentor`` (a hard constraint
forbids every mentor), ``below_floor`` (the best allowed score is under the configured floor), ``capacity_exhausted``
(a mentor at or above the floor existed, but the optimal round gave every such slot to others, or none was free).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from matching.table import ScoreTable

__all__ = [
    "BELOW_FLOOR",
    "CAPACITY_EXHAUSTED",
    "NO_FEASIBLE_MENTOR",
    "UNMATCHED_REASONS",
    "Proposal",
    "RoundResult",
    "Unmatched",
    "eligible_pairs",
    "greedy_round",
    "optimal_round",
]

NO_FEASIBLE_MENTOR = "no_feasible_mentor"
BELOW_FLOOR = "below_floor"
CAPACITY_EXHAUSTED = "capacity_exhausted"
UNMATCHED_REASONS = (NO_FEASIBLE_MENTOR, BELOW_FLOOR, CAPACITY_EXHAUSTED)

Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Proposal:
    mentee: str
    mentor: str
    score: float


@dataclass(frozen=True)
class Unmatched:
    mentee: str
    reason: str
    detail: str


@dataclass(frozen=True)
class RoundResult:
    """Proposals sorted by mentee, the unmatched mentees with their reason, and the total score of the proposals."""

    proposals: tuple[Proposal, ...]
    unmatched: tuple[Unmatched, ...]
    total_score: float
    method: str = "algorithmic"

    def to_json(self) -> dict[str, Any]:
        return {
            "proposals": [{"mentee": p.mentee, "mentor": p.mentor, "score": p.score} for p in self.proposals],
            "unmatched": [{"mentee": u.mentee, "reason": u.reason, "detail": u.detail} for u in self.unmatched],
            "total_score": self.total_score,
        }


def eligible_pairs(table: ScoreTable, floor: float) -> Mask:
    """The pairs a round may propose: allowed, at least the floor, above 0, and the mentor has a free slot."""
    with np.errstate(invalid="ignore"):
        ok = (table.scores >= floor) & (table.scores > 0)
    return ok & (table.remaining > 0)[None, :]


def _unmatched(table: ScoreTable, floor: float, matched: set[int]) -> tuple[Unmatched, ...]:
    out: list[Unmatched] = []
    allowed = ~np.isnan(table.scores)
    best = np.where(allowed, table.scores, -np.inf).max(axis=1, initial=-np.inf)
    for i, mentee in enumerate(table.mentees):
        if i in matched:
            continue
        if not allowed[i].any():
            out.append(Unmatched(mentee, NO_FEASIBLE_MENTOR, "a hard constraint forbids every enrolled mentor"))
        elif best[i] < floor or best[i] <= 0:
            detail = f"the best allowed score {best[i]:g} is under the floor {floor:g} (or not above 0)"
            out.append(Unmatched(mentee, BELOW_FLOOR, detail))
        else:
            detail = "every mentor at or above the floor has no free slot left in this round"
            out.append(Unmatched(mentee, CAPACITY_EXHAUSTED, detail))
    return tuple(out)


def _result(table: ScoreTable, floor: float, pairs: list[tuple[int, int]], method: str) -> RoundResult:
    pairs.sort()
    proposals = tuple(Proposal(table.mentees[i], table.mentors[j], float(table.scores[i, j])) for i, j in pairs)
    total = round(sum(p.score for p in proposals), 6) + 0.0
    unmatched = _unmatched(table, floor, {i for i, _ in pairs})
    return RoundResult(proposals, unmatched, total, method)


def optimal_round(table: ScoreTable, floor: float) -> RoundResult:
    """The largest-total capacitated assignment (see the module's docstring)."""
    eligible = eligible_pairs(table, floor)
    rows = np.flatnonzero(eligible.any(axis=1))
    # A mentor needs no more slots than mentees it could take.
    slots_per_mentor = np.minimum(table.remaining, eligible.sum(axis=0))
    slot_mentor = np.repeat(np.arange(len(table.mentors)), slots_per_mentor)
    if rows.size == 0 or slot_mentor.size == 0:
        return _result(table, floor, [], "algorithmic")
    # Zero the cells no proposal may use on the mentor columns first, then expand them into slots (one copy only).
    weights = np.where(eligible[rows], table.scores[rows], 0.0)[:, slot_mentor]
    chosen_rows, chosen_slots = linear_sum_assignment(weights, maximize=True)
    pairs = [
        (int(rows[r]), int(slot_mentor[s]))
        for r, s in zip(chosen_rows.tolist(), chosen_slots.tolist(), strict=True)
        if weights[r, s] > 0
    ]
    return _result(table, floor, pairs, "algorithmic")


def greedy_round(table: ScoreTable, floor: float) -> RoundResult:
    """The baseline: take eligible pairs best score first (ties: mentee, then mentor, by id) while the mentee is free
    and the mentor has a slot. Not optimal; the benchmark measures how far from it."""
    eligible = eligible_pairs(table, floor)
    rows, cols = np.nonzero(eligible)
    order = np.lexsort((cols, rows, -table.scores[rows, cols]))
    remaining = table.remaining.copy()
    taken = np.zeros(len(table.mentees), dtype=bool)
    pairs: list[tuple[int, int]] = []
    for i, j in zip(rows[order].tolist(), cols[order].tolist(), strict=True):
        if not taken[i] and remaining[j] > 0:
            taken[i] = True
            remaining[j] -= 1
            pairs.append((i, j))
    return _result(table, floor, pairs, "greedy")
