"""The pure matching core (domain/matching): profiles, the configuration, the score and every hard constraint."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from domain.errors import InvalidPolicy
from domain.limits import MAX_FILE_BYTES
from domain.matching import (
    CRITERIA,
    DEFAULT_MATCHING,
    FAILED_TRIAL,
    LINE_MANAGER,
    NO_COMMON_LANGUAGE,
    ONESELF,
    MatchingConfig,
    Mentee,
    Mentor,
    Profile,
    forbidden_reason,
    hours_apart,
    parse_matching_toml,
    score_pair,
)
from domain.matching.config import MatchingWeights


def profile(**kw: object) -> Profile:
    base: dict[str, object] = {"languages": ["en"], "timezone": "UTC", "seniority_years": 0}
    base.update(kw)
    return Profile.model_validate(base)


def mentee(pid: str = "e1", preferences: tuple[str, ...] = (), **kw: object) -> Mentee:
    return Mentee(person_id=pid, profile=profile(**kw), preferences=preferences)


def mentor(pid: str = "m1", capacity: int = 1, **kw: object) -> Mentor:
    return Mentor(person_id=pid, profile=profile(**kw), capacity=capacity)


ONLY = {"skills_goals": 0.0, "interests": 0.0, "preference": (0.0,), "timezone_per_hour": 0.0}


def config(**weights: object) -> MatchingConfig:
    values: dict[str, object] = {**ONLY, "seniority_per_year": 0.0, "ideal_seniority_gap": 0.0, **weights}
    return MatchingConfig(version="t", floor=0, weights=MatchingWeights.model_validate(values))


# --- the score, criterion by criterion ----------------------------------------------------------------------


def test_skills_goals_is_the_weighted_share_of_the_mentees_goals_the_mentor_has() -> None:
    e = mentee(goals=["Python", "sql", "leadership", "Go"])
    m = mentor(skills=[" python", "SQL", "rust"])
    got = score_pair(e, m, config(skills_goals=10.0))
    assert got.explanation["skills_goals"] == 5.0  # 2 of 4 goals, case and blanks ignored
    assert got.total == 5.0


def test_skills_goals_is_zero_when_the_mentee_names_no_goal() -> None:
    assert score_pair(mentee(goals=[]), mentor(skills=["x"]), config(skills_goals=10.0)).total == 0.0


def test_interests_is_the_weighted_share_of_the_mentees_interests_shared() -> None:
    e = mentee(interests=["chess", "running", "jazz"])
    m = mentor(interests=["Chess", "cooking"])
    assert score_pair(e, m, config(interests=3.0)).explanation["interests"] == 1.0


def test_preference_bonus_decreases_with_the_rank_first_above_second_above_third() -> None:
    cfg = config(preference=(3.0, 2.0, 1.0))
    e = mentee(preferences=("m1", "m2", "m3"))
    bonus = [score_pair(e, mentor(pid), cfg).explanation["preference"] for pid in ("m1", "m2", "m3", "m4")]
    assert bonus == [3.0, 2.0, 1.0, 0.0]


def test_a_rank_beyond_the_configured_bonuses_earns_nothing() -> None:
    cfg = config(preference=(3.0,))
    assert score_pair(mentee(preferences=("m0", "m1")), mentor("m1"), cfg).explanation["preference"] == 0.0


def test_timezone_penalty_is_per_hour_the_short_way_around_the_clock() -> None:
    cfg = config(timezone_per_hour=0.5)
    assert score_pair(mentee(timezone="UTC+11"), mentor(timezone="UTC-11"), cfg).explanation["timezone"] == -1.0
    assert score_pair(mentee(timezone="Asia/Tokyo"), mentor(timezone="UTC"), cfg).explanation["timezone"] == -4.5
    assert hours_apart("UTC+05:30", "UTC") == 5.5


def test_seniority_penalty_grows_with_the_distance_from_the_ideal_gap() -> None:
    cfg = config(seniority_per_year=0.2, ideal_seniority_gap=5.0)
    e = mentee(seniority_years=2)
    assert score_pair(e, mentor(seniority_years=7), cfg).explanation["seniority"] == 0.0
    assert score_pair(e, mentor(seniority_years=2), cfg).explanation["seniority"] == -1.0
    assert score_pair(e, mentor(seniority_years=12), cfg).explanation["seniority"] == -1.0


def test_the_score_is_the_sum_of_the_explanation_over_every_criterion() -> None:
    e = mentee(goals=["a", "b"], interests=["x"], preferences=("m1",), timezone="UTC+2", seniority_years=1)
    m = mentor(skills=["a"], interests=["x"], timezone="UTC", seniority_years=3)
    got = score_pair(e, m, DEFAULT_MATCHING)
    assert list(got.explanation) == list(CRITERIA)
    assert got.explanation == {
        "skills_goals": 5.0,
        "interests": 3.0,
        "preference": 3.0,
        "timezone": -0.5,
        "seniority": -0.6,
    }
    assert got.total == pytest.approx(9.9)


# --- every hard constraint -----------------------------------------------------------------------------------


def test_rule_never_oneself() -> None:
    assert forbidden_reason(mentee("p1"), mentor("p1")) == ONESELF


def test_rule_never_the_mentees_line_manager() -> None:
    assert forbidden_reason(mentee("e1", line_manager="boss"), mentor("boss")) == LINE_MANAGER


def test_rule_never_a_mentor_the_mentee_manages() -> None:
    assert forbidden_reason(mentee("boss"), mentor("m1", line_manager="boss")) == LINE_MANAGER


def test_rule_a_common_language_case_insensitively() -> None:
    assert forbidden_reason(mentee(languages=["fr"]), mentor(languages=["de", "en"])) == NO_COMMON_LANGUAGE
    assert forbidden_reason(mentee(languages=["FR", "de"]), mentor(languages=["fr"])) is None


def test_rule_never_the_mentor_of_a_failed_trial() -> None:
    assert forbidden_reason(mentee("e1"), mentor("m1"), {("e1", "m1")}) == FAILED_TRIAL
    assert forbidden_reason(mentee("e2"), mentor("m1"), {("e1", "m1")}) is None


def test_a_pair_breaking_no_rule_is_allowed() -> None:
    assert forbidden_reason(mentee("e1", line_manager="x"), mentor("m1"), {("e1", "m2")}) is None


# --- validation names the field and the rule -------------------------------------------------------------------


@pytest.mark.parametrize("capacity", [0, -1])
def test_rule_capacity_is_at_least_one(capacity: int) -> None:
    with pytest.raises(ValidationError, match="capacity"):
        mentor(capacity=capacity)


def test_capacity_is_at_most_max_capacity() -> None:
    with pytest.raises(ValidationError, match="capacity"):
        mentor(capacity=51)


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("languages", [], "languages"),
        ("timezone", "Mars/Olympus", "neither an IANA time zone"),
        ("timezone", "UTC+15", "out of range"),
        ("timezone", "../../etc/passwd", "neither an IANA time zone"),
        ("seniority_years", -1, "seniority_years"),
        ("seniority_years", float("nan"), "seniority_years"),
        ("skills", ["x" * 65], "MAX_NAME_LENGTH"),
        ("skills", ["s"] * 51, "MAX_PROFILE_ITEMS"),
        ("line_manager", "bad id!", "ID_PATTERN"),
        ("unknown", 1, "unknown"),
    ],
)
def test_a_malformed_profile_is_refused_naming_the_field(field: str, value: object, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        profile(**{field: value})
    assert field in str(caught.value)
    assert words in str(caught.value)


def test_preferences_rank_at_most_three_distinct_mentors_never_oneself() -> None:
    with pytest.raises(ValidationError, match="preferences"):
        mentee(preferences=("a", "b", "c", "d"))
    with pytest.raises(ValidationError, match="preferences: must not name a mentor twice"):
        mentee(preferences=("a", "a"))
    with pytest.raises(ValidationError, match="preferences: must not name the mentee themself"):
        mentee("e1", preferences=("e1",))


# --- the TOML configuration ----------------------------------------------------------------------------------


def test_the_matching_toml_is_read_with_its_version_floor_and_weights() -> None:
    cfg = parse_matching_toml(
        '[matching]\nversion = "2026-11"\nfloor = 2.5\n[matching.weights]\nskills_goals = 8\npreference = [5, 1]\n'
    )
    assert (cfg.version, cfg.floor, cfg.weights.skills_goals, cfg.weights.preference) == ("2026-11", 2.5, 8, (5, 1))
    assert cfg.weights.interests == DEFAULT_MATCHING.weights.interests


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('version = "v"\n[weights]\npreference = [1, 2]\n', "weights.preference: must be strictly decreasing"),
        ('version = "v"\n[weights]\nskills_goals = -1\n', "weights.skills_goals"),
        ('version = "v"\n[weights]\ninterests = 101\n', "weights.interests"),
        ('version = "v"\nfloor = -1\n', "floor"),
        ('version = ""\n', "version: must not be empty"),
        ('version = "v"\nbonus = 1\n', "bonus"),
        ("version = \n", "invalid matching TOML"),
        ("x = " + "[" * 1000 + "]" * 1000 + "\n", "MAX_FILE_DEPTH"),
        ("#" * (MAX_FILE_BYTES + 1), "MAX_FILE_BYTES"),
    ],
)
def test_a_bad_matching_toml_is_refused_naming_the_field_and_rule(text: str, words: str) -> None:
    with pytest.raises(InvalidPolicy) as caught:
        parse_matching_toml(text)
    assert words in str(caught.value)
