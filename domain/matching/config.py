"""The matching configuration: the score's weights and the floor, as versioned data (a TOML file, DESIGN §10).

```toml
[matching]
version = "2026-11"
floor = 1.0                     # a mentee whose best score is under it is listed as hard to match

[matching.weights]
skills_goals = 10.0             # * the share of the mentee's goals among the mentor's skills (0..1)
interests = 3.0                 # * the share of the mentee's interests the mentor shares (0..1)
preference = [3.0, 2.0, 1.0]    # bonus when the mentor is the mentee's 1st, 2nd, 3rd choice (strictly decreasing)
timezone_per_hour = 0.25        # penalty per hour between the two UTC offsets (0..12)
seniority_per_year = 0.2        # penalty per year between the mentor's lead and ideal_seniority_gap
ideal_seniority_gap = 5.0       # years the mentor ideally has on the mentee
```

Read with the limits of domain/limits.py (``MAX_FILE_BYTES``, depth, values). Every weight is finite and ≥ 0 and at
most ``MAX_WEIGHT``, so a score stays within what a proposal may carry (``MatchScore``: 0 to 1000).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from domain.datafile import checked_table, format_validation_error, load_bounded_toml
from domain.errors import InvalidPolicy
from domain.limits import MAX_PREFERENCES, NAME

__all__ = [
    "DEFAULT_MATCHING",
    "MAX_WEIGHT",
    "MatchingConfig",
    "MatchingWeights",
    "matching_from_mapping",
    "parse_matching_toml",
]

MAX_WEIGHT = 100.0
"""Any weight at most: the positive criteria sum to at most 2 * 100 + 100 = 300, inside ``MatchScore``'s 1000."""

Weight = Annotated[float, Field(ge=0, le=MAX_WEIGHT, allow_inf_nan=False)]


class MatchingWeights(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    skills_goals: Weight = 10.0
    interests: Weight = 3.0
    preference: tuple[Weight, ...] = Field(default=(3.0, 2.0, 1.0), min_length=1, max_length=MAX_PREFERENCES)
    timezone_per_hour: Weight = 0.25
    seniority_per_year: Weight = 0.2
    ideal_seniority_gap: float = Field(default=5.0, ge=-80, le=80, allow_inf_nan=False)

    @field_validator("preference")
    @classmethod
    def _ranked(cls, bonus: tuple[float, ...]) -> tuple[float, ...]:
        if any(a <= b for a, b in itertools.pairwise(bonus)):
            raise ValueError(f"must be strictly decreasing (1st > 2nd > 3rd), got {list(bonus)}")
        return bonus


class MatchingConfig(BaseModel):
    """The weights, the floor and the version every proposal records."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Annotated[str, NAME] = "default-1"
    floor: float = Field(default=1.0, ge=0, le=1000, allow_inf_nan=False)
    weights: MatchingWeights = MatchingWeights()


DEFAULT_MATCHING = MatchingConfig()


def matching_from_mapping(data: Mapping[str, Any]) -> MatchingConfig:
    """Build the configuration from a mapping; a top-level ``[matching]`` table is accepted as well as a flat one.
    Raises :class:`InvalidPolicy` naming every field and rule broken."""
    table = checked_table(data, "matching", "matching configuration")
    try:
        return MatchingConfig.model_validate(table)
    except ValidationError as exc:
        raise InvalidPolicy(f"invalid matching configuration: {format_validation_error(exc)}") from None


def parse_matching_toml(text: str) -> MatchingConfig:
    """Parse the configuration from TOML text (stdlib ``tomllib``), at most ``MAX_FILE_BYTES`` of UTF-8."""
    return matching_from_mapping(load_bounded_toml(text, "matching"))
