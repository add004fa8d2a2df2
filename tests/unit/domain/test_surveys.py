"""Surveys (issue 15, rules v3): instruments as data, responses validated against the pinned version, the policy's
schedule (requests, reminders, expiries at their deadlines), and what responses do to health and marginality."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from domain import (
    Health,
    InvalidCommand,
    InvalidInstrument,
    LogMeeting,
    NotAParticipant,
    SetGoal,
    Stage,
    SubmitSurvey,
    builtin_instrument,
    next_deadline,
    parse_instrument_toml,
    replay,
    shipped_instruments,
    validate_answers,
)
from domain.envelope import event_to_payload
from domain.events import MeetingLogged
from domain.limits import MAX_FILE_BYTES
from domain.scripting import T0
from tests.unit.domain.helpers import DAY, MENTEE, MENTOR, POLICY, US, Driver

SCHEDULE = POLICY.surveys
assert SCHEDULE is not None


def kicked_off(rules_version: int = 3) -> Driver:
    d = Driver(rules_version=rules_version).propose()
    d.accept_all()
    d.sign_both()
    return d


def cultivating() -> Driver:
    d = kicked_off()
    assert d.tick() == ["SurveyRequested", "NoticeSent"]  # intake, at the kickoff
    for who in (MENTOR, MENTEE):
        answer(d, who, "survey-1", expectations="grow", goal_clarity=4)
    d.later(DAY)
    d.meet()
    assert d.state.trial_ends_at is not None
    d.now = d.state.trial_ends_at - 5 * DAY
    d.meet()
    assert d.tick(d.state.trial_ends_at) == ["StageChanged", "SurveyRequested", "NoticeSent"]  # end of trial
    assert d.state.stage is Stage.CULTIVATION
    return d


def answer(d: Driver, who: Any, request_id: str, **answers: Any) -> list[str]:
    return d.do(SubmitSurvey(command_id=d.cid(), actor=who, request_id=request_id, answers=answers))


def requests(d: Driver) -> list[dict[str, Any]]:
    return [e.payload for e in d.log if e.type == "SurveyRequested"]


# --- instruments -------------------------------------------------------------------------------------------------


def test_the_six_instruments_ship_and_the_pulse_is_the_check_in() -> None:
    assert {i for i, _ in shipped_instruments()} == {
        "intake",
        "pulse",
        "end_of_trial",
        "separation",
        "final_reflection",
        "program_evaluation",
    }
    pulse = builtin_instrument("pulse", 1)
    sat = pulse.question("satisfaction")
    assert sat is not None and (sat.type, sat.min, sat.max, sat.required) == ("scale", 1, 5, True)
    comment = pulse.question("comment")
    assert comment is not None and comment.type == "free_text"


GOOD = """
id = "mine"
version = 2
title = "Mine"
[[questions]]
id = "q"
text = "How?"
type = "scale"
min = 1
max = 5
measures = "satisfaction"
"""


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (GOOD.replace("max = 5", "max = 1"), "questions.0: min (1) must be less than max (1)"),
        (GOOD.replace("max = 5\n", ""), "questions.0: a scale needs min and max"),
        (GOOD.replace('type = "scale"', 'type = "slider"'), "questions.0.type: Input should be"),
        (GOOD.replace('id = "q"', 'id = "q"\ncolour = "red"'), "questions.0.colour: Extra inputs are not permitted"),
        (GOOD.replace("max = 5", "max = 7"), "measures: satisfaction is a 1-5 scale"),
        (GOOD + 'labels = { 9 = "nine" }\n', "labels.9: not a point of the scale 1-5"),
        (GOOD.replace("version = 2", 'version = "two"'), "version: Input should be a valid integer"),
        (GOOD + GOOD[GOOD.index("[[questions]]") :], "question id 'q' appears twice"),
        (GOOD.replace('measures = "satisfaction"', 'measures = "vibes"'), "questions.0.measures: Input should be"),
        ("id = [", "invalid instrument TOML:"),
        ("a = " + "[" * 40 + "]" * 40, "nested deeper than 8 levels (MAX_FILE_DEPTH)"),
        ("# " + "x" * MAX_FILE_BYTES, "(MAX_FILE_BYTES)"),
    ],
)
def test_a_malformed_instrument_file_names_the_field(edit: str, message: str) -> None:
    with pytest.raises(InvalidInstrument) as info:
        parse_instrument_toml(edit)
    assert message in str(info.value)


def test_a_good_instrument_file_parses() -> None:
    mine = parse_instrument_toml(GOOD)
    assert (mine.id, mine.version, mine.questions[0].measures) == ("mine", 2, "satisfaction")


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"satisfaction": 3, "mood": 4}, "answers.mood: unknown question"),
        ({"satisfaction": 6}, "answers.satisfaction: 6 is out of range 1-5"),
        ({"satisfaction": 0}, "answers.satisfaction: 0 is out of range 1-5"),
        ({"satisfaction": True}, "answers.satisfaction: must be a whole number from 1 to 5"),
        ({"comment": "fine"}, "answers.satisfaction: required by pulse v1, missing"),
        ({"satisfaction": 4, "functions": ["coaching", "coaching"]}, "answers.functions: an option is chosen twice"),
        ({"satisfaction": 4, "functions": ["gossip"]}, "answers.functions: 'gossip' not among the options"),
        ({"satisfaction": 4, "comment": 5}, "answers.comment: must be a string"),
    ],
)
def test_a_response_breaking_the_instrument_names_the_field(answers: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidCommand) as info:
        validate_answers(builtin_instrument("pulse", 1), answers)
    assert message in str(info.value)


# --- scheduling --------------------------------------------------------------------------------------------------


def test_the_kickoff_requests_the_intake_of_both_and_tells_them() -> None:
    d = kicked_off()
    assert d.state.trial_started_at is not None
    assert next_deadline(d.state) == d.state.trial_started_at
    d.tick()
    [request] = requests(d)
    assert request["instrument"] == "intake" and request["version"] == 1 and request["to"] == [MENTOR.id, MENTEE.id]
    notice = d.log[-1].payload
    assert notice["to"] == [MENTOR.id, MENTEE.id] and "Intake" in notice["message"] and "survey-1" in notice["message"]


def test_relationships_on_older_rules_are_never_asked() -> None:
    d = kicked_off(rules_version=2)
    assert d.tick(d.now + 400 * DAY)[:1] != ["SurveyRequested"]
    assert not requests(d)


def test_reminder_and_expiry_fire_at_their_deadlines_not_a_microsecond_before() -> None:
    d = kicked_off()
    d.tick()
    request = d.state.surveys_open["survey-1"]
    assert request.remind_at == SCHEDULE.reminder.add_to(request.requested_at)
    answer(d, MENTOR, "survey-1", expectations="learn", goal_clarity=4)
    assert d.tick(request.remind_at - US) == []
    assert d.tick(request.remind_at) == ["SurveyReminded", "NoticeSent"]
    assert d.log[-2].payload["to"] == [MENTEE.id]  # only the one who has not answered
    assert d.tick(request.expires_at - US) == []
    assert d.tick(request.expires_at) == ["SurveyExpired"]
    assert d.log[-1].payload["not_answered_by"] == [MENTEE.id]


def test_late_duplicate_foreign_and_wrong_version_responses_are_refused_with_the_rule() -> None:
    d = kicked_off()
    d.tick()
    expires_at = d.state.surveys_open["survey-1"].expires_at
    answer(d, MENTOR, "survey-1", expectations="learn", goal_clarity=4)
    with pytest.raises(InvalidCommand, match="survey_duplicate: mentor m-1 already answered survey request survey-1"):
        answer(d, MENTOR, "survey-1", expectations="again", goal_clarity=4)
    with pytest.raises(InvalidCommand, match="version: survey request survey-1 pins intake v1"):
        d.do(SubmitSurvey(command_id=d.cid(), actor=MENTEE, request_id="survey-1", answers={}, version=2))
    with pytest.raises(InvalidCommand, match="request_id: survey request survey-9 is not open"):
        answer(d, MENTEE, "survey-9", expectations="x", goal_clarity=1)
    before = len(d.log)
    d.now = expires_at  # the expiry instant: already late, even before the timer has ticked
    with pytest.raises(InvalidCommand, match="survey_expiry: survey request survey-1 has expired"):
        answer(d, MENTEE, "survey-1", expectations="late", goal_clarity=4)
    d.tick()
    with pytest.raises(InvalidCommand, match="survey_expiry"):
        answer(d, MENTEE, "survey-1", expectations="late", goal_clarity=4)
    assert [e.type for e in d.log[before:]] == ["SurveyReminded", "NoticeSent", "SurveyExpired"]  # timers only


def test_a_survey_is_answered_only_by_those_asked() -> None:
    mentee_only = SCHEDULE.steps[0].model_copy(update={"to": ("mentee",)})
    policy = POLICY.model_copy(update={"surveys": SCHEDULE.model_copy(update={"steps": (mentee_only,)})})
    d = Driver(policy=policy, rules_version=3).propose()
    d.accept_all()
    d.sign_both()
    d.tick()
    assert d.state.surveys_open["survey-1"].to == (MENTEE.id,)
    with pytest.raises(NotAParticipant, match="survey request survey-1 was not asked of mentor m-1"):
        answer(d, MENTOR, "survey-1", expectations="x", goal_clarity=3)
    with pytest.raises(InvalidCommand, match=r"answers\.goal_clarity: required by intake v1, missing"):
        answer(d, MENTEE, "survey-1", expectations="x")
    assert answer(d, MENTEE, "survey-1", expectations="x", goal_clarity=3) == ["SurveySubmitted"]
    assert d.state.surveys_closed == {"survey-1": "answered"}


def test_pulses_come_every_four_weeks_of_cultivation() -> None:
    d = cultivating()
    entered = d.state.stage_entered_at
    assert entered is not None
    every = timedelta(weeks=4)
    for n in range(3):
        due = entered + (n + 1) * every
        for before in (15 * DAY, DAY):
            d.now = due - before
            d.meet()
        assert "SurveyRequested" not in d.tick(due - US)
        assert d.tick(due)[-2:] == ["SurveyRequested", "NoticeSent"]
        assert requests(d)[-1]["instrument"] == "pulse"


# --- responses move the lifecycle ----------------------------------------------------------------------------------


def test_the_lowest_score_turns_health_red_with_the_reason() -> None:
    d = cultivating()
    assert answer(d, MENTEE, "survey-2", satisfaction=1, **{"continue": "unsure"}) == [
        "SurveySubmitted",
        "HealthChanged",
        "NoticeSent",
    ]
    assert d.state.health is Health.RED
    reason = d.log[-2].payload["reason"]
    assert "low satisfaction (mentee e-1 rated 1" in reason


def test_a_drop_between_two_pulses_turns_health_yellow() -> None:
    d = cultivating()
    answer(d, MENTOR, "survey-2", satisfaction=5, **{"continue": "yes"})
    answer(d, MENTEE, "survey-2", satisfaction=5, **{"continue": "yes"})
    d.meet()
    d.tick(d.now + timedelta(weeks=4) - DAY)
    d.meet()
    d.tick(d.state.stage_entered_at + timedelta(weeks=4))  # type: ignore[operator]
    assert answer(d, MENTOR, "survey-3", satisfaction=3) == ["SurveySubmitted", "HealthChanged"]
    assert d.state.health is Health.YELLOW
    reason = d.log[-1].payload["reason"]
    assert "satisfaction of mentor m-1 dropped from 5 to 3" in reason
    assert "mentor-mentee gap: mentor m-1 rated 3, mentee e-1 rated 5" in reason
    assert answer(d, MENTEE, "survey-3", satisfaction=3) == ["SurveySubmitted"]  # the gap closed; the drop stays
    assert not d.state.marginal  # the recent mean of both is 4: above Ragins' middle band (at most 3)
    assert d.state.recent_satisfaction == {MENTOR.id: (5, 3), MENTEE.id: (5, 3)}


def test_marginal_follows_the_recent_scores_of_both() -> None:
    d = cultivating()
    answer(d, MENTOR, "survey-2", satisfaction=3, **{"continue": "unsure"})
    assert not d.state.marginal or d.state.recent_satisfaction == {MENTOR.id: (3,)}
    answer(d, MENTEE, "survey-2", satisfaction=3, **{"continue": "unsure"})
    assert d.state.marginal
    assert d.state.health is Health.GREEN  # the middle band is marginal, not at risk


# --- Kram's functions ----------------------------------------------------------------------------------------------


def test_meetings_goals_and_answers_keep_the_function_mix() -> None:
    d = cultivating()
    d.do(LogMeeting(command_id=d.cid(), actor=MENTEE, held_at=d.now, functions=("coaching", "friendship")))
    d.do(SetGoal(command_id=d.cid(), actor=MENTEE, text="speak at the all-hands", functions=("exposure_visibility",)))
    answer(d, MENTEE, "survey-2", satisfaction=4, functions=["coaching", "counseling"], **{"continue": "yes"})
    assert d.state.function_mix == {"coaching": 2, "friendship": 1, "exposure_visibility": 1, "counseling": 1}
    assert replay(d.log).function_mix == d.state.function_mix


def test_an_untagged_meeting_seals_the_bytes_it_always_did() -> None:
    e = MeetingLogged(at=T0, by="e-1", role=MENTEE.role, held_at=T0, duration_minutes=60)
    assert "functions" not in event_to_payload(e)
    tagged = e.model_copy(update={"functions": ("coaching",)})
    assert event_to_payload(tagged)["functions"] == ["coaching"]
