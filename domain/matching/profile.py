"""Who enrolls: a profile (DESIGN §10), and a mentor's capacity or a mentee's ranked preferences.

Frozen pydantic models: every refusal names the field and the rule (the limit's constant from domain/limits.py).
Tags (skills, goals, interests, languages) are compared case-insensitively by the score (:mod:`domain.matching.score`);
they are kept as written here.

``timezone`` is an IANA name (``Europe/Paris``) or a UTC offset (``UTC``, ``UTC+5:30``, ``-03:00``). Its distance to
another is measured at a fixed reference instant (:data:`TIMEZONE_REFERENCE`): the score depends on the two profiles
and the configuration only, never on the day a round runs.
"""

from __future__ import annotations

import math
import re
import zoneinfo
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.limits import (
    MAX_CAPACITY,
    MAX_PREFERENCES,
    MAX_PROFILE_ITEMS,
    MAX_SENIORITY_YEARS,
    NAME,
    PERSON_ID,
    ListRule,
)
from domain.privacy.sealed import is_sealed, sealed_length

__all__ = [
    "TIMEZONE_REFERENCE",
    "Mentee",
    "Mentor",
    "Profile",
    "utc_offset_hours",
]

TIMEZONE_REFERENCE = datetime(2001, 1, 15, 12, tzinfo=UTC)
"""The instant at which an IANA zone's UTC offset is read (northern winter): fixed, so a score is reproducible."""

_TAGS = ListRule(MAX_PROFILE_ITEMS, "MAX_PROFILE_ITEMS", NAME)
_OFFSET_RE = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$")
_MAX_OFFSET = timedelta(hours=14)
_MAX_TIMEZONE_LENGTH = 64
_MAX_YEARS_TEXT = 32
"""Characters of a seniority's text when it is sealed (``repr`` of a float: at most 24)."""

Tags = Annotated[tuple[str, ...], _TAGS]
PersonId = Annotated[str, PERSON_ID]


@lru_cache(maxsize=1024)
def utc_offset_hours(timezone: str) -> float:
    """The UTC offset of ``timezone`` in hours (an IANA zone's at :data:`TIMEZONE_REFERENCE`). Raises ``ValueError``
    naming the accepted forms."""
    text = timezone.strip()
    if text.upper() in ("UTC", "GMT", "Z"):
        return 0.0
    match = _OFFSET_RE.match(text.upper())
    if match:
        sign, hours, minutes = match.groups()
        offset = timedelta(hours=int(hours), minutes=int(minutes or 0))
        if offset > _MAX_OFFSET or int(minutes or 0) >= 60:
            raise ValueError(f"UTC offset {timezone!r} is out of range (-14:00 to +14:00)")
        return (-1 if sign == "-" else 1) * offset.total_seconds() / 3600
    try:
        zone = zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{timezone!r} is neither an IANA time zone (Europe/Paris) nor a UTC offset (UTC+05:30, -03:00)"
        ) from None
    zone_offset = TIMEZONE_REFERENCE.astimezone(zone).utcoffset()
    return 0.0 if zone_offset is None else zone_offset.total_seconds() / 3600


def _sealed(value: str, plain_max: int, what: str) -> str:
    """A sealed field (domain/privacy/sealed.py): its plaintext met the rule before it was sealed at the boundary."""
    if len(value) > sealed_length(plain_max):
        limit = sealed_length(plain_max)
        raise ValueError(f"sealed text must be at most {limit} characters (the sealed form of {what})")
    return value


class Profile(BaseModel):
    """What a participant enrolls with. ``languages`` must name at least one (a common language is a hard rule).

    Every field but ``line_manager`` may arrive sealed under the person's key (docs/privacy.md): each tag, the
    ``timezone`` and the ``seniority_years`` (a number, sealed as its text). The score reads an opened profile
    (:attr:`years`, :attr:`timezone`); the service opens every profile of a program before it scores."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    skills: Tags = ()
    goals: Tags = ()
    interests: Tags = ()
    languages: Tags = Field(min_length=1)
    timezone: str = "UTC"
    seniority_years: float | str = Field(
        default=0.0, description=f"years of experience, 0 to {MAX_SENIORITY_YEARS} (or its sealed form)"
    )
    department: Annotated[str | None, NAME] = None
    line_manager: PersonId | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        if is_sealed(value):
            return _sealed(value, _MAX_TIMEZONE_LENGTH, "the timezone")
        if len(value) > _MAX_TIMEZONE_LENGTH:
            raise ValueError(f"must be at most {_MAX_TIMEZONE_LENGTH} characters (MAX_NAME_LENGTH)")
        utc_offset_hours(value)
        return value

    @field_validator("seniority_years", mode="before")
    @classmethod
    def _years_or_sealed(cls, value: Any) -> float | str:
        if isinstance(value, str) and is_sealed(value):
            return _sealed(value, _MAX_YEARS_TEXT, "seniority_years")
        try:
            years = float(value)
        except (TypeError, ValueError, OverflowError):  # OverflowError: an integer beyond any float
            raise ValueError("must be a number of years") from None
        if not math.isfinite(years) or not 0 <= years <= MAX_SENIORITY_YEARS:
            raise ValueError(f"must be from 0 to {MAX_SENIORITY_YEARS} years (MAX_SENIORITY_YEARS)")
        return years

    @property
    def years(self) -> float:
        """``seniority_years`` as the score reads it; a sealed one has to be opened first."""
        if isinstance(self.seniority_years, str):
            raise ValueError("seniority_years: sealed; open the profile before scoring it")
        return self.seniority_years


class Mentor(BaseModel):
    """A person enrolled as mentor: ``capacity`` is how many mentees at once (1 to ``MAX_CAPACITY``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    person_id: PersonId
    profile: Profile
    capacity: int = Field(default=1, ge=1, le=MAX_CAPACITY, description="mentees at once, 1 to MAX_CAPACITY")


class Mentee(BaseModel):
    """A person enrolled as mentee: ``preferences`` ranks at most ``MAX_PREFERENCES`` mentors, best first; no
    duplicate, never oneself."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    person_id: PersonId
    profile: Profile
    preferences: tuple[PersonId, ...] = Field(default=(), max_length=MAX_PREFERENCES)

    @model_validator(mode="after")
    def _preferences_are_a_ranking(self) -> Self:
        if len(set(self.preferences)) != len(self.preferences):
            raise ValueError("preferences: must not name a mentor twice")
        if self.person_id in self.preferences:
            raise ValueError("preferences: must not name the mentee themself")
        return self
