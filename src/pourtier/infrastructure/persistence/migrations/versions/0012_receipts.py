"""receipts

A receipt per confirmed subscription charge (`receipts`, unique per charge and
per number) and the receipt book's counter (`receipt_counters`).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 17:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "receipt_counters",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_receipt_counters")),
    )
    op.create_table(
        "receipts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("charge_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("plan", sa.String(length=16), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=0), nullable=False),
        sa.Column("signature", sa.String(length=88), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('initial', 'renewal', 'upgrade')", name=op.f("ck_receipts_kind")
        ),
        sa.CheckConstraint("plan IN ('basic', 'pro')", name=op.f("ck_receipts_plan")),
        sa.ForeignKeyConstraint(
            ["charge_id"],
            ["subscription_charges.id"],
            name=op.f("fk_receipts_charge_id_subscription_charges"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_receipts_subscription_id_subscriptions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_receipts_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipts")),
        sa.UniqueConstraint("charge_id", name=op.f("uq_receipts_charge_id")),
        sa.UniqueConstraint("sequence", name=op.f("uq_receipts_sequence")),
    )
    op.create_index(
        "ix_receipts_user_issued", "receipts", ["user_id", "issued_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_receipts_user_issued", table_name="receipts")
    op.drop_table("receipts")
    op.drop_table("receipt_counters")
