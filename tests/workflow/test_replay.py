"""Saved histories (recorded from real runs by ``tests/histories/record.py``) replay with the current code; a
nondeterministic change fails replay; the same change behind ``workflow.patched`` does not."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from tests.workflow.variants import PatchedExtraTimer, UnpatchedExtraTimer
from workflows.relationship import RelationshipWorkflow

SAVED = Path(__file__).parent.parent / "histories"
HISTORIES = sorted(SAVED.glob("*.json"))
PROGRAM_HISTORIES = sorted(SAVED.glob("programs/*/*.json"))
"""Every run of whole demo programs, recorded through faults (worker killed and replaced, broker killed):
``tests/histories/record_program.py``."""


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"relationship-history-{path.stem}", path.read_text())


def test_there_are_saved_histories() -> None:
    assert len(HISTORIES) >= 3, HISTORIES


def test_there_are_saved_programs() -> None:
    assert len(PROGRAM_HISTORIES) >= 10, PROGRAM_HISTORIES


@pytest.mark.parametrize("path", HISTORIES + PROGRAM_HISTORIES, ids=lambda p: p.stem)
async def test_saved_history_replays(path: Path) -> None:
    replayer = Replayer(workflows=[RelationshipWorkflow], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(load(path))
    assert result.replay_failure is None


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_an_unpatched_change_fails_replay(path: Path) -> None:
    replayer = Replayer(workflows=[UnpatchedExtraTimer], data_converter=pydantic_data_converter)
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(load(path))


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_the_same_change_behind_patched_replays(path: Path) -> None:
    replayer = Replayer(workflows=[PatchedExtraTimer], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(load(path))
    assert result.replay_failure is None
