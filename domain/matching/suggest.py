"""Admin and self matching: one mentee's ranked suggestions, each with its explanation (issue 14, item 3).

The same score and hard constraints as the round (:mod:`domain.matching.score`); a mentor with no free slot or a pair
a hard constraint forbids is never suggested. Ranked by score, highest first; ties by mentor id. A suggestion under
the configuration's floor is still listed (an administrator may know better), marked ``below_floor``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from domain.matching.config import MatchingConfig
from domain.matching.profile import Mentee, Mentor
from domain.matching.score import forbidden_reason, score_pair

__all__ = ["MAX_SUGGESTIONS", "Suggestion", "suggest"]

MAX_SUGGESTIONS = 50
"""``--top`` at most."""


@dataclass(frozen=True)
class Suggestion:
    mentor: str
    score: float
    explanation: dict[str, float]
    remaining_capacity: int
    below_floor: bool


def suggest(
    mentee: Mentee,
    mentors: Sequence[Mentor],
    config: MatchingConfig,
    *,
    top: int,
    load: Mapping[str, int] | None = None,
    excluded: Collection[tuple[str, str]] = (),
) -> list[Suggestion]:
    """The ``top`` best mentors for ``mentee`` that a hard constraint allows and that have a free slot."""
    open_count = load or {}
    ranked: list[Suggestion] = []
    for mentor in mentors:
        remaining = mentor.capacity - open_count.get(mentor.person_id, 0)
        if remaining <= 0 or forbidden_reason(mentee, mentor, excluded) is not None:
            continue
        scored = score_pair(mentee, mentor, config)
        below = scored.total < config.floor
        ranked.append(Suggestion(mentor.person_id, scored.total, scored.explanation, remaining, below))
    ranked.sort(key=lambda s: (-s.score, s.mentor))
    return ranked[:top]
