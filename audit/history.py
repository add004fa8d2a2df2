"""A relationship's timeline, its state at an instant, and its export (pure: envelopes in, rows/bytes out)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from audit.records import StoredRecord
from domain import (
    GENESIS_HASH,
    Envelope,
    RelationshipState,
    event_from_envelope,
    evolve,
    format_instant,
    replay,
)
from domain.confidential import PRIVATE_FIELDS, private_fields
from projections.decode import fast_event_of

__all__ = [
    "EXPORT_FORMAT",
    "FORMULA_PREFIXES",
    "PRIVATE_FIELDS",
    "TimelineRow",
    "csv_cell",
    "export_csv",
    "export_jsonl",
    "fast_state_at",
    "participant_view",
    "policies_in_force",
    "state_at",
    "state_summary",
    "timeline",
]

EXPORT_FORMAT = "mentorflow.audit-export/1"


@dataclass(frozen=True)
class TimelineRow:
    seq: int
    occurred_at: datetime
    actor: str
    event: str
    stage: str
    substate: str
    hash: str
    prev_hash: str
    policy: str
    chain_ok: bool
    """This envelope hashes to its ``hash`` and links to the row before."""

    @property
    def short_hash(self) -> str:
        return self.hash[:10]

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "occurred_at": format_instant(self.occurred_at),
            "actor": self.actor,
            "event": self.event,
            "stage": self.stage,
            "substate": self.substate,
            "hash": self.hash,
            "short_hash": self.short_hash,
            "policy": self.policy,
            "chain_ok": self.chain_ok,
        }


def _policy_label(state: RelationshipState) -> str:
    return f"{state.policy.name}@{state.policy.version}" if state.policy is not None else ""


def timeline(envelopes: Sequence[Envelope]) -> list[TimelineRow]:
    """One row per envelope in the given order, with the stage/sub-state after it. Tolerant: a broken link or an
    edited envelope is folded anyway and flagged (``chain_ok=False``), so an auditor still sees the whole story."""
    if not envelopes:
        return []
    state = RelationshipState.new(envelopes[0].relationship_id)
    prev = GENESIS_HASH
    rows: list[TimelineRow] = []
    for env in envelopes:
        ok = env.prev_hash == prev and env.compute_hash() == env.hash and env.seq == state.seq + 1
        state = evolve(state, event_from_envelope(env)).model_copy(update={"seq": env.seq, "last_hash": env.hash})
        rows.append(
            TimelineRow(
                seq=env.seq,
                occurred_at=env.occurred_at,
                actor=f"{env.actor.role.value}:{env.actor.id}",
                event=env.type,
                stage=state.stage.value,
                substate=state.substate.value,
                hash=env.hash,
                prev_hash=env.prev_hash,
                policy=_policy_label(state),
                chain_ok=ok,
            )
        )
        prev = env.hash
    return rows


def state_at(envelopes: Sequence[Envelope], at: datetime) -> RelationshipState:
    """DESIGN §7: the fold of ``evolve`` over the events with ``occurred_at <= at`` (the chain is checked on the
    way: a tampered log raises :class:`domain.ChainBroken`)."""
    return replay(envelopes, until=at)


def fast_state_at(chain: Sequence[StoredRecord], at: datetime | None = None) -> RelationshipState | None:
    """:func:`state_at` of a store's chain (:attr:`audit.sequence.StoreSequence.chain`, in seq order) on the fast
    path: every record's hash was proven when it was read (:attr:`~audit.records.StoredRecord.vouched`), so the fold
    checks only the links, and each event is built without pydantic where
    :func:`projections.decode.fast_event_of` vouches for it. None whenever the reference could say anything else
    than this state (a record not vouched for, a broken link, a payload refused, an unknown type, a naive or too
    early instant): the caller then takes :func:`state_at`, which names the problem."""
    if not chain or not all(r.vouched for r in chain):
        return None
    if at is not None and at.utcoffset() is None:
        return None
    first = chain[0].data
    assert first is not None
    state = RelationshipState.new(first["relationship_id"])
    try:
        for record in chain:
            data = record.data
            assert data is not None
            occurred = datetime.fromisoformat(data["occurred_at"])  # vouched: the one instant format
            if at is not None and occurred > at:
                break
            seq = data["seq"]
            if data["relationship_id"] != state.relationship_id or seq != state.seq + 1:
                return None
            if data["prev_hash"] != state.last_hash:
                return None
            event = fast_event_of(data, occurred)
            if event is None:
                return None
            state = evolve(state, event).model_copy(update={"seq": seq, "last_hash": data["hash"]})
    except Exception:  # anything the reference would refuse (or not): it decides, and says why
        return None
    return state if state.seq else None


def state_summary(state: RelationshipState) -> dict[str, Any]:
    """What an auditor asks of a state first; the full state is ``state.model_dump(mode="json")``."""
    return {
        "relationship_id": state.relationship_id,
        "program_id": state.program_id,
        "seq": state.seq,
        "last_hash": state.last_hash,
        "stage": state.stage.value,
        "substate": state.substate.value,
        "health": state.health.value,
        "outcome": state.outcome.value if state.outcome is not None else None,
        "policy": _policy_label(state) or None,
        "stage_entered_at": format_instant(state.stage_entered_at) if state.stage_entered_at else None,
        "last_event_at": format_instant(state.last_event_at) if state.last_event_at else None,
    }


def policies_in_force(envelopes: Sequence[Envelope]) -> list[dict[str, Any]]:
    """The policy versions in force over the history: the pinned policy (from ``RelationshipProposed``) and every
    ``policy_version`` a ``StageChanged`` carried, each with the seqs it covers."""
    spans: list[dict[str, Any]] = []
    name: str | None = None
    for env in envelopes:
        version: str | None = None
        if env.type == "RelationshipProposed":
            policy = env.payload.get("policy") or {}
            name, version = policy.get("name"), policy.get("version")
        elif env.type == "StageChanged":
            version = env.payload.get("policy_version")
        if version is None:
            if spans:
                spans[-1]["to_seq"] = env.seq
            continue
        if spans and spans[-1]["version"] == version:
            spans[-1]["to_seq"] = env.seq
        else:
            spans.append({"name": name, "version": version, "from_seq": env.seq, "to_seq": env.seq})
    return spans


def _header(
    relationship_id: str, envelopes: Sequence[Envelope], verification: Mapping[str, Any], exported_at: datetime
) -> dict[str, Any]:
    return {
        "export": EXPORT_FORMAT,
        "relationship_id": relationship_id,
        "exported_at": format_instant(exported_at),
        "events": len(envelopes),
        "last_hash": envelopes[-1].hash if envelopes else GENESIS_HASH,
        "policies": policies_in_force(envelopes),
        "verification": dict(verification),
    }


def export_jsonl(
    relationship_id: str,
    envelopes: Sequence[Envelope],
    verification: Mapping[str, Any],
    exported_at: datetime,
    participant: str | None = None,
) -> str:
    """Line 1: a header object (``"export"``, the verification result, the policies in force, the event count and
    last hash). Then one line per envelope, exactly its canonical JSON (the bytes that were hashed and published):
    ``docs/verify_history.py`` re-verifies it with the standard library alone.

    ``participant``: the export for that participant (:func:`participant_view`; the header says ``scoped_to`` and
    how many envelopes had text ``withheld``, which no longer verify on their own)."""
    header = _header(relationship_id, envelopes, verification, exported_at)
    lines = _envelope_lines(envelopes, participant, header)
    return "\n".join([json.dumps(header, sort_keys=True), *lines]) + "\n"


def _envelope_lines(envelopes: Sequence[Envelope], participant: str | None, header: dict[str, Any]) -> list[str]:
    if participant is None:
        return [env.to_bytes().decode("utf-8") for env in envelopes]
    view = participant_view(envelopes, participant)
    header.update(scoped_to=participant, withheld=sum(1 for v in view if v.get("withheld")))
    return [json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False) for v in view]


CSV_COLUMNS = (
    "seq",
    "occurred_at",
    "actor",
    "event",
    "stage_after",
    "substate_after",
    "policy",
    "causation_id",
    "prev_hash",
    "hash",
    "verified",
    "verification",
    "envelope",
)


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""A spreadsheet runs a cell that starts with one of these as a formula (CSV injection, OWASP)."""


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: a string starting with a formula character gets a leading ``'``
    (participants write goals, notes and reasons; a manager opens the export). Numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def export_csv(
    relationship_id: str,
    envelopes: Sequence[Envelope],
    verification: Mapping[str, Any],
    exported_at: datetime,
    participant: str | None = None,
) -> str:
    """One row per envelope: the timeline columns, ``verified`` (the relationship's overall result, ``ok`` or
    ``FAILED``), ``verification`` (the findings at this seq, ``ok`` when none) and ``envelope`` (its canonical
    JSON, verifiable like the JSON Lines export; for a ``participant``, their view of it)."""
    by_seq: dict[int, list[str]] = {}
    for d in verification.get("differences", []):
        if d.get("seq") is not None:
            by_seq.setdefault(int(d["seq"]), []).append(str(d["message"]))
    overall = "ok" if verification.get("ok") else "FAILED"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    texts = _envelope_lines(envelopes, participant, {})
    for row, env, text in zip(timeline(envelopes), envelopes, texts, strict=True):
        writer.writerow(
            csv_cell(cell)
            for cell in [
                row.seq,
                format_instant(row.occurred_at),
                row.actor,
                row.event,
                row.stage,
                row.substate,
                row.policy,
                env.causation_id or "",
                row.prev_hash,
                row.hash,
                overall,
                " | ".join(by_seq.get(row.seq, [])) or "ok",
                text,
            ]
        )
    return out.getvalue()


