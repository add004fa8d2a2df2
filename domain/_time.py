"""Instants and ISO-8601 durations for the pure core.

* ``UtcDatetime``: a timezone-aware instant, normalised to UTC, serialised in JSON mode exactly as
  ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always six fractional digits, always ``Z``).
* ``Duration``: an ISO-8601 duration (``P3D``, ``PT0.5S``, ``P12M``, ``P1Y``, ``P1W``, ``P1DT2H``...).
  Calendar months and years are added as calendar units; everything else is exact time (all instants are UTC,
  so a day is always 24 hours).

Month arithmetic: adding ``n`` months keeps the day of the month and clamps it to the last day of the target month.
So ``P12M`` from 2026-01-31 gives 2027-01-31, ``P1M`` from 2026-01-31 gives 2026-02-28 (2028-02-29 in a leap
year), and ``P1M`` from 2026-03-31 gives 2026-04-30. Months are added before the day/time part.
"""

from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, GetCoreSchemaHandler, PlainSerializer
from pydantic_core import core_schema

__all__ = ["Duration", "UtcDatetime", "format_instant", "human_instant", "parse_instant", "to_utc"]


def to_utc(value: datetime) -> datetime:
    """Normalise an aware datetime to ``datetime.timezone.utc``; refuse naive ones."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"datetime {value.isoformat()} must be timezone-aware (UTC)")
    return value.astimezone(UTC)


def format_instant(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ``, the one instant format of the envelope and the payloads."""
    v = to_utc(value)
    return f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}Z"


def human_instant(value: datetime) -> str:
    """Like :func:`format_instant` but drops a zero fraction: for error messages."""
    v = to_utc(value)
    base = f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}"
    return f"{base}.{v.microsecond:06d}Z" if v.microsecond else f"{base}Z"


_INSTANT_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6})Z$")


def parse_instant(text: str) -> datetime:
    """Parse exactly ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (strict: the envelope format)."""
    m = _INSTANT_RE.match(text)
    if m is None:
        raise ValueError(f"instant {text!r} is not in the format YYYY-MM-DDTHH:MM:SS.ffffffZ")
    y, mo, d, h, mi, s, us = (int(g) for g in m.groups())
    return datetime(y, mo, d, h, mi, s, us, tzinfo=UTC)


UtcDatetime = Annotated[
    AwareDatetime,
    AfterValidator(to_utc),
    PlainSerializer(format_instant, return_type=str, when_used="json"),
]
"""A UTC instant; JSON form ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""


_DURATION_RE = re.compile(
    r"^P(?:(?P<y>\d+)Y)?(?:(?P<mo>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<mi>\d+)M)?(?:(?P<s>\d+)(?:[.,](?P<frac>\d{1,6}))?S)?)?$"
)

_MICROS_PER = {"w": 7 * 86_400_000_000, "d": 86_400_000_000, "h": 3_600_000_000, "mi": 60_000_000}


@dataclass(frozen=True)
class Duration:
    """An ISO-8601 duration: whole calendar ``months`` plus exact ``micros``.

    Equality compares the amounts (``P1W == P7D``); ``text`` keeps the spelling it was written with.
    """

    months: int
    micros: int
    text: str = field(default="", compare=False)

    @classmethod
    def parse(cls, text: str) -> Duration:
        if not isinstance(text, str):
            raise ValueError(f"duration must be an ISO-8601 string such as 'P3D', got {text!r}")
        if cls is Duration:
            return _parse_cached(text)
        return cls._parse(text)

    @classmethod
    def _parse(cls, text: str) -> Duration:
        raw = text.strip()
        m = _DURATION_RE.match(raw)
        if m is None or raw in ("P", "PT") or raw.endswith("T"):
            raise ValueError(f"{text!r} is not an ISO-8601 duration (examples: P3D, PT0.5S, P12M, P1Y, P1DT12H)")
        g = m.groupdict()
        months = int(g["y"] or 0) * 12 + int(g["mo"] or 0)
        micros = sum(int(g[k] or 0) * per for k, per in _MICROS_PER.items())
        micros += int(g["s"] or 0) * 1_000_000
        if g["frac"]:
            micros += int(g["frac"].ljust(6, "0"))
        return cls(months=months, micros=micros, text=raw)

    @classmethod
    def of(cls, *, months: int = 0, days: int = 0, seconds: float = 0, micros: int = 0) -> Duration:
        d = cls(months=months, micros=days * 86_400_000_000 + round(seconds * 1_000_000) + micros)
        return cls(months=d.months, micros=d.micros, text=d.canonical())

    @property
    def is_positive(self) -> bool:
        return self.months > 0 or self.micros > 0

    def add_to(self, instant: datetime) -> datetime:
        result = instant
        if self.months:
            total = instant.year * 12 + (instant.month - 1) + self.months
            year, month0 = divmod(total, 12)
            day = min(instant.day, calendar.monthrange(year, month0 + 1)[1])
            result = instant.replace(year=year, month=month0 + 1, day=day)
        return result + timedelta(microseconds=self.micros)

    def subtract_from(self, instant: datetime) -> datetime:
        """``instant`` minus this duration (months clamped like :meth:`add_to`)."""
        result = instant - timedelta(microseconds=self.micros)
        if self.months:
            total = result.year * 12 + (result.month - 1) - self.months
            year, month0 = divmod(total, 12)
            day = min(result.day, calendar.monthrange(year, month0 + 1)[1])
            result = result.replace(year=year, month=month0 + 1, day=day)
        return result

    def __radd__(self, other: datetime) -> datetime:
        return self.add_to(other)

    def canonical(self) -> str:
        years, months = divmod(self.months, 12)
        days, rest = divmod(self.micros, 86_400_000_000)
        hours, rest = divmod(rest, 3_600_000_000)
        minutes, rest = divmod(rest, 60_000_000)
        seconds, frac = divmod(rest, 1_000_000)
        date = (f"{years}Y" if years else "") + (f"{months}M" if months else "") + (f"{days}D" if days else "")
        sec = ""
        if seconds or frac:
            sec = f"{seconds}.{frac:06d}".rstrip("0").rstrip(".") + "S" if frac else f"{seconds}S"
        time = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + sec
        if not date and not time:
            return "PT0S"
        return "P" + date + ("T" + time if time else "")

    def __str__(self) -> str:
        return self.text or self.canonical()

    def __repr__(self) -> str:
        return f"Duration({str(self)!r})"

    @classmethod
    def _validate(cls, value: Any) -> Duration:
        if isinstance(value, Duration):
            return value
        if isinstance(value, timedelta):
            us = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
            d = cls(months=0, micros=us)
            return cls(months=0, micros=us, text=d.canonical())
        return cls.parse(value)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._validate,
            json_schema_input_schema=core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(str, return_schema=core_schema.str_schema()),
        )


@functools.lru_cache(maxsize=1024)
def _parse_cached(text: str) -> Duration:
    """Durations are immutable, and every ``RelationshipProposed`` carries its policy's dozen of them: replaying or
    projecting a log parses the same few strings again and again (7 % of a replay, per the benchmarks' profile)."""
    return Duration._parse(text)
