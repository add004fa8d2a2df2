"""Schemathesis over the OpenAPI spec: whatever the input, never a 500, and every 4xx names the problem
(``{"error": {"type", "message"}}``). Runs in-process over the in-memory backend, as a manager (who may call
every operation) and without a token."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings

from api.app import create_app
from tests.unit.api.conftest import TOKENS, bearer
from tests.unit.api.memory_backend import MemoryBackend

BACKEND = MemoryBackend()
APP = create_app(BACKEND, TOKENS)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


def _seed() -> None:
    """A few relationships the generated requests can hit (ids from the spec's examples)."""
    import asyncio

    from domain import Actor, ProposeRelationship, Role, builtin_policy

    for rid in ("rel-2026-0001", "r1"):
        if rid not in BACKEND.states:
            command = ProposeRelationship(
                command_id=f"seed-{rid}",
                actor=Actor(id="ana", role=Role.MANAGER),
                relationship_id=rid,
                program_id="prog",
                mentor_id="mona",
                mentee_id="eli",
                policy=builtin_policy("demo"),
            )
            asyncio.run(BACKEND.propose(command))


_seed()


def _check_error_body(response: Any) -> None:
    assert response.status_code < 500, f"{response.status_code}: {response.text}"
    if 400 <= response.status_code < 500:
        error = response.json()["error"]
        assert isinstance(error["type"], str) and error["type"], response.text
        assert isinstance(error["message"], str) and error["message"], response.text


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_as_manager(case: schemathesis.Case) -> None:
    response = case.call(headers=bearer("t-manager"))
    _check_error_body(response)


@schema.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_as_participant(case: schemathesis.Case) -> None:
    response = case.call(headers=bearer("t-mentor"))
    _check_error_body(response)


@schema.parametrize()
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_token_is_401_everywhere(case: schemathesis.Case) -> None:
    response = case.call()
    _check_error_body(response)
    same_method = case.method.upper() == case.operation.method.upper()
    if same_method and case.operation.path not in ("/dashboard", "/healthz"):
        assert response.status_code >= 400, response.text  # 401, or 422 when the body is not even JSON
