"""The demo's surveys: the ``demo`` policy with a survey schedule at demo speed, and participants who answer (a
quarter of the time they skip; a marginal pair scores in the middle, now and then someone scores low and is
flagged). Kept apart from the stories: ``scenarios.Sim`` calls :func:`answer_open_surveys` after a meeting and
before each person's redefinition outcome.

The participants see their open requests when they meet (about every 3 weeks), so a request stays open 4 weeks: with
2 weeks, most pulses were gone or expiring by the next meeting and a full demo counted a hundred late answers refused
(``survey_expiry``). Nobody answers a request that closes before their answer would arrive (``LATE_MARGIN``, or the
demo's recent answer time when the machine is loaded): a participant's app would not offer it any more."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from domain import Actor, LifecyclePolicy, RelationshipState, builtin_instrument, builtin_policy
from domain.survey_policy import SurveyPolicy, SurveyStep

__all__ = ["LATE_MARGIN", "SKIP_SHARE", "answer_open_surveys", "demo_policy", "sample_answers"]

SKIP_SHARE = 0.25
LOW_SHARE = 0.1
LATE_MARGIN = timedelta(seconds=1.0)
"""4 demo days: a request closing sooner is left unanswered (an answer takes up to seconds on a loaded machine)."""


def demo_policy() -> LifecyclePolicy:
    """``demo`` with a schedule (1 day = 0.25 s): the end of the trial, a pulse every 60 days, and the final
    reflection and program evaluation at the end of the cycle; reminded after 7 days, expired after 28 (longer than
    the meeting cadence, at which the participants look)."""
    base = builtin_policy("demo")
    steps = (
        SurveyStep(instrument="end_of_trial", version=1, on="cultivation"),
        SurveyStep(instrument="pulse", version=1, on="every", every="PT15S"),
        SurveyStep(instrument="final_reflection", version=1, on="redefinition"),
        SurveyStep(instrument="program_evaluation", version=1, on="redefinition"),
    )
    surveys = SurveyPolicy(reminder="PT1.75S", expiry="PT7S", steps=steps)
    return base.model_copy(update={"version": f"{base.version}-surveys-2", "surveys": surveys})


def sample_answers(instrument_id: str, version: int, score: int, rng: random.Random) -> dict[str, Any]:
    """Answers to every required question (and some optional ones): ``score`` for satisfaction."""
    answers: dict[str, Any] = {}
    for q in builtin_instrument(instrument_id, version).questions:
        if not q.required and rng.random() < 0.4:
            continue
        if q.type == "scale" and q.min is not None and q.max is not None:
            answers[q.id] = score if q.measures == "satisfaction" else rng.randint((q.min + q.max) // 2, q.max)
        elif q.type == "single_choice":
            answers[q.id] = q.options[0] if score >= 3 else q.options[-1]
        elif q.type == "multiple_choice":
            answers[q.id] = rng.sample(q.options, rng.randint(1, 2))
        elif q.required:
            answers[q.id] = "fine"
    return answers


async def answer_open_surveys(
    state: RelationshipState,
    people: tuple[Actor, ...],
    send: Callable[[Actor, str, dict[str, Any]], Awaitable[bool]],
    rng: random.Random,
    *,
    marginal: bool = False,
    now: datetime | None = None,
    margin: timedelta = LATE_MARGIN,
) -> None:
    """Each person asked and not answered yet answers each open request that does not close within ``margin`` (the
    caller's recent answer time on a loaded machine, at least ``LATE_MARGIN``), or skips it; all at once (each
    person from their own device, their surveys in tabs side by side)."""
    closing = (now or datetime.now(UTC)) + max(margin, LATE_MARGIN)
    sends = []
    for request_id, request in list(state.surveys_open.items()):
        for actor in people:
            if actor.id not in request.to or actor.id in request.answered_by or request.expires_at <= closing:
                continue
            if rng.random() < SKIP_SHARE:
                continue
            score = 3 if marginal else (rng.choice((1, 2)) if rng.random() < LOW_SHARE else rng.choice((4, 5, 5)))
            sends.append(send(actor, request_id, sample_answers(request.instrument, request.version, score, rng)))
    await asyncio.gather(*sends)
