"""Limits: the one owner of every bound on what a caller may send (DESIGN §11, docs/security.md "Limits").

Each limit is a named constant, and each kind of field gets a *rule* object that carries its constants: the command
models put the rule in their annotations (``Annotated[str, PERSON_ID]``), so pydantic enforces it at every boundary
(HTTP bodies derived from the commands, the CLI, the Python client, the workflow's update input), and ``decide``
enforces the same rules again through :func:`check_command` (a command built with ``model_construct`` or by other
code paths meets them too). Every refusal names the field and the rule (the constant's name).

Limits apply to new commands and new policies only: events and envelopes are never checked against them, so a log
written before a limit existed still decodes, replays and verifies.

Why these numbers:

* ids: 200 characters of letters, digits and ``. _ : @ -`` (first a letter or digit) — the id columns of the
  projection tables are ``String(200)``, and the HTTP API's paths already took ids of this shape.
* names (match method, reason code, policy name and version): 64 characters, the ``String(64)`` columns.
* text: no NUL (PostgreSQL cannot store it) and no lone surrogate (not encodable as UTF-8: the canonical JSON of the
  chain could not be written); a goal 500 characters (goals stay in the state every result carries), short free
  text (reasons, notes on a decision) 2,000 characters, long free text (meeting notes, check-in comments) 10,000.
* sealed text (an encrypted personal field, ``enc:v1:…``, domain/privacy/sealed.py): the plaintext met the text
  rule before it was sealed; the sealed string may be as long as the longest plaintext's ciphertext
  (:func:`domain.privacy.sealed.sealed_length`: 4 bytes a character, nonce, tag, base64url, about 5.4 times).
* durations: at most 10 years (a policy's timers, an agreement's term): instants stay far inside the calendar
  (year 9999), so ``tick`` can always compute its deadlines; a cadence at most one year.
* the envelope: its canonical JSON at most 512 KiB, half the broker's default ``message.max.bytes`` (1,048,588) and
  the producer's ``max_request_size`` (1,048,576): room for the key, the headers, the record batch and a
  dead-letter copy with its error headers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from domain._time import Duration
from domain.errors import InvalidCommand, InvalidPolicy
from domain.privacy.sealed import is_sealed, sealed_length

__all__ = [
    "ACTOR",
    "CADENCE",
    "COMMAND_ID",
    "DURATION",
    "GOAL_ID",
    "GOAL_TEXT",
    "ID_ALPHABET",
    "ID_PATTERN",
    "KAFKA_MAX_REQUEST_BYTES",
    "LONG_TEXT",
    "MAX_CADENCE",
    "MAX_CAPACITY",
    "MAX_DURATION",
    "MAX_ENROLLMENT_FILE_BYTES",
    "MAX_ENROLLMENT_ROWS",
    "MAX_ENVELOPE_BYTES",
    "MAX_EVENT_PAYLOAD_BYTES",
    "MAX_EXPLANATION_ITEMS",
    "MAX_FILE_BYTES",
    "MAX_FILE_DEPTH",
    "MAX_FILE_NODES",
    "MAX_GOALS_PER_AGREEMENT",
    "MAX_GOALS_PER_RELATIONSHIP",
    "MAX_GOAL_TEXT_LENGTH",
    "MAX_ID_LENGTH",
    "MAX_LONG_TEXT_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_PREFERENCES",
    "MAX_PROFILE_ITEMS",
    "MAX_RENEWALS",
    "MAX_SENIORITY_YEARS",
    "MAX_TEXT_LENGTH",
    "MAX_TRIAL_MEETINGS",
    "MEETING_ID",
    "NAME",
    "NOTE",
    "PERSON_ID",
    "PROGRAM_ID",
    "REASON",
    "RELATIONSHIP_ID",
    "ActorRule",
    "DurationRule",
    "IdRule",
    "ListRule",
    "TextRule",
    "check_command",
    "check_event_sizes",
    "check_goal_count",
    "check_policy",
    "data_problem",
    "duration_problem",
    "text_problem",
]

# --- the constants ---------------------------------------------------------------------------------------------

MAX_ID_LENGTH = 200
"""Relationship, program, person, goal and command ids (the projection tables' ``String(200)`` id columns)."""
ID_ALPHABET = "letters, digits and . _ : @ - (first a letter or digit)"
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$"
"""The id alphabet, as a regular expression (``MAX_ID_LENGTH`` bounds the length)."""

MAX_NAME_LENGTH = 64
"""Match method, termination reason code, policy name and version (the ``String(64)`` columns)."""
MAX_TEXT_LENGTH = 2_000
"""Short free text: reasons, goal texts, a note on a decision, a policy's description."""
MAX_LONG_TEXT_LENGTH = 10_000
"""Long free text: meeting notes, check-in comments."""
MAX_GOAL_TEXT_LENGTH = 500
"""A goal's text. Goals live in the relationship's state, which every command result, query and continue-as-new
carries (Temporal refuses a payload over 2 MB): 100 goals of 500 characters stay under 0.2 MB even in 4-byte
characters."""

MAX_GOALS_PER_AGREEMENT = 20
"""Goals one signature of the agreement may carry."""
MAX_GOALS_PER_RELATIONSHIP = 100
"""Goals a relationship may hold in all (agreement goals and goals set later)."""

MAX_DURATION = Duration.parse("P10Y")
"""The longest duration a policy timer or an agreement's term may have."""
MAX_CADENCE = Duration.parse("P1Y")
"""The longest meeting cadence an agreement may name."""
MAX_RENEWALS = 10
"""A policy's ``max_renewals`` at most (each renewal adds a term: 10 terms of 10 years stays inside the calendar)."""
MAX_TRIAL_MEETINGS = 100
"""A policy's ``trial_meetings_needed`` at most."""

KAFKA_MAX_REQUEST_BYTES = 1_048_576
"""The producer's ``max_request_size`` (aiokafka's default, set explicitly by the publisher); the broker's
``message.max.bytes`` (infra/kafka/server.properties) is 1,048,588."""
MAX_ENVELOPE_BYTES = 512 * 1024
"""The canonical JSON of one envelope at most: half of ``KAFKA_MAX_REQUEST_BYTES``."""
_ENVELOPE_RESERVE_BYTES = 4 * 1024
MAX_EVENT_PAYLOAD_BYTES = MAX_ENVELOPE_BYTES - _ENVELOPE_RESERVE_BYTES
"""An event's payload at most; the reserve covers the envelope's other fields (ids ≤ ``MAX_ID_LENGTH``, hashes)."""

MAX_FILE_BYTES = 64 * 1024
"""A policy or instrument file (TOML or YAML) at most."""
MAX_FILE_DEPTH = 8
"""Nesting of mappings and lists in a policy or instrument file at most (a policy needs 2)."""
MAX_FILE_NODES = 10_000
"""Values (scalars, lists, mappings) in a policy or instrument file at most."""

MAX_PROFILE_ITEMS = 50
"""Skills, goals, interests or languages in one enrollment profile at most (each a ``NAME``: 64 characters)."""
MAX_PREFERENCES = 3
"""A mentee's ranked mentor preferences at most (the seeds' "top three choices")."""
MAX_EXPLANATION_ITEMS = 20
"""Criteria in a proposal's match explanation at most (``{criterion: contribution}``; the default score has 5)."""
MAX_CAPACITY = 50
"""A mentor's capacity (mentees at once) at most: "mentors have limited time"."""
MAX_SENIORITY_YEARS = 80
"""A profile's ``seniority_years`` at most."""
MAX_ENROLLMENT_FILE_BYTES = 32 * 1024 * 1024
"""A bulk enrollment file (CSV or JSON Lines) at most: 10,000 rows of about 3 KiB."""
MAX_ENROLLMENT_ROWS = 10_000
"""Rows of a bulk enrollment file at most (twice the 5,000 people a program is designed to hold)."""

_ID_RE = re.compile(ID_PATTERN)
_REFERENCE = datetime(2001, 1, 1, tzinfo=UTC)
_DAY_MICROS = 86_400_000_000


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot travel as text (NUL, lone surrogate), or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        return "must not contain lone surrogates (not encodable as UTF-8)"
    return None


# --- the rules -------------------------------------------------------------------------------------------------


class _Rule:
    """A limit attached to a field: pydantic calls :meth:`check` after the type's own validation, ``decide`` calls
    it through :func:`check_command`. ``check`` raises ``ValueError`` naming the rule."""

    def check(self, value: Any) -> Any:  # pragma: no cover - every rule overrides it
        raise NotImplementedError

    def json_schema_extra(self) -> dict[str, Any]:
        return {}

    def _validate(self, value: Any) -> Any:
        return value if value is None else self.check(value)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._validate, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        self.apply_json_schema(handler.resolve_ref_schema(json_schema))
        return json_schema

    def apply_json_schema(self, target: dict[str, Any]) -> None:
        target.update(self.json_schema_extra())


@dataclass(frozen=True)
class TextRule(_Rule):
    """Free text: at most ``max_length`` characters (the constant ``constant``), no NUL, no lone surrogate;
    ``required``: not empty or blank."""

    max_length: int
    constant: str
    required: bool = False

    def check(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if is_sealed(value):  # sealed at the boundary after its plaintext met this rule (domain/privacy/sealed.py)
            if len(value) > sealed_length(self.max_length):
                raise ValueError(
                    f"sealed text must be at most {sealed_length(self.max_length)} characters "
                    f"(the sealed form of {self.constant})"
                )
            return value
        if len(value) > self.max_length:
            raise ValueError(f"must be at most {self.max_length} characters ({self.constant}), got {len(value)}")
        problem = text_problem(value)
        if problem:
            raise ValueError(problem)
        if self.required and not value.strip():
            raise ValueError("must not be empty or blank")
        return value

    def json_schema_extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"maxLength": self.max_length}
        if self.required:
            extra["minLength"] = 1
        return extra


@dataclass(frozen=True)
class IdRule(_Rule):
    """An id: ``MAX_ID_LENGTH`` characters of ``ID_ALPHABET``."""

    what: str = "id"

    def check(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(f"{self.what} must be a string")
        if not value:
            raise ValueError(f"{self.what} must not be empty")
        if len(value) > MAX_ID_LENGTH:
            raise ValueError(
                f"{self.what} must be at most {MAX_ID_LENGTH} characters (MAX_ID_LENGTH), got {len(value)}"
            )
        if not _ID_RE.match(value):
            raise ValueError(f"{self.what} must use only {ID_ALPHABET} (ID_PATTERN)")
        return value

    def json_schema_extra(self) -> dict[str, Any]:
        return {"maxLength": MAX_ID_LENGTH, "minLength": 1, "pattern": ID_PATTERN}


@dataclass(frozen=True)
class DurationRule(_Rule):
    """A positive duration of at most ``maximum`` (the constant ``constant``)."""

    maximum: Duration
    constant: str

    def check(self, value: Any) -> Any:
        if value is None:
            return value
        if not isinstance(value, Duration):
            raise ValueError("must be an ISO-8601 duration")
        problem = duration_problem(value, self.maximum, self.constant)
        if problem:
            raise ValueError(problem)
        return value


def duration_problem(value: Duration, maximum: Duration, constant: str) -> str | None:
    """Why ``value`` is not a positive duration of at most ``maximum``, or None. Compared on a fixed reference
    instant (as the policy compares its durations), after bounding each part so the comparison cannot overflow."""
    if not value.is_positive:
        return f"must be a positive duration (got {value})"
    too_long = value.months > maximum.months + 1 or value.micros > (maximum.months + 1) * 31 * _DAY_MICROS
    if too_long or value.add_to(_REFERENCE) > maximum.add_to(_REFERENCE):
        return f"must be at most {maximum} ({constant}), got {value}"
    return None


@dataclass(frozen=True)
class ListRule(_Rule):
    """A list of at most ``max_items`` (the constant ``constant``), each item checked by ``item``."""

    max_items: int
    constant: str
    item: _Rule

    def check(self, value: Any) -> Any:
        if len(value) > self.max_items:
            raise ValueError(f"must hold at most {self.max_items} items ({self.constant}), got {len(value)}")
        for i, item in enumerate(value):
            try:
                self.item.check(item)
            except ValueError as exc:
                raise ValueError(f"item {i}: {exc}") from None
        return value

    def apply_json_schema(self, target: dict[str, Any]) -> None:
        target["maxItems"] = self.max_items
        items = target.get("items")
        if isinstance(items, dict):
            self.item.apply_json_schema(items)


@dataclass(frozen=True)
class ActorRule(_Rule):
    """The actor of a command: its id follows the id rule (the envelope's actor is never checked: old logs decode)."""

    def check(self, value: Any) -> Any:
        _ACTOR_ID.check(getattr(value, "id", None))
        return value


@dataclass(frozen=True)
class PolicyRule(_Rule):
    """A policy pinned by a new relationship: see :func:`check_policy`."""

    def check(self, value: Any) -> Any:
        try:
            check_policy(value)
        except InvalidPolicy as exc:
            raise ValueError(exc.rule) from None
        return value


RELATIONSHIP_ID = IdRule("relationship id")
PROGRAM_ID = IdRule("program id")
PERSON_ID = IdRule("person id")
COMMAND_ID = IdRule("command id")
GOAL_ID = IdRule("goal id")
MEETING_ID = IdRule("meeting id")
REQUEST_ID = IdRule("survey request id")
_ACTOR_ID = IdRule("actor id")
ACTOR = ActorRule()
NAME = TextRule(MAX_NAME_LENGTH, "MAX_NAME_LENGTH", required=True)
REASON = TextRule(MAX_TEXT_LENGTH, "MAX_TEXT_LENGTH", required=True)
GOAL_TEXT = TextRule(MAX_GOAL_TEXT_LENGTH, "MAX_GOAL_TEXT_LENGTH", required=True)
NOTE = TextRule(MAX_TEXT_LENGTH, "MAX_TEXT_LENGTH")
LONG_TEXT = TextRule(MAX_LONG_TEXT_LENGTH, "MAX_LONG_TEXT_LENGTH")
GOALS = ListRule(MAX_GOALS_PER_AGREEMENT, "MAX_GOALS_PER_AGREEMENT", GOAL_TEXT)
DURATION = DurationRule(MAX_DURATION, "MAX_DURATION")
CADENCE = DurationRule(MAX_CADENCE, "MAX_CADENCE")
POLICY = PolicyRule()


# --- policies --------------------------------------------------------------------------------------------------

_POLICY_TEXTS: dict[str, TextRule] = {
    "name": NAME,
    "version": NAME,
    "description": TextRule(MAX_TEXT_LENGTH, "MAX_TEXT_LENGTH"),
}
_POLICY_COUNTS: dict[str, tuple[int, str]] = {
    "trial_meetings_needed": (MAX_TRIAL_MEETINGS, "MAX_TRIAL_MEETINGS"),
    "max_renewals": (MAX_RENEWALS, "MAX_RENEWALS"),
}


def check_policy(policy: BaseModel) -> None:
    """The limits on a policy a new relationship pins: texts, counts and every duration (``MAX_DURATION``).
    Raises :class:`InvalidPolicy` listing every problem, each with its field."""
    problems: list[str] = []
    values = dict(policy)
    for name, rule in _POLICY_TEXTS.items():
        try:
            rule.check(values[name])
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
    for name, (maximum, constant) in _POLICY_COUNTS.items():
        if values[name] > maximum:
            problems.append(f"{name}: must be at most {maximum} ({constant}), got {values[name]}")
    for name, value in values.items():
        if isinstance(value, Duration):
            problem = duration_problem(value, MAX_DURATION, "MAX_DURATION")
            if problem:
                problems.append(f"{name}: {problem}")
    if problems:
        raise InvalidPolicy(f"policy {values['name']!s} breaks its limits: " + "; ".join(problems))


# --- decide's side ---------------------------------------------------------------------------------------------


def _rules_of(model: type[BaseModel]) -> Iterable[tuple[str, _Rule]]:
    for name, info in model.model_fields.items():
        for meta in info.metadata:
            if isinstance(meta, _Rule):
                yield name, meta


def check_command(command: BaseModel) -> None:
    """Every limit of the command's fields, again (``decide`` calls it). Raises :class:`InvalidCommand` naming the
    command, the field and the rule."""
    for name, rule in _rules_of(type(command)):
        value = getattr(command, name)
        if value is None:
            continue
        try:
            rule.check(value)
        except ValueError as exc:
            raise InvalidCommand(f"{type(command).__name__}.{name}: {exc}") from None


def check_event_sizes(sizes: Iterable[tuple[str, int]]) -> None:
    """Each event's canonical payload size (event type, bytes) fits in an envelope below the broker's limit. Raises
    :class:`InvalidCommand` naming the event and ``MAX_ENVELOPE_BYTES``."""
    for event_type, size in sizes:
        if size > MAX_EVENT_PAYLOAD_BYTES:
            raise InvalidCommand(
                f"the {event_type} event would be {size} bytes: an envelope must stay below "
                f"{MAX_ENVELOPE_BYTES} bytes (MAX_ENVELOPE_BYTES, under the broker's message limit)"
            )


def check_goal_count(held: int, adding: int) -> None:
    """A relationship holds at most ``MAX_GOALS_PER_RELATIONSHIP`` goals."""
    if held + adding > MAX_GOALS_PER_RELATIONSHIP:
        raise InvalidCommand(
            f"a relationship holds at most {MAX_GOALS_PER_RELATIONSHIP} goals (MAX_GOALS_PER_RELATIONSHIP): "
            f"it has {held}, this would add {adding}"
        )


# --- policy and instrument files -------------------------------------------------------------------------------

_SCALARS = (str, int, float, bool, type(None))


def data_problem(data: Any) -> str | None:
    """Why the data read from a policy or instrument file cannot be used, or None: nesting deeper than
    ``MAX_FILE_DEPTH``, more than ``MAX_FILE_NODES`` values, a key that is not a string, or a value that is not a
    string, number, boolean, list or mapping (dates, binary, sets). Walks iteratively: no recursion to exhaust."""
    stack: list[tuple[Any, int, str]] = [(data, 0, "")]
    nodes = 0
    while stack:
        value, depth, where = stack.pop()
        nodes += 1
        if nodes > MAX_FILE_NODES:
            return f"more than {MAX_FILE_NODES} values (MAX_FILE_NODES)"
        if isinstance(value, dict):
            children = list(value.items())
        elif isinstance(value, list):
            children = list(enumerate(value))
        elif isinstance(value, _SCALARS):
            continue
        else:
            kind = type(value).__name__
            return f"{where or 'the top level'}: a {kind} is not allowed (strings, numbers, booleans, lists, mappings)"
        if depth + 1 > MAX_FILE_DEPTH:
            return f"{where or 'the top level'}: nested deeper than {MAX_FILE_DEPTH} levels (MAX_FILE_DEPTH)"
        for key, child in children:
            if isinstance(value, dict) and not isinstance(key, str):
                return f"{where or 'the top level'}: key {key!r} is not a string"
            stack.append((child, depth + 1, f"{where}.{key}" if where else str(key)))
    return None
