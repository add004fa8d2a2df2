"""The raw baseline of benchmarks 1, 2 and 5: a workflow whose ``command`` update does nothing.

It takes the same input and the same update argument (the domain's ``Command`` union, through the same pydantic data
converter) as ``RelationshipWorkflow``, so the difference between the two is what mentorflow adds: the validator's
``decide``, ``execute`` (events, hash chain), the outbox, the publishing activity, search attributes and the
``CommandResult``. Like the real one, it continues as new when Temporal suggests it.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import Command
    from workflows.models import RelationshipWorkflowInput

__all__ = ["BareWorkflow"]


@workflow.defn(name="BenchBareWorkflow")
class BareWorkflow:
    @workflow.init
    def __init__(self, input: RelationshipWorkflowInput) -> None:
        self._input = input

    @workflow.run
    async def run(self, input: RelationshipWorkflowInput) -> None:
        await workflow.wait_condition(lambda: workflow.info().is_continue_as_new_suggested())
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(input)

    @workflow.update
    def command(self, command: Command) -> None:
        return None
