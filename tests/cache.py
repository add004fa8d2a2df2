"""The workflow cache of every worker the test tiers start (issue 11: a restart must never change a decision).

0 keeps no workflow in memory between tasks: every workflow task replays the whole history from scratch, so a
workflow that decides from anything but history fails its tests at once. Necessary, not sufficient (a task retried
by another worker after a timeout is covered by tests/integration/workflow/test_worker_restart.py).
``MENTORFLOW_TEST_WORKFLOW_CACHE=1000`` runs the tiers with the production cache instead.

A test of hundreds of workflow tasks pays O(n²) for it (minutes); such a test keeps the production cache and makes
the same check once at the end: ``replay_from_scratch`` replays every run it made with the current code."""

from __future__ import annotations

import os

from temporalio.client import Client

TEST_WORKFLOW_CACHE = int(os.environ.get("MENTORFLOW_TEST_WORKFLOW_CACHE", "0"))


async def replay_from_scratch(client: Client, relationship_id: str) -> int:
    """Every run of the relationship's workflow (the chain of continue-as-new) replays from scratch with the current
    code (the ``Replayer``: a nondeterministic decision fails it). Returns how many runs replayed."""
    from temporalio.worker import Replayer

    from workflows.connection import DATA_CONVERTER
    from workflows.models import workflow_id
    from workflows.relationship import RelationshipWorkflow

    replayer = Replayer(workflows=[RelationshipWorkflow], data_converter=DATA_CONVERTER)
    run_id: str | None = None
    runs = 0
    while True:
        history = await client.get_workflow_handle(workflow_id(relationship_id), run_id=run_id).fetch_history()
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, f"run {run_id or 'latest'}: {result.replay_failure}"
        runs += 1
        started = history.events[0].workflow_execution_started_event_attributes
        if not started.continued_execution_run_id:
            return runs
        run_id = started.continued_execution_run_id
