"""linked wallets

`user_wallets` holds every wallet that signs in to an account, the primary
(`users.wallet_address`, the escrow's owner) included, backfilled here; its
primary key keeps a wallet to one account across primaries and links alike.
`auth_nonces.purpose` says what a nonce may prove: `sign_in` (every nonce
issued before) or `link`.

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-03 18:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "auth_nonces",
        sa.Column(
            "purpose", sa.String(length=16), server_default="sign_in", nullable=False
        ),
    )
    op.create_check_constraint(
        op.f("ck_auth_nonces_purpose"), "auth_nonces", "purpose IN ('sign_in', 'link')"
    )
    op.create_table(
        "user_wallets",
        sa.Column("wallet_address", sa.String(length=44), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_wallets_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("wallet_address", name=op.f("pk_user_wallets")),
    )
    op.create_index("ix_user_wallets_user_id", "user_wallets", ["user_id"])
    op.execute(
        "INSERT INTO user_wallets (wallet_address, user_id, linked_at) "
        "SELECT wallet_address, id, created_at FROM users"
    )


def downgrade() -> None:
    op.drop_table("user_wallets")
    # Without its purpose a link nonce would pass for a sign-in one.
    op.execute("DELETE FROM auth_nonces WHERE purpose <> 'sign_in'")
    op.drop_constraint(op.f("ck_auth_nonces_purpose"), "auth_nonces", type_="check")
    op.drop_column("auth_nonces", "purpose")
