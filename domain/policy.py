"""Lifecycle policies: data, not code.

A :class:`LifecyclePolicy` carries a name, a version and every duration or threshold of DESIGN §3 as ISO-8601
durations. It is pinned into the relationship at proposal (``RelationshipProposed.policy``); changing a policy file
never changes a running relationship.

Sources: :func:`builtin_policy` (TOML files shipped in ``domain/policies/``), :func:`parse_policy_toml` (TOML text),
:func:`policy_from_mapping` (any mapping, e.g. ``yaml.safe_load`` output: YAML parsing lives outside the domain).

Durations that mix calendar months with days are compared by adding both to a fixed reference instant
(2001-01-01T00:00:00Z); e.g. ``P1M`` counts as 31 days there.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from domain._time import Duration
from domain.datafile import checked_table, format_validation_error, load_bounded_toml
from domain.errors import InvalidPolicy
from domain.limits import MAX_DURATION, check_policy, duration_problem
from domain.survey_policy import SurveyPolicy

__all__ = [
    "BUILTIN_POLICIES",
    "DURATION_FIELDS",
    "OPTIONAL_FIELDS",
    "V2_FIELDS",
    "LifecyclePolicy",
    "builtin_policy",
    "checked_table",
    "load_bounded_toml",
    "parse_policy_toml",
    "policy_from_mapping",
]

_REFERENCE = datetime(2001, 1, 1, tzinfo=UTC)

BUILTIN_POLICIES: tuple[str, ...] = ("mentoring-12m", "demo")


class LifecyclePolicy(BaseModel):
    """Every timer and threshold of the lifecycle. Field names are the TOML/YAML keys."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    description: str = ""

    # initiation
    acceptance_reminder: Duration  # after proposal, remind those who have not accepted yet
    acceptance_expiry: Duration  # after proposal, not accepted by all ⇒ closed `expired`
    kickoff_nudge: Duration  # after acceptance, agreement not signed by both ⇒ nudge the pair
    kickoff_escalation: Duration  # after acceptance, still not signed ⇒ escalate to the manager
    trial_window: Duration  # after kickoff (both signed); then enough meetings ⇒ cultivation
    trial_meetings_needed: int = Field(ge=1)
    initiation_give_up: Duration  # after proposal, still in initiation ⇒ closed `did_not_start`
    # cultivation
    at_risk_yellow: Duration  # no meeting for this long ⇒ health yellow
    at_risk_red: Duration  # no meeting for this long ⇒ health red
    inactivity_separation: Duration  # no meeting for this long ⇒ separation (winding down)
    inactivity_warning: Duration  # warn this long before the inactivity separation
    term: Duration  # from kickoff; term end ⇒ separation unless renewed
    max_renewals: int = Field(ge=0)
    max_pause: Duration  # a pause longer than this ends automatically (auto-resume)
    # DESIGN §1: cultivation may also end when the goals are done. Opt-in: many programs keep meeting after
    # the agreed goals are met, so the defaults leave it off.
    separate_when_goals_met: bool = False  # the last open goal completed in cultivation/active ⇒ winding down
    # separation
    consent_window: Duration  # a proposal not consented within it ⇒ contested ⇒ manager
    wind_down: Duration  # winding down this long ⇒ redefinition
    # redefinition
    redefinition_follow_up: Duration  # outcomes not all recorded by then ⇒ closed `ended`

    # Rules version 2 (domain/rules.py). Optional so that a policy pinned before they existed serializes to the
    # same bytes (the hash chain covers it); ``rules.v2_settings`` supplies a derived value where one is unset.
    contested_reescalation: Duration | None = None  # contested: escalate to the manager again this often
    contested_timeout: Duration | None = None  # contested this long ⇒ the policy's default decision (timer)
    contested_default: Literal["end", "reconcile"] | None = None  # that default decision
    trial_grace: Duration | None = None  # trial failed (too few meetings) ⇒ escalate; still short after ⇒ close
    term_ending_notice: Duration | None = None  # "term ending soon" this long before the term end
    cadence_missed_yellow: int | None = Field(default=None, ge=1, le=52)  # missed cadence intervals ⇒ yellow
    cadence_missed_red: int | None = Field(default=None, ge=1, le=52)  # missed cadence intervals ⇒ red
    low_satisfaction: int | None = Field(default=None, ge=1, le=4)  # a check-in at or below ⇒ health red
    marginal_satisfaction: int | None = Field(default=None, ge=1, le=5)  # recent mean at or below ⇒ marginal
    check_in_window: int | None = Field(default=None, ge=1, le=20)  # recent check-ins per participant counted
    # Rules version 3: the survey schedule (domain/survey_policy.py); absent => no survey is ever requested.
    surveys: SurveyPolicy | None = None

    @model_validator(mode="after")
    def _check(self) -> LifecyclePolicy:
        problems: list[str] = []
        for name in DURATION_FIELDS:
            d: Duration | None = getattr(self, name)
            if d is not None and not d.is_positive:
                problems.append(f"{name} must be a positive duration (got {d})")
        if problems:
            raise ValueError("; ".join(problems))

        def lt(a: str, b: str) -> None:
            da: Duration = getattr(self, a)
            db: Duration = getattr(self, b)
            if not da.add_to(_REFERENCE) < db.add_to(_REFERENCE):
                problems.append(f"{a} ({da}) must be shorter than {b} ({db})")

        lt("acceptance_reminder", "acceptance_expiry")
        lt("acceptance_expiry", "initiation_give_up")
        lt("kickoff_nudge", "kickoff_escalation")
        lt("trial_window", "initiation_give_up")
        lt("at_risk_yellow", "at_risk_red")
        lt("at_risk_red", "inactivity_separation")
        lt("inactivity_warning", "inactivity_separation")
        problems.extend(_combination_problems(self))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_serializer(mode="wrap")
    def _drop_unset_v2(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if not (k in OPTIONAL_FIELDS and v is None)}

    def to_mapping(self) -> dict[str, Any]:
        """JSON-native mapping (durations as their ISO strings); ``policy_from_mapping`` reads it back."""
        return self.model_dump(mode="json")


