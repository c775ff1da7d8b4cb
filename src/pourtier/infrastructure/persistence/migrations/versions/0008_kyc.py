"""kyc

A user's KYC case (status, the provider's applicant, the rejection, the
manual provider's encrypted details) and its append-only event log; users'
kyc_status gains in_review.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 16:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OLD = "'not_started', 'pending', 'verified', 'rejected'"
NEW = "'not_started', 'pending', 'in_review', 'verified', 'rejected'"
TZ = sa.DateTime(timezone=True)

APPEND_ONLY = (
    """
CREATE FUNCTION kyc_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'kyc_events is append-only';
END;
$$ LANGUAGE plpgsql
""",
    """
CREATE TRIGGER kyc_events_append_only BEFORE UPDATE OR DELETE ON kyc_events
    FOR EACH ROW EXECUTE FUNCTION kyc_events_append_only()
""",
)


def _users_kyc_status(statuses: str) -> None:
    op.drop_constraint(op.f("ck_users_kyc_status"), "users", type_="check")
    op.create_check_constraint(
        op.f("ck_users_kyc_status"), "users", f"kyc_status IN ({statuses})"
    )


def upgrade() -> None:
    _users_kyc_status(NEW)
    op.create_table(
        "kyc_cases",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_at", TZ, nullable=True),
        sa.Column("applicant_id", sa.String(length=64), nullable=True),
        sa.Column("rejection_type", sa.String(length=8), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("personal_data", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.CheckConstraint(f"status IN ({NEW})", name=op.f("ck_kyc_cases_status")),
        sa.CheckConstraint(
            "rejection_type IS NULL OR rejection_type IN ('retry', 'final')",
            name=op.f("ck_kyc_cases_rejection_type"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_kyc_cases_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_kyc_cases")),
        sa.UniqueConstraint("applicant_id", name=op.f("uq_kyc_cases_applicant_id")),
    )
    op.create_index(
        "ix_kyc_cases_status_status_at", "kyc_cases", ["status", "status_at"]
    )
    op.create_table(
        "kyc_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", TZ, nullable=False),
        sa.Column("recorded_at", TZ, nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=True),
        sa.Column("rejection_type", sa.String(length=8), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint(f"status IN ({NEW})", name=op.f("ck_kyc_events_status")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_kyc_events_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kyc_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_kyc_events_event_id")),
    )
    op.create_index("ix_kyc_events_user_id", "kyc_events", ["user_id"])
    for statement in APPEND_ONLY:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("kyc_events")
    op.execute("DROP FUNCTION kyc_events_append_only()")
    op.drop_table("kyc_cases")
    op.execute("UPDATE users SET kyc_status = 'pending' WHERE kyc_status = 'in_review'")
    _users_kyc_status(OLD)
