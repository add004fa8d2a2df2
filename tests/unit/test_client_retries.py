"""The client's retries (workflows/client.py): an RPC timeout is tried again with the same command id (the update id;
idempotent by the command's fingerprint) and queries too, within ``busy_timeout``; what is not transient is not.

A fake stands in for Temporal's client here (unit tier): the handle raises the RPC errors the SDK raises."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode

from domain import AcceptMatch, Actor, RelationshipState, Role
from domain.scripting import command
from workflows.client import MentorflowClient, RelationshipBusy
from workflows.models import CommandResult, command_fingerprint

MENTOR = Actor(id="ana", role=Role.MENTOR)


class FlakyHandle:
    """Fails the first ``failures`` calls with ``status``, then answers; records every update id it was given."""

    def __init__(self, failures: int, status: RPCStatusCode) -> None:
        self.failures = failures
        self.status = status
        self.update_ids: list[str] = []
        self.queries = 0

    def _maybe_fail(self) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise RPCError("deadline exceeded", self.status, b"")

    async def execute_update(self, _update: Any, cmd: Any, *, id: str) -> CommandResult:
        self.update_ids.append(id)
        self._maybe_fail()
        state = RelationshipState.new("r-1")
        return CommandResult(
            command_id=id,
            relationship_id="r-1",
            first_seq=1,
            last_seq=1,
            state=state,
            fingerprint=command_fingerprint(cmd),
        )

    async def query(self, _query: Any, *_args: Any) -> RelationshipState:
        self.queries += 1
        self._maybe_fail()
        return RelationshipState.new("r-1")


class FakeTemporal:
    def __init__(self, handle: FlakyHandle) -> None:
        self.handle = handle

    def get_workflow_handle(self, *_args: Any, **_kwargs: Any) -> FlakyHandle:
        return self.handle


def _client(handle: FlakyHandle, busy_timeout: float = 30.0) -> MentorflowClient:
    return MentorflowClient(FakeTemporal(handle), busy_timeout=busy_timeout)  # type: ignore[arg-type]


def test_an_rpc_timeout_is_retried_with_the_same_command_id() -> None:
    handle = FlakyHandle(failures=2, status=RPCStatusCode.DEADLINE_EXCEEDED)
    cmd = command(AcceptMatch, MENTOR, "cmd-1")
    result = asyncio.run(_client(handle).send("r-1", cmd))
    assert result.command_id == "cmd-1"
    assert handle.update_ids == ["cmd-1"] * 3


def test_queries_are_retried_through_rpc_timeouts() -> None:
    handle = FlakyHandle(failures=2, status=RPCStatusCode.DEADLINE_EXCEEDED)
    assert asyncio.run(_client(handle).state("r-1")).relationship_id == "r-1"
    assert handle.queries == 3


def test_timeouts_past_the_budget_say_the_outcome_is_unknown() -> None:
    handle = FlakyHandle(failures=10**6, status=RPCStatusCode.DEADLINE_EXCEEDED)
    with pytest.raises(RelationshipBusy) as busy:
        asyncio.run(_client(handle, busy_timeout=0.2).send("r-1", command(AcceptMatch, MENTOR, "cmd-2")))
    assert busy.value.outcome_unknown is True and "same command id" in str(busy.value)
    with pytest.raises(RPCError):
        asyncio.run(_client(handle, busy_timeout=0.2).state("r-1"))


@pytest.mark.parametrize("status", [RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.PERMISSION_DENIED])
def test_what_is_not_transient_is_not_retried(status: RPCStatusCode) -> None:
    handle = FlakyHandle(failures=1, status=status)
    with pytest.raises(RPCError):
        asyncio.run(_client(handle).send("r-1", command(AcceptMatch, MENTOR, "cmd-3")))
    with pytest.raises(RPCError):
        asyncio.run(_client(FlakyHandle(failures=1, status=status)).state("r-1"))
    assert handle.update_ids == ["cmd-3"]


def test_a_query_past_the_clients_own_rpc_timeout_is_asked_again() -> None:
    """ "Timeout expired" (status CANCELLED) is the client's own RPC timeout: a query changes nothing, so it is asked
    again within the budget (a worker replaying a long history after a restart answers late); a command is not
    retried on it here (the SDK reports an update's RPC timeout as its own error, which is)."""
    handle = FlakyHandle(failures=2, status=RPCStatusCode.CANCELLED)
    assert asyncio.run(_client(handle).state("r-1")).relationship_id == "r-1"
    assert handle.queries == 3
    refused = FlakyHandle(failures=1, status=RPCStatusCode.CANCELLED)
    with pytest.raises(RPCError):
        asyncio.run(_client(refused).send("r-1", command(AcceptMatch, MENTOR, "cmd-4")))
    assert refused.update_ids == ["cmd-4"]
