"""names for what the columns hold

`escrow_transactions.unsigned_transaction` becomes `prepared_transaction`: it
holds the transaction as the service built it, which for a subscription charge
the service has already signed itself. External movements still store none
(the CHECK of 0005 follows the column).

`idempotency_keys.status_code` becomes `outcome`: how the first subscribe
request ended, in the application's words; the HTTP status is the routes'.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 22:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column(
        "escrow_transactions",
        "unsigned_transaction",
        new_column_name="prepared_transaction",
    )
    op.add_column("idempotency_keys", sa.Column("outcome", sa.String(length=16)))
    # Before this revision the outcome was stored as the HTTP status answered.
    op.execute(
        "UPDATE idempotency_keys SET outcome = CASE status_code "
        "WHEN 102 THEN 'in_progress' WHEN 200 THEN 'changed' "
        "WHEN 201 THEN 'created' WHEN 202 THEN 'pending' "
        "WHEN 402 THEN 'payment_failed' END"
    )
    op.alter_column("idempotency_keys", "outcome", nullable=False)
    op.drop_column("idempotency_keys", "status_code")


def downgrade() -> None:
    op.add_column("idempotency_keys", sa.Column("status_code", sa.Integer()))
    op.execute(
        "UPDATE idempotency_keys SET status_code = CASE outcome "
        "WHEN 'in_progress' THEN 102 WHEN 'changed' THEN 200 "
        "WHEN 'created' THEN 201 WHEN 'pending' THEN 202 "
        "WHEN 'payment_failed' THEN 402 END"
    )
    op.alter_column("idempotency_keys", "status_code", nullable=False)
    op.drop_column("idempotency_keys", "outcome")
    op.alter_column(
        "escrow_transactions",
        "prepared_transaction",
        new_column_name="unsigned_transaction",
    )
