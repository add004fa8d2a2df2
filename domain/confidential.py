"""Confidential feedback: free-text answers (and a check-in's comment) are seen by their author, the program's
managers and auditors, never by the partner (DESIGN §10). Reads for a participant withhold the fields named here
(``audit.history.participant_view``: the HTTP API's history and command results)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.errors import InvalidInstrument
from domain.instrument import Instrument, builtin_instrument, free_text_ids
from domain.state import RelationshipState

__all__ = ["PRIVATE_FIELDS", "check_in_as_pulse", "private_fields", "private_texts", "requested_instrument"]

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


def private_texts(event_type: str, payload: Mapping[str, Any]) -> list[str]:
    """The non-empty text values at :func:`private_fields` (what an erasure scrubs, what a partner never reads)."""
    found: list[str] = []
    for path in private_fields(event_type, payload):
        head, _, rest = path.partition(".")
        value = payload.get(head)
        if rest and isinstance(value, Mapping):
            value = value.get(rest)
        if isinstance(value, str) and value:
            found.append(value)
    return found


def requested_instrument(state: RelationshipState, request_id: str, version: int | None) -> Instrument | None:
    """The instrument a response to ``request_id`` answers: the version pinned in the open request, or None when the
    request is not open or ``version`` names another one (``decide`` then refuses the response with its rule)."""
    request = state.surveys_open.get(request_id)
    if request is None or (version is not None and version != request.version):
        return None
    try:
        return builtin_instrument(request.instrument, request.version)
    except InvalidInstrument:
        return None


def check_in_as_pulse(satisfaction: int, comment: str) -> dict[str, Any]:
    """A ``CheckInSubmitted`` read as a pulse v1 response: the pulse's ``satisfaction`` and ``comment`` answers."""
    answers: dict[str, Any] = {"satisfaction": satisfaction}
    if comment:
        answers["comment"] = comment
    return answers
