"""What each event does to the projection: one handler per event type, in the explicit table :data:`HANDLERS`.

A handler gets the pending writes of the batch (:class:`~projections.writer.PendingWrites`), the relationship's row
(a dict, changed in place; the unit of work writes the changed columns) and the decoded event. It only computes:
nothing here touches the database. Every event type of :data:`domain.EVENT_CLASSES` has an entry (a test holds the
two together), so a new event type is a decision, not a silent no-op.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from projections.decode import Decoded
from projections.models import (
    CheckIn,
    Goal,
    Meeting,
    Nudge,
    RedefinitionOutcome,
    Separation,
    StageDuration,
    StageTransition,
    table_of,
)
from projections.program_handlers import PROGRAM_HANDLERS
from projections.survey_handlers import SURVEY_HANDLERS, check_in_response, tag_functions
from projections.writer import PendingWrites

__all__ = ["HANDLERS", "Handler"]

Handler = Callable[[PendingWrites, dict[str, Any], Decoded], None]

_NUDGE_TYPES = {
    "AcceptanceReminderSent": "acceptance_reminder",
    "NudgeSent": None,  # the event carries its rule
    "EscalatedToManager": None,
    "InactivityWarningSent": "inactivity_warning",
    "NoticeSent": None,  # rules v2: every other prompt; its kind is the rule
}
_FIRST_REACHED = {"cultivation": "cultivation_at", "separation": "separation_at", "redefinition": "redefinition_at"}
_SEPARATION_RESULT = {"redefinition": "redefinition", "cultivation": "reconciled"}


def _on_relationship_proposed(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    """Fills the new (empty) row of a relationship: its seq 1."""
    e, env = d.event, d.head
    row.update(
        {
            "relationship_id": env.relationship_id,
            "program_id": env.program_id,
            "mentor_id": e.mentor_id,
            "mentee_id": e.mentee_id,
            "proposed_by": e.proposed_by,
            "proposed_by_role": e.proposed_by_role.value,
            "match_method": e.match_method,
            "match_score": None if e.match_score is None else str(e.match_score),
            "predecessor_id": e.predecessor_id,
            "policy_name": e.policy.name,
            "policy_version": e.policy.version,
            "stage": "none",
            "substate": "none",
            "health": "green",
            "health_reason": None,
            "marginal": False,
            "outcome": None,
            "close_reason": None,
            "opened_at": e.at,
            "accepted_at": None,
            "kicked_off_at": None,
            "cultivation_at": None,
            "separation_at": None,
            "redefinition_at": None,
            "closed_at": None,
            "stage_entered_at": None,
            "stage_entered_seq": None,
            "substate_entered_at": None,
            "trial_ends_at": None,
            "term_ends_at": None,
            "last_event_at": e.at,
            "meetings": 0,
            "last_meeting_at": None,
            "goals_set": 0,
            "goals_completed": 0,
            "check_ins": 0,
            "mentor_satisfaction": None,
            "mentee_satisfaction": None,
            "pauses": 0,
            "renewals": e.renewals_used or 0,
            "separation_seq": None,
            "last_seq": 0,
            "last_hash": "0" * 64,
        }
    )
    w.funnel[env.program_id]["proposed"] += 1


def _on_stage_changed(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    e, env = d.event, d.head
    w.insert(
        table_of(StageTransition),
        (env.relationship_id, env.seq),
        {
            "relationship_id": env.relationship_id,
            "seq": env.seq,
            "program_id": row["program_id"],
            "occurred_at": e.at,
            "from_stage": e.from_stage.value,
            "from_substate": e.from_substate.value,
            "to_stage": e.to_stage.value,
            "to_substate": e.to_substate.value,
            "trigger": e.trigger,
            "reason": e.reason,
            "policy_version": e.policy_version,
            "actor_id": env.actor_id,
            "causation_id": env.causation_id,
        },
    )
    if e.to_stage != e.from_stage:
        _stage_visit(w, row, d)
    funnel = w.funnel[row["program_id"]]
    to_sub = e.to_substate.value
    if to_sub == "kickoff_pending" and row["accepted_at"] is None:
        row["accepted_at"] = e.at
        funnel["accepted"] += 1
    if to_sub == "paused":
        row["pauses"] += 1
    _separation_progress(w, row, d)
    row["stage"] = e.to_stage.value
    row["substate"] = to_sub
    row["substate_entered_at"] = e.at


def _stage_visit(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    """A stage left and another entered: close the old visit's duration, open the new one, count first arrivals."""
    rid, seq, at, to = d.head.relationship_id, d.head.seq, d.event.at, d.event.to_stage.value
    if row["stage_entered_seq"] is not None:
        entered = row["stage_entered_at"]
        w.update(
            table_of(StageDuration),
            (rid, row["stage_entered_seq"]),
            {"exited_at": at, "exited_seq": seq, "seconds": (at - entered).total_seconds()},
        )
    if to != "closed":
        w.insert(
            table_of(StageDuration),
            (rid, seq),
            {
                "relationship_id": rid,
                "entered_seq": seq,
                "program_id": row["program_id"],
                "stage": to,
                "entered_at": at,
                "exited_at": None,
                "exited_seq": None,
                "seconds": None,
            },
        )
    row["stage_entered_at"] = at
    row["stage_entered_seq"] = seq
    first = _FIRST_REACHED.get(to)
    if first is not None and row[first] is None:
        row[first] = at
        w.funnel[row["program_id"]][to] += 1


