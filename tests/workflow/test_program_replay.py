"""A ProgramWorkflow history recorded before the own-role withdrawal rule (``mentee:bo`` withdrew bo's *mentor*
enrollment, accepted then: tests/histories/record_program_withdraw_v1.py, run from the code before the rule) replays
with the current code, because the rule stands behind ``workflow.patched``; without that patch it does not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

import workflows.program
from workflows.program import ProgramWorkflow

HISTORY = Path(__file__).parent.parent / "histories" / "regressions" / "program-withdraw-before-own-role.json"


def _history() -> WorkflowHistory:
    return WorkflowHistory.from_json("program-withdraw-before-own-role", HISTORY.read_text())


def _accepted_commands() -> list[dict[str, Any]]:
    commands = []
    for event in _history().events:
        if event.HasField("workflow_execution_update_accepted_event_attributes"):
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            commands.append(json.loads(request.input.args.payloads[0].data))
    return commands


async def test_a_withdrawal_accepted_under_the_first_rule_replays() -> None:
    withdrawals = [c for c in _accepted_commands() if c["type"] == "WithdrawParticipant"]
    assert [(w["actor"]["role"], w["person_id"], w["role"]) for w in withdrawals] == [("mentee", "bo", "mentor")]
    replayer = Replayer(workflows=[ProgramWorkflow], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(_history(), raise_on_replay_failure=False)
    assert result.replay_failure is None


async def test_the_rule_without_its_patch_would_not_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workflows.program, "_legacy", lambda command: False)
    replayer = Replayer(
        workflows=[ProgramWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    result = await replayer.replay_workflow(_history(), raise_on_replay_failure=False)
    assert isinstance(result.replay_failure, NondeterminismError), "the saved history does not exercise the rule"
