"""Programs over HTTP: who may do what, and hostile input (unknown person, capacity 0 or negative, a malformed
profile, a preference for a non-mentor, an unknown program) is a 4xx naming the field, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.unit.api.conftest import bearer
from tests.unit.api.memory_backend import MemoryBackend

EN = {"languages": ["en"], "skills": ["python"], "goals": ["python"]}


def mentor(pid: str, capacity: Any = 2) -> dict[str, Any]:
    return {"person_id": pid, "role": "mentor", "capacity": capacity, "profile": EN}


def mentee(pid: str, *prefs: str) -> dict[str, Any]:
    return {"person_id": pid, "role": "mentee", "profile": EN, "preferences": list(prefs)}


@pytest.fixture
def program(client: TestClient) -> str:
    response = client.post("/programs", json={"program_id": "p1", "name": "Spring"}, headers=bearer("t-manager"))
    assert response.status_code == 201, response.text
    enrolled = client.post(
        "/programs/p1/enrollments",
        json={"participants": [mentor("mona"), mentee("zed", "mona")]},
        headers=bearer("t-manager"),
    )
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["last_seq"] == 3
    return "p1"


@pytest.mark.parametrize(
    ("participant", "status", "words"),
    [
        (mentor("bo", 0), 422, "capacity"),
        (mentor("bo", -1), 422, "capacity"),
        (mentor("bo", None), 422, "capacity: a mentor must give one"),
        ({**mentee("bo"), "profile": {"languages": []}}, 422, "languages"),
        ({**mentee("bo"), "profile": {"languages": ["en"], "timezone": "Mars/Olympus"}}, 422, "timezone"),
        ({**mentee("bo"), "profile": {"languages": ["en"], "seniority_years": "lots"}}, 422, "seniority_years"),
        ({**mentee("bo"), "profile": {"languages": ["en"], "seniority_years": 81}}, 422, "MAX_SENIORITY_YEARS"),
        ({**mentee("bo"), "profile": {"languages": ["en"], "seniority_years": 10**400}}, 422, "seniority_years"),
        ({**mentee("bo"), "profile": "not an object"}, 422, "profile"),
        (mentee("bo", "zed"), 422, "'zed' is not an enrolled mentor"),
        (mentor("mona"), 422, "already enrolled as mentor"),
    ],
)
def test_hostile_enrollments_are_refused_naming_the_field_and_change_nothing(
    client: TestClient, backend: MemoryBackend, program: str, participant: dict[str, Any], status: int, words: str
) -> None:
    before = backend.program_states[program]
    response = client.post(
        f"/programs/{program}/enrollments", json={"participants": [participant]}, headers=bearer("t-manager")
    )
    assert response.status_code == status, response.text
    assert words in response.json()["error"]["message"]
    assert backend.program_states[program] == before


def test_unknown_program_and_unknown_mentee_are_4xx(client: TestClient, program: str) -> None:
    response = client.post(
        "/programs/nope/enrollments", json={"participants": [mentee("bo")]}, headers=bearer("t-manager")
    )
    assert response.status_code == 404 and "program nope does not exist" in response.json()["error"]["message"]
    response = client.get(f"/programs/{program}/suggestions?mentee=nobody", headers=bearer("t-manager"))
    assert response.status_code == 422 and "mentee" in response.json()["error"]["message"]
    response = client.post(f"/programs/{program}/proposals", json={"mentee": "zed", "mentor": "eli"},
                           headers=bearer("t-manager"))  # fmt: skip
    assert response.status_code == 422 and "'eli' is not enrolled as a mentor" in response.json()["error"]["message"]


def test_roles(client: TestClient, backend: MemoryBackend, program: str) -> None:
    # a participant enrolls only themself, in the role they name
    own = client.post(
        f"/programs/{program}/enrollments", json={"participants": [mentee("eli")]}, headers=bearer("t-mentee")
    )
    assert own.status_code == 201, own.text
    other = client.post(
        f"/programs/{program}/enrollments", json={"participants": [mentee("bo")]}, headers=bearer("t-mentee")
    )
    assert other.status_code == 403
    # only managers (and platform naming one) create; auditors read but never write; participants see no scores
    assert (
        client.post("/programs", json={"program_id": "p2", "name": "x"}, headers=bearer("t-mentee")).status_code == 403
    )
    assert (
        client.post("/programs", json={"program_id": "p2", "name": "x"}, headers=bearer("t-auditor")).status_code == 403
    )
    assert (
        client.post("/programs", json={"program_id": "p2", "name": "x"}, headers=bearer("t-platform")).status_code
        == 422
    )
    assert client.get(f"/programs/{program}", headers=bearer("t-auditor")).status_code == 200
    assert client.get(f"/programs/{program}/scores", headers=bearer("t-mentee")).status_code == 403
    # suggestions: a participant reads only their own
    assert client.get(f"/programs/{program}/suggestions?mentee=zed", headers=bearer("t-stranger")).status_code == 200
    assert client.get(f"/programs/{program}/suggestions?mentee=zed", headers=bearer("t-mentee")).status_code == 403
    scores = client.get(f"/programs/{program}/scores", headers=bearer("t-manager")).json()
    assert set(scores) == {"mentees", "mentors", "capacity", "scores"}
    assert backend.program_states[program].mentees == 2
