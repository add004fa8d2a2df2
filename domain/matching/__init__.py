"""Matching, the pure part (DESIGN §10): profiles, the versioned configuration, the score and the hard constraints.

The optimal round over a whole program needs a solver (numpy, scipy): it lives in the top-level ``matching`` package,
which imports this one and nothing outer.
"""

from domain.matching.config import (
    DEFAULT_MATCHING,
    MAX_WEIGHT,
    MatchingConfig,
    MatchingWeights,
    matching_from_mapping,
    parse_matching_toml,
)
from domain.matching.profile import TIMEZONE_REFERENCE, Mentee, Mentor, Profile, utc_offset_hours
from domain.matching.score import (
    CAPACITY,
    CRITERIA,
    FAILED_TRIAL,
    LINE_MANAGER,
    NO_COMMON_LANGUAGE,
    ONESELF,
    PAIR_RULES,
    SCORE_DECIMALS,
    PairScore,
    forbidden_reason,
    hours_apart,
    normalized,
    score_pair,
)
from domain.matching.suggest import MAX_SUGGESTIONS, Suggestion, suggest

__all__ = [
    "CAPACITY",
    "CRITERIA",
    "DEFAULT_MATCHING",
    "FAILED_TRIAL",
    "LINE_MANAGER",
    "MAX_SUGGESTIONS",
    "MAX_WEIGHT",
    "NO_COMMON_LANGUAGE",
    "ONESELF",
    "PAIR_RULES",
    "SCORE_DECIMALS",
    "TIMEZONE_REFERENCE",
    "MatchingConfig",
    "MatchingWeights",
    "Mentee",
    "Mentor",
    "PairScore",
    "Profile",
    "Suggestion",
    "forbidden_reason",
    "hours_apart",
    "matching_from_mapping",
    "normalized",
    "parse_matching_toml",
    "score_pair",
    "suggest",
    "utc_offset_hours",
]
