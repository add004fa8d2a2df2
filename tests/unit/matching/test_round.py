"""The optimal round (matching/): the numpy table equals the pure score, and on random small instances the round's
total equals an exhaustive search's (and the sparse second solver's) and never breaks a constraint."""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.matching import MatchingConfig, MatchingWeights, Mentee, Mentor, Profile, forbidden_reason, score_pair
from matching import build_table, greedy_round, optimal_round
from matching.exact import sparse_exact_total
from matching.round import BELOW_FLOOR, CAPACITY_EXHAUSTED, NO_FEASIBLE_MENTOR
from matching.table import ScoreTable

TAGS = ["py", "go", "sql", "lead", "ml"]
LANGS = ["en", "fr", "de"]
ZONES = ["UTC", "Europe/Paris", "Asia/Tokyo", "UTC-05:00", "UTC+5:30", "America/Sao_Paulo"]

tags = st.lists(st.sampled_from(TAGS), max_size=3, unique=True)
profiles = st.builds(
    Profile,
    skills=tags,
    goals=tags,
    interests=tags,
    languages=st.lists(st.sampled_from(LANGS), min_size=1, max_size=2, unique=True),
    timezone=st.sampled_from(ZONES),
    seniority_years=st.integers(0, 20),
)


@st.composite
def instances(draw: st.DrawFn) -> tuple[list[Mentee], list[Mentor], dict[str, int], set[tuple[str, str]]]:
    n_mentors = draw(st.integers(1, 3))
    n_mentees = draw(st.integers(1, 5))
    mentor_ids = [f"m{j}" for j in range(n_mentors)]
    # A person may be both: "p0" enrols as mentee and as mentor, so "never oneself" is exercised.
    mentee_ids = ["m0" if i == 0 and draw(st.booleans()) else f"e{i}" for i in range(n_mentees)]
    managers = st.sampled_from([None, *mentor_ids, *mentee_ids])
    mentors = [
        Mentor(
            person_id=mid,
            profile=draw(profiles).model_copy(update={"line_manager": draw(managers)}),
            capacity=draw(st.integers(1, 2)),
        )
        for mid in mentor_ids
    ]
    mentees = []
    for eid in mentee_ids:
        prefs = draw(st.lists(st.sampled_from(mentor_ids), max_size=3, unique=True).filter(lambda p, e=eid: e not in p))
        prof = draw(profiles).model_copy(update={"line_manager": draw(managers)})
        mentees.append(Mentee(person_id=eid, profile=prof, preferences=tuple(prefs)))
    load = {mid: draw(st.integers(0, 2)) for mid in mentor_ids}
    excluded = set(draw(st.lists(st.tuples(st.sampled_from(mentee_ids), st.sampled_from(mentor_ids)), max_size=3)))
    return mentees, mentors, load, excluded


CONFIG = MatchingConfig(
    version="t", floor=1.0, weights=MatchingWeights(skills_goals=6, interests=2, preference=(3, 2, 1))
)


