"""outbox

Platform events written with the change they report (`outbox_events`), and
per subject the number of its latest event (`event_subjects`).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 17:00:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_subjects",
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "subject_type", "subject_id", name=op.f("pk_event_subjects")
        ),
    )
    op.create_table(
        "outbox_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_events")),
    )
    op.create_index(
        "uq_outbox_events_subject_sequence",
        "outbox_events",
        ["subject_type", "subject_id", "sequence"],
        unique=True,
    )
    op.create_index("ix_outbox_events_occurred_at", "outbox_events", ["occurred_at"])


def downgrade() -> None:
    op.drop_table("outbox_events")
    op.drop_table("event_subjects")
