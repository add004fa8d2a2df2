"""Withdraw, configure and close a program over HTTP: who may, what it changes (the next round reads it), and
hostile input is a 4xx naming the field that changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.unit.api import test_programs
from tests.unit.api.conftest import bearer
from tests.unit.api.memory_backend import MemoryBackend

program = test_programs.program  # the fixture: p1 with mona (mentor) and zed (mentee, prefers mona)

ONLY_GOALS = {"version": "only-goals", "floor": 0.5, "weights": {"interests": 0, "preference": [0]}}


def test_a_participant_withdraws_themself_and_is_out_of_the_next_round(
    client: TestClient, backend: MemoryBackend, program: str
) -> None:
    other = client.post(
        f"/programs/{program}/withdrawals", json={"person_id": "zed", "role": "mentee"}, headers=bearer("t-mentor")
    )
    assert other.status_code == 403, other.text
    own = client.post(
        f"/programs/{program}/withdrawals",
        json={"person_id": "zed", "role": "mentee", "reason": "moved team"},
        headers=bearer("t-stranger"),
    )
    assert own.status_code == 201, own.text
    assert own.json()["mentees"] == 0 and own.json()["last_seq"] == 4
    scores = client.get(f"/programs/{program}/scores", headers=bearer("t-manager")).json()
    assert scores["mentees"] == [] and scores["mentors"] == ["mona"]
    again = client.post(
        f"/programs/{program}/withdrawals", json={"person_id": "zed", "role": "mentee"}, headers=bearer("t-manager")
    )
    assert again.status_code == 422 and "person_id: zed is not enrolled as mentee" in again.json()["error"]["message"]


def test_withdrawing_oneself_from_a_role_one_does_not_act_in_is_422_naming_the_rule(
    client: TestClient, backend: MemoryBackend, program: str
) -> None:
    before = backend.program_states[program]
    refused = client.post(
        f"/programs/{program}/withdrawals",
        json={"person_id": "mona", "role": "mentor", "actor": {"id": "mona", "role": "mentee"}},
        headers=bearer("t-platform"),
    )
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["type"] == "NotAllowedForRole" and "only their own enrollment in their own role" in error["message"]
    assert backend.program_states[program] == before


@pytest.mark.parametrize(
    ("path", "method", "body", "field"),
    [
        ("withdrawals", "post", {"person_id": "zed", "role": "boss"}, "role"),
        ("withdrawals", "post", {"person_id": "z z", "role": "mentee"}, "person_id"),
        ("withdrawals", "post", {"person_id": "zed", "role": "mentee", "reason": "x" * 5000}, "reason"),
        ("withdrawals", "post", {"person_id": "zed", "role": "mentee", "extra": 1}, "extra"),
        ("matching", "put", {"matching": {"weights": {"preference": [1, 2]}}}, "preference"),
        ("matching", "put", {"matching": {"floor": "high"}}, "floor"),
        ("matching", "put", {}, "matching"),
        ("close", "post", {"actor": "nobody"}, "actor"),
    ],
)
def test_hostile_bodies_are_422_naming_the_field_and_change_nothing(
    client: TestClient, backend: MemoryBackend, program: str, path: str, method: str, body: Any, field: str
) -> None:
    before = backend.program_states[program]
    response = client.request(method.upper(), f"/programs/{program}/{path}", json=body, headers=bearer("t-manager"))
    assert response.status_code == 422, response.text
    assert field in response.text
    assert backend.program_states[program] == before


def test_configure_changes_the_next_round_and_only_a_manager_may(
    client: TestClient, backend: MemoryBackend, program: str
) -> None:
    for token in ("t-mentor", "t-auditor"):
        response = client.put(f"/programs/{program}/matching", json={"matching": ONLY_GOALS}, headers=bearer(token))
        assert response.status_code == 403, response.text
    response = client.put(f"/programs/{program}/matching", json={"matching": ONLY_GOALS}, headers=bearer("t-platform"))
    assert response.status_code == 422 and "body.actor" in response.text  # a platform token names the manager
    response = client.put(f"/programs/{program}/matching", json={"matching": ONLY_GOALS}, headers=bearer("t-manager"))
    assert response.status_code == 200, response.text
    assert backend.program_states[program].matching is not None
    assert backend.program_states[program].matching.version == "only-goals"
    suggested = client.get(f"/programs/{program}/suggestions?mentee=zed", headers=bearer("t-manager")).json()
    assert suggested["matching_version"] == "only-goals"
    assert suggested["suggestions"][0]["explanation"]["preference"] == 0


def test_put_program_changes_the_fields_given_and_only_a_manager_may(
    client: TestClient, backend: MemoryBackend, program: str
) -> None:
    body = {"name": "Autumn", "policy": "mentoring-12m", "cycle_start": "2030-02-01", "cycle_end": "2031-01-31",
            "retention_days": 90}  # fmt: skip
    assert client.put(f"/programs/{program}", json=body, headers=bearer("t-mentor")).status_code == 403
    response = client.put(f"/programs/{program}", json=body, headers=bearer("t-manager"))
    assert response.status_code == 200, response.text
    state = backend.program_states[program]
    assert (state.name, state.retention_days, str(state.cycle_end)) == ("Autumn", 90, "2031-01-31")
    assert state.default_policy is not None and state.default_policy.name == "mentoring-12m"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "give at least one"),
        ({"retention_days": 0}, "retention_days"),
        ({"retention_days": "long"}, "retention_days"),
        ({"policy": "no-such-policy"}, "no-such-policy"),
        ({"cycle_end": "2020-01-01", "cycle_start": "2021-01-01"}, "cycle_end"),
        ({"cycle_start": "someday"}, "cycle_start"),
        ({"name": ""}, "name"),
        ({"name": "x", "extra": 1}, "extra"),
    ],
)
def test_hostile_configurations_are_422_naming_the_field_and_change_nothing(
    client: TestClient, backend: MemoryBackend, program: str, body: Any, field: str
) -> None:
    before = backend.program_states[program]
    response = client.put(f"/programs/{program}", json=body, headers=bearer("t-manager"))
    assert response.status_code == 422, response.text
    assert field in response.text
    assert backend.program_states[program] == before


def test_a_closed_cycle_refuses_everything_after_it(client: TestClient, backend: MemoryBackend, program: str) -> None:
    assert client.post(f"/programs/{program}/close", headers=bearer("t-mentee")).status_code == 403
    closed = client.post(f"/programs/{program}/close", headers=bearer("t-manager"))
    assert closed.status_code == 200, closed.text
    assert closed.json()["closed"] is True
    before = backend.program_states[program]
    for method, path, body in [
        ("POST", "enrollments", {"participants": [test_programs.mentee("bo")]}),
        ("POST", "withdrawals", {"person_id": "zed", "role": "mentee"}),
        ("PUT", "matching", {"matching": ONLY_GOALS}),
        ("POST", "close", {}),
    ]:  # fmt: skip
        response = client.request(method, f"/programs/{program}/{path}", json=body, headers=bearer("t-manager"))
        assert response.status_code == 409, (path, response.text)
        assert "its cycle is closed" in response.json()["error"]["message"]
    assert backend.program_states[program] == before
    missing = client.post("/programs/nope/close", headers=bearer("t-manager"))
    assert missing.status_code == 404
