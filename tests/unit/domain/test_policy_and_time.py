"""ISO-8601 durations with calendar months, instants, and lifecycle policies (parsing and validation)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from domain import (
    BUILTIN_POLICIES,
    Duration,
    InvalidPolicy,
    LifecyclePolicy,
    builtin_policy,
    format_instant,
    parse_instant,
    parse_policy_toml,
    policy_from_mapping,
)
from domain.policy import DURATION_FIELDS

pytestmark = pytest.mark.unit


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "months", "micros"),
    [
        ("P3D", 0, 3 * 86_400_000_000),
        ("PT1S", 0, 1_000_000),
        ("PT0.5S", 0, 500_000),
        ("PT0.000001S", 0, 1),
        ("P12M", 12, 0),
        ("P1Y", 12, 0),
        ("P1W", 0, 7 * 86_400_000_000),
        ("P1Y2M3DT4H5M6.7S", 14, ((3 * 24 + 4) * 3600 + 5 * 60 + 6) * 1_000_000 + 700_000),
        ("PT90S", 0, 90_000_000),
    ],
)
def test_duration_parse(text: str, months: int, micros: int) -> None:
    d = Duration.parse(text)
    assert (d.months, d.micros, str(d)) == (months, micros, text)


@pytest.mark.parametrize("text", ["", "P", "PT", "3D", "P-1D", "P1.5D", "PT1.1234567S", "P1DT", "weekly"])
def test_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not an ISO-8601 duration"):
        Duration.parse(text)


def test_calendar_months() -> None:
    p12m = Duration.parse("P12M")
    p1m = Duration.parse("P1M")
    assert p12m.add_to(utc(2026, 1, 31)) == utc(2027, 1, 31)
    assert Duration.parse("P1Y").add_to(utc(2028, 2, 29)) == utc(2029, 2, 28)
    # P1M from the 31st clamps to the end of the shorter month
    assert p1m.add_to(utc(2026, 1, 31)) == utc(2026, 2, 28)
    assert p1m.add_to(utc(2028, 1, 31)) == utc(2028, 2, 29)
    assert p1m.add_to(utc(2026, 3, 31, 10, 30)) == utc(2026, 4, 30, 10, 30)
    assert p1m.add_to(utc(2026, 12, 15)) == utc(2027, 1, 15)
    assert Duration.parse("P1M1D").add_to(utc(2026, 1, 31)) == utc(2026, 3, 1)  # months first, then days
    assert utc(2026, 1, 1) + Duration.parse("PT0.5S") == utc(2026, 1, 1) + timedelta(milliseconds=500)
    assert Duration.parse("P3D").subtract_from(utc(2026, 1, 4)) == utc(2026, 1, 1)


def test_duration_equality_and_canonical_form() -> None:
    assert Duration.parse("P1W") == Duration.parse("P7D")
    assert Duration.parse("P1Y") == Duration.parse("P12M")
    assert Duration.of(days=3, seconds=1.5).canonical() == "P3DT1.5S"
    assert Duration.of().canonical() == "PT0S"


def test_instants() -> None:
    assert format_instant(utc(2026, 3, 1, 14, 30)) == "2026-03-01T14:30:00.000000Z"
    plus2 = datetime(2026, 3, 1, 16, 30, 0, 7, tzinfo=timezone(timedelta(hours=2)))
    assert format_instant(plus2) == "2026-03-01T14:30:00.000007Z"
    assert parse_instant("2026-03-01T14:30:00.000007Z") == plus2
    with pytest.raises(ValueError, match="timezone-aware"):
        format_instant(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="not in the format"):
        parse_instant("2026-03-01T14:30:00Z")


def test_builtin_policies() -> None:
    assert set(BUILTIN_POLICIES) == {"mentoring-12m", "demo"}
    p = builtin_policy("mentoring-12m")
    assert (p.name, p.version) == ("mentoring-12m", "2026.1")
    days = {name: getattr(p, name) for name in DURATION_FIELDS}
    assert days["acceptance_reminder"] == Duration.parse("P3D")
    assert days["acceptance_expiry"] == Duration.parse("P14D")
    assert (days["kickoff_nudge"], days["kickoff_escalation"]) == (Duration.parse("P7D"), Duration.parse("P21D"))
    assert (days["trial_window"], p.trial_meetings_needed) == (Duration.parse("P45D"), 2)
    assert days["initiation_give_up"] == Duration.parse("P90D")
    assert (days["at_risk_yellow"], days["at_risk_red"]) == (Duration.parse("P45D"), Duration.parse("P60D"))
    assert (days["inactivity_separation"], days["inactivity_warning"]) == (
        Duration.parse("P90D"),
        Duration.parse("P7D"),
    )
    assert (days["term"], p.max_renewals) == (Duration.parse("P12M"), 1)
    assert days["consent_window"] == Duration.parse("P14D")
    assert days["wind_down"] == Duration.parse("P30D")
    assert days["redefinition_follow_up"] == Duration.parse("P90D")
    assert days["max_pause"] == Duration.parse("P60D")
    demo = builtin_policy("demo")
    # the demo scale: one day = 0.25 s
    assert demo.acceptance_expiry == Duration.parse("PT3.5S") and demo.term == Duration.parse("PT90S")
    with pytest.raises(InvalidPolicy, match="unknown built-in policy 'nope'"):
        builtin_policy("nope")


def test_policy_round_trips_through_mapping_and_json() -> None:
    p = builtin_policy("mentoring-12m")
    assert policy_from_mapping(p.to_mapping()) == p
    assert LifecyclePolicy.model_validate_json(p.model_dump_json()) == p
    assert policy_from_mapping({"policy": p.to_mapping()}) == p  # a [policy] table is fine too


def _toml(**overrides: object) -> str:
    data = builtin_policy("mentoring-12m").to_mapping() | overrides
    data.pop("surveys", None)  # a table: these tests write the flat keys only

    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        return f"{v!r}".replace("'", '"') if isinstance(v, str) else f"{v}"

    return "\n".join(f"{k} = {value(v)}" for k, v in data.items())


def test_parse_policy_toml() -> None:
    p = parse_policy_toml(_toml(name="custom", version="7", term="P6M"))
    assert (p.name, p.version, p.term) == ("custom", "7", Duration.parse("P6M"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"term": "PT0S"}, "term must be a positive duration (got PT0S)"),
        ({"acceptance_reminder": "P20D"}, "acceptance_reminder (P20D) must be shorter than acceptance_expiry (P14D)"),
        ({"kickoff_nudge": "P21D"}, "kickoff_nudge (P21D) must be shorter than kickoff_escalation (P21D)"),
        ({"at_risk_yellow": "P61D"}, "at_risk_yellow (P61D) must be shorter than at_risk_red (P60D)"),
        ({"trial_window": "P3M"}, "trial_window (P3M) must be shorter than initiation_give_up (P90D)"),
        ({"inactivity_warning": "P90D"}, "inactivity_warning (P90D) must be shorter than inactivity_separation"),
        ({"trial_meetings_needed": 0}, "trial_meetings_needed: Input should be greater than or equal to 1"),
        ({"max_renewals": -1}, "max_renewals: Input should be greater than or equal to 0"),
        ({"wind_down": "a month"}, "wind_down: 'a month' is not an ISO-8601 duration"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_policy_validation_messages(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidPolicy) as info:
        parse_policy_toml(_toml(**overrides))
    assert message in str(info.value)
    assert str(info.value).startswith("invalid policy mentoring-12m: ")


def test_policy_missing_fields_and_bad_toml() -> None:
    with pytest.raises(InvalidPolicy, match="term: Field required"):
        policy_from_mapping({k: v for k, v in builtin_policy("demo").to_mapping().items() if k != "term"})
    with pytest.raises(InvalidPolicy, match="invalid policy TOML"):
        parse_policy_toml("name = ")
    with pytest.raises(InvalidPolicy, match="expected a mapping"):
        policy_from_mapping(["x"])  # type: ignore[arg-type]


def test_policy_is_frozen() -> None:
    p = builtin_policy("demo")
    with pytest.raises(ValueError, match="frozen"):
        p.term = Duration.parse("P1D")  # type: ignore[misc]
