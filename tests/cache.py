"""The workflow cache of every worker the test tiers start (issue 11: a restart must never change a decision).

0 keeps no workflow in memory between tasks: every workflow task replays the whole history from scratch, so a
workflow that decides from anything but history fails its tests at once. Necessary, not sufficient (a task retried
by another worker after a timeout is covered by tests/integration/workflow/test_worker_restart.py).
``MENTORFLOW_TEST_WORKFLOW_CACHE=1000`` runs the tiers with the production cache instead."""

from __future__ import annotations

import os

TEST_WORKFLOW_CACHE = int(os.environ.get("MENTORFLOW_TEST_WORKFLOW_CACHE", "0"))
