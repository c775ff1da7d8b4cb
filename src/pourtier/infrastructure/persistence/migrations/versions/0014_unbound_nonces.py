"""unbound nonces

`auth_nonces.wallet_address` may be NULL: a Wallet Standard sign-in asks for
a nonce before the wallet says its address; the nonce is bound to the wallet
that first uses it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 18:20:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column(
        "auth_nonces", "wallet_address", existing_type=sa.String(44), nullable=True
    )


def downgrade() -> None:
    # Nonces live minutes: the unbound ones can go rather than block the change.
    op.execute("DELETE FROM auth_nonces WHERE wallet_address IS NULL")
    op.alter_column(
        "auth_nonces", "wallet_address", existing_type=sa.String(44), nullable=False
    )