def _withheld(payload: dict[str, Any], paths: tuple[str, ...]) -> dict[str, Any]:
    """``payload`` with each path (``comment``, ``answers.comment``) set to ``null``."""
    out = dict(payload)
    for path in paths:
        head, _, rest = path.partition(".")
        if rest and isinstance(out.get(head), dict):
            out[head] = {**out[head], rest: None}
        elif not rest:
            out[head] = None
    return out


def participant_view(
    envelopes: Sequence[Envelope],
    person_id: str,
    dump: Callable[[Envelope], dict[str, Any]] | None = None,
    open_own: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The envelopes as JSON (``dump``, default the model's JSON) for participant ``person_id``: the partner's
    private free text is withheld (``null``, and the field named in ``withheld``). ``open_own``: opens the text the
    participant sealed under their own key (``FieldCipher.open_own``), the fields named in ``opened``; the partner's
    sealed text stays sealed. Such an envelope no longer matches its hash, on purpose: the full, verifiable history
    is for managers and auditors."""
    out: list[dict[str, Any]] = []
    for env in envelopes:
        data = dump(env) if dump is not None else env.model_dump(mode="json")
        private = private_fields(env.type, data["payload"])
        if private and env.actor.id != person_id:
            data["payload"] = _withheld(data["payload"], private)
            data["withheld"] = [f"payload.{k}" for k in private]
        if open_own is not None:
            payload = open_own(data["payload"])
            opened = sorted(k for k, v in payload.items() if v != data["payload"].get(k))
            if opened:
                data["payload"] = payload
                data["opened"] = [f"payload.{k}" for k in opened]
        out.append(data)
    return out
