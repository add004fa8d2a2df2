"""A stateful fuzzer against the LIVE API (worker, projector and API as real processes): a Hypothesis state machine
proposes relationships on the ``demo`` policy (1 day = 0.25 s, so its timers fire while the run lasts) and, step by
step, either moves one of them along its lifecycle with the command its stage calls for, or throws a hostile
command at it (schemathesis' negative and positive cases for every command operation, and hand-made hostile text:
NUL, lone surrogates, absurd lengths, deep nesting), as any role. Meanwhile a driver takes good relationships
through every stage (propose → accept → kick-off → trial → cultivation → separation → winding down →
redefinition → closed) over the same API.

Asserted: no 5xx ever (a designed 503 aside), every 4xx says its type and rule and every ``ValidationError`` names
its field; afterwards the driven relationships are closed with the outcome they recorded, and they and every
relationship the machine touched verify three-way (event log, Kafka topic, Temporal history with its replay).

CI runs it small (``make test``: a few seconds of fuzzing inside the ~25 s the lifecycle's timers need);
``make fuzz`` sets ``MENTORFLOW_FUZZ_EXAMPLES`` for a long one."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, rule, run_state_machine_as_test

from tests.e2e.conftest import TOKEN_OF, LiveStack
from tests.e2e.test_live_api import _designed_503

pytestmark = pytest.mark.timeout(600)

EXAMPLES = int(os.environ.get("MENTORFLOW_FUZZ_EXAMPLES", "0"))
"""0: the CI-sized run; ``make fuzz`` sets it for a long one."""
MENTOR, MENTEE = "e2e-mona", "e2e-eli"
LABELS = ("e2e-manager", "e2e-platform", "e2e-auditor", "e2e-mentor", "e2e-mentee", None)
"""Who the hostile steps act as (None: no token)."""


def _held_at(opened_at: str | None = None) -> str:
    """A second ago, but never before the relationship began (a fast driver signs and meets within that second)."""
    held_at = datetime.now(UTC) - timedelta(seconds=1)
    if opened_at is not None:
        held_at = max(held_at, datetime.fromisoformat(opened_at.replace("Z", "+00:00")))
    return held_at.isoformat()


Step = tuple[str, str, dict[str, Any]]
"""(token label, command path segment, body)."""
GOOD: dict[str, tuple[Step, ...]] = {
    "proposed": (("e2e-mentor", "accept-match", {}), ("e2e-mentee", "accept-match", {})),
    "kickoff_pending": (
        ("e2e-mentor", "sign-agreement", {"goals": ["pair on a review"], "cadence": "P1W"}),
        ("e2e-mentee", "sign-agreement", {"goals": ["ship a feature"], "cadence": "P1W"}),
    ),
    "trial": (("e2e-mentor", "log-meeting", {"duration_minutes": 30}), ("e2e-mentee", "log-meeting", {})),
    "active": (("e2e-mentor", "propose-separation", {"reason": "goals met"}),),
    "awaiting_consent": (("e2e-mentee", "consent-separation", {}),),
    "contested": (("e2e-manager", "resolve-separation", {"resolution": "end"}),),
    "paused": (("e2e-mentor", "resume", {}),),
    "awaiting_outcomes": (
        ("e2e-mentor", "record-redefinition", {"outcome": "collegial"}),
        ("e2e-mentee", "record-redefinition", {"outcome": "collegial"}),
    ),
}
"""The command each substate calls for on the good path (``winding_down`` waits for its timer)."""
HOSTILE_TEXT = ("a\x00b", "x" * 100_000, "=cmd|' /C calc'!A0", "\u202e\u0007bell", "")
"""Raw lone surrogates are sent as JSON escapes (``\\ud800``), see :func:`_hostile_text`."""


def _body(step: Step, opened_at: str | None = None) -> dict[str, Any]:
    body = dict(step[2])
    if step[1] == "log-meeting":
        body["held_at"] = _held_at(opened_at)
    return body


def problems(response: httpx.Response, what: str) -> list[str]:
    """What is wrong with one answer: a 5xx (not a designed 503), or a 4xx without its type, rule or field."""
    if response.status_code >= 500:
        return [] if _designed_503(response) else [f"{what}: {response.status_code} {response.text[:300]}"]
    if response.status_code < 400:
        return []
    try:
        error = response.json().get("error", {})
    except ValueError:
        return [f"{what}: {response.status_code} is not JSON: {response.text[:300]}"]
    if not (error.get("type") and error.get("message")):
        return [f"{what}: {response.status_code} without type and rule: {response.text[:300]}"]
    if (error["type"] == "ValidationError" or response.status_code in (400, 413)) and not error.get("field"):
        return [f"{what}: {response.status_code} {error['type']} without its field: {response.text[:300]}"]
    return []


@dataclass
class Api:
    """One httpx client per token label, for one thread."""

    live: LiveStack
    clients: dict[str | None, httpx.Client] = field(default_factory=dict)

    def __call__(self, label: str | None) -> httpx.Client:
        if label not in self.clients:
            self.clients[label] = self.live.client(label)
        return self.clients[label]

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


def propose(api: Api, program: str, rid: str) -> httpx.Response:
    return api("e2e-manager").post(
        "/relationships",
        json={
            "relationship_id": rid,
            "program_id": program,
            "mentor_id": MENTOR,
            "mentee_id": MENTEE,
            "policy": "demo",
        },
    )


STAGES_OF_A_FULL_LIFE = ("proposed", "kickoff_pending", "trial", "active", "winding_down", "awaiting_outcomes")
ATTEMPTS = 3
"""The demo policy's timers are short (an unaccepted proposal expires after 3.5 s): on a loaded machine a timer may
beat the driver, closing the relationship early (expired, did_not_start); the driver then starts a fresh one."""


def drive(live: LiveStack, program: str, name: str, closed: dict[str, dict[str, Any]], failures: list[str]) -> None:
    """Take one relationship through every stage, one command at a time, waiting for the timers in between; record
    it in ``closed`` (its id → its final state)."""
    api = Api(live)
    try:
        for attempt in range(ATTEMPTS):
            rid = f"{program}-{name}-{attempt}"
            answer = propose(api, program, rid)
            if answer.status_code != 201:
                failures.append(f"driver: propose {rid}: {answer.status_code} {answer.text[:300]}")
                return
            state, path = _drive_one(api, rid, failures)
            closed[rid] = state
            if state["outcome"] == "collegial":
                lived = _substates_lived(api, rid)  # from its history: polling may miss a short substate
                missing = set(STAGES_OF_A_FULL_LIFE) - set(lived)
                if missing:
                    failures.append(f"driver: {rid} never was {sorted(missing)}; substates {lived}")
                return
        failures.append(f"driver: {ATTEMPTS} relationships closed early; the last {state['outcome']}: {path}")
    finally:
        api.close()


def _substates_lived(api: Api, rid: str) -> list[str]:
    """Every substate the relationship was in, in order, from the StageChanged events of its history."""
    events = api("e2e-manager").get(f"/relationships/{rid}/history").json()["events"]
    return ["proposed"] + [e["payload"]["to_substate"] for e in events if e["type"] == "StageChanged"]


def _drive_one(api: Api, rid: str, failures: list[str], budget: float = 150.0) -> tuple[dict[str, Any], list[str]]:
    done: set[tuple[str, int]] = set()
    path: list[str] = []
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        state = api("e2e-manager").get(f"/relationships/{rid}").json()
        substate = state["substate"]
        if not path or path[-1] != substate:
            path.append(substate)
        if substate == "closed":
            return state, path
        pending = [i for i in range(len(GOOD.get(substate, ()))) if (substate, i) not in done]
        if not pending:
            time.sleep(0.3)
            continue
        step = GOOD[substate][pending[0]]
        answer = api(step[0]).post(f"/relationships/{rid}/commands/{step[1]}", json=_body(step, state.get("opened_at")))
        done.add((substate, pending[0]))
        if answer.status_code >= 400 and answer.status_code != 409:  # 409: a timer moved it meanwhile
            failures.append(f"driver: {step[1]} on {rid} in {substate}: {answer.text[:300]}")
    failures.append(f"driver: {rid} did not close within {budget} s; substates {path}")
    return state, path


def _hostile_text(text: str | None) -> str:
    return '"\\ud800"' if text is None else json.dumps(text)


class LiveLifecycle(RuleBasedStateMachine):
    live: LiveStack
    schema: Any
    program: str
    failures: list[str]
    touched: set[str]
    operations: list[Any]

    relationships = Bundle("relationships")

    def __init__(self) -> None:
        super().__init__()
        self.api = Api(self.live)

    def teardown(self) -> None:
        self.api.close()

    def _check(self, response: httpx.Response, what: str) -> None:
        found = problems(response, what)
        self.failures.extend(found)
        assert not found, found

    @rule(target=relationships)
    def propose(self) -> str:
        rid = f"{self.program}-{uuid.uuid4().hex[:8]}"
        answer = propose(self.api, self.program, rid)
        assert answer.status_code == 201, answer.text
        self.touched.add(rid)
        return rid

    @rule(rid=relationships, data=st.data())
    def advance(self, rid: str, data: st.DataObject) -> None:
        """The command the relationship's stage calls for; refused (409/422) when a participant already did it."""
        state = self.api("e2e-manager").get(f"/relationships/{rid}").json()
        substate = state["substate"]
        steps = GOOD.get(substate)
        if not steps:
            time.sleep(0.2)  # winding down or closed: let the timers run
            return
        step = data.draw(st.sampled_from(steps))
        body = _body(step, state.get("opened_at"))
        answer = self.api(step[0]).post(f"/relationships/{rid}/commands/{step[1]}", json=body)
        self._check(answer, f"advance {step[1]} in {substate}")
        assert answer.status_code in (200, 409, 422), answer.text

    @rule(rid=relationships, data=st.data())
    def schemathesis_case(self, rid: str, data: st.DataObject) -> None:
        """Any command operation, a generated (mostly invalid) body, as any role."""
        operation = data.draw(st.sampled_from(self.operations))
        mode = data.draw(st.sampled_from(list(schemathesis.GenerationMode)))
        case = data.draw(operation.as_strategy(mode, path_parameters={"relationship_id": rid}))
        label = data.draw(st.sampled_from(LABELS))
        headers = {"Authorization": f"Bearer {TOKEN_OF[label]}"} if label else {}
        response = case.call(headers=headers, timeout=60)
        what = f"{case.method} {case.formatted_path} as {label} ({mode.value}): {case.body!r:.200}"
        found = problems(httpx.Response(response.status_code, content=response.content), what)
        self.failures.extend(found)
        assert not found, found

    @rule(rid=relationships, data=st.data())
    def hostile_text(self, rid: str, data: st.DataObject) -> None:
        """A well-formed command with hostile text in a free-text field: refused with the field, or taken as is."""
        command, key, rest = data.draw(
            st.sampled_from(
                (
                    ("set-goal", "text", ""),
                    ("log-meeting", "notes", f', "held_at": "{_held_at()}"'),
                    ("propose-separation", "reason", ""),
                    ("submit-check-in", "comment", ', "satisfaction": 3'),
                    ("pause", "reason", ""),
                )
            )
        )
        text = data.draw(st.sampled_from((*HOSTILE_TEXT, None)))
        label = data.draw(st.sampled_from(("e2e-mentor", "e2e-mentee", "e2e-platform")))
        raw = f'{{"{key}": {_hostile_text(text)}{rest}}}'.encode()
        response = self.api(label).post(
            f"/relationships/{rid}/commands/{command}", content=raw, headers={"content-type": "application/json"}
        )
        self._check(response, f"hostile {command}.{key} as {label}")

    @rule(data=st.data())
    def hostile_propose(self, data: st.DataObject) -> None:
        """Proposals no relationship may come of: an unknown policy, NUL in an id, deep nesting, an absurd score."""
        depth = data.draw(st.integers(1, 3000))
        nested = "[" * depth + '"x"' + "]" * depth  # as raw JSON: Python's encoder would hit its recursion limit
        ids = f'"mentor_id": "{MENTOR}", "mentee_id": "{MENTEE}"'
        body = data.draw(
            st.sampled_from(
                (
                    f'{{"program_id": "{self.program}", {ids}, "policy": "P9000Y"}}',
                    f'{{"program_id": "{self.program}", "mentor_id": "a\\u0000", "mentee_id": "{MENTEE}"}}',
                    f'{{"program_id": {nested}, {ids}}}',
                    f'{{"program_id": "{self.program}", {ids}, "match_score": 1e999}}',
                    f'{{"program_id": "{self.program}", {ids}, "predecessor_id": "\\ud800"}}',
                )
            )
        )
        response = self.api("e2e-manager").post(
            "/relationships", content=body.encode(), headers={"content-type": "application/json"}
        )
        self._check(response, f"hostile propose {body[:120]}")
        assert response.status_code in (400, 413, 422), response.text


