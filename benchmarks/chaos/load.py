"""Steady command load over the HTTP API, and the ledger of what every client was told.

Each lane runs one relationship at a time under the ``demo`` policy (its timers fire within seconds: nudges, health,
the term's end): propose, both accept, both sign, then a meeting every ``interval`` seconds until the relationship
refuses (it moved on by its timers); then the lane proposes the next one. Every request carries a command id chosen
here, and every answer is written to the :class:`Ledger` as one of

* ``accepted`` — 200/201 with the envelopes appended;
* ``refused`` — 404/409/422: the domain (or the command-id binding) said no; nothing was appended;
* ``busy`` — 503 saying "nothing was appended" (Temporal refused every attempt at admission);
* ``unreachable`` — the connection was refused: the request never left the client;
* ``unknown`` — anything else (a 503 that may have been applied, a 500, a dropped connection, a timeout).

A setup command with an unknown outcome is re-sent with the same command id until it is known; an unknown meeting is
re-sent after the faults (:func:`resolve_unknown`). The probe (:meth:`Load.probe`) is a meeting on a relationship
under ``mentoring-12m`` (nothing fires for weeks) sent with ``?wait=true``: it succeeds once the command went through
Temporal, Kafka and the projector into the reporting tables — the run's measure of "recovered".
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

OUTCOMES = ("accepted", "refused", "busy", "unreachable", "unknown")
NOTHING_APPLIED = ("refused", "busy", "unreachable")
REFUSALS = {404, 409, 422}
SETUP_RETRY_SECONDS = 1.0


@dataclass
class Answer:
    command_id: str
    relationship_id: str
    type: str
    path: str
    body: dict[str, Any]
    started: float  # time.monotonic()
    ended: float
    outcome: str
    status: int | None
    detail: str = ""
    events: list[tuple[int, str]] = field(default_factory=list)  # (seq, event_id) of an accepted answer
    projected: bool | None = None
    resend: bool = False


@dataclass
class Ledger:
    answers: list[Answer] = field(default_factory=list)
    relationships: list[str] = field(default_factory=list)

    def final(self) -> dict[str, Answer]:
        """Per command id, the last answer that is known (else the last answer)."""
        out: dict[str, Answer] = {}
        for a in self.answers:
            if a.outcome != "unknown" or a.command_id not in out or out[a.command_id].outcome == "unknown":
                out[a.command_id] = a
        return out

    def unresolved(self) -> list[Answer]:
        return [a for a in self.final().values() if a.outcome == "unknown"]


def classify(status: int | None, payload: Any) -> str:
    if status in (200, 201):
        return "accepted"
    if status in REFUSALS:
        return "refused"
    message = ""
    if isinstance(payload, dict):
        message = str(payload.get("error", {}).get("message", ""))
    if status == 503 and "nothing was appended" in message:
        return "busy"
    return "unknown"


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


class Load:
    def __init__(self, base_url: str, token: str, program: str, ledger: Ledger, *, timeout: float = 60.0) -> None:
        self.program = program
        self.ledger = ledger
        self.http = httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
        self.stopping = asyncio.Event()
        self._probe_rid: str | None = None

    async def close(self) -> None:
        await self.http.aclose()

    async def post(self, rid: str, type_: str, path: str, body: dict[str, Any], *, resend: bool = False) -> Answer:
        started = time.monotonic()
        status: int | None = None
        payload: Any = None
        detail = ""
        try:
            response = await self.http.post(path, json=body)
            status = response.status_code
            try:
                payload = response.json()
            except ValueError:
                payload = None
        except httpx.HTTPError as exc:
            detail = f"{type(exc).__name__}: {exc}"
            unreachable = isinstance(exc, httpx.ConnectError)
        else:
            unreachable = False
        outcome = "unreachable" if unreachable else classify(status, payload)
        answer = Answer(
            command_id=body["command_id"],
            relationship_id=rid,
            type=type_,
            path=path,
            body=body,
            started=started,
            ended=time.monotonic(),
            outcome=outcome,
            status=status,
            detail=detail
            or (str(payload.get("error", {}).get("message", ""))[:200] if isinstance(payload, dict) else ""),
            resend=resend,
        )
        if outcome == "accepted" and isinstance(payload, dict):
            answer.events = [(int(e["seq"]), str(e["event_id"])) for e in payload.get("events", [])]
            answer.projected = payload.get("projected")
        self.ledger.answers.append(answer)
        return answer

    async def until_known(self, rid: str, type_: str, path: str, body: dict[str, Any]) -> Answer:
        """Send, and re-send the same command id while the outcome is not known (or Temporal is busy)."""
        answer = await self.post(rid, type_, path, body)
        while answer.outcome in ("unknown", "busy", "unreachable"):
            await asyncio.sleep(SETUP_RETRY_SECONDS)
            answer = await self.post(rid, type_, path, body, resend=True)
        return answer

    def _actor(self, role: str, rid: str) -> dict[str, str]:
        return {"id": f"{role}-{rid[-6:]}", "role": role}

    async def start_relationship(self, policy: str) -> str | None:
        rid = f"chaos-{uuid.uuid4().hex[:12]}"
        mentor, mentee = self._actor("mentor", rid), self._actor("mentee", rid)
        propose = {
            "command_id": str(uuid.uuid4()),
            "relationship_id": rid,
            "program_id": self.program,
            "mentor_id": mentor["id"],
            "mentee_id": mentee["id"],
            "policy": policy,
            "actor": {"id": "chaos-manager", "role": "manager"},
        }
        self.ledger.relationships.append(rid)
        if (await self.until_known(rid, "ProposeRelationship", "/relationships", propose)).outcome != "accepted":
            return None
        steps = [
            ("AcceptMatch", "accept-match", mentor, {}),
            ("AcceptMatch", "accept-match", mentee, {}),
            ("SignAgreement", "sign-agreement", mentor, {"goals": ["grow"], "cadence": "P2W"}),
            ("SignAgreement", "sign-agreement", mentee, {"goals": ["grow"], "cadence": "P2W"}),
        ]
        for type_, kebab, actor, fields in steps:
            body = {"command_id": str(uuid.uuid4()), "actor": actor, **fields}
            answer = await self.until_known(rid, type_, f"/relationships/{rid}/commands/{kebab}", body)
            if answer.outcome != "accepted":
                return None
        return rid

    async def meeting(self, rid: str, *, wait: bool = False) -> Answer:
        body = {"command_id": str(uuid.uuid4()), "actor": self._actor("mentor", rid), "held_at": now_iso()}
        suffix = "?wait=true" if wait else ""
        return await self.post(rid, "LogMeeting", f"/relationships/{rid}/commands/log-meeting{suffix}", body)

    async def lane(self, interval: float) -> None:
        """One relationship after another until stopped; a meeting every ``interval`` seconds."""
        while not self.stopping.is_set():
            rid = await self.start_relationship("demo")
            while rid is not None and not self.stopping.is_set():
                answer = await self.meeting(rid)
                if answer.outcome == "refused":
                    break
                await asyncio.sleep(interval)

    async def probe(self) -> bool:
        """One end-to-end round: a meeting accepted and shown by the projections within the API's wait."""
        if self._probe_rid is None:
            self._probe_rid = await self.start_relationship("mentoring-12m")
            if self._probe_rid is None:
                return False
        answer = await self.meeting(self._probe_rid, wait=True)
        return answer.outcome == "accepted" and answer.projected is True


async def resolve_unknown(load: Load, *, rounds: int = 20) -> int:
    """Re-send every command whose outcome is still unknown, with its own command id and body, until each answer
    is known; returns how many were resolved."""
    resolved = 0
    for _ in range(rounds):
        pending = load.ledger.unresolved()
        if not pending:
            break
        for a in pending:
            answer = await load.post(a.relationship_id, a.type, a.path, a.body, resend=True)
            resolved += answer.outcome != "unknown"
        await asyncio.sleep(1)
    return resolved
