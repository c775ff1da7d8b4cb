"""session last used

`auth_sessions.last_used_at`: when a refresh token of the session was last
redeemed (stamped on refresh only); NULL for sessions never refreshed.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 17:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "auth_sessions",
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("auth_sessions", "last_used_at")
