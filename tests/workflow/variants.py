"""Changed versions of RelationshipWorkflow, registered under the same workflow type, for the replay tests.
(A module of its own, not a test module: the workflow sandbox re-imports workflow modules.)"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import RelationshipState
    from workflows.models import RelationshipWorkflowInput
    from workflows.relationship import RelationshipWorkflow


@workflow.defn(name="RelationshipWorkflow")
class UnpatchedExtraTimer(RelationshipWorkflow):
    """A careless change: a new timer before the loop. Replaying an old history must fail."""

    @workflow.run
    async def run(self, input: RelationshipWorkflowInput) -> RelationshipState:
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(input)


@workflow.defn(name="RelationshipWorkflow")
class PatchedExtraTimer(RelationshipWorkflow):
    """The same change behind ``workflow.patched``: old histories take the old path and still replay."""

    @workflow.run
    async def run(self, input: RelationshipWorkflowInput) -> RelationshipState:
        if workflow.patched("warm-up-timer"):
            await workflow.sleep(timedelta(seconds=1))
        return await super().run(input)
