"""Tiny workflows for the stack's smoke tests (kept out of test modules: Temporal's sandbox re-imports them)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def shout(text: str) -> str:
    return text.upper()


@workflow.defn
class ShoutWorkflow:
    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_activity(shout, text, start_to_close_timeout=timedelta(seconds=10))


@workflow.defn
class ThirtyDayTimerWorkflow:
    """Sleeps 30 days of workflow time and reports how much workflow time passed."""

    @workflow.run
    async def run(self) -> float:
        start = workflow.now()
        await workflow.sleep(timedelta(days=30))
        return (workflow.now() - start).total_seconds()
