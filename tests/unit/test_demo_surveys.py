"""The demo's participants answer surveys (workers/demo/surveys.py): every answer they make is valid for its pinned
instrument, a marginal pair scores in the middle, and some requests are skipped."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Any

import pytest

from domain import Actor, LogMeeting, SubmitSurvey, builtin_instrument, validate_answers
from domain.scripting import T0, Script
from workers.demo.surveys import LATE_MARGIN, answer_open_surveys, demo_policy, sample_answers


@pytest.mark.parametrize("instrument", ["end_of_trial", "pulse", "final_reflection", "program_evaluation"])
def test_every_sampled_answer_is_valid_for_its_instrument(instrument: str) -> None:
    rng = random.Random(7)
    for score in (1, 2, 3, 4, 5):
        answers = sample_answers(instrument, 1, score, rng)
        checked = validate_answers(builtin_instrument(instrument, 1), answers)
        assert checked == {k: tuple(v) if isinstance(v, list) else v for k, v in answers.items()}


def _asked() -> Script:
    s = Script("r-demo", policy=demo_policy(), rules_version=3)
    s.kickoff(accept_after=timedelta(seconds=0.5), sign_after=timedelta(seconds=0.5))  # demo speed
    for _ in range(2):
        s.later(timedelta(seconds=2))
        s.do(LogMeeting, s.mentee, held_at=s.now)
    assert s.state.trial_ends_at is not None
    s.at(s.state.trial_ends_at)  # cultivation: the end-of-trial survey is asked
    return s


def test_a_marginal_pair_answers_in_the_middle() -> None:
    s = _asked()
    sent: list[dict[str, Any]] = []

    async def send(actor: Actor, request_id: str, answers: dict[str, Any]) -> bool:
        sent.append(answers)
        s.do(SubmitSurvey, actor, request_id=request_id, answers=answers)
        return True

    asyncio.run(answer_open_surveys(s.state, (s.mentee, s.mentor), send, random.Random(3), marginal=True, now=s.now))
    assert sent and all(a["satisfaction"] == 3 for a in sent)
    assert [e.type for e in s.log].count("SurveySubmitted") == len(sent)


def test_some_participants_skip() -> None:
    s = _asked()
    answered = 0
    for seed in range(40):
        calls: list[str] = []

        async def count(actor: Actor, request_id: str, answers: dict[str, Any], calls: list[str] = calls) -> bool:
            calls.append(actor.id)
            return True

        asyncio.run(answer_open_surveys(s.state, (s.mentee,), count, random.Random(seed), now=s.now))
        answered += len(calls)
    assert 0 < answered < 40


def test_nobody_answers_a_request_about_to_close() -> None:
    """An answer sent when the request closes within LATE_MARGIN would arrive late on a loaded machine and be refused
    (survey_expiry): the participants leave it; earlier, they answer every request (seeds where nobody skips)."""
    s = _asked()
    (request,) = s.state.surveys_open.values()
    sent: list[str] = []

    async def send(actor: Actor, request_id: str, answers: dict[str, Any]) -> bool:
        sent.append(actor.id)
        return True

    people = (s.mentee, s.mentor)
    for at in (request.expires_at - LATE_MARGIN, request.expires_at - LATE_MARGIN / 2, request.expires_at):
        asyncio.run(answer_open_surveys(s.state, people, send, random.Random(1), now=at))
    assert sent == []
    for seed in range(40):
        asyncio.run(answer_open_surveys(s.state, people, send, random.Random(seed), now=s.now))
    assert {s.mentee.id, s.mentor.id} <= set(sent)


def test_the_demo_policy_keeps_a_request_open_longer_than_the_meeting_cadence() -> None:
    from workers.demo.scenarios import CADENCE

    surveys = demo_policy().surveys
    assert surveys is not None
    assert surveys.expiry.add_to(T0) - T0 > timedelta(seconds=CADENCE * 1.15) + LATE_MARGIN
