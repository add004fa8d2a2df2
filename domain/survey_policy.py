"""The survey schedule of a lifecycle policy (its optional ``[surveys]`` table; rules version 3).

Which shipped instrument is asked of whom, and when; how long a request stays open (``expiry``), when the ones
who have not answered are reminded (``reminder``); and the feedback alerts on health:

=============  =================================================================================================
``on``         the request is made
=============  =================================================================================================
kickoff        when both signed the agreement (the trial starts)
cultivation    when the trial has passed (the relationship first enters cultivation): the end-of-trial survey
every          every ``every`` while cultivating (active), counted from the entry into cultivation or the last
               request of the same instrument
separation     when the relationship first enters separation
redefinition   when the relationship enters redefinition: the end of the cycle
=============  =================================================================================================

``drop_alert``: a participant's satisfaction falling by at least this much between two answers turns health yellow;
``gap_alert``: the latest scores of mentor and mentee this far apart turn it yellow (flagged with the gap).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain._time import Duration
from domain.instrument import shipped_instruments
from domain.limits import MAX_DURATION, duration_problem

__all__ = ["SurveyPolicy", "SurveyStep", "When"]


def _bounded(value: Duration | None) -> Duration | None:
    """At most ``MAX_DURATION`` (checked before anything adds it to an instant)."""
    if value is not None:
        problem = duration_problem(value, MAX_DURATION, "MAX_DURATION")
        if problem:
            raise ValueError(problem)
    return value


When = Literal["kickoff", "cultivation", "every", "separation", "redefinition"]
_REFERENCE = datetime(2001, 1, 1, tzinfo=UTC)


class SurveyStep(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    instrument: Annotated[str, Field(min_length=1, max_length=64)]
    version: int = Field(ge=1, le=1000)
    on: When
    every: Duration | None = None
    to: tuple[Literal["mentor", "mentee"], ...] = Field(default=("mentor", "mentee"), min_length=1, max_length=2)

    @field_validator("every")
    @classmethod
    def _every_bounded(cls, value: Duration | None) -> Duration | None:
        return _bounded(value)

    @model_validator(mode="after")
    def _check(self) -> SurveyStep:
        if (self.instrument, self.version) not in shipped_instruments():
            known = ", ".join(f"{i} v{v}" for i, v in sorted(shipped_instruments()))
            raise ValueError(f"instrument: no shipped instrument {self.instrument} v{self.version} (known: {known})")
        if (self.on == "every") != (self.every is not None):
            raise ValueError("every: set exactly when on = 'every' (the interval between requests)")
        if self.every is not None and not self.every.is_positive:
            raise ValueError(f"every: must be a positive duration (got {self.every})")
        if len(set(self.to)) != len(self.to):
            raise ValueError("to: a role appears twice")
        return self


class SurveyPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    reminder: Duration  # after the request, remind those who have not answered
    expiry: Duration  # after the request, a response is refused (late) and the request expires
    drop_alert: int = Field(default=2, ge=1, le=4)  # a fall of satisfaction this large between two answers => yellow
    gap_alert: int = Field(default=2, ge=1, le=4)  # mentor and mentee this far apart => yellow (flagged)
    steps: tuple[SurveyStep, ...] = Field(max_length=20)

    @field_validator("reminder", "expiry")
    @classmethod
    def _durations_bounded(cls, value: Duration) -> Duration | None:
        return _bounded(value)

    @model_validator(mode="after")
    def _check(self) -> SurveyPolicy:
        for name in ("reminder", "expiry"):
            if not getattr(self, name).is_positive:
                raise ValueError(f"{name}: must be a positive duration")
        if not self.reminder.add_to(_REFERENCE) < self.expiry.add_to(_REFERENCE):
            raise ValueError(f"reminder ({self.reminder}) must be shorter than expiry ({self.expiry})")
        if not self.steps:
            raise ValueError("steps: a schedule has at least one step")
        names = [s.instrument for s in self.steps]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"steps: instrument {', '.join(twice)} scheduled twice (one step per instrument)")
        return self

    def step(self, instrument: str) -> SurveyStep | None:
        return next((s for s in self.steps if s.instrument == instrument), None)