def brute_force(
    mentees: list[Mentee], mentors: list[Mentor], load: dict[str, int], excluded: set[tuple[str, str]]
) -> float:
    """Every way to give each mentee one mentor or none, within capacity and the hard constraints; the best total."""
    options: list[list[tuple[str | None, float]]] = []
    for e in mentees:
        row: list[tuple[str | None, float]] = [(None, 0.0)]
        for m in mentors:
            s = score_pair(e, m, CONFIG).total
            if forbidden_reason(e, m, excluded) is None and s >= CONFIG.floor and s > 0:
                row.append((m.person_id, s))
        options.append(row)
    room = {m.person_id: m.capacity - load[m.person_id] for m in mentors}
    best = 0.0
    for choice in itertools.product(*options):
        used = Counter(mid for mid, _ in choice if mid is not None)
        if all(used[mid] <= room[mid] for mid in used):
            best = max(best, sum(s for _, s in choice))
    return round(best, 6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_the_round_is_optimal_and_breaks_no_constraint(instance: tuple) -> None:
    mentees, mentors, load, excluded = instance
    table = build_table(mentees, mentors, CONFIG, load=load, excluded=excluded)
    result = optimal_round(table, CONFIG.floor)
    expected = brute_force(mentees, mentors, load, excluded)
    assert result.total_score == pytest.approx(expected, abs=1e-6)
    assert sparse_exact_total(table, CONFIG.floor) == pytest.approx(expected, abs=1e-6)
    assert greedy_round(table, CONFIG.floor).total_score <= result.total_score + 1e-6
    by_id_e = {e.person_id: e for e in mentees}
    by_id_m = {m.person_id: m for m in mentors}
    per_mentor = Counter(p.mentor for p in result.proposals)
    for mid, count in per_mentor.items():
        assert count <= by_id_m[mid].capacity - load[mid]
    assert len({p.mentee for p in result.proposals}) == len(result.proposals)
    for p in result.proposals:
        assert forbidden_reason(by_id_e[p.mentee], by_id_m[p.mentor], excluded) is None
        assert p.score == score_pair(by_id_e[p.mentee], by_id_m[p.mentor], CONFIG).total >= CONFIG.floor
    assert {u.mentee for u in result.unmatched} | {p.mentee for p in result.proposals} == set(by_id_e)


@settings(max_examples=60, deadline=None)
@given(instances())
def test_the_table_is_the_pure_score_and_null_exactly_where_a_hard_rule_forbids(instance: tuple) -> None:
    mentees, mentors, load, excluded = instance
    table = build_table(mentees, mentors, CONFIG, load=load, excluded=excluded)
    by_id_e = {e.person_id: e for e in mentees}
    by_id_m = {m.person_id: m for m in mentors}
    for i, eid in enumerate(table.mentees):
        for j, mid in enumerate(table.mentors):
            e, m = by_id_e[eid], by_id_m[mid]
            if forbidden_reason(e, m, excluded) is not None:
                assert math.isnan(table.scores[i, j])
            else:
                assert table.scores[i, j] == pytest.approx(score_pair(e, m, CONFIG).total, abs=1e-9)
    assert table.to_json()["capacity"] == {m.person_id: max(m.capacity - load[m.person_id], 0) for m in mentors}


def people(n_mentees: int, n_mentors: int, seed: int) -> tuple[list[Mentee], list[Mentor]]:
    rng = random.Random(seed)

    def prof() -> Profile:
        return Profile(
            skills=rng.sample(TAGS, 2),
            goals=rng.sample(TAGS, 2),
            interests=rng.sample(TAGS, 1),
            languages=["en"],
            seniority_years=rng.randint(0, 9),
        )

    mentors = [Mentor(person_id=f"m{j}", profile=prof(), capacity=rng.randint(1, 3)) for j in range(n_mentors)]
    mentees = [Mentee(person_id=f"e{i}", profile=prof()) for i in range(n_mentees)]
    return mentees, mentors


def test_the_round_does_not_depend_on_the_order_people_were_given_in() -> None:
    mentees, mentors = people(40, 12, seed=3)
    first = optimal_round(build_table(mentees, mentors, CONFIG), CONFIG.floor)
    random.Random(1).shuffle(mentees)
    random.Random(2).shuffle(mentors)
    again = optimal_round(build_table(mentees, mentors, CONFIG), CONFIG.floor)
    assert first == again
    assert first.proposals


def test_each_unmatched_mentee_carries_its_reason() -> None:
    base = {"languages": ["en"], "goals": ["py"]}
    mentor_ = Mentor(person_id="m1", profile=Profile(skills=["py"], languages=["en"]), capacity=1)
    mentees = [
        Mentee(person_id="e1", profile=Profile.model_validate(base)),
        Mentee(person_id="e2", profile=Profile.model_validate(base)),
        Mentee(person_id="e3", profile=Profile(languages=["fr"], goals=["py"])),
        Mentee(person_id="e4", profile=Profile(languages=["en"], goals=["go"])),
    ]
    result = optimal_round(build_table(mentees, [mentor_], CONFIG), CONFIG.floor)
    assert [(p.mentee, p.mentor) for p in result.proposals] == [("e1", "m1")]
    assert {u.mentee: u.reason for u in result.unmatched} == {
        "e2": CAPACITY_EXHAUSTED,
        "e3": NO_FEASIBLE_MENTOR,
        "e4": BELOW_FLOOR,
    }


def test_open_relationships_count_against_capacity() -> None:
    mentees, mentors = people(10, 1, seed=5)
    full = {mentors[0].person_id: mentors[0].capacity}
    result = optimal_round(build_table(mentees, mentors, CONFIG, load=full), CONFIG.floor)
    assert result.proposals == ()
    assert {u.reason for u in result.unmatched} <= {CAPACITY_EXHAUSTED, BELOW_FLOOR}


def test_the_optimal_round_beats_greedy_where_greedy_is_trapped() -> None:
    # Greedy takes e1-m1 (9) first and leaves e2 with nothing; the optimum is e1-m2 (8) + e2-m1 (8) = 16.
    scores = np.array([[9.0, 8.0], [8.0, np.nan]])
    table = ScoreTable(("e1", "e2"), ("m1", "m2"), np.array([1, 1]), scores)
    assert optimal_round(table, 1.0).total_score == 16.0
    assert greedy_round(table, 1.0).total_score == 9.0
