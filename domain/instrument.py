"""Survey instruments as data: versioned TOML files of questions, and the validation of the answers to them.

An instrument has an ``id`` and a ``version`` and a list of questions. Each question has a ``type``:

* ``scale``: an integer from ``min`` to ``max`` (``labels`` name some points: ``{1 = "very dissatisfied"}``);
* ``single_choice`` / ``multiple_choice``: one / any of ``options``;
* ``free_text``: at most ``max_length`` characters — confidential: seen by its author, the program managers and
  auditors, never by the partner (:func:`free_text_ids`).

``required`` says whether an answer is needed, ``measures`` what the question measures: ``satisfaction`` (a 1-5
scale: it drives health and marginality, ``domain.health``), ``goal_progress``, ``program_evaluation``,
``kram_functions`` (a multiple choice of Kram's functions) or one Kram function (a scale rating it).

The instruments a program needs ship in ``domain/instruments/<id>.v<version>.toml``; a shipped version is never
edited (a change is a new version), so a request pins ``(id, version)`` and a response is validated against exactly
what was asked, however long ago. :func:`parse_instrument_toml` validates any instrument file (``mentorflow survey
validate FILE``); :func:`validate_answers` a response. Every error names the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import resources
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from domain.datafile import checked_table, format_validation_error, load_bounded_toml
from domain.errors import InvalidCommand, InvalidInstrument, InvalidPolicy
from domain.kram import KRAM_FUNCTIONS, KramFunction
from domain.limits import MAX_LONG_TEXT_LENGTH, MAX_TEXT_LENGTH, text_problem
from domain.privacy.sealed import is_sealed, sealed_length

__all__ = [
    "SHIPPED_INSTRUMENTS",
    "Answer",
    "Answers",
    "Instrument",
    "Measure",
    "Question",
    "builtin_instrument",
    "free_text_ids",
    "instrument_from_mapping",
    "latest_version",
    "parse_instrument_toml",
    "shipped_instruments",
    "validate_answers",
]

SHIPPED_INSTRUMENTS: tuple[str, ...] = (
    "intake",
    "pulse",
    "end_of_trial",
    "separation",
    "final_reflection",
    "program_evaluation",
)

MAX_QUESTIONS = 50
MAX_OPTIONS = 30
MAX_SCALE_POINTS = 101

Measure = Literal["satisfaction", "goal_progress", "program_evaluation", "kram_functions", KramFunction]
Answer = int | str | tuple[str, ...]
Answers = dict[str, Answer]
_Key = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
_Text = Annotated[str, Field(min_length=1, max_length=500)]


class Question(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: _Key
    text: _Text
    type: Literal["scale", "single_choice", "multiple_choice", "free_text"]
    required: bool = False
    measures: Measure | None = None
    min: int | None = Field(default=None, ge=-100, le=100)
    max: int | None = Field(default=None, ge=-100, le=100)
    labels: dict[str, Annotated[str, Field(max_length=200)]] = Field(default_factory=dict)
    options: tuple[_Key, ...] = Field(default=(), max_length=MAX_OPTIONS)
    max_length: int | None = Field(default=None, ge=1, le=MAX_LONG_TEXT_LENGTH)

    @model_validator(mode="after")
    def _shape(self) -> Question:
        problems = _SHAPES[self.type](self)
        problems.extend(_measure_problems(self))
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _scale_shape(q: Question) -> list[str]:
    if q.min is None or q.max is None:
        return ["a scale needs min and max"]
    problems = [f"{name}: only for choices or free text" for name in ("options", "max_length") if getattr(q, name)]
    if q.min >= q.max:
        problems.append(f"min ({q.min}) must be less than max ({q.max})")
    elif q.max - q.min + 1 > MAX_SCALE_POINTS:
        problems.append(f"a scale has at most {MAX_SCALE_POINTS} points")
    for key in q.labels:
        if not re.fullmatch(r"-?\d{1,3}", key) or not q.min <= int(key) <= q.max:
            problems.append(f"labels.{key}: not a point of the scale {q.min}-{q.max}")
    return problems


def _choice_shape(q: Question) -> list[str]:
    problems = [f"{name}: only for a scale" for name in ("min", "max") if getattr(q, name) is not None]
    problems.extend(["labels: only for a scale"] if q.labels else [])
    problems.extend(["max_length: only for free text"] if q.max_length is not None else [])
    if len(q.options) < 2:
        problems.append("a choice needs at least 2 options")
    if len(set(q.options)) != len(q.options):
        problems.append("options must be distinct")
    return problems


def _free_text_shape(q: Question) -> list[str]:
    problems = [f"{name}: only for a scale" for name in ("min", "max") if getattr(q, name) is not None]
    problems.extend(["labels: only for a scale"] if q.labels else [])
    problems.extend(["options: only for choices"] if q.options else [])
    if q.measures is not None:
        problems.append("measures: free text measures nothing (it is read, not counted)")
    return problems


_SHAPES = {
    "scale": _scale_shape,
    "single_choice": _choice_shape,
    "multiple_choice": _choice_shape,
    "free_text": _free_text_shape,
}


def _measure_problems(q: Question) -> list[str]:
    if q.measures == "satisfaction" and (q.type, q.min, q.max) != ("scale", 1, 5):
        return ["measures: satisfaction is a 1-5 scale (health and marginality compare on it)"]
    if q.measures == "kram_functions":
        unknown = [o for o in q.options if o not in KRAM_FUNCTIONS]
        if q.type != "multiple_choice" or unknown:
            return [f"measures: kram_functions is a multiple choice of {', '.join(KRAM_FUNCTIONS)}"]
    if q.measures in KRAM_FUNCTIONS and q.type != "scale":
        return [f"measures: a Kram function ({q.measures}) is rated on a scale"]
    return []


class Instrument(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: _Key
    version: int = Field(ge=1, le=1000)
    title: _Text
    description: Annotated[str, Field(max_length=MAX_TEXT_LENGTH)] = ""
    questions: tuple[Question, ...] = Field(max_length=MAX_QUESTIONS)

    @model_validator(mode="after")
    def _distinct(self) -> Instrument:
        if not self.questions:
            raise ValueError("questions: an instrument asks at least one question")
        seen: set[str] = set()
        for q in self.questions:
            if q.id in seen:
                raise ValueError(f"questions: question id {q.id!r} appears twice")
            seen.add(q.id)
        return self

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)

    @property
    def ref(self) -> str:
        return f"{self.id} v{self.version}"


def free_text_ids(instrument: Instrument) -> frozenset[str]:
    """The confidential answers: free text is never shown to the partner."""
    return frozenset(q.id for q in instrument.questions if q.type == "free_text")


# --- files -----------------------------------------------------------------------------------------------------


def instrument_from_mapping(data: Mapping[str, Any]) -> Instrument:
    """Build and validate an instrument from a mapping (a TOML table; a lone ``[instrument]`` table is unwrapped).
    Raises :class:`InvalidInstrument` naming every field at fault."""
    try:
        table = checked_table(data, "instrument", "instrument")
    except InvalidPolicy as exc:
        raise InvalidInstrument(exc.rule) from None
    try:
        return Instrument.model_validate(table)
    except ValidationError as exc:
        name = table.get("id", "?")
        raise InvalidInstrument(f"invalid instrument {name!s}: {format_validation_error(exc)}") from None


def parse_instrument_toml(text: str) -> Instrument:
    """An instrument from TOML text (stdlib ``tomllib``; at most ``MAX_FILE_BYTES``, ``MAX_FILE_DEPTH`` deep)."""
    try:
        data = load_bounded_toml(text, "instrument")
    except InvalidPolicy as exc:
        raise InvalidInstrument(exc.rule) from None
    return instrument_from_mapping(data)


def _load_shipped() -> dict[tuple[str, int], Instrument]:
    found: dict[tuple[str, int], Instrument] = {}
    folder = resources.files("domain").joinpath("instruments")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        match = re.fullmatch(r"([a-z][a-z0-9_]*)\.v(\d+)\.toml", entry.name)
        if match is None:
            continue
        instrument = parse_instrument_toml(entry.read_text(encoding="utf-8"))
        if (instrument.id, instrument.version) != (match[1], int(match[2])):
            raise InvalidInstrument(f"{entry.name}: holds {instrument.ref}; the file name must say the same")
        found[(instrument.id, instrument.version)] = instrument
    return found


_SHIPPED = _load_shipped()  # at import: no file is read inside a workflow


def shipped_instruments() -> dict[tuple[str, int], Instrument]:
    """Every shipped instrument version, by ``(id, version)``."""
    return dict(_SHIPPED)


def latest_version(instrument_id: str) -> int | None:
    return max((v for i, v in _SHIPPED if i == instrument_id), default=None)


def builtin_instrument(instrument_id: str, version: int | None = None) -> Instrument:
    """A shipped instrument: the given version, or the latest. Raises :class:`InvalidInstrument` naming the known."""
    v = latest_version(instrument_id) if version is None else version
    found = _SHIPPED.get((instrument_id, v or 0))
    if found is None:
        known = ", ".join(f"{i} v{n}" for i, n in sorted(_SHIPPED))
        raise InvalidInstrument(f"instrument: no shipped instrument {instrument_id} v{version or '?'} (known: {known})")
    return found


# --- responses -------------------------------------------------------------------------------------------------


def _scale(q: Question, value: Any) -> Answer:
    assert q.min is not None and q.max is not None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be a whole number from {q.min} to {q.max}")
    if not q.min <= value <= q.max:
        raise ValueError(f"{value} is out of range {q.min}-{q.max}")
    return value


def _single(q: Question, value: Any) -> Answer:
    if not isinstance(value, str) or value not in q.options:
        raise ValueError(f"must be one of {', '.join(q.options)}")
    return value


def _multiple(q: Question, value: Any) -> Answer:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"must be a list of options from {', '.join(q.options)}")
    unknown = [v for v in value if v not in q.options]
    if unknown:
        raise ValueError(f"{', '.join(map(repr, unknown))} not among the options {', '.join(q.options)}")
    if len(set(value)) != len(value):
        raise ValueError("an option is chosen twice")
    return tuple(value)


def _free_text(q: Question, value: Any) -> Answer:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    limit = q.max_length or MAX_TEXT_LENGTH
    if is_sealed(value):  # sealed at the boundary after its plaintext met this rule (domain/privacy/sealed.py)
        if len(value) > sealed_length(limit):
            raise ValueError(
                f"sealed text must be at most {sealed_length(limit)} characters (the sealed form of {limit})"
            )
        return value
    if len(value) > limit:
        raise ValueError(f"must be at most {limit} characters, got {len(value)}")
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


_ANSWER_RULES = {"scale": _scale, "single_choice": _single, "multiple_choice": _multiple, "free_text": _free_text}


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | tuple) and not value)


def validate_answers(instrument: Instrument, answers: Mapping[str, Any]) -> Answers:
    """The answers checked against ``instrument`` (empty answers to optional questions dropped). Raises
    :class:`InvalidCommand` naming every field at fault: an unknown question, a value of the wrong type or out of
    range, a missing required answer."""
    problems: list[str] = []
    out: Answers = {}
    for key in answers:
        if instrument.question(str(key)) is None:
            asked = ", ".join(q.id for q in instrument.questions)
            problems.append(f"answers.{key}: unknown question ({instrument.ref} asks {asked})")
    for q in instrument.questions:
        value = answers.get(q.id)
        if _empty(value):
            if q.required:
                problems.append(f"answers.{q.id}: required by {instrument.ref}, missing")
            continue
        try:
            out[q.id] = _ANSWER_RULES[q.type](q, value)
        except ValueError as exc:
            problems.append(f"answers.{q.id}: {exc}")
    if problems:
        raise InvalidCommand(f"invalid response to {instrument.ref}: " + "; ".join(problems))
    return out