V2_FIELDS: frozenset[str] = frozenset(
    {
        "contested_reescalation",
        "contested_timeout",
        "contested_default",
        "trial_grace",
        "term_ending_notice",
        "cadence_missed_yellow",
        "cadence_missed_red",
        "low_satisfaction",
        "marginal_satisfaction",
        "check_in_window",
    }
)
"""The optional fields of rules version 2: left out of the serialized policy when unset."""

OPTIONAL_FIELDS: frozenset[str] = V2_FIELDS | {"surveys"}
"""Left out of the serialized policy when unset: a policy pinned before they existed re-seals to the same bytes."""

DURATION_FIELDS: tuple[str, ...] = tuple(
    name for name, f in LifecyclePolicy.model_fields.items() if f.annotation in (Duration, Duration | None)
)


def _at(*durations: Duration) -> datetime:
    instant = _REFERENCE
    for d in durations:
        instant = d.add_to(instant)
    return instant


def _combination_problems(p: LifecyclePolicy) -> list[str]:
    """Combinations no relationship could live through, each naming the field to change."""
    problems: list[str] = []
    if _at(p.term) < _at(p.trial_window):
        problems.append(f"term ({p.term}) must be at least trial_window ({p.trial_window}): the trial runs inside it")
    if _at(p.acceptance_expiry, p.trial_window) > _at(p.initiation_give_up):
        problems.append(
            f"initiation_give_up ({p.initiation_give_up}) must be at least acceptance_expiry + trial_window "
            f"({p.acceptance_expiry} + {p.trial_window}): a pair accepting on the last day must be able to finish "
            f"the trial"
        )
    if _at(p.acceptance_expiry, p.kickoff_escalation) > _at(p.initiation_give_up):
        problems.append(
            f"initiation_give_up ({p.initiation_give_up}) must be at least acceptance_expiry + kickoff_escalation "
            f"({p.acceptance_expiry} + {p.kickoff_escalation}): the manager must hear of an unsigned agreement first"
        )
    if _at(p.max_pause) >= _at(p.term):
        problems.append(f"max_pause ({p.max_pause}) must be shorter than term ({p.term})")
    if (
        p.contested_reescalation is not None
        and p.contested_timeout is not None
        and _at(p.contested_reescalation) >= _at(p.contested_timeout)
    ):
        problems.append(
            f"contested_reescalation ({p.contested_reescalation}) must be shorter than contested_timeout "
            f"({p.contested_timeout})"
        )
    if p.term_ending_notice is not None and _at(p.term_ending_notice) >= _at(p.term):
        problems.append(f"term_ending_notice ({p.term_ending_notice}) must be shorter than term ({p.term})")
    if (
        p.cadence_missed_yellow is not None
        and p.cadence_missed_red is not None
        and p.cadence_missed_yellow >= p.cadence_missed_red
    ):
        problems.append(
            f"cadence_missed_yellow ({p.cadence_missed_yellow}) must be less than cadence_missed_red "
            f"({p.cadence_missed_red})"
        )
    if (
        p.low_satisfaction is not None
        and p.marginal_satisfaction is not None
        and p.low_satisfaction >= p.marginal_satisfaction
    ):
        problems.append(
            f"low_satisfaction ({p.low_satisfaction}) must be less than marginal_satisfaction "
            f"({p.marginal_satisfaction})"
        )
    return problems


