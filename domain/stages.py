"""Stages, sub-states, health, outcomes and the explicit transition table.

Kram's four stages plus two bookends: ``none`` (the relationship has not been proposed yet: the state of
``RelationshipState.new``) and ``closed`` (a final state; :class:`Outcome` says how it ended).

Sub-states (the only ones each stage may have):

==============  ==========================================================================================
stage           sub-states
==============  ==========================================================================================
none            none
initiation      proposed (awaiting acceptances) → kickoff_pending (all accepted, agreement not yet signed by
                both) → trial (agreement signed by both: the trial window runs)
cultivation     active ⇄ paused   (health green/yellow/red and the marginal flag are tracked separately)
separation      awaiting_consent (a participant proposed to separate) → contested (no consent within the
                consent window; the manager decides) ; winding_down (mutual, resolved ``end``, term ended or
                inactivity)
redefinition    awaiting_outcomes (each participant records collegial / friendship / ended)
closed          closed
==============  ==========================================================================================

Every stage or sub-state change is a ``StageChanged`` event, and ``evolve`` refuses a ``StageChanged`` that is not
in :data:`TRANSITIONS`. Stages never move backward, with one exception: a manager's ``ResolveSeparation(reconcile)``
takes ``separation`` back to ``cultivation/active``.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "CLOSED_OUTCOMES",
    "REDEFINITION_OUTCOMES",
    "STAGE_RANK",
    "SUBSTATES",
    "TRANSITIONS",
    "Health",
    "Outcome",
    "Position",
    "Stage",
    "Substate",
    "is_backward",
    "is_transition_allowed",
]


class Stage(StrEnum):
    NONE = "none"
    INITIATION = "initiation"
    CULTIVATION = "cultivation"
    SEPARATION = "separation"
    REDEFINITION = "redefinition"
    CLOSED = "closed"


class Substate(StrEnum):
    NONE = "none"
    PROPOSED = "proposed"
    KICKOFF_PENDING = "kickoff_pending"
    TRIAL = "trial"
    ACTIVE = "active"
    PAUSED = "paused"
    AWAITING_CONSENT = "awaiting_consent"
    CONTESTED = "contested"
    WINDING_DOWN = "winding_down"
    AWAITING_OUTCOMES = "awaiting_outcomes"
    CLOSED = "closed"


class Health(StrEnum):
    """Meeting-based health of a cultivating relationship: yellow/red after no meeting for a while."""

    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


class Outcome(StrEnum):
    """How a closed relationship ended: side exits, then the redefinition outcomes."""

    DECLINED = "declined"
    EXPIRED = "expired"
    REMATCHED = "rematched"
    TERMINATED = "terminated"
    DID_NOT_START = "did_not_start"
    COLLEGIAL = "collegial"
    FRIENDSHIP = "friendship"
    ENDED = "ended"


REDEFINITION_OUTCOMES: frozenset[Outcome] = frozenset({Outcome.COLLEGIAL, Outcome.FRIENDSHIP, Outcome.ENDED})
CLOSED_OUTCOMES: frozenset[Outcome] = frozenset(Outcome)

Position = tuple[Stage, Substate]

SUBSTATES: dict[Stage, frozenset[Substate]] = {
    Stage.NONE: frozenset({Substate.NONE}),
    Stage.INITIATION: frozenset({Substate.PROPOSED, Substate.KICKOFF_PENDING, Substate.TRIAL}),
    Stage.CULTIVATION: frozenset({Substate.ACTIVE, Substate.PAUSED}),
    Stage.SEPARATION: frozenset({Substate.AWAITING_CONSENT, Substate.CONTESTED, Substate.WINDING_DOWN}),
    Stage.REDEFINITION: frozenset({Substate.AWAITING_OUTCOMES}),
    Stage.CLOSED: frozenset({Substate.CLOSED}),
}

STAGE_RANK: dict[Stage, int] = {
    Stage.NONE: 0,
    Stage.INITIATION: 1,
    Stage.CULTIVATION: 2,
    Stage.SEPARATION: 3,
    Stage.REDEFINITION: 4,
    Stage.CLOSED: 5,
}

_S, _U = Stage, Substate
_CLOSED: Position = (_S.CLOSED, _U.CLOSED)

# from position -> the positions it may move to. Closing (terminate) is possible from every open position.
TRANSITIONS: dict[Position, frozenset[Position]] = {
    (_S.NONE, _U.NONE): frozenset({(_S.INITIATION, _U.PROPOSED)}),
    (_S.INITIATION, _U.PROPOSED): frozenset(
        {(_S.INITIATION, _U.KICKOFF_PENDING), _CLOSED}  # accepted | declined, expired, terminated
    ),
    (_S.INITIATION, _U.KICKOFF_PENDING): frozenset(
        {(_S.INITIATION, _U.TRIAL), _CLOSED}  # both signed | did_not_start, terminated
    ),
    (_S.INITIATION, _U.TRIAL): frozenset(
        {(_S.CULTIVATION, _U.ACTIVE), _CLOSED}  # trial passed | rematched, did_not_start, terminated
    ),
    (_S.CULTIVATION, _U.ACTIVE): frozenset(
        {
            (_S.CULTIVATION, _U.PAUSED),
            (_S.SEPARATION, _U.AWAITING_CONSENT),  # a participant proposes to separate
            (_S.SEPARATION, _U.WINDING_DOWN),  # term ended, inactivity
            _CLOSED,
        }
    ),
    (_S.CULTIVATION, _U.PAUSED): frozenset(
        {
            (_S.CULTIVATION, _U.ACTIVE),  # resumed, or the maximum pause ran out
            (_S.SEPARATION, _U.AWAITING_CONSENT),
            (_S.SEPARATION, _U.WINDING_DOWN),  # term ended while paused
            _CLOSED,
        }
    ),
    (_S.SEPARATION, _U.AWAITING_CONSENT): frozenset(
        {
            (_S.SEPARATION, _U.WINDING_DOWN),  # consented, or the manager resolved `end`
            (_S.SEPARATION, _U.CONTESTED),  # consent window ran out
            (_S.CULTIVATION, _U.ACTIVE),  # the manager resolved `reconcile` (the only backward move)
            _CLOSED,
        }
    ),
    (_S.SEPARATION, _U.CONTESTED): frozenset({(_S.SEPARATION, _U.WINDING_DOWN), (_S.CULTIVATION, _U.ACTIVE), _CLOSED}),
    (_S.SEPARATION, _U.WINDING_DOWN): frozenset({(_S.REDEFINITION, _U.AWAITING_OUTCOMES), _CLOSED}),
    (_S.REDEFINITION, _U.AWAITING_OUTCOMES): frozenset({_CLOSED}),
    _CLOSED: frozenset(),
}


def is_transition_allowed(src: Position, dst: Position) -> bool:
    return dst in TRANSITIONS.get(src, frozenset())


def is_backward(src: Stage, dst: Stage) -> bool:
    """True when ``dst`` comes before ``src`` in the lifecycle (only reconcile may do that)."""
    return STAGE_RANK[dst] < STAGE_RANK[src]
