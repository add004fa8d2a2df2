"""Surveys (rules v3): the timer rules of the policy's ``[surveys]`` schedule and the ``SubmitSurvey`` command.

=====================  ====================================  ==================================================
rule                   when                                  events
=====================  ====================================  ==================================================
survey_request         the step's moment (see                SurveyRequested (+ NoticeSent to those asked)
                       ``domain.survey_policy``)
survey_reminder        request + ``reminder``, someone has   SurveyReminded (+ NoticeSent to those who have not)
                       not answered
survey_expiry          request + ``expiry``                  SurveyExpired
=====================  ====================================  ==================================================

A rule fires at its deadline, not one microsecond before. A response is refused, the rule named, when it comes at
or after the expiry (``survey_expiry``), when its author already answered (``survey_duplicate``), when it was not
asked of its author, when ``version`` is not the pinned one, or when an answer breaks the instrument's rules.
"""

from __future__ import annotations

from datetime import datetime

from domain.commands import SubmitSurvey
from domain.errors import InvalidCommand, NotAParticipant
from domain.events import Event, HealthChanged, SurveyExpired, SurveyReminded, SurveyRequested, SurveySubmitted
from domain.evolve import evolve
from domain.health import target_health
from domain.instrument import builtin_instrument, validate_answers
from domain.moves import Fire, Rule, who
from domain.rules import surveys_of
from domain.stages import Stage, Substate
from domain.state import OpenSurvey, RelationshipState
from domain.survey_policy import SurveyStep

__all__ = ["RULE_SURVEY_DUPLICATE", "RULE_SURVEY_EXPIRY", "submit_survey", "survey_rules"]

RULE_SURVEY_REQUEST = "survey_request"
RULE_SURVEY_REMINDER = "survey_reminder"
RULE_SURVEY_EXPIRY = "survey_expiry"
RULE_SURVEY_DUPLICATE = "survey_duplicate"


def _entered(s: RelationshipState, step: SurveyStep) -> datetime | None:
    """When the moment of a once-only step came, or None while it has not (or it already asked)."""
    if step.instrument in s.survey_last:
        return None
    if step.on == "kickoff" and s.substate is Substate.TRIAL:
        return s.trial_started_at
    wanted = {"cultivation": Stage.CULTIVATION, "separation": Stage.SEPARATION, "redefinition": Stage.REDEFINITION}
    if wanted.get(step.on) is s.stage:
        return s.stage_entered_at
    return None


def _step_deadline(s: RelationshipState, step: SurveyStep) -> datetime | None:
    if step.on != "every":
        return _entered(s, step)
    if (s.stage, s.substate) != (Stage.CULTIVATION, Substate.ACTIVE) or s.stage_entered_at is None:
        return None
    assert step.every is not None
    last = s.survey_last.get(step.instrument)
    since = s.stage_entered_at if last is None else max(last, s.stage_entered_at)
    return step.every.add_to(since)


def survey_rules(s: RelationshipState) -> list[Rule]:
    """The survey rules applicable to ``s`` (none without a ``[surveys]`` schedule, rules v3)."""
    schedule = surveys_of(s)
    if schedule is None:
        return []
    rules: list[Rule] = []
    for request_id, request in s.surveys_open.items():
        if not request.reminded and request.unanswered:
            rules.append(Rule(RULE_SURVEY_REMINDER, request.remind_at, _reminder(request_id)))
        rules.append(Rule(RULE_SURVEY_EXPIRY, request.expires_at, _expiry(request_id)))
    for step in schedule.steps:
        deadline = _step_deadline(s, step)
        if deadline is not None:
            rules.append(Rule(RULE_SURVEY_REQUEST, deadline, _request(step)))
    return rules


def _request(step: SurveyStep) -> Fire:
    def fire(s: RelationshipState, now: datetime) -> list[Event]:
        schedule = surveys_of(s)
        assert schedule is not None
        ids = {"mentor": s.mentor_id, "mentee": s.mentee_id}
        to = tuple(p for p in (ids[role] for role in step.to) if p is not None)
        return [
            SurveyRequested(
                at=now,
                request_id=f"survey-{s.surveys_requested + 1}",
                instrument=step.instrument,
                version=step.version,
                to=to,
                remind_at=schedule.reminder.add_to(now),
                expires_at=schedule.expiry.add_to(now),
            )
        ]

    return fire


def _reminder(request_id: str) -> Fire:
    def fire(s: RelationshipState, now: datetime) -> list[Event]:
        return [SurveyReminded(at=now, request_id=request_id, to=s.surveys_open[request_id].unanswered)]

    return fire


def _expiry(request_id: str) -> Fire:
    def fire(s: RelationshipState, now: datetime) -> list[Event]:
        return [SurveyExpired(at=now, request_id=request_id, not_answered_by=s.surveys_open[request_id].unanswered)]

    return fire


# --- the command -----------------------------------------------------------------------------------------------


def _open_request(s: RelationshipState, c: SubmitSurvey, now: datetime) -> OpenSurvey:
    request = s.surveys_open.get(c.request_id)
    closed = s.surveys_closed.get(c.request_id)
    if closed == "expired" or (request is not None and now >= request.expires_at):
        raise InvalidCommand(
            f"{RULE_SURVEY_EXPIRY}: survey request {c.request_id} has expired; a late response is refused"
        )
    if closed == "answered" or (request is not None and c.actor.id in request.answered_by):
        raise InvalidCommand(f"{RULE_SURVEY_DUPLICATE}: {who(c)} already answered survey request {c.request_id}")
    if request is None:
        known = ", ".join(s.surveys_open) or "none"
        raise InvalidCommand(
            f"request_id: survey request {c.request_id} is not open in relationship {s.relationship_id} (open: {known})"
        )
    if c.actor.id not in request.to:
        raise NotAParticipant(f"survey request {c.request_id} was not asked of {who(c)}")
    return request


def submit_survey(s: RelationshipState, c: SubmitSurvey, now: datetime) -> list[Event]:
    request = _open_request(s, c, now)
    if c.version is not None and c.version != request.version:
        raise InvalidCommand(
            f"version: survey request {c.request_id} pins {request.instrument} v{request.version}; "
            f"a response to version {c.version} is refused"
        )
    instrument = builtin_instrument(request.instrument, request.version)
    answers = validate_answers(instrument, c.answers)
    submitted = SurveySubmitted(
        at=now,
        request_id=c.request_id,
        instrument=request.instrument,
        version=request.version,
        by=c.actor.id,
        role=c.actor.role,
        answers=answers,
    )
    events: list[Event] = [submitted]
    if s.stage is Stage.CULTIVATION:
        effective_now = s.paused_at if s.paused_at is not None else now
        health, why = target_health(evolve(s, submitted), effective_now)
        if health != s.health:
            events.append(HealthChanged(at=now, from_health=s.health, to_health=health, reason=why))
    return events
