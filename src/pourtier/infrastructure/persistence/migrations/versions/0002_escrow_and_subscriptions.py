"""escrow and subscriptions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 21:15:44.447970
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "escrow_transactions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("wallet_address", sa.String(length=44), nullable=False),
        sa.Column("type", sa.String(length=24), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=0), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("unsigned_transaction", sa.LargeBinary(), nullable=False),
        sa.Column("signed_transaction", sa.LargeBinary(), nullable=True),
        sa.Column("signature", sa.String(length=88), nullable=True),
        sa.Column("last_valid_block_height", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "status IN ('prepared', 'pending', 'confirmed', 'failed', 'expired')",
            name=op.f("ck_escrow_transactions_status"),
        ),
        sa.CheckConstraint(
            "type IN ('initialize', 'deposit', 'withdraw', 'subscription_charge')",
            name=op.f("ck_escrow_transactions_type"),
        ),
        sa.CheckConstraint(
            "amount >= 0", name=op.f("ck_escrow_transactions_amount_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_escrow_transactions_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escrow_transactions")),
        sa.UniqueConstraint("signature", name=op.f("uq_escrow_transactions_signature")),
    )
    op.create_index(
        "ix_escrow_transactions_pending",
        "escrow_transactions",
        ["status"],
        unique=False,
        postgresql_where=sa.text("status IN ('prepared', 'pending')"),
    )
    op.create_index(
        "ix_escrow_transactions_user_created",
        "escrow_transactions",
        ["user_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_idempotency_keys_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("plan", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("current_period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("auto_renew", sa.Boolean(), nullable=False),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("scheduled_plan", sa.String(length=16), nullable=True),
        sa.Column("canceled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "plan IN ('basic', 'pro')", name=op.f("ck_subscriptions_plan")
        ),
        sa.CheckConstraint(
            "scheduled_plan IS NULL OR scheduled_plan IN ('basic', 'pro')",
            name=op.f("ck_subscriptions_scheduled_plan"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'active', 'past_due', 'canceled', 'expired')",
            name=op.f("ck_subscriptions_status"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_subscriptions_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
    )
    op.create_index(
        "ix_subscriptions_period_end",
        "subscriptions",
        ["current_period_end"],
        unique=False,
    )
    op.create_index(
        "uq_subscriptions_one_live_per_user",
        "subscriptions",
        ["user_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('pending', 'active', 'past_due')"),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("escrow_transaction_id", sa.Uuid(), nullable=False),
        sa.Column("delta", sa.Numeric(precision=21, scale=0), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["escrow_transaction_id"],
            ["escrow_transactions.id"],
            name=op.f("fk_ledger_entries_escrow_transaction_id_escrow_transactions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_ledger_entries_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint(
            "escrow_transaction_id",
            name=op.f("uq_ledger_entries_escrow_transaction_id"),
        ),
    )
    op.create_index(
        "ix_ledger_entries_user_id", "ledger_entries", ["user_id"], unique=False
    )
    op.create_table(
        "subscription_charges",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=0), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("escrow_transaction_id", sa.Uuid(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('initial', 'renewal', 'upgrade')",
            name=op.f("ck_subscription_charges_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed', 'failed')",
            name=op.f("ck_subscription_charges_status"),
        ),
        sa.ForeignKeyConstraint(
            ["escrow_transaction_id"],
            ["escrow_transactions.id"],
            name=op.f(
                "fk_subscription_charges_escrow_transaction_id_escrow_transactions"
            ),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_subscription_charges_subscription_id_subscriptions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_subscription_charges_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_charges")),
        sa.UniqueConstraint(
            "escrow_transaction_id",
            name=op.f("uq_subscription_charges_escrow_transaction_id"),
        ),
    )
    op.create_index(
        "uq_subscription_charges_period",
        "subscription_charges",
        ["subscription_id", "kind", "period_start"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_subscription_charges_period", table_name="subscription_charges")
    op.drop_table("subscription_charges")
    op.drop_index("ix_ledger_entries_user_id", table_name="ledger_entries")
    op.drop_table("ledger_entries")
    op.drop_index(
        "uq_subscriptions_one_live_per_user",
        table_name="subscriptions",
        postgresql_where=sa.text("status IN ('pending', 'active', 'past_due')"),
    )
    op.drop_index("ix_subscriptions_period_end", table_name="subscriptions")
    op.drop_table("subscriptions")
    op.drop_table("idempotency_keys")
    op.drop_index(
        "ix_escrow_transactions_user_created", table_name="escrow_transactions"
    )
    op.drop_index(
        "ix_escrow_transactions_pending",
        table_name="escrow_transactions",
        postgresql_where=sa.text("status IN ('prepared', 'pending')"),
    )
    op.drop_table("escrow_transactions")
