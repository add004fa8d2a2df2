"""An in-memory :class:`api.backend.Backend` over the pure core: the API's routing, roles and error mapping are
tested without Temporal (the integration tests run the same routes over the live backend)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from api.backend import CommandOutcome, ListFilter, ReportName
from audit.history import participant_view
from domain import (
    Command,
    Envelope,
    ProposeRelationship,
    RelationshipNotFound,
    RelationshipState,
    advance,
    execute,
    replay,
    verify_chain,
)
from tests.unit.api.memory_programs import MemoryPrograms


def _ids() -> str:
    return str(uuid.uuid4())


class MemoryBackend(MemoryPrograms):
    def __init__(self) -> None:
        super().__init__()
        self.states: dict[str, RelationshipState] = {}
        self.logs: dict[str, list[Envelope]] = {}
        self.started = False

    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.started = False

    def _get(self, relationship_id: str) -> RelationshipState:
        if relationship_id not in self.states:
            raise RelationshipNotFound(relationship_id)
        now = datetime.now(UTC)
        state, envelopes = advance(self.states[relationship_id], now, _ids)
        self.states[relationship_id] = state
        self.logs[relationship_id].extend(envelopes)
        return state

    async def propose(self, command: ProposeRelationship) -> CommandOutcome:
        rid = command.relationship_id
        state = self.states.get(rid) or RelationshipState.new(rid)
        state, envelopes = execute(state, command, datetime.now(UTC), _ids)
        self.states[rid] = state
        self.logs.setdefault(rid, []).extend(envelopes)
        return CommandOutcome(state=state, events=envelopes)

    async def send(self, relationship_id: str, command: Command) -> CommandOutcome:
        state = self._get(relationship_id)
        state, envelopes = execute(state, command, datetime.now(UTC), _ids)
        self.states[relationship_id] = state
        self.logs[relationship_id].extend(envelopes)
        return CommandOutcome(state=state, events=envelopes)

    async def state(self, relationship_id: str) -> RelationshipState:
        return self._get(relationship_id)

    async def history(self, relationship_id: str) -> list[Envelope]:
        self._get(relationship_id)
        return list(self.logs[relationship_id])

    async def participant_events(self, events: Sequence[Envelope], person_id: str) -> list[dict[str, Any]]:
        return participant_view(events, person_id)  # nothing is sealed here: the partner's private text withheld

    async def state_at(self, relationship_id: str, at: datetime) -> RelationshipState:
        self._get(relationship_id)
        try:
            return replay(self.logs[relationship_id], at)
        except ValueError as exc:  # it did not exist yet then
            raise RelationshipNotFound(relationship_id, str(exc)) from None

    async def verify(self, relationship_id: str | None, program: str | None = None) -> dict[str, Any]:
        ids = [relationship_id] if relationship_id else sorted(self.logs)
        results = {rid: verify_chain(self.logs[rid]).model_dump(mode="json") for rid in ids}
        return {"ok": all(r["ok"] for r in results.values()), "relationships": results}

    def _rows(self, program: str | None) -> list[RelationshipState]:
        return [s for s in self.states.values() if program is None or s.program_id == program]

    async def list_relationships(self, flt: ListFilter) -> list[dict[str, Any]]:
        rows = []
        for s in self._rows(flt.program):
            if flt.stage and s.stage.value != flt.stage:
                continue
            if flt.substate and s.substate.value != flt.substate:
                continue
            if flt.health and s.health.value != flt.health:
                continue
            if flt.person and flt.person not in s.participants:
                continue
            rows.append(
                {
                    "relationship_id": s.relationship_id,
                    "program_id": s.program_id,
                    "mentor_id": s.mentor_id,
                    "mentee_id": s.mentee_id,
                    "stage": s.stage.value,
                    "substate": s.substate.value,
                    "health": s.health.value,
                }
            )
        return rows[flt.offset : flt.offset + flt.limit]

    async def programs(self) -> list[str]:
        return sorted({s.program_id for s in self.states.values() if s.program_id})

    async def report(self, name: ReportName, program: str | None) -> list[dict[str, Any]]:
        states = self._rows(program)
        if name == "stages":
            counts = Counter(s.stage.value for s in states)
            return [{"stage": k, "relationships": v} for k, v in sorted(counts.items())]
        if name == "transitions":
            counts = Counter(
                (t["from_stage"] + "/" + t["from_substate"], t["to_stage"] + "/" + t["to_substate"], t["trigger"])
                for t in self._transitions(program)
            )
            return [{"from": f, "to": t, "trigger": g, "count": n} for (f, t, g), n in counts.items()]
        if name == "funnel":
            return [{"program_id": program or "prog", "proposed": len(states), "closed": 0}]
        if name == "feedback":
            return []  # the survey tables exist only in the projection (tests/unit/projections/test_feedback.py)
        return [
            {"relationship_id": s.relationship_id, "health": s.health.value}
            for s in states
            if s.health.value != "green"
        ]

    def _transitions(self, program: str | None) -> list[dict[str, Any]]:
        out = []
        for s in self._rows(program):
            for e in self.logs[s.relationship_id]:
                if e.type == "StageChanged":
                    out.append(
                        {
                            "relationship_id": e.relationship_id,
                            "seq": e.seq,
                            "occurred_at": e.model_dump(mode="json")["occurred_at"],
                            **e.payload,
                        }
                    )
        return out

    async def latest_transitions(self, program: str | None, trigger: str | None, limit: int) -> list[dict[str, Any]]:
        rows = [t for t in self._transitions(program) if trigger is None or t["trigger"] == trigger]
        rows.sort(key=lambda t: (t["occurred_at"], t["seq"]), reverse=True)
        return rows[:limit]

    async def time_in_stage(self, program: str | None) -> list[dict[str, Any]]:
        return [{"stage": "initiation", "completed_visits": 0, "avg_seconds": None}]

    async def wait_for_projection(self, relationship_id: str, seq: int, seconds: float) -> None:
        return None

    async def contested(self, program: str | None) -> list[dict[str, Any]]:
        return [{"relationship_id": s.relationship_id} for s in self._rows(program) if s.substate.value == "contested"]
