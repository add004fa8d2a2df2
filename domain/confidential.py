"""Confidential feedback: free-text answers (and a check-in's comment) are seen by their author, the program's
managers and auditors, never by the partner (DESIGN §10). Reads for a participant withhold the fields named here
(``audit.history.participant_view``: the HTTP API's history and command results)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.errors import InvalidInstrument
from domain.instrument import builtin_instrument, free_text_ids

__all__ = ["PRIVATE_FIELDS", "check_in_as_pulse", "private_fields"]

PRIVATE_FIELDS: dict[str, tuple[str, ...]] = {"CheckInSubmitted": ("comment",)}
"""Free text by event type: payload fields withheld from the partner."""


def private_fields(event_type: str, payload: Mapping[str, Any]) -> tuple[str, ...]:
    """The payload paths (``comment``, ``answers.comment``) a partner must not see in this event."""
    fixed = PRIVATE_FIELDS.get(event_type, ())
    if event_type != "SurveySubmitted":
        return fixed
    answers = payload.get("answers")
    if not isinstance(answers, Mapping):
        return fixed
    try:
        private = free_text_ids(builtin_instrument(str(payload.get("instrument")), int(payload.get("version", 0))))
    except (InvalidInstrument, TypeError, ValueError):
        private = frozenset(k for k, v in answers.items() if isinstance(v, str))  # unknown instrument: every text
    return tuple(f"answers.{k}" for k in sorted(private) if k in answers)


def check_in_as_pulse(satisfaction: int, comment: str) -> dict[str, Any]:
    """A ``CheckInSubmitted`` read as a pulse v1 response: the pulse's ``satisfaction`` and ``comment`` answers."""
    answers: dict[str, Any] = {"satisfaction": satisfaction}
    if comment:
        answers["comment"] = comment
    return answers
