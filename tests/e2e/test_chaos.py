"""The chaos run at its CI size (``make chaos`` runs it full size): steady load over the HTTP API while ``kill -9``
hits the API and a private PostgreSQL, one at a time; then nothing accepted is lost, nothing is applied
twice, every client was told the truth (an unknown outcome resolved by re-sending its command id) and every
relationship verifies three-way and replays. Temporal and Kafka are the shared ones here, never killed."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.chaos.report import details, table
from benchmarks.chaos.run import PLANS, run_chaos
from workers.settings import Settings

pytestmark = pytest.mark.timeout(400)


async def test_kill_9_of_api_and_postgres_loses_and_doubles_nothing(stack: Settings, tmp_path: Path) -> None:
    report = await run_chaos(PLANS["ci"], stack, tmp_path / "run", log=False)
    print("\n" + table(report))
    found = report.findings
    assert [f.name for f in report.faults] == ["api", "postgres"]
    assert all(f.recovered_at is not None for f in report.faults), table(report)
    assert found.problems == [], details(report)
    assert report.undrained == []
    proposed = {a.relationship_id for a in report.ledger.final().values() if a.type == "ProposeRelationship"}
    assert found.verify_failed == [] and found.verified == len(proposed), details(report)
    assert found.outcomes["accepted"] > 0 and found.outcomes["unknown"] == 0
    # The API's death reached the clients: answers that never came (connection refused or dropped) during it.
    api = report.faults[0]
    told = report.told_during(api)
    assert told["unreachable"] + told["unknown"] > 0, table(report)
    assert report.ok
