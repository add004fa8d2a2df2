"""Building blocks shared by ``decide`` and ``tick``: the pinned policy, ``StageChanged`` moves, closing, and the
meeting-based health thresholds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple

from domain.commands import CommandBase
from domain.errors import IllegalTransition
from domain.events import Event, RelationshipClosed, StageChanged
from domain.policy import LifecyclePolicy
from domain.stages import Health, Outcome, Stage, Substate, is_transition_allowed
from domain.state import RelationshipState

__all__ = ["Fire", "Rule", "close", "health_after", "move", "policy_of", "who"]

Fire = Callable[[RelationshipState, datetime], list[Event]]


class Rule(NamedTuple):
    """A timer rule applicable to a state: its name, when it is due, and the events it makes then."""

    name: str
    deadline: datetime
    fire: Fire


def policy_of(state: RelationshipState) -> LifecyclePolicy:
    if state.policy is None:  # pragma: no cover - only a never-proposed state has no policy
        raise IllegalTransition(f"relationship {state.relationship_id} has no policy: it was never proposed")
    return state.policy


def move(
    state: RelationshipState,
    to_stage: Stage,
    to_substate: Substate,
    *,
    trigger: str,
    reason: str,
    at: datetime,
    policy_version: str | None = None,
) -> StageChanged:
    """The ``StageChanged`` event for a move from the state's position; refuses moves outside the table."""
    src, dst = (state.stage, state.substate), (to_stage, to_substate)
    if not is_transition_allowed(src, dst):  # pragma: no cover - a bug in decide/tick, not a user error
        raise IllegalTransition(f"transition {src[0]}/{src[1]} -> {to_stage}/{to_substate} is not in the table")
    return StageChanged(
        at=at,
        from_stage=state.stage,
        to_stage=to_stage,
        from_substate=state.substate,
        to_substate=to_substate,
        trigger="timer" if trigger == "timer" else "command",
        reason=reason,
        policy_version=policy_version or policy_of(state).version,
    )


def close(state: RelationshipState, outcome: Outcome, reason: str, *, trigger: str, at: datetime) -> list[Event]:
    return [
        move(state, Stage.CLOSED, Substate.CLOSED, trigger=trigger, reason=reason, at=at),
        RelationshipClosed(at=at, outcome=outcome, reason=reason),
    ]


def health_after(anchor: datetime, policy: LifecyclePolicy, effective_now: datetime) -> Health:
    """The health for an inactivity clock started at ``anchor``, read at ``effective_now``."""
    if policy.at_risk_red.add_to(anchor) <= effective_now:
        return Health.RED
    if policy.at_risk_yellow.add_to(anchor) <= effective_now:
        return Health.YELLOW
    return Health.GREEN


def who(command: CommandBase) -> str:
    """``"mentor m-1"``: the actor of a command, as reasons and messages name it."""
    return f"{command.actor.role.value} {command.actor.id}"
