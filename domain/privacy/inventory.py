"""The privacy inventory: every field of every event and command, every column of every table, every export and
every workflow payload, classified (issue 20, docs/privacy.md).

Kinds:

* ``personal_text`` — free text a person typed. Sealed at the application boundary under the data key of its
  author (the command's actor) — or, for what is *about* a person someone else types (an enrollment profile, a
  withdrawal's reason), of that person — so every store downstream holds ciphertext (domain/privacy/sealed.py).
* ``derived_text`` — text the domain composes that may *embed* personal text (``"declined by mentee bo: <reason>"``):
  it embeds the sealed token, never the plaintext; readers open the tokens inside it.
* ``pseudonymous_id`` — an id that stands for a person (mentor, mentee, actor, recipient). Kept: the chains, the
  reports and the audit need them; they say nothing about the person without the platform's own directory.
* ``personal_plain`` — a whole field of personal data kept in plaintext (none today). The plain parts of a sealed
  field — a response's scores and choices — are named with that field below.

A survey response's ``answers`` is a mapping of numbers, choices and free text: it is ``personal_text`` for its
free-text answers only (the instrument's ``free_text_ids``), which the client seals one by one
(``FieldCipher.seal_answers``); its scores and choices stay plain (reports count them). Likewise an enrollment's
``profile`` (``participants`` of the command) is ``personal_text`` for its :data:`SEALED_PROFILE_FIELDS`, sealed
under the enrolled person's key (``FieldCipher.seal_profiles``; the service that scores opens them); only its line
manager (a pseudonymous id, :data:`PROFILE_FIELDS` says why) stays plain.
A withdrawal's ``reason`` is sealed under the withdrawn person's key too (``FieldCipher.seal_withdrawal``).
* ``not_personal`` — stages, instants, counts, scores, policy values, hashes.

``tests/unit/privacy/test_inventory.py`` fails when a field of an event or command, or a column of a table, is not
classified here, and when docs/privacy.md's generated table differs from :func:`render_markdown`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = [
    "COMMAND_FIELDS",
    "EVENT_FIELDS",
    "EXPORTS",
    "PROFILE_FIELDS",
    "SEALED_PROFILE_FIELDS",
    "TABLE_COLUMNS",
    "WORKFLOW_PAYLOADS",
    "Kind",
    "personal_command_fields",
    "render_markdown",
]


class Kind(StrEnum):
    PERSONAL_TEXT = "personal_text"
    DERIVED_TEXT = "derived_text"
    PSEUDONYMOUS_ID = "pseudonymous_id"
    PERSONAL_PLAIN = "personal_plain"
    NOT_PERSONAL = "not_personal"


TEXT: Final = Kind.PERSONAL_TEXT
DERIVED: Final = Kind.DERIVED_TEXT
ID: Final = Kind.PSEUDONYMOUS_ID
PLAIN: Final = Kind.PERSONAL_PLAIN
NO: Final = Kind.NOT_PERSONAL

_EVENT_COMMON: dict[str, Kind] = {"type": NO, "at": NO}

EVENT_FIELDS: dict[str, dict[str, Kind]] = {
    name: {**_EVENT_COMMON, **fields}
    for name, fields in {
        "RelationshipProposed": {
            "relationship_id": NO, "program_id": NO, "mentor_id": ID, "mentee_id": ID, "proposed_by": ID,
            "proposed_by_role": NO, "match_method": NO, "match_score": NO, "predecessor_id": NO, "policy": NO,
            "acceptances_needed": ID, "rules_version": NO, "match_explanation": NO, "matching_version": NO,
            "renewals_used": NO,
        },
        "MatchAccepted": {"by": ID, "role": NO},
        "MatchDeclined": {"by": ID, "role": NO, "reason": TEXT},
        "AcceptanceReminderSent": {"to": ID},
        "MatchExpired": {"not_accepted_by": ID},
        "AgreementSigned": {"by": ID, "role": NO, "goals": TEXT, "cadence": NO, "term": NO},
        "TrialStarted": {"trial_ends_at": NO, "term_ends_at": NO, "cadence": NO, "term": NO},
        "MeetingLogged": {
            "by": ID, "role": NO, "held_at": NO, "duration_minutes": NO, "notes": TEXT, "backfill": NO,
            "functions": NO,
        },
        "GoalSet": {"goal_id": NO, "text": TEXT, "by": ID, "functions": NO},
        "GoalCompleted": {"goal_id": NO, "by": ID},
        "CheckInSubmitted": {"by": ID, "role": NO, "satisfaction": NO, "comment": TEXT},
        "HealthChanged": {"from_health": NO, "to_health": NO, "reason": DERIVED},
        "NudgeSent": {"rule": NO, "to": ID, "message": DERIVED},
        "EscalatedToManager": {"rule": NO, "reason": DERIVED},
        "InactivityWarningSent": {"last_meeting_at": NO, "separation_at": NO},
        "RematchRequested": {"by": ID, "role": NO, "reason": TEXT},
        "Paused": {"by": ID, "role": NO, "reason": TEXT, "resumes_at_latest": NO},
        "Resumed": {"by": ID, "role": NO, "automatic": NO},
        "RenewalRequested": {"by": ID, "role": NO},
        "TermRenewed": {"renewal": NO, "previous_term_ends_at": NO, "term_ends_at": NO},
        "SeparationProposed": {"by": ID, "role": NO, "reason": TEXT, "consent_due_at": NO},
        "SeparationConsented": {"by": ID, "role": NO},
        "SeparationContested": {"proposed_by": ID, "not_consented_by": ID},
        "SeparationResolved": {"by": ID, "resolution": NO, "note": TEXT},
        "SeparationWithdrawn": {"by": ID, "role": NO},
        "SeparationObjected": {"by": ID, "role": NO, "reason": TEXT},
        "TermExtended": {"by": ID, "previous_term_ends_at": NO, "term_ends_at": NO},
        "TermEndingSoon": {"term_ends_at": NO, "renewals_left": NO},
        "RelationshipLeft": {"by": ID, "role": NO, "reason": TEXT},
        "TrialFailed": {"meetings": NO, "needed": NO, "grace_ends_at": NO},
        "Reassigned": {"by": ID, "successor_id": NO, "reason": TEXT},
        "MeetingConfirmed": {"meeting_id": NO, "by": ID, "role": NO},
        "MeetingDisputed": {"meeting_id": NO, "by": ID, "role": NO, "reason": TEXT},
        "NoticeSent": {"kind": NO, "audience": NO, "to": ID, "message": DERIVED},
        "StageChanged": {
            "from_stage": NO, "to_stage": NO, "from_substate": NO, "to_substate": NO, "trigger": NO,
            "reason": DERIVED, "policy_version": NO,
        },
        "RedefinitionRecorded": {"by": ID, "role": NO, "outcome": NO, "note": TEXT},
        "Terminated": {"by": ID, "reason_code": NO, "note": TEXT},
        "RelationshipClosed": {"outcome": NO, "reason": DERIVED},
        # surveys (rules v3): ``answers`` maps question ids to numbers, choices and free text; its free-text answers
        # (the instrument says which) are sealed one by one; reads for the partner withhold them
        # (domain/confidential.py)
        "SurveyRequested": {
            "request_id": NO, "instrument": NO, "version": NO, "to": ID, "remind_at": NO, "expires_at": NO,
        },
        "SurveyReminded": {"request_id": NO, "to": ID},
        "SurveySubmitted": {
            "request_id": NO, "instrument": NO, "version": NO, "by": ID, "role": NO, "answers": TEXT,
        },
        "SurveyExpired": {"request_id": NO, "not_answered_by": ID},
        # programs (domain/programs/events.py): one chain per program
        "ProgramCreated": {
            "program_id": NO, "name": NO, "by": ID, "default_policy": NO, "matching": NO, "cycle_start": NO,
            "cycle_end": NO,
        },
        "MatchingConfigured": {"by": ID, "matching": NO},
        "ProgramConfigured": {
            "by": ID, "name": NO, "default_policy": NO, "matching": NO, "cycle_start": NO, "cycle_end": NO,
            "retention_days": NO,
        },
        "ParticipantEnrolled": {
            "person_id": ID, "role": NO, "by": ID, "profile": TEXT, "capacity": NO, "preferences": ID,
        },
        "ParticipantWithdrawn": {"person_id": ID, "role": NO, "by": ID, "reason": TEXT},
        "MatchingRoundCompleted": {
            "round_id": NO, "part": NO, "parts": NO, "by": ID, "method": NO, "matching_version": NO,
            "total_score": NO, "proposals": ID, "unmatched": ID,
        },
        "CycleClosed": {"by": ID},
    }.items()
}  # fmt: skip
"""Event type → field → kind (``type`` and ``at`` included; the envelope's own fields are in :data:`EXPORTS`)."""

_COMMAND_COMMON: dict[str, Kind] = {"type": NO, "command_id": NO, "actor": ID}

COMMAND_FIELDS: dict[str, dict[str, Kind]] = {
    name: {**_COMMAND_COMMON, **fields}
    for name, fields in {
        "ProposeRelationship": {
            "relationship_id": NO, "program_id": NO, "mentor_id": ID, "mentee_id": ID, "policy": NO,
            "match_method": NO, "match_score": NO, "match_explanation": NO, "matching_version": NO,
            "predecessor_id": NO, "rules_version": NO, "renewals_used": NO,
        },
        "AcceptMatch": {},
        "DeclineMatch": {"reason": TEXT},
        "SignAgreement": {"goals": TEXT, "cadence": NO, "term": NO},
        "LogMeeting": {"held_at": NO, "duration_minutes": NO, "notes": TEXT, "functions": NO},
        "SetGoal": {"text": TEXT, "goal_id": NO, "functions": NO},
        "CompleteGoal": {"goal_id": NO},
        "SubmitCheckIn": {"satisfaction": NO, "comment": TEXT},
        "RequestRematch": {"reason": TEXT},
        "Pause": {"reason": TEXT},
        "Resume": {},
        "RequestRenewal": {},
        "ProposeSeparation": {"reason": TEXT},
        "ConsentSeparation": {},
        "ResolveSeparation": {"resolution": NO, "note": TEXT, "term_ends_at": NO},
        "RecordRedefinition": {"outcome": NO, "note": TEXT},
        "Terminate": {"reason_code": NO, "note": TEXT},
        "WithdrawSeparation": {},
        "ObjectSeparation": {"reason": TEXT},
        "LeaveRelationship": {"reason": TEXT},
        "Reassign": {"successor_id": NO, "reason": TEXT},
        "ConfirmMeeting": {"meeting_id": NO},
        "DisputeMeeting": {"meeting_id": NO, "reason": TEXT},
        "SubmitSurvey": {"request_id": NO, "answers": TEXT, "version": NO},
        # programs (domain/programs/commands.py)
        "CreateProgram": {
            "program_id": NO, "name": NO, "default_policy": NO, "matching": NO, "cycle_start": NO, "cycle_end": NO,
        },
        "ConfigureMatching": {"program_id": NO, "matching": NO},
        "ConfigureProgram": {
            "program_id": NO, "name": NO, "default_policy": NO, "matching": NO, "cycle_start": NO, "cycle_end": NO,
            "retention_days": NO,
        },
        "EnrollParticipants": {"program_id": NO, "participants": TEXT},
        "WithdrawParticipant": {"program_id": NO, "person_id": ID, "role": NO, "reason": TEXT},
        "RecordMatchingRound": {
            "program_id": NO, "round_id": NO, "part": NO, "parts": NO, "method": NO, "matching_version": NO,
            "total_score": NO, "proposals": ID, "unmatched": ID,
        },
        "CloseCycle": {"program_id": NO},
    }.items()
}  # fmt: skip
"""Command type → field → kind. The ``personal_text`` fields are the ones the boundary seals."""


def _columns(not_personal: str, **personal: Kind) -> dict[str, Kind]:
    """A table's columns: the space-separated ``not_personal`` ones, and the others with their kind."""
    return {**dict.fromkeys(not_personal.split(), NO), **personal}


_STAMP = "relationship_id program_id "
TABLE_COLUMNS: dict[str, dict[str, Kind]] = {
    "relationships": _columns(
        _STAMP + "proposed_by_role match_method match_score predecessor_id policy_name policy_version stage substate "
        "health marginal outcome opened_at accepted_at kicked_off_at cultivation_at separation_at redefinition_at "
        "closed_at stage_entered_at stage_entered_seq substate_entered_at trial_ends_at term_ends_at last_event_at "
        "meetings last_meeting_at goals_set goals_completed check_ins mentor_satisfaction mentee_satisfaction pauses "
        "renewals separation_seq last_seq last_hash",
        mentor_id=ID,
        mentee_id=ID,
        proposed_by=ID,
        close_reason=DERIVED,
        health_reason=DERIVED,
    ),
    "stage_transitions": _columns(
        _STAMP + "seq occurred_at from_stage from_substate to_stage to_substate trigger policy_version causation_id",
        reason=DERIVED,
        actor_id=ID,
    ),
    "stage_durations": _columns(_STAMP + "entered_seq stage entered_at exited_at exited_seq seconds"),
    "meetings": _columns(_STAMP + "seq held_at logged_at role duration_minutes backfill", logged_by=ID, notes=TEXT),
    "goals": _columns(
        _STAMP + "goal_id set_at set_seq completed_at completed_seq", text=TEXT, set_by=ID, completed_by=ID
    ),
    "check_ins": _columns(
        _STAMP + "seq submitted_at role satisfaction marginal schema_version", submitted_by=ID, comment=TEXT
    ),
    "nudges": _columns(_STAMP + "seq sent_at kind rule", recipients=ID, message=DERIVED),
    "survey_requests": _columns(
        _STAMP + "request_id instrument version stage requested_at requested_seq asked reminded_at expired_at"
    ),
    "survey_responses": _columns(
        _STAMP + "seq request_id instrument version stage submitted_at role satisfaction",
        submitted_by=ID,
        answers=TEXT,
    ),
    "function_tags": _columns(_STAMP + "seq function family source stage"),
    "separations": _columns(
        _STAMP + "seq kind started_at consent_due_at consented_at contested_at resolved_at resolution "
        "winding_down_at ended_at result",
        initiated_by=ID,
        reason=TEXT,
        consented_by=ID,
        resolved_by=ID,
    ),
    "redefinition_outcomes": _columns(_STAMP + "role outcome recorded_at seq", person_id=ID, note=TEXT),
    "program_funnel": _columns(
        "program_id proposed accepted kicked_off cultivation separation redefinition closed declined expired "
        "rematched terminated did_not_start collegial friendship ended"
    ),
    "event_log": _columns(
        _STAMP + "seq event_id type schema_version occurred_at actor_role causation_id prev_hash hash kafka_topic "
        "kafka_partition kafka_offset",
        actor_id=ID,
        envelope=DERIVED,
    ),
    "dead_letters": _columns(
        "id group_id topic partition offset kind relationship_id seq event_id event_type message_key recorded_at",
        error=DERIVED,
        message_value=DERIVED,
    ),
    "projection_offsets": _columns("group_id topic partition next_offset updated_at"),
    "audit_workflow_histories": _columns(
        "workflow_id run_id relationship_id run_index status events history_sha256 archived_at", history_json=DERIVED
    ),
    "programs": _columns(
        "program_id name policy_name policy_version policy matching_version matching cycle_start cycle_end "
        "retention_days created_at closed_at mentors mentees withdrawn rounds last_seq last_hash last_event_at",
        created_by=ID,
    ),
    "program_enrollments": _columns(
        "program_id role capacity enrolled_at enrolled_seq withdrawn_at",
        person_id=ID,
        profile=TEXT,
        preferences=ID,
        enrolled_by=ID,
        withdrawn_reason=TEXT,
    ),
    "program_round_entries": _columns(
        "program_id round_id score relationship_id reason method matching_version recorded_at seq",
        mentee_id=ID,
        mentor_id=ID,
    ),
    "privacy_keys": _columns("key_id key created_at", person_id=ID),
    "privacy_erasures": _columns(
        "seq erased_by_role reason_code erased_at keys_erased rows_scrubbed prev_hash hash",
        person_id=ID,
        erased_by=ID,
    ),
}
"""Table → column → kind. ``derived_text`` here: a whole envelope, a history or a composed text that carries
sealed tokens (and, for events written before sealing existed, plaintext: see docs/privacy.md)."""

EXPORTS: dict[str, str] = {
    "the envelope (topic value, event_log.envelope)": "ids pseudonymous (actor, relationship, program); the payload "
    "as classified by EVENT_FIELDS; personal text sealed",
    "mentorflow audit export (JSON Lines of envelopes)": "the envelopes verbatim: sealed text stays sealed, so the "
    "standalone verifier checks an erased history unchanged",
    "mentorflow privacy export PERSON": "everything held about one person, opened (plaintext): give it to that "
    "person only",
    "reports (mentorflow report, GET /reports/…)": "counts, stages and durations: no text (at-risk: the health "
    "reason, derived text)",
}
"""Export → what it carries."""

WORKFLOW_PAYLOADS: dict[str, str] = {
    "workflow input (RelationshipWorkflowInput)": "ids and limits: not personal",
    "update argument (a command)": "as COMMAND_FIELDS: personal text sealed by the client before it is sent",
    "update result (CommandResult: its view and envelopes; the whole state in runs before slim-command-result)": (
        "event text: sealed (the view holds no text; an older run's state: goals/reasons sealed)"
    ),
    "queries (state, events, status)": "the same state and envelopes: sealed",
    "activity inputs (publish_events, notify)": "envelopes and notices: sealed text inside derived text",
    "continue-as-new input (the carried state)": "the same state: sealed",
}
"""Temporal payload → what it carries. With ``privacy.codec_key`` set, the payload codec (workflows/codec.py) encrypts
every one of them as a whole."""


PROFILE_FIELDS: dict[str, Kind] = {
    "skills": TEXT, "goals": TEXT, "interests": TEXT, "languages": TEXT, "timezone": TEXT, "seniority_years": TEXT,
    "department": TEXT, "line_manager": ID,
}  # fmt: skip
"""The fields of an enrollment profile (domain/matching/profile.py, the ``profile`` of ``ParticipantEnrolled`` and of
each participant of ``EnrollParticipants``). Everything a person is described by is sealed under *their* key: each tag
(a ``NAME``, whose rule admits its sealed form) is one sealed string, and so are the time zone and the seniority (a
number, sealed as its text); the service that scores opens them first (the hard rule of a common language, the
distances). ``line_manager`` is a person id like ``mentor_id``: pseudonymous, kept plain. It links two pseudonyms the
chains already name together (a manager's relationships, enrollments and erasures carry the same ids), it says
nothing without the platform's directory, and the matcher's hard rule (no one mentors their own report) compares it
with the mentor's id, which stays plain everywhere."""

SEALED_PROFILE_FIELDS: tuple[str, ...] = tuple(name for name, kind in PROFILE_FIELDS.items() if kind is TEXT)
"""The profile fields sealed under the enrolled person's key (``FieldCipher.seal_profiles``)."""


def personal_command_fields(command_type: str) -> tuple[str, ...]:
    """The fields of a command that the boundary seals (``()`` for an unknown type)."""
    fields = COMMAND_FIELDS.get(command_type, {})
    return tuple(name for name, kind in fields.items() if kind is Kind.PERSONAL_TEXT)


def _section(title: str, rows: dict[str, dict[str, Kind]]) -> list[str]:
    header = "| name | personal text (sealed) | derived text | personal, plaintext | pseudonymous ids |"
    lines = [f"### {title}", "", header, "|---|---|---|---|---|"]
    for name, fields in rows.items():
        by_kind = {kind: ", ".join(f"`{f}`" for f, k in fields.items() if k is kind) or "-" for kind in Kind}
        cells = (name, *(by_kind[k] for k in (TEXT, DERIVED, PLAIN, ID)))
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _described(title: str, rows: dict[str, str]) -> list[str]:
    return [f"### {title}", "", "| what | carries |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows.items()), ""]


def render_markdown() -> str:
    """The inventory as the markdown docs/privacy.md holds between its ``inventory`` markers (every other field or
    column is ``not_personal``)."""
    lines = [
        *_section("Events (payload fields)", EVENT_FIELDS),
        *_section("Commands (what the boundary seals)", COMMAND_FIELDS),
        *_section("Enrollment profile (the fields of `profile`)", {"Profile": PROFILE_FIELDS}),
        *_section("Tables (columns)", TABLE_COLUMNS),
        *_described("Exports", EXPORTS),
        *_described("Temporal payloads", WORKFLOW_PAYLOADS),
    ]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":  # python -m domain.privacy.inventory: the section docs/privacy.md holds
    print(render_markdown(), end="")