def _verify(live: LiveStack, program: str, expect: int) -> dict[str, Any]:
    """``GET /verify?program=…`` until every store has caught up (the rate limit is honoured)."""
    report: dict[str, Any] = {}
    with live.client("e2e-auditor") as auditor:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            answer = auditor.get("/verify", params={"program": program}, timeout=90)
            if answer.status_code == 429:
                time.sleep(float(answer.headers.get("Retry-After", "5")))
                continue
            report = answer.json()
            if answer.status_code == 200 and report.get("ok") and report.get("checked") == expect:
                return report
            time.sleep(3)
    return report


def test_stateful_fuzz_while_good_relationships_live_their_whole_lifecycle(live: LiveStack) -> None:
    tag = uuid.uuid4().hex[:6]
    program = f"e2e-state-{tag}"  # the driven and the fuzzed relationships: one verification covers them all
    failures: list[str] = []
    closed: dict[str, dict[str, Any]] = {}
    drivers = [
        threading.Thread(target=drive, args=(live, program, f"good{i}", closed, failures), daemon=True)
        for i in range(2)
    ]
    for driver in drivers:
        driver.start()

    schema = schemathesis.openapi.from_url(f"{live.base_url}/openapi.json")
    operations = [
        result.ok()
        for result in schema.get_all_operations()
        if result.ok().path.startswith("/relationships/{relationship_id}/commands/")
    ]
    touched: set[str] = set()
    machine = type(
        "Machine",
        (LiveLifecycle,),
        {
            "live": live,
            "operations": operations,
            "program": program,
            "failures": failures,
            "touched": touched,
        },
    )
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=max(EXAMPLES // 10, 2),
            stateful_step_count=40 if EXAMPLES else 12,
            deadline=None,
            derandomize=not EXAMPLES,
            phases=(Phase.explicit, Phase.generate),  # no shrinking: each step is a live call; the failure names it
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    for driver in drivers:
        driver.join(timeout=ATTEMPTS * 160)
    assert not any(driver.is_alive() for driver in drivers), "a driver did not finish"
    assert failures == []

    outcomes = sorted(state["outcome"] for state in closed.values())
    assert outcomes.count("collegial") == len(drivers), closed
    report = _verify(live, program, len(closed) + len(touched))
    assert report.get("ok") is True, report
    assert {r["relationship_id"] for r in report["reports"]} == set(closed) | touched, report  # nothing else made
