"""Surveys in the projection (issue 15): requests, responses, Kram tags and the check-in as a pulse feed the
feedback report; a low score puts the relationship on the at-risk report with its reason."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from domain import LogMeeting, SubmitCheckIn, SubmitSurvey
from domain.scripting import DAY, Script
from projections.models import SurveyResponse
from projections.read_model import REPORTS
from tests.unit.projections.helpers import as_topic, memory_engine, project


def _relationship() -> Script:
    s = Script("r-fb", rules_version=3)
    s.kickoff()
    s.advance()  # the intake is requested at the kickoff
    s.do(SubmitSurvey, s.mentor, request_id="survey-1", answers={"expectations": "pay it forward", "goal_clarity": 4})
    for _ in range(2):
        s.later(10 * DAY)
        s.do(LogMeeting, s.mentee, held_at=s.now, functions=["coaching", "friendship"])
    assert s.state.trial_ends_at is not None
    s.at(s.state.trial_ends_at)  # cultivation; the intake expired with the mentee silent; the end of trial asked
    s.later(timedelta(hours=1))
    s.do(SubmitSurvey, s.mentor, request_id="survey-2", answers={"satisfaction": 5, "continue": "yes"})
    s.do(
        SubmitSurvey,
        s.mentee,
        request_id="survey-2",
        answers={"satisfaction": 1, "continue": "no", "functions": ["sponsorship"], "comment": "we never talk"},
    )
    s.do(SubmitCheckIn, s.mentor, satisfaction=4, comment="")
    return s


def test_the_feedback_report_and_the_at_risk_reason() -> None:
    s = _relationship()
    engine = memory_engine()
    project(engine, as_topic([s.log]))
    with engine.connect() as conn:
        [risky] = REPORTS["at-risk"](conn)
        rows = REPORTS["feedback"](conn, program="prog-1")
        responses = conn.execute(select(SurveyResponse.__table__)).mappings().all()
    assert risky["health"] == "red" and "low satisfaction (mentee e-r-fb rated 1" in risky["health_reason"]
    rates = {(r["instrument"], r["cycle"]): r for r in rows if r["section"] == "response_rate"}
    assert (rates[("intake", 1)]["asked"], rates[("intake", 1)]["answered"]) == (2, 1)
    assert rates[("intake", 1)]["response_rate"] == 0.5 and rates[("intake", 1)]["expired"] == 1
    assert rates[("end_of_trial", 1)]["response_rate"] == 1.0
    mix = {(r["stage"], r["group"]): (r["n"], r["share"]) for r in rows if r["section"] == "function_mix"}
    assert mix[("initiation", "psychosocial")] == (2, 0.5) and mix[("initiation", "career")] == (2, 0.5)
    assert mix[("cultivation", "career")] == (1, 1.0)
    [gap] = [r for r in rows if r["section"] == "gap"]
    assert (gap["stage"], gap["n"], gap["mean"], gap["share"]) == ("cultivation", 1, 3.0, 1.0)  # 4 (check-in) - 1
    scores = {(r["stage"], r["group"]): r["distribution"] for r in rows if r["section"] == "satisfaction"}
    assert scores[("cultivation", "mentor")] == "4:1 5:1"  # the check-in reads as a pulse response
    trend = {(r["group"], r["stage"]): (r["n"], r["mean"]) for r in rows if r["section"] == "trend"}
    assert trend == {("2026-01", "cultivation"): (3, 3.33)}  # the cohort of January's kickoffs: 5, 1 and the check-in 4
    assert not any("we never talk" in json.dumps(r) for r in rows)  # no free text in a program report
    pulse = [r for r in responses if r["instrument"] == "pulse"]
    assert [(r["request_id"], json.loads(r["answers"])) for r in pulse] == [(None, {"satisfaction": 4})]
