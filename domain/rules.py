"""Rules versions: a relationship keeps the lifecycle rules it started with.

``RelationshipProposed.rules_version`` pins the rules at the proposal (events recorded before it existed decode as
version 1). ``decide``, ``tick`` and ``evolve`` key every changed rule on the pinned version, so an old log folds, ticks
and replays exactly as it did when it was written, while new proposals get :data:`CURRENT_RULES_VERSION`.

=======  ================================================================================================
version  what changed (DESIGN §3)
=======  ================================================================================================
1        the rules as first built
2        contested cases re-escalate and get a default decision; late consent, withdrawal and objection;
         the term end supersedes a pending proposal; reconcile after the term needs a new term end; leaving
         before cultivation; trial_failed (escalate, grace, close) and no give-up during the trial; manager
         reassignment with lineage; cadence-aware health, meeting confirmation/dispute, marginal from recent
         check-ins, low satisfaction turns health red; differing continuing outcomes => the weaker tie; every
         prompt is a ``NoticeSent`` event delivered by the notification activity
3        surveys: the policy's ``[surveys]`` schedule requests instruments (reminder, expiry), responses move
         health (low score red, a drop or a mentor-mentee gap yellow) and marginality; Kram function tags
=======  ================================================================================================

The v2 policy values have fallbacks for policy files written before they existed (:func:`v2_settings`); the shipped
policies set every one explicitly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, NamedTuple

from domain._time import Duration

if TYPE_CHECKING:
    from domain.policy import LifecyclePolicy
    from domain.state import RelationshipState
    from domain.survey_policy import SurveyPolicy

__all__ = [
    "CURRENT_RULES_VERSION",
    "RULES_V1",
    "RULES_V2",
    "RULES_V3",
    "V2Settings",
    "is_v2",
    "scaled",
    "surveys_of",
    "v2_settings",
]

RULES_V1 = 1
RULES_V2 = 2
RULES_V3 = 3
CURRENT_RULES_VERSION = RULES_V3


def is_v2(state: RelationshipState) -> bool:
    return state.rules_version >= RULES_V2


def surveys_of(state: RelationshipState) -> SurveyPolicy | None:
    """The survey schedule a relationship runs: its policy's ``[surveys]`` from rules version 3, else none."""
    if state.rules_version < RULES_V3 or state.policy is None:
        return None
    return state.policy.surveys


def scaled(d: Duration, k: int) -> Duration:
    """``k`` times ``d`` (months and exact time scaled separately)."""
    return Duration.of(months=d.months * k, micros=d.micros * k)


class V2Settings(NamedTuple):
    contested_reescalation: Duration
    contested_timeout: Duration
    contested_default: Literal["end", "reconcile"]
    trial_grace: Duration
    term_ending_notice: Duration
    cadence_missed_yellow: int
    cadence_missed_red: int
    low_satisfaction: int
    marginal_satisfaction: int
    check_in_window: int


def v2_settings(p: LifecyclePolicy) -> V2Settings:
    """The v2 rule values of ``p``; a value the policy file does not set falls back to one derived from it."""
    return V2Settings(
        contested_reescalation=p.contested_reescalation or p.consent_window,
        contested_timeout=p.contested_timeout or scaled(p.consent_window, 3),
        contested_default=p.contested_default or "end",
        trial_grace=p.trial_grace or p.kickoff_nudge,
        term_ending_notice=p.term_ending_notice or p.wind_down,
        cadence_missed_yellow=p.cadence_missed_yellow or 2,
        cadence_missed_red=p.cadence_missed_red or 4,
        low_satisfaction=p.low_satisfaction or 2,
        marginal_satisfaction=p.marginal_satisfaction or 3,
        check_in_window=p.check_in_window or 2,
    )
