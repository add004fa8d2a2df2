"""Hostile input over the real stack (worker, projector, API processes): every limit is a 4xx naming the field and
the rule, nothing hostile reaches the workflow, Kafka or the projections, and a good relationship driven alongside
still verifies three-way (event log, Kafka topic, Temporal history with its replay)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from api.body_limit import MAX_REQUEST_BODY_BYTES
from domain.limits import MAX_GOAL_TEXT_LENGTH, MAX_GOALS_PER_AGREEMENT, MAX_ID_LENGTH
from tests.e2e.conftest import LiveStack

pytestmark = pytest.mark.timeout(180)

JSON = {"content-type": "application/json"}


def _refused(response: httpx.Response, status: int, *needles: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    for needle in needles:
        assert needle in f"{error.get('field')} {error['message']}", response.text


def test_hostile_input_is_refused_and_a_good_relationship_still_verifies(live: LiveStack) -> None:
    program = f"e2e-limits-{uuid.uuid4().hex[:6]}"
    rid = f"{program}-r1"
    manager, mentor, mentee = live.client("e2e-manager"), live.client("e2e-mentor"), live.client("e2e-mentee")
    auditor = live.client("e2e-auditor")
    created = manager.post(
        "/relationships?wait=true",
        json={"relationship_id": rid, "program_id": program, "mentor_id": "e2e-mona", "mentee_id": "e2e-eli"},
    )
    assert created.status_code == 201, created.text
    for client in (mentor, mentee):
        assert client.post(f"/relationships/{rid}/commands/accept-match").status_code == 200
    seq = mentor.get(f"/relationships/{rid}").json()["seq"]

    sign = f"/relationships/{rid}/commands/sign-agreement"
    hostile: list[tuple[httpx.Response, int, tuple[str, ...]]] = [
        (mentor.post(sign, json={"goals": ["g" * (MAX_GOAL_TEXT_LENGTH + 1)], "cadence": "P2W"}), 422, ("goals",)),
        (mentor.post(sign, json={"goals": ["g"] * (MAX_GOALS_PER_AGREEMENT + 1), "cadence": "P2W"}), 422, ("goals",)),
        (mentor.post(sign, json={"goals": ["g"], "cadence": "P2W", "term": "P9000Y"}), 422, ("term", "MAX_DURATION")),
        (mentor.post(sign, json={"goals": ["a\x00b"], "cadence": "P2W"}), 422, ("goals", "NUL")),
        (
            mentor.post(sign, content=b'{"goals": ["\\ud800"], "cadence": "P2W"}', headers=JSON),
            422,
            ("goals", "surrogates"),
        ),
        (mentor.post(sign, content=b"{" + b" " * (MAX_REQUEST_BODY_BYTES + 1) + b"}", headers=JSON), 413, ("MAX_",)),
        (
            manager.post(
                "/relationships",
                json={
                    "relationship_id": "x" * (MAX_ID_LENGTH + 1),
                    "program_id": program,
                    "mentor_id": "a",
                    "mentee_id": "b",
                },
            ),
            422,
            ("relationship_id", "MAX_ID_LENGTH"),
        ),
    ]
    for response, status, needles in hostile:
        _refused(response, status, *needles)
    assert mentor.get(f"/relationships/{rid}").json()["seq"] == seq  # nothing hostile was appended

    for client in (mentor, mentee):
        signed = client.post(f"{sign}?wait=true", json={"goals": ["ship a design review"], "cadence": "P2W"})
        assert signed.status_code == 200, signed.text
    assert signed.json()["substate"] == "trial" and signed.json()["projected"] is True

    report: dict[str, Any] = {}
    deadline = time.monotonic() + 60  # the event log and the topic catch up with the workflow
    while time.monotonic() < deadline:
        report = auditor.get(f"/relationships/{rid}/verify").json()
        if report.get("ok"):
            break
        time.sleep(2)  # VERIFY_CALLS_PER_MINUTE allows one call every 10 s on average; a few retries fit
    assert report.get("ok") is True, report
    assert set(report["stores"]) >= {"event_log", "kafka", "temporal"}
