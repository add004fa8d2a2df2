"""The archive of closed relationships' Temporal workflow histories (one row per run, the history as JSON).

Revision ID: audit_0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "audit_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_workflow_histories",
        sa.Column("workflow_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("relationship_id", sa.String(length=200), nullable=False),
        sa.Column("run_index", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("history_sha256", sa.String(length=64), nullable=False),
        sa.Column("history_json", sa.Text(), nullable=False),
        sa.Column("archived_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", "run_id", name=op.f("pk_audit_workflow_histories")),
    )
    with op.batch_alter_table("audit_workflow_histories", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_audit_workflow_histories_relationship_id"), ["relationship_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_workflow_histories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_workflow_histories_relationship_id"))
    op.drop_table("audit_workflow_histories")
