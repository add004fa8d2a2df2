"""``evolve`` for the survey events and the Kram function mix (rules v3): what a request, a reminder, a response
and an expiry change in the state. Satisfaction answers feed the same recent scores as check-ins (health,
marginality); Kram function answers and tags feed ``function_mix``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from domain.events import EventBase, SurveyExpired, SurveyReminded, SurveyRequested, SurveySubmitted
from domain.health import is_marginal
from domain.instrument import builtin_instrument
from domain.kram import KRAM_FUNCTIONS
from domain.rules import v2_settings
from domain.state import OpenSurvey, RelationshipState

__all__ = [
    "CLOSED_SURVEYS_KEPT",
    "functions_answered",
    "recent_satisfaction",
    "satisfaction_answered",
    "survey_updates",
    "with_functions",
]

CLOSED_SURVEYS_KEPT = 32
"""How many closed requests the state remembers (to name why a late or second response is refused)."""


def recent_satisfaction(s: RelationshipState, by: str, satisfaction: int) -> dict[str, Any]:
    """The updates for a new satisfaction score of ``by`` (v2): the last ``check_in_window`` and marginality."""
    window = v2_settings(s.policy).check_in_window if s.policy is not None else 1
    recent = (*s.recent_satisfaction.get(by, ()), satisfaction)[-window:]
    new = s.model_copy(update={"recent_satisfaction": {**s.recent_satisfaction, by: recent}})
    return {"recent_satisfaction": new.recent_satisfaction, "marginal": is_marginal(new)}


def with_functions(mix: dict[str, int], functions: Iterable[str]) -> dict[str, int]:
    out = dict(mix)
    for f in functions:
        out[f] = out.get(f, 0) + 1
    return out


def _upper_half(low: int | None, high: int | None, value: int) -> bool:
    return low is not None and high is not None and 2 * value >= low + high


def functions_answered(event: SurveySubmitted) -> list[str]:
    """The Kram functions a response says were served: chosen in a ``kram_functions`` question, or rated at least
    the middle of the scale of a function's own question."""
    instrument = builtin_instrument(event.instrument, event.version)
    found: list[str] = []
    for q in instrument.questions:
        value = event.answers.get(q.id)
        if value is None:
            continue
        if q.measures == "kram_functions" and isinstance(value, tuple):
            found.extend(value)
        elif q.measures in KRAM_FUNCTIONS and isinstance(value, int) and _upper_half(q.min, q.max, value):
            found.append(q.measures)
    return found


def satisfaction_answered(event: SurveySubmitted) -> int | None:
    instrument = builtin_instrument(event.instrument, event.version)
    for q in instrument.questions:
        value = event.answers.get(q.id)
        if q.measures == "satisfaction" and isinstance(value, int):
            return value
    return None


def _close(s: RelationshipState, request_id: str, how: str, u: dict[str, Any]) -> None:
    u["surveys_open"] = {k: v for k, v in s.surveys_open.items() if k != request_id}
    closed = {**s.surveys_closed, request_id: how}
    u["surveys_closed"] = dict(list(closed.items())[-CLOSED_SURVEYS_KEPT:])


def _submitted(s: RelationshipState, event: SurveySubmitted, u: dict[str, Any]) -> None:
    request = s.surveys_open.get(event.request_id)
    if request is not None:
        answered = request.model_copy(update={"answered_by": (*request.answered_by, event.by)})
        if answered.unanswered:
            u["surveys_open"] = {**s.surveys_open, event.request_id: answered}
        else:
            _close(s, event.request_id, "answered", u)
    u["function_mix"] = with_functions(s.function_mix, functions_answered(event))
    score = satisfaction_answered(event)
    if score is not None:
        u["latest_satisfaction"] = {**s.latest_satisfaction, event.by: score}
        u.update(recent_satisfaction(s, event.by, score))


def survey_updates(s: RelationshipState, event: EventBase, u: dict[str, Any]) -> bool:
    """The updates of a survey event into ``u``; False if ``event`` is not one."""
    match event:
        case SurveyRequested():
            request = OpenSurvey(
                instrument=event.instrument,
                version=event.version,
                to=event.to,
                requested_at=event.at,
                remind_at=event.remind_at,
                expires_at=event.expires_at,
            )
            u["surveys_open"] = {**s.surveys_open, event.request_id: request}
            u["surveys_requested"] = s.surveys_requested + 1
            u["survey_last"] = {**s.survey_last, event.instrument: event.at}
        case SurveyReminded():
            request = s.surveys_open[event.request_id]
            u["surveys_open"] = {**s.surveys_open, event.request_id: request.model_copy(update={"reminded": True})}
        case SurveySubmitted():
            _submitted(s, event, u)
        case SurveyExpired():
            _close(s, event.request_id, "expired", u)
        case _:
            return False
    return True
