"""The workers' sandbox imports the workflows package once, not per workflow run (workflows/sandbox.py, issue 16).

What a worker's sandbox does at the start of each run is what it does here: import the workflow's module through
Temporal's sandbox importer with the runner's restrictions. Under ``WORKFLOW_RUNNER`` that import is the host's own
module, class and definition; under Temporal's default restrictions (the ``Replayer`` of the determinism tests) it
is a fresh copy, as it was for every open relationship before.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from temporalio.worker.workflow_sandbox import SandboxRestrictions
from temporalio.worker.workflow_sandbox._importer import Importer
from temporalio.worker.workflow_sandbox._restrictions import RestrictionContext

from activities.notifications import LogSink, Notifier
from tests.workflow.conftest import RecordingPublisher
from workers.worker import build_worker
from workflows.program import ProgramWorkflow
from workflows.relationship import RelationshipWorkflow
from workflows.sandbox import WORKFLOW_RUNNER

WORKFLOW_MODULES = ["workflows.relationship", "workflows.two_loops", "workflows.handover", "workflows.program"]


def sandboxed_import(restrictions: SandboxRestrictions, workflow_module: str, name: str) -> ModuleType:
    """``name`` as the sandbox of a run of a workflow defined in ``workflow_module`` imports it."""
    importer = Importer(restrictions, RestrictionContext(), workflow_module_name=workflow_module)
    with importer.applied():
        module: ModuleType = __import__(name, fromlist=["__name__"])
    return module


@pytest.mark.parametrize("name", WORKFLOW_MODULES)
def test_the_workers_sandbox_uses_the_hosts_workflow_modules(name: str) -> None:
    assert sandboxed_import(WORKFLOW_RUNNER.restrictions, "workflows.relationship", name) is sys.modules[name]


@pytest.mark.parametrize("name", WORKFLOW_MODULES)
def test_the_default_sandbox_would_import_them_again(name: str) -> None:
    again = sandboxed_import(SandboxRestrictions.default, "workflows.relationship", name)
    assert again is not sys.modules[name]
    assert again.__file__ == sys.modules[name].__file__


@pytest.mark.parametrize("workflow", [RelationshipWorkflow, ProgramWorkflow])
def test_each_run_gets_the_hosts_class(workflow: type) -> None:
    module = sandboxed_import(WORKFLOW_RUNNER.restrictions, workflow.__module__, workflow.__module__)
    assert getattr(module, workflow.__name__) is workflow


def test_the_default_restrictions_still_apply_to_everything_else() -> None:
    """Only the workflows package is passed through: the sandbox still hands a run restricted ``datetime``."""
    restricted = sandboxed_import(WORKFLOW_RUNNER.restrictions, "workflows.relationship", "datetime")
    assert restricted is not sys.modules["datetime"]


async def test_build_worker_runs_workflows_in_that_sandbox(time_skipping_env: Any, tmp_path: Path) -> None:
    worker = build_worker(
        time_skipping_env.client,
        task_queue="sandbox-config",
        publisher=RecordingPublisher(),
        notifier=Notifier(LogSink(tmp_path / "notifications.jsonl")),
    )
    assert worker.config()["workflow_runner"] is WORKFLOW_RUNNER
