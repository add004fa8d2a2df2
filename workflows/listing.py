"""Relationships by their search attributes (Temporal visibility): :meth:`MentorflowClient.list`'s rows."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, TypedSearchAttributes

from workflows.models import WORKFLOW_TYPE
from workflows.relationship import PROGRAM

__all__ = ["RelationshipSummary", "list_relationships"]


class RelationshipSummary(BaseModel):
    """A row of :meth:`MentorflowClient.list`, from Temporal visibility (lags about a second behind)."""

    relationship_id: str
    workflow_status: str
    program: str | None = None
    stage: str | None = None
    substate: str | None = None
    health: str | None = None
    started_at: datetime | None = None
    closed_at: datetime | None = None


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


async def list_relationships(
    client: Client,
    program: str | None = None,
    stage: str | None = None,
    *,
    substate: str | None = None,
    health: str | None = None,
    limit: int | None = None,
) -> list[RelationshipSummary]:
    """Relationships by search attributes (Temporal visibility: lags about a second behind commands)."""
    clauses = [f"WorkflowType = {_quote(WORKFLOW_TYPE)}", "ExecutionStatus != 'ContinuedAsNew'"]
    for name, value in (
        ("MentorflowProgram", program),
        ("MentorflowStage", stage),
        ("MentorflowSubstate", substate),
        ("MentorflowHealth", health),
    ):
        if value is not None:
            clauses.append(f"{name} = {_quote(value)}")
    rows: list[RelationshipSummary] = []
    async for execution in client.list_workflows(" AND ".join(clauses), limit=limit):
        attrs = execution.typed_search_attributes
        prefix = "relationship-"
        rows.append(
            RelationshipSummary(
                relationship_id=execution.id.removeprefix(prefix),
                workflow_status=execution.status.name.lower() if execution.status else "unknown",
                program=attrs.get(PROGRAM),
                stage=_get(attrs, "MentorflowStage"),
                substate=_get(attrs, "MentorflowSubstate"),
                health=_get(attrs, "MentorflowHealth"),
                started_at=execution.start_time,
                closed_at=execution.close_time,
            )
        )
    return rows


def _get(attrs: TypedSearchAttributes, name: str) -> str | None:
    return attrs.get(SearchAttributeKey.for_keyword(name))
