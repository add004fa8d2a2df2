"""Prompts (rules version 2): which facts someone must be told about, whom, and what.

``with_notices(state, events)`` puts a ``NoticeSent`` right after each fact that needs one: the log then says who
was told what and when, and the workflow delivers every ``NoticeSent`` through the notification activity (with
``NudgeSent`` and ``EscalatedToManager``, which are prompts themselves).

=======================  ===============  ===========================================================
fact                     audience         to
=======================  ===============  ===========================================================
AcceptanceReminderSent   participants     those who have not accepted yet
InactivityWarningSent    participants     both
SeparationProposed       participants     the other participant (consent or object by the due date)
SeparationObjected       program_manager  (the manager of the program)
SeparationResolved       participants     both, when the timer took the policy's default decision
HealthChanged to red     program_manager  (the reason says why)
TrialFailed              participants     both (meetings needed before the grace ends)
TermEndingSoon           participants     both (renewals left)
RenewalRequested         participants     the other participant, while the renewal is pending
SurveyRequested          participants     those asked (rules v3)
SurveyReminded           participants     those who have not answered yet
=======================  ===============  ===========================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from domain._time import human_instant
from domain.events import (
    AcceptanceReminderSent,
    Event,
    EventBase,
    HealthChanged,
    InactivityWarningSent,
    NoticeSent,
    RenewalRequested,
    SeparationObjected,
    SeparationProposed,
    SeparationResolved,
    SurveyReminded,
    SurveyRequested,
    TermEndingSoon,
    TermRenewed,
    TrialFailed,
)
from domain.evolve import evolve
from domain.instrument import builtin_instrument
from domain.stages import Health
from domain.state import RelationshipState

__all__ = ["NOTICE_RULES", "with_notices"]

Notice = tuple[str, tuple[str, ...], str]  # audience, to, message
NoticeRule = Callable[[RelationshipState, EventBase, Sequence[EventBase]], Notice | None]

_PARTICIPANTS = "participants"
_MANAGER = "program_manager"


def _reminder(s: RelationshipState, e: EventBase, _: Sequence[EventBase]) -> Notice | None:
    assert isinstance(e, AcceptanceReminderSent)
    return (
        _PARTICIPANTS,
        e.to,
        f"please accept or decline the match proposed to you in relationship {s.relationship_id}",
    )


def _inactivity(s: RelationshipState, e: EventBase, _: Sequence[EventBase]) -> Notice | None:
    assert isinstance(e, InactivityWarningSent)
    return (
        _PARTICIPANTS,
        s.participants,
        f"no meeting logged recently: the relationship separates for inactivity at "
        f"{human_instant(e.separation_at)} unless you meet",
    )


def _proposed(s: RelationshipState, e: EventBase, _: Sequence[EventBase]) -> Notice | None:
    assert isinstance(e, SeparationProposed)
    other = s.other_participant(e.by)
    to = (other,) if other else ()
    return (
        _PARTICIPANTS,
        to,
        f"{e.role.value} {e.by} proposes to separate ({e.reason}); "
        f"consent or object by {human_instant(e.consent_due_at)}",
    )


def _objected(s: RelationshipState, e: EventBase, _: Sequence[EventBase]) -> Notice | None:
    assert isinstance(e, SeparationObjected)
    return _MANAGER, (), f"{e.role.value} {e.by} objects to the separation: {e.reason}"


def _resolved(s: RelationshipState, e: EventBase, _: Sequence[EventBase]) -> Notice | None:
    assert isinstance(e, SeparationResolved)
    if e.by != "system":
        return None
    return (
        _PARTICIPANTS,
        s.participants,
        f"the contested separation was decided by the policy's default: {e.resolution}",
    )


def _health(s: RelationshipState, e: EventBase, _: Sequence[EventBase]) -> Notice | None:
    assert isinstance(e, HealthChanged)
    if e.to_health is not Health.RED:
        return None
    return _MANAGER, (), f"health red: {e.reason}"


def _trial_failed(s: RelationshipState, e: EventBase, _: Sequence[EventBase]) -> Notice | None:
    assert isinstance(e, TrialFailed)
    return (
        _PARTICIPANTS,
        s.participants,
        f"the trial ended with {e.meetings} of {e.needed} meetings; log the missing ones by "
        f"{human_instant(e.grace_ends_at)} or the relationship closes",
    )


def _term_ending(s: RelationshipState, e: EventBase, _: Sequence[EventBase]) -> Notice | None:
    assert isinstance(e, TermEndingSoon)
    renew = f"both may request a renewal ({e.renewals_left} left)" if e.renewals_left else "no renewal left"
    return _PARTICIPANTS, s.participants, f"the term ends at {human_instant(e.term_ends_at)}; {renew}"


def _renewal(s: RelationshipState, e: EventBase, batch: Sequence[EventBase]) -> Notice | None:
    assert isinstance(e, RenewalRequested)
    if any(isinstance(x, TermRenewed) for x in batch):
        return None  # both asked: renewed, nothing pending
    other = s.other_participant(e.by)
    to = (other,) if other else ()
    return (
        _PARTICIPANTS,
        to,
        f"renewal pending: {e.role.value} {e.by} asked to renew; request it too before the term ends",
    )


def _survey(s: RelationshipState, e: EventBase, _: Sequence[EventBase]) -> Notice | None:
    assert isinstance(e, SurveyRequested | SurveyReminded)
    request = s.surveys_open.get(e.request_id)
    if isinstance(e, SurveyRequested):
        instrument, version, expires_at, again = e.instrument, e.version, e.expires_at, ""
    elif request is not None:
        instrument, version, expires_at, again = request.instrument, request.version, request.expires_at, "reminder: "
    else:  # pragma: no cover - a reminder names an open request
        return None
    title = builtin_instrument(instrument, version).title
    return (
        _PARTICIPANTS,
        e.to,
        f'{again}please answer the survey "{title}" ({e.request_id}) of relationship {s.relationship_id} by '
        f"{human_instant(expires_at)}",
    )


NOTICE_RULES: dict[type[EventBase], NoticeRule] = {
    AcceptanceReminderSent: _reminder,
    InactivityWarningSent: _inactivity,
    SeparationProposed: _proposed,
    SeparationObjected: _objected,
    SeparationResolved: _resolved,
    HealthChanged: _health,
    TrialFailed: _trial_failed,
    TermEndingSoon: _term_ending,
    RenewalRequested: _renewal,
    SurveyRequested: _survey,
    SurveyReminded: _survey,
}
"""The prompt of each fact (dispatch by type); a rule returning None means no prompt this time."""


def with_notices(state: RelationshipState, events: Sequence[Event]) -> list[Event]:
    """``events`` with a ``NoticeSent`` after each fact that needs one (judged on the state before that fact)."""
    out: list[Event] = []
    s = state
    for event in events:
        out.append(event)
        rule = NOTICE_RULES.get(type(event))
        notice = rule(s, event, events) if rule is not None else None
        s = evolve(s, event)
        if notice is not None:
            audience, to, message = notice
            out.append(NoticeSent(at=event.at, kind=event.type, audience=audience, to=to, message=message))
    return out
