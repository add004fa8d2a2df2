"""Every point a worker can lose a relationship at, replayed: the workflow tier's guard of the engine's core promise
(a worker restart or a cache eviction never freezes a running relationship).

:class:`ProbingClient` keeps the history of the relationship's current run as it is after every command it sends
(accepted or refused) and after every skip of time (``Lifecycle.sleep``): each is a point where a restarted worker,
or one that evicted the workflow, replays the whole history before it goes on. :func:`replay_every_point` replays
them all at the end of the test with the ``Replayer`` and the real workflow class: a command sequence that the live
task decided one way and its replay another fails there ("nondeterminism"), naming the point, and the failing history
is written out.

A ``state`` query after each command on an uncached worker would replay the same histories, but the time-skipping
test server then holds time still for up to ten seconds after some queries (the lifecycles took 146 s instead of
22); fetching the history costs milliseconds and one replaying worker replays all the points."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from domain import Command, DomainError
from workflows.client import CommandResult, MentorflowClient
from workflows.connection import DATA_CONVERTER
from workflows.models import workflow_id
from workflows.relationship import RelationshipWorkflow

__all__ = ["ProbingClient", "replay_every_point"]


class ProbingClient(MentorflowClient):
    """The facade, keeping the history of the relationship's current run after every command it sends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.points: list[tuple[str, WorkflowHistory]] = []
        self.touched: list[str] = []  # every relationship probed, first probe first

    async def probe(self, relationship_id: str, after: str) -> None:
        """Keep the history of the relationship's current run as it is now, to replay it at the end."""
        if relationship_id not in self.touched:
            self.touched.append(relationship_id)
        history = await self.handle(relationship_id).fetch_history()
        point = f"{relationship_id} after {after} ({len(history.events)} events)"
        replay_id = f"{workflow_id(relationship_id)}/{len(self.points)}"
        self.points.append((point, WorkflowHistory(replay_id, history.events)))

    async def send(self, relationship_id: str, command: Command | Any, **kwargs: Any) -> CommandResult:
        try:
            return await super().send(relationship_id, command, **kwargs)
        finally:
            await self.probe(relationship_id, getattr(command, "type", None) or str(command.get("type")))

    async def propose(self, *args: Any, **kwargs: Any) -> CommandResult:
        try:
            result = await super().propose(*args, **kwargs)
        except DomainError:
            raise  # refused before or by the update-with-start: nothing to probe (the workflow may not exist)
        await self.probe(result.relationship_id, "ProposeRelationship")
        return result


async def replay_every_point(points: list[tuple[str, WorkflowHistory]], keep: Path) -> None:
    """Replay every kept history (one replaying worker for all). A history that fails is written to ``keep``."""
    replayer = Replayer(workflows=[RelationshipWorkflow], data_converter=DATA_CONVERTER)

    async def histories() -> AsyncIterator[WorkflowHistory]:
        for _, history in points:
            yield history

    failures: list[str] = []
    replayed = 0
    async with replayer.workflow_replay_iterator(histories()) as results:
        async for result in results:
            if result.replay_failure is not None:
                saved = keep / f"failed-{replayed}.json"
                saved.write_text(points[replayed][1].to_json())
                failures.append(f"{points[replayed][0]} (history: {saved}): {result.replay_failure}")
            replayed += 1
    assert replayed == len(points), (replayed, len(points))
    assert not failures, "\n".join(failures)
