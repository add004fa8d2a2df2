"""The score table of a round: every (mentee, mentor) pair's score at once, with numpy.

The numbers are :func:`domain.matching.score_pair`'s (same operations in the same order, rounded to
``SCORE_DECIMALS``; tests/unit/matching compares them pair by pair) and a pair that breaks a hard constraint
(:func:`domain.matching.forbidden_reason`) is NaN. Rows are mentees and columns mentors, each sorted by id: the table,
and so the round, does not depend on the order people were given in.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from domain.matching import MatchingConfig, Mentee, Mentor, normalized, utc_offset_hours
from domain.matching.score import SCORE_DECIMALS

__all__ = ["ScoreTable", "build_table"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ScoreTable:
    """``scores[i, j]``: mentee ``mentees[i]`` with mentor ``mentors[j]``, NaN when a hard constraint forbids the
    pair; ``remaining[j]``: the mentor's capacity left (capacity minus open relationships, never below 0)."""

    mentees: tuple[str, ...]
    mentors: tuple[str, ...]
    remaining: IntArray
    scores: FloatArray

    def to_json(self) -> dict[str, Any]:
        """``{"mentees", "mentors", "capacity": {mentor: remaining}, "scores": [[number or null]]}`` (DESIGN §10)."""
        rows = [[None if np.isnan(v) else float(v) for v in row] for row in self.scores.tolist()]
        return {
            "mentees": list(self.mentees),
            "mentors": list(self.mentors),
            "capacity": {m: int(r) for m, r in zip(self.mentors, self.remaining.tolist(), strict=True)},
            "scores": rows,
        }


def _indices(tag_lists: Sequence[frozenset[str]], vocabulary: dict[str, int]) -> tuple[list[int], list[int]]:
    """(person, tag) index pairs, one per tag a person has (tags not yet in ``vocabulary`` are added to it)."""
    rows: list[int] = []
    cols: list[int] = []
    for i, tags in enumerate(tag_lists):
        for tag in sorted(tags):
            rows.append(i)
            cols.append(vocabulary.setdefault(tag, len(vocabulary)))
    return rows, cols


def _overlap(wanted: Sequence[frozenset[str]], offered: Sequence[frozenset[str]]) -> FloatArray:
    """``[i, j]`` = how many of ``wanted[i]`` are in ``offered[j]`` (sparse x dense: the vocabulary may be large)."""
    vocabulary: dict[str, int] = {}
    w_rows, w_cols = _indices(wanted, vocabulary)
    o_rows, o_cols = _indices(offered, vocabulary)
    size = max(len(vocabulary), 1)
    want = sparse.csr_matrix(
        (np.ones(len(w_rows)), (np.array(w_rows, dtype=np.int64), np.array(w_cols, dtype=np.int64))),
        shape=(len(wanted), size),
    )
    offer = np.zeros((size, len(offered)))
    offer[np.array(o_cols, dtype=np.int64), np.array(o_rows, dtype=np.int64)] = 1.0
    return np.asarray(want @ offer, dtype=np.float64)


def _share(wanted: Sequence[frozenset[str]], offered: Sequence[frozenset[str]]) -> FloatArray:
    counts = _overlap(wanted, offered)
    sizes = np.array([len(w) for w in wanted], dtype=np.float64)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sizes > 0, counts / np.where(sizes > 0, sizes, 1.0), 0.0)


def _forbidden(
    mentees: Sequence[Mentee], mentors: Sequence[Mentor], excluded: Collection[tuple[str, str]]
) -> npt.NDArray[np.bool_]:
    """The hard constraints of ``domain.matching.PAIR_RULES``, for every pair."""
    languages = _overlap(
        [normalized(e.profile.languages) for e in mentees], [normalized(m.profile.languages) for m in mentors]
    )
    forbidden: npt.NDArray[np.bool_] = languages == 0
    row = {e.person_id: i for i, e in enumerate(mentees)}
    col = {m.person_id: j for j, m in enumerate(mentors)}
    for i, mentee in enumerate(mentees):
        for other in (mentee.person_id, mentee.profile.line_manager):
            if other in col:
                forbidden[i, col[other]] = True
    for j, mentor in enumerate(mentors):
        if mentor.profile.line_manager in row:
            forbidden[row[mentor.profile.line_manager], j] = True
    for mentee_id, mentor_id in excluded:
        if mentee_id in row and mentor_id in col:
            forbidden[row[mentee_id], col[mentor_id]] = True
    return forbidden


def build_table(
    mentees: Sequence[Mentee],
    mentors: Sequence[Mentor],
    config: MatchingConfig,
    *,
    load: Mapping[str, int] | None = None,
    excluded: Collection[tuple[str, str]] = (),
) -> ScoreTable:
    """The table of a round. ``load``: open relationships per mentor (they count against its capacity);
    ``excluded``: (mentee, mentor) pairs whose trial failed."""
    es = sorted(mentees, key=lambda e: e.person_id)
    ms = sorted(mentors, key=lambda m: m.person_id)
    w = config.weights
    skills = _share([normalized(e.profile.goals) for e in es], [normalized(m.profile.skills) for m in ms])
    interests = _share([normalized(e.profile.interests) for e in es], [normalized(m.profile.interests) for m in ms])
    preference = np.zeros((len(es), len(ms)))
    col = {m.person_id: j for j, m in enumerate(ms)}
    for i, e in enumerate(es):
        for rank, mentor_id in enumerate(e.preferences[: len(w.preference)]):
            if mentor_id in col:
                preference[i, col[mentor_id]] = w.preference[rank]
    tz_e = np.array([utc_offset_hours(e.profile.timezone) for e in es])[:, None]
    tz_m = np.array([utc_offset_hours(m.profile.timezone) for m in ms])[None, :]
    gap = np.abs(tz_e - tz_m) % 24
    years_e = np.array([e.profile.years for e in es], dtype=np.float64)[:, None]
    years_m = np.array([m.profile.years for m in ms], dtype=np.float64)[None, :]
    total = (
        w.skills_goals * skills
        + w.interests * interests
        + preference
        + -w.timezone_per_hour * np.minimum(gap, 24 - gap)
        + -w.seniority_per_year * np.abs((years_m - years_e) - w.ideal_seniority_gap)
    )
    scores = np.round(total, SCORE_DECIMALS) + 0.0
    scores[_forbidden(es, ms, excluded)] = np.nan
    open_count = load or {}
    remaining = np.array([max(m.capacity - open_count.get(m.person_id, 0), 0) for m in ms], dtype=np.int64)
    return ScoreTable(tuple(e.person_id for e in es), tuple(m.person_id for m in ms), remaining, scores)
