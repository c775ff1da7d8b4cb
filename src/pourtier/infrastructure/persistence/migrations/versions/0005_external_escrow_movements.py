"""external escrow movements

Money that reaches or leaves an escrow without the service (a transfer from
any wallet, the owner's own transfer out) is recorded as an escrow
transaction of type external_deposit or external_withdrawal. Such a row was
never prepared, so `unsigned_transaction` becomes nullable, for those types
only. `escrow_cursors` keeps, per escrow, the last signature of its history
the follower has read; escrows already initialized start after their
initialization.

Downgrading deletes the external movements and their ledger entries.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TYPES = "'initialize', 'deposit', 'withdraw', 'subscription_charge'"
EXTERNAL = "'external_deposit', 'external_withdrawal'"


def upgrade() -> None:
    op.drop_constraint(
        op.f("ck_escrow_transactions_type"), "escrow_transactions", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_escrow_transactions_type"),
        "escrow_transactions",
        f"type IN ({TYPES}, {EXTERNAL})",
    )
    op.alter_column(
        "escrow_transactions",
        "unsigned_transaction",
        existing_type=sa.LargeBinary(),
        nullable=True,
    )
    op.create_check_constraint(
        op.f("ck_escrow_transactions_prepared_unless_external"),
        "escrow_transactions",
        f"unsigned_transaction IS NOT NULL OR type IN ({EXTERNAL})",
    )
    op.create_table(
        "escrow_cursors",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("last_signature", sa.String(length=88), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_escrow_cursors_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_escrow_cursors")),
    )
    op.create_index(
        "ix_escrow_cursors_read_at", "escrow_cursors", ["read_at"], unique=False
    )
    op.execute(
        "INSERT INTO escrow_cursors (user_id, last_signature) "
        "SELECT DISTINCT ON (user_id) user_id, signature FROM escrow_transactions "
        "WHERE type = 'initialize' AND status = 'confirmed' "
        "ORDER BY user_id, confirmed_at DESC"
    )


def downgrade() -> None:
    op.drop_index("ix_escrow_cursors_read_at", table_name="escrow_cursors")
    op.drop_table("escrow_cursors")
    op.execute(
        "DELETE FROM ledger_entries WHERE escrow_transaction_id IN "
        "(SELECT id FROM escrow_transactions WHERE type LIKE 'external_%')"
    )
    op.execute("DELETE FROM escrow_transactions WHERE type LIKE 'external_%'")
    op.drop_constraint(
        op.f("ck_escrow_transactions_prepared_unless_external"),
        "escrow_transactions",
        type_="check",
    )
    op.alter_column(
        "escrow_transactions",
        "unsigned_transaction",
        existing_type=sa.LargeBinary(),
        nullable=False,
    )
    op.drop_constraint(
        op.f("ck_escrow_transactions_type"), "escrow_transactions", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_escrow_transactions_type"),
        "escrow_transactions",
        f"type IN ({TYPES})",
    )
