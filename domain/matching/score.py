"""The score of a (mentee, mentor) pair with its explanation, and the hard constraints (DESIGN §10).

This module is the definition; ``matching/`` (top level) computes the same numbers for a whole round with numpy and is
tested against it pair by pair.

The score is the sum of five contributions (``CRITERIA``, in this order; weights from :class:`MatchingConfig`):

* ``skills_goals``: ``weight * |goals ∩ mentor skills| / |goals|`` (0 when the mentee names no goal);
* ``interests``: ``weight * |interests ∩ mentor interests| / |mentee interests|`` (0 when none);
* ``preference``: the bonus of the mentor's rank in the mentee's preferences (1st > 2nd > 3rd), else 0;
* ``timezone``: ``-weight * hours`` between the two UTC offsets, around the clock (0 to 12);
* ``seniority``: ``-weight * |(mentor years - mentee years) - ideal gap|``.

Tags are compared case-insensitively, blanks at either end ignored.

Hard constraints (``PAIR_RULES``, checked in this order, the first broken one is the reason): never oneself, never
the mentee's line manager (nor a mentor whose line manager is the mentee: the same power differential), a common
language, never the mentor of a trial that failed for this mentee (``excluded`` pairs). The fifth, capacity, is the
mentor's and not the pair's: the round enforces it (``CAPACITY``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from domain.matching.config import MatchingConfig
from domain.matching.profile import Mentee, Mentor, utc_offset_hours

__all__ = [
    "CAPACITY",
    "CRITERIA",
    "FAILED_TRIAL",
    "LINE_MANAGER",
    "NO_COMMON_LANGUAGE",
    "ONESELF",
    "PAIR_RULES",
    "SCORE_DECIMALS",
    "PairScore",
    "forbidden_reason",
    "hours_apart",
    "normalized",
    "score_pair",
]

ONESELF = "oneself"
LINE_MANAGER = "line_manager"
NO_COMMON_LANGUAGE = "no_common_language"
FAILED_TRIAL = "failed_trial"
CAPACITY = "capacity"

CRITERIA = ("skills_goals", "interests", "preference", "timezone", "seniority")
SCORE_DECIMALS = 6
"""A proposal's score and contributions are rounded to this many decimals (``MatchScore`` allows 6)."""

Pair = tuple[str, str]
"""(mentee id, mentor id)."""


def normalized(tags: Sequence[str]) -> frozenset[str]:
    """The tags as the score compares them: case-folded, stripped, blanks dropped."""
    return frozenset(t.strip().casefold() for t in tags if t.strip())


def hours_apart(a: str, b: str) -> float:
    """Hours between two time zones' UTC offsets, the short way around the clock (0 to 12)."""
    gap = abs(utc_offset_hours(a) - utc_offset_hours(b)) % 24
    return min(gap, 24 - gap)


def _oneself(mentee: Mentee, mentor: Mentor, excluded: Collection[Pair]) -> bool:
    return mentee.person_id == mentor.person_id


def _line_manager(mentee: Mentee, mentor: Mentor, excluded: Collection[Pair]) -> bool:
    return mentee.profile.line_manager == mentor.person_id or mentor.profile.line_manager == mentee.person_id


def _no_common_language(mentee: Mentee, mentor: Mentor, excluded: Collection[Pair]) -> bool:
    return not normalized(mentee.profile.languages) & normalized(mentor.profile.languages)


def _failed_trial(mentee: Mentee, mentor: Mentor, excluded: Collection[Pair]) -> bool:
    return (mentee.person_id, mentor.person_id) in excluded


PAIR_RULES: tuple[tuple[str, Callable[[Mentee, Mentor, Collection[Pair]], bool]], ...] = (
    (ONESELF, _oneself),
    (LINE_MANAGER, _line_manager),
    (NO_COMMON_LANGUAGE, _no_common_language),
    (FAILED_TRIAL, _failed_trial),
)


def forbidden_reason(mentee: Mentee, mentor: Mentor, excluded: Collection[Pair] = ()) -> str | None:
    """The first hard constraint the pair breaks (a name from ``PAIR_RULES``), or None when it may be matched."""
    for rule, broken in PAIR_RULES:
        if broken(mentee, mentor, excluded):
            return rule
    return None


@dataclass(frozen=True)
class PairScore:
    """The score and its explanation ``{criterion: contribution}`` (``CRITERIA``), both rounded."""

    total: float
    explanation: dict[str, float]


def _share(wanted: Sequence[str], offered: Sequence[str]) -> float:
    want = normalized(wanted)
    return len(want & normalized(offered)) / len(want) if want else 0.0


def score_pair(mentee: Mentee, mentor: Mentor, config: MatchingConfig) -> PairScore:
    """The pair's score under ``config`` (the hard constraints are :func:`forbidden_reason`'s business)."""
    w = config.weights
    e, m = mentee.profile, mentor.profile
    ranks = {mentor_id: rank for rank, mentor_id in enumerate(mentee.preferences)}
    rank = ranks.get(mentor.person_id)
    raw = {
        "skills_goals": w.skills_goals * _share(e.goals, m.skills),
        "interests": w.interests * _share(e.interests, m.interests),
        "preference": w.preference[rank] if rank is not None and rank < len(w.preference) else 0.0,
        "timezone": -w.timezone_per_hour * hours_apart(e.timezone, m.timezone),
        "seniority": -w.seniority_per_year * abs((m.years - e.years) - w.ideal_seniority_gap),
    }
    total = sum(raw[c] for c in CRITERIA)
    return PairScore(
        total=round(total, SCORE_DECIMALS) + 0.0,
        explanation={c: round(raw[c], SCORE_DECIMALS) + 0.0 for c in CRITERIA},
    )
