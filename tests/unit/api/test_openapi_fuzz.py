"""Schemathesis over the OpenAPI spec: whatever the input, never a 500, and every 4xx names the problem
(``{"error": {"type", "message"}}``). Runs in-process over the in-memory backend, as a manager (who may call
every operation) and without a token."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings

from api.app import create_app
from service.privacy import PrivacyService
from tests.unit.api.conftest import TOKENS, bearer
from tests.unit.api.memory_backend import MemoryBackend

BACKEND = MemoryBackend()
_PRIVACY_DB = Path(tempfile.mkdtemp(prefix="mf-fuzz-")) / "privacy.db"  # an empty database: /privacy/… answers 404
APP = create_app(BACKEND, TOKENS, privacy=PrivacyService(f"sqlite:///{_PRIVACY_DB}"))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


ACTIVE = "rel-2026-0001"  # the spec's example id: most generated paths hit it


def _run(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


def _seed() -> None:
    """The relationships the generated requests hit: the spec's example id in its trial (accepted and signed, so the
    participants' and the manager's commands meet real rules), ``r1`` only proposed. A generated command that
    closes the active one (terminate, decline, rematch...) is followed by a fresh one, so every case meets a
    relationship that can still move."""
    from domain import Actor, ProposeRelationship, Role, builtin_policy, parse_command

    for rid in (ACTIVE, "r1"):
        state = BACKEND.states.get(rid)
        if state is not None and not (rid == ACTIVE and state.is_closed):
            continue
        BACKEND.states.pop(rid, None)
        BACKEND.logs.pop(rid, None)
        _run(
            BACKEND.propose(
                ProposeRelationship(
                    command_id=f"seed-{rid}",
                    actor=Actor(id="ana", role=Role.MANAGER),
                    relationship_id=rid,
                    program_id="prog",
                    mentor_id="mona",
                    mentee_id="eli",
                    policy=builtin_policy("demo"),
                )
            )
        )
        if rid != ACTIVE:
            continue
        for kind, extra in (("AcceptMatch", {}), ("SignAgreement", {"goals": ["g"], "cadence": "P1W"})):
            for person, role in (("mona", Role.MENTOR), ("eli", Role.MENTEE)):
                command = {"type": kind, "command_id": f"seed-{kind}-{person}", "actor": Actor(id=person, role=role)}
                _run(BACKEND.send(rid, parse_command({**command, **extra})))


_seed()
EXAMPLES = int(os.environ.get("MENTORFLOW_FUZZ_EXAMPLES", "0"))
"""0: the CI-sized run; ``make fuzz`` sets it for a long one."""


def _check_error_body(response: Any) -> None:
    assert response.status_code < 500, f"{response.status_code}: {response.text}"
    if 400 <= response.status_code < 500:
        error = response.json()["error"]
        assert isinstance(error["type"], str) and error["type"], response.text
        assert isinstance(error["message"], str) and error["message"], response.text


@schema.parametrize()
@settings(max_examples=EXAMPLES or 15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_as_manager(case: schemathesis.Case) -> None:
    _seed()
    response = case.call(headers=bearer("t-manager"))
    _check_error_body(response)


@schema.parametrize()
@settings(max_examples=EXAMPLES or 5, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_as_participant(case: schemathesis.Case) -> None:
    _seed()
    response = case.call(headers=bearer("t-mentor"))
    _check_error_body(response)


@schema.parametrize()
@settings(max_examples=max(EXAMPLES // 5, 3), deadline=None, suppress_health_check=list(HealthCheck))
def test_no_token_is_401_everywhere(case: schemathesis.Case) -> None:
    response = case.call()
    _check_error_body(response)
    same_method = case.method.upper() == case.operation.method.upper()
    if same_method and case.operation.path not in ("/dashboard", "/healthz"):
        assert response.status_code >= 400, response.text  # 401, or 422 when the body is not even JSON
