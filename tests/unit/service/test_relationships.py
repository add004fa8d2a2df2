"""The application service's translation of what the client raises: an unknown relationship is
domain.RelationshipNotFound, busy / unreachable / no worker is ServiceUnavailable, domain rejections pass unchanged
(each adapter maps them once: HTTP 404/503/409/422, CLI exit codes)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode

from domain import IllegalTransition, RelationshipNotFound, RelationshipState
from service.errors import ServiceUnavailable
from service.relationships import MentorflowService
from workflows.client import RelationshipBusy


class FakeClient:
    def __init__(self, error: BaseException | None = None, delay: float = 0.0) -> None:
        self.error = error
        self.delay = delay

    async def state(self, relationship_id: str) -> RelationshipState:
        await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return RelationshipState.new(relationship_id)

    async def propose(self, command: Any) -> Any:
        raise NotImplementedError

    async def send(self, relationship_id: str, command: Any) -> Any:
        raise NotImplementedError

    async def events_page(self, relationship_id: str, after_seq: int = 0) -> Any:
        raise NotImplementedError


def _backend(client: FakeClient, timeout: float = 5.0) -> MentorflowService:
    async def connect() -> FakeClient:
        return client

    return MentorflowService(connect, "sqlite://", call_timeout=timeout)


async def test_not_found_passes_through_by_type() -> None:
    with pytest.raises(RelationshipNotFound, match="r1 does not exist"):
        await _backend(FakeClient(RelationshipNotFound("r1"))).state("r1")


async def test_another_lookup_error_is_not_taken_for_an_unknown_relationship() -> None:
    with pytest.raises(KeyError):
        await _backend(FakeClient(KeyError("r1"))).state("r1")


async def test_busy_and_silence_are_503() -> None:
    busy = RelationshipBusy("10 in flight", command_id="c1", outcome_unknown=False)
    with pytest.raises(ServiceUnavailable):
        await _backend(FakeClient(busy)).state("r1")
    with pytest.raises(ServiceUnavailable, match="Temporal did not answer"):
        await _backend(FakeClient(RPCError("down", RPCStatusCode.UNAVAILABLE, b""))).state("r1")
    with pytest.raises(ServiceUnavailable, match="Timeout expired"):  # a query no worker answered in time
        await _backend(FakeClient(RPCError("Timeout expired", RPCStatusCode.CANCELLED, b""))).state("r1")
    with pytest.raises(ServiceUnavailable, match="is a worker running"):
        await _backend(FakeClient(delay=1.0), timeout=0.05).state("r1")


async def test_domain_errors_pass_through() -> None:
    with pytest.raises(IllegalTransition):
        await _backend(FakeClient(IllegalTransition("no"))).state("r1")


async def test_answers() -> None:
    assert (await _backend(FakeClient()).state("r1")).relationship_id == "r1"


async def test_a_command_id_reused_for_other_content_passes_through() -> None:
    """The HTTP API answers it 409 naming body.command_id, the CLI exits 2."""
    from workflows.models import CommandIdConflict

    with pytest.raises(CommandIdConflict, match="c-1 was already used for another command"):
        await _backend(FakeClient(CommandIdConflict("c-1"))).state("r1")
