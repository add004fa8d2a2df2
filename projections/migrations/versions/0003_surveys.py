"""Surveys (issue 15): survey requests, responses and Kram function tags; the reason of the health.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 23:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("relationships", schema=None) as batch_op:
        batch_op.add_column(sa.Column("health_reason", sa.Text(), nullable=True))

    op.create_table(
        "survey_requests",
        sa.Column("relationship_id", sa.String(length=200), nullable=False),
        sa.Column("request_id", sa.String(length=200), nullable=False),
        sa.Column("program_id", sa.String(length=200), nullable=False),
        sa.Column("instrument", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("requested_seq", sa.Integer(), nullable=False),
        sa.Column("asked", sa.Integer(), nullable=False),
        sa.Column("reminded_at", sa.DateTime(), nullable=True),
        sa.Column("expired_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("relationship_id", "request_id", name=op.f("pk_survey_requests")),
    )
    with op.batch_alter_table("survey_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_survey_requests_program_id"), ["program_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_survey_requests_instrument"), ["instrument"], unique=False)

    op.create_table(
        "survey_responses",
        sa.Column("relationship_id", sa.String(length=200), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.String(length=200), nullable=False),
        sa.Column("request_id", sa.String(length=200), nullable=True),
        sa.Column("instrument", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.Column("submitted_by", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.Column("satisfaction", sa.Integer(), nullable=True),
        sa.Column("answers", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("relationship_id", "seq", name=op.f("pk_survey_responses")),
    )
    with op.batch_alter_table("survey_responses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_survey_responses_program_id"), ["program_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_survey_responses_instrument"), ["instrument"], unique=False)

    op.create_table(
        "function_tags",
        sa.Column("relationship_id", sa.String(length=200), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("function", sa.String(length=64), nullable=False),
        sa.Column("program_id", sa.String(length=200), nullable=False),
        sa.Column("family", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("relationship_id", "seq", "function", name=op.f("pk_function_tags")),
    )
    with op.batch_alter_table("function_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_function_tags_program_id"), ["program_id"], unique=False)


def downgrade() -> None:
    for table in ("function_tags", "survey_responses", "survey_requests"):
        op.drop_table(table)
    with op.batch_alter_table("relationships", schema=None) as batch_op:
        batch_op.drop_column("health_reason")