def _duration_problem(value: Any) -> str | None:
    try:
        duration = Duration.parse(value)
    except ValueError:
        return None  # not a duration: the model says so, with the field
    if not duration.is_positive:
        return None  # the model's own rule, in its words
    return duration_problem(duration, MAX_DURATION, "MAX_DURATION")


def policy_from_mapping(data: Mapping[str, Any]) -> LifecyclePolicy:
    """Build and validate a policy from a mapping (TOML table, ``yaml.safe_load`` result, JSON object).

    A top-level ``[policy]`` table is accepted as well as a flat mapping. Raises :class:`InvalidPolicy` with every
    problem listed."""
    data = checked_table(data, "policy", "policy")
    # Bounded before the model compares its durations: an absurd one would overflow the calendar there.
    too_long = [f"{n}: {p}" for n in DURATION_FIELDS if (p := _duration_problem(data.get(n)))]
    if too_long:
        raise InvalidPolicy(f"invalid policy {data.get('name', '?')!s}: {'; '.join(too_long)}")
    try:
        policy = LifecyclePolicy.model_validate(dict(data))
    except ValidationError as exc:
        name = data.get("name", "?")
        raise InvalidPolicy(f"invalid policy {name!s}: {format_validation_error(exc)}") from None
    check_policy(policy)  # the limits (domain/limits.py) bind new policies, never the ones pinned in old events
    return policy


def parse_policy_toml(text: str) -> LifecyclePolicy:
    """Parse a policy from TOML text (stdlib ``tomllib``), at most ``MAX_FILE_BYTES`` of UTF-8."""
    return policy_from_mapping(load_bounded_toml(text, "policy"))


def builtin_policy(name: str) -> LifecyclePolicy:
    """A policy shipped with the package: ``mentoring-12m`` (DESIGN §3 defaults) or ``demo`` (seconds)."""
    if name not in BUILTIN_POLICIES:
        raise InvalidPolicy(f"unknown built-in policy {name!r} (known: {', '.join(BUILTIN_POLICIES)})")
    text = resources.files("domain").joinpath("policies", f"{name}.toml").read_text(encoding="utf-8")
    return parse_policy_toml(text)
