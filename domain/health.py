"""Health of a cultivating relationship under rules version 2: the signed cadence, confirmed meetings and the
recent check-ins of both participants.

* Meetings: yellow after ``cadence_missed_yellow`` signed cadence intervals without a meeting, red after
  ``cadence_missed_red``, each capped by the policy's absolute ``at_risk_yellow`` / ``at_risk_red`` (a monthly pair
  on a 12-month policy still turns yellow at 45 days, a weekly pair at 14). The clock is the inactivity clock
  (``activity_anchor``: the last counted meeting, shifted by paused time); a disputed meeting does not count.
* Satisfaction: the latest check-in of either participant at or below ``low_satisfaction`` turns health red, with
  that reason, until a better check-in replaces it.
* Feedback (rules v3, with a survey schedule): a drop of satisfaction between two answers of one participant, or
  a gap between mentor and mentee, turns a green health yellow with that reason (``feedback_reason``).
* Marginal (Ragins et al. 2000): the mean of the last ``check_in_window`` check-ins of each participant at or below
  ``marginal_satisfaction``.

Rules version 1 keeps its own rules (absolute thresholds only; marginal = a latest check-in of exactly 3).
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from domain._time import Duration
from domain.moves import health_after, policy_of
from domain.rules import is_v2, scaled, surveys_of, v2_settings
from domain.stages import Health
from domain.state import RelationshipState

__all__ = [
    "HealthDeadlines",
    "feedback_reason",
    "health_deadlines",
    "is_marginal",
    "low_satisfaction_reason",
    "meeting_health",
    "target_health",
]


class HealthDeadlines(NamedTuple):
    yellow_at: datetime
    red_at: datetime
    yellow_why: str
    red_why: str


def _threshold(
    anchor: datetime, absolute: Duration, cadence: Duration | None, missed: int, name: str
) -> tuple[datetime, str]:
    capped = absolute.add_to(anchor)
    if cadence is None:
        return capped, f"{name} {absolute}"
    by_cadence = scaled(cadence, missed).add_to(anchor)
    if by_cadence < capped:
        return by_cadence, f"{missed} missed cadence intervals of {cadence}"
    return capped, f"{name} {absolute} (the cap for cadence {cadence})"


def health_deadlines(s: RelationshipState, anchor: datetime) -> HealthDeadlines:
    """When the meeting-based health turns yellow and red for an inactivity clock started at ``anchor``."""
    p = policy_of(s)
    if not is_v2(s):
        return HealthDeadlines(
            p.at_risk_yellow.add_to(anchor),
            p.at_risk_red.add_to(anchor),
            f"at_risk_yellow {p.at_risk_yellow}",
            f"at_risk_red {p.at_risk_red}",
        )
    v2 = v2_settings(p)
    yellow_at, yellow_why = _threshold(anchor, p.at_risk_yellow, s.cadence, v2.cadence_missed_yellow, "at_risk_yellow")
    red_at, red_why = _threshold(anchor, p.at_risk_red, s.cadence, v2.cadence_missed_red, "at_risk_red")
    return HealthDeadlines(min(yellow_at, red_at), red_at, yellow_why, red_why)


def meeting_health(s: RelationshipState, anchor: datetime, effective_now: datetime) -> Health:
    if not is_v2(s):
        return health_after(anchor, policy_of(s), effective_now)
    d = health_deadlines(s, anchor)
    if d.red_at <= effective_now:
        return Health.RED
    if d.yellow_at <= effective_now:
        return Health.YELLOW
    return Health.GREEN


def low_satisfaction_reason(s: RelationshipState) -> str | None:
    """Why satisfaction alone makes the health red (v2), or None."""
    if not is_v2(s):
        return None
    low = v2_settings(policy_of(s)).low_satisfaction
    found = [
        f"{s.role_of(person) or 'participant'} {person} rated {scores[-1]}"
        for person, scores in sorted(s.recent_satisfaction.items())
        if scores and scores[-1] <= low
    ]
    if not found:
        return None
    return f"low satisfaction ({'; '.join(found)}; at or below low_satisfaction {low})"


def feedback_reason(s: RelationshipState) -> str | None:
    """Why the answers alone make the health yellow (rules v3 with a survey schedule), or None: a participant's
    satisfaction fell by at least ``drop_alert`` between their last two answers, or the latest scores of mentor and
    mentee are ``gap_alert`` or more apart."""
    schedule = surveys_of(s)
    if schedule is None:
        return None
    found = [
        f"satisfaction of {s.role_of(person) or 'participant'} {person} dropped from {scores[-2]} to {scores[-1]}"
        for person, scores in sorted(s.recent_satisfaction.items())
        if len(scores) >= 2 and scores[-2] - scores[-1] >= schedule.drop_alert
    ]
    mentor = s.recent_satisfaction.get(s.mentor_id or "", ())
    mentee = s.recent_satisfaction.get(s.mentee_id or "", ())
    if mentor and mentee and abs(mentor[-1] - mentee[-1]) >= schedule.gap_alert:
        found.append(
            f"mentor-mentee gap: mentor {s.mentor_id} rated {mentor[-1]}, mentee {s.mentee_id} rated {mentee[-1]}"
        )
    if not found:
        return None
    return f"feedback alert ({'; '.join(found)}; drop_alert {schedule.drop_alert}, gap_alert {schedule.gap_alert})"


_ORDER = {Health.GREEN: 0, Health.YELLOW: 1, Health.RED: 2}


def target_health(s: RelationshipState, effective_now: datetime) -> tuple[Health, str]:
    """The health ``s`` should have at ``effective_now`` and why: the worse of meetings and satisfaction (v2)."""
    anchor = s.activity_anchor or effective_now
    by_meetings = meeting_health(s, anchor, effective_now)
    why = "meetings on cadence" if by_meetings is Health.GREEN else "meetings behind the cadence"
    low = low_satisfaction_reason(s)
    if low is not None and _ORDER[Health.RED] > _ORDER[by_meetings]:
        return Health.RED, low
    alert = feedback_reason(s)
    if alert is not None and by_meetings is Health.GREEN:
        return Health.YELLOW, alert
    return by_meetings, why


def is_marginal(s: RelationshipState) -> bool:
    """v2: the mean of both participants' recent check-ins at or below ``marginal_satisfaction``."""
    scores = [x for recent in s.recent_satisfaction.values() for x in recent]
    if not scores:
        return False
    return sum(scores) <= v2_settings(policy_of(s)).marginal_satisfaction * len(scores)