def _separation_progress(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    """The open separation (if any) of a stage change: started by a timer, winding down, or ended."""
    e, rid, seq = d.event, d.head.relationship_id, d.head.seq
    to, at = e.to_stage.value, e.at
    sep = row["separation_seq"]
    if to == "separation" and sep is None:  # a timer (term end, inactivity) starts winding down directly
        sep = seq
        row["separation_seq"] = seq
        w.insert(table_of(Separation), (rid, seq), _separation(row, rid, seq, "timer", "system", e.reason, at))
    if sep is not None:
        if e.to_substate.value == "winding_down":
            w.update(table_of(Separation), (rid, sep), {"winding_down_at": at})
        if to != "separation":
            result = _SEPARATION_RESULT.get(to, to)
            w.update(table_of(Separation), (rid, sep), {"ended_at": at, "result": result})
            row["separation_seq"] = None


def _on_trial_started(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    e = d.event
    if row["kicked_off_at"] is None:
        w.funnel[row["program_id"]]["kicked_off"] += 1
        row["kicked_off_at"] = e.at
    row["trial_ends_at"] = e.trial_ends_at
    row["term_ends_at"] = e.term_ends_at


def _on_meeting_logged(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    e, env = d.event, d.head
    row["meetings"] += 1
    last = row["last_meeting_at"]
    row["last_meeting_at"] = e.held_at if last is None else max(last, e.held_at)
    w.insert(
        table_of(Meeting),
        (env.relationship_id, env.seq),
        {
            "relationship_id": env.relationship_id,
            "seq": env.seq,
            "program_id": row["program_id"],
            "held_at": e.held_at,
            "logged_at": e.at,
            "logged_by": e.by,
            "role": e.role.value,
            "duration_minutes": e.duration_minutes,
            "backfill": e.backfill,
            "notes": e.notes,
        },
    )
    tag_functions(w, row, d, e.functions, "meeting")


def _on_goal_set(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    e, env = d.event, d.head
    row["goals_set"] += 1
    w.insert(
        table_of(Goal),
        (env.relationship_id, e.goal_id),
        {
            "relationship_id": env.relationship_id,
            "goal_id": e.goal_id,
            "program_id": row["program_id"],
            "text": e.text,
            "set_by": e.by,
            "set_at": e.at,
            "set_seq": env.seq,
            "completed_at": None,
            "completed_by": None,
            "completed_seq": None,
        },
    )
    tag_functions(w, row, d, e.functions, "goal")


def _on_goal_completed(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    e, env = d.event, d.head
    row["goals_completed"] += 1
    w.update(
        table_of(Goal),
        (env.relationship_id, e.goal_id),
        {"completed_at": e.at, "completed_by": e.by, "completed_seq": env.seq},
    )


def _on_check_in_submitted(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    e, env = d.event, d.head
    row["check_ins"] += 1
    column = "mentor_satisfaction" if e.role.value == "mentor" else "mentee_satisfaction"
    row[column] = e.satisfaction
    row["marginal"] = 3 in (row["mentor_satisfaction"], row["mentee_satisfaction"])
    w.insert(
        table_of(CheckIn),
        (env.relationship_id, env.seq),
        {
            "relationship_id": env.relationship_id,
            "seq": env.seq,
            "program_id": row["program_id"],
            "submitted_at": e.at,
            "submitted_by": e.by,
            "role": e.role.value,
            "satisfaction": e.satisfaction,
            "marginal": e.satisfaction == 3,
            "comment": e.comment,
            "schema_version": env.schema_version,
        },
    )
    check_in_response(w, row, d)


def _on_health_changed(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    row["health"] = d.event.to_health.value
    row["health_reason"] = d.event.reason


def _on_nudge(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    e, env = d.event, d.head
    rule = _NUDGE_TYPES[env.type] or getattr(e, "rule", None) or e.kind
    recipients = ",".join(getattr(e, "to", ()) or ())
    if env.type == "EscalatedToManager":
        message = e.reason
    elif env.type == "InactivityWarningSent":
        message = f"separation for inactivity at {e.separation_at.isoformat()}"
    elif env.type == "AcceptanceReminderSent":
        message = "acceptance reminder"
    else:
        message = e.message
    w.insert(
        table_of(Nudge),
        (env.relationship_id, env.seq),
        {
            "relationship_id": env.relationship_id,
            "seq": env.seq,
            "program_id": row["program_id"],
            "sent_at": e.at,
            "kind": env.type,
            "rule": rule,
            "recipients": recipients,
            "message": message,
        },
    )


def _on_term_renewed(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    row["renewals"] = d.event.renewal
    row["term_ends_at"] = d.event.term_ends_at


def _on_term_extended(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    row["term_ends_at"] = d.event.term_ends_at


def _on_meeting_disputed(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    """Rules v2: a disputed meeting no longer counts (its row in ``meetings`` stays: it was logged)."""
    row["meetings"] = max(row["meetings"] - 1, 0)


def _on_separation_proposed(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    e, env = d.event, d.head
    rid, seq = env.relationship_id, env.seq
    values = _separation(row, rid, seq, "proposed", e.by, e.reason, e.at)
    values["consent_due_at"] = e.consent_due_at
    w.insert(table_of(Separation), (rid, seq), values)
    row["separation_seq"] = seq


def _on_separation_consented(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    if row["separation_seq"] is not None:
        key = (row["relationship_id"], row["separation_seq"])
        w.update(table_of(Separation), key, {"consented_at": d.event.at, "consented_by": d.event.by})


def _on_separation_contested(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    if row["separation_seq"] is not None:
        key = (row["relationship_id"], row["separation_seq"])
        w.update(table_of(Separation), key, {"contested_at": d.event.at})


def _on_separation_resolved(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    e = d.event
    if row["separation_seq"] is not None:
        key = (row["relationship_id"], row["separation_seq"])
        w.update(table_of(Separation), key, {"resolved_at": e.at, "resolved_by": e.by, "resolution": e.resolution})


def _on_redefinition_recorded(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    e, env = d.event, d.head
    w.insert(
        table_of(RedefinitionOutcome),
        (env.relationship_id, e.by),
        {
            "relationship_id": env.relationship_id,
            "person_id": e.by,
            "program_id": row["program_id"],
            "role": e.role.value,
            "outcome": e.outcome,
            "note": e.note,
            "recorded_at": e.at,
            "seq": env.seq,
        },
    )


def _on_relationship_closed(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    e = d.event
    row["outcome"] = e.outcome.value
    row["close_reason"] = e.reason
    row["closed_at"] = e.at
    funnel = w.funnel[row["program_id"]]
    funnel["closed"] += 1
    funnel[e.outcome.value] += 1


def _separation(
    row: dict[str, Any], rid: str, seq: int, kind: str, by: str, reason: str, at: datetime
) -> dict[str, Any]:
    return {
        "relationship_id": rid,
        "seq": seq,
        "program_id": row["program_id"],
        "kind": kind,
        "initiated_by": by,
        "reason": reason,
        "started_at": at,
        "consent_due_at": None,
        "consented_at": None,
        "consented_by": None,
        "contested_at": None,
        "resolved_at": None,
        "resolved_by": None,
        "resolution": None,
        "winding_down_at": None,
        "ended_at": None,
        "result": None,
    }


def _nothing(w: PendingWrites, row: dict[str, Any], d: Decoded) -> None:
    """The event changes only what every applied event changes (last seq, hash and event time)."""


HANDLERS: dict[str, Handler] = {
    "RelationshipProposed": _on_relationship_proposed,
    "MatchAccepted": _nothing,
    "MatchDeclined": _nothing,
    "MatchExpired": _nothing,
    "AgreementSigned": _nothing,
    "TrialStarted": _on_trial_started,
    "MeetingLogged": _on_meeting_logged,
    "GoalSet": _on_goal_set,
    "GoalCompleted": _on_goal_completed,
    "CheckInSubmitted": _on_check_in_submitted,
    "HealthChanged": _on_health_changed,
    "AcceptanceReminderSent": _on_nudge,
    "NudgeSent": _on_nudge,
    "EscalatedToManager": _on_nudge,
    "InactivityWarningSent": _on_nudge,
    "RematchRequested": _nothing,
    "Paused": _nothing,
    "Resumed": _nothing,
    "RenewalRequested": _nothing,
    "TermRenewed": _on_term_renewed,
    "SeparationProposed": _on_separation_proposed,
    "SeparationConsented": _on_separation_consented,
    "SeparationContested": _on_separation_contested,
    "SeparationResolved": _on_separation_resolved,
    "RedefinitionRecorded": _on_redefinition_recorded,
    "Terminated": _nothing,
    "StageChanged": _on_stage_changed,
    "RelationshipClosed": _on_relationship_closed,
    # rules version 2 (domain/rules.py)
    "NoticeSent": _on_nudge,
    "TermExtended": _on_term_extended,
    "MeetingDisputed": _on_meeting_disputed,
    "MeetingConfirmed": _nothing,
    "SeparationWithdrawn": _nothing,
    "SeparationObjected": _nothing,
    "TermEndingSoon": _nothing,
    "RelationshipLeft": _nothing,
    "TrialFailed": _nothing,
    "Reassigned": _nothing,
    **PROGRAM_HANDLERS,
    # rules version 3: surveys
    **SURVEY_HANDLERS,
}
