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


# Before this revision an answer's outcome was stored as the HTTP status it had.
OUTCOME_OF_STATUS = {
    102: "in_progress",
    200: "changed",
    201: "created",
    202: "pending",
    402: "payment_failed",
}
KEYS = sa.table(
    "idempotency_keys",
    sa.column("status_code", sa.Integer()),
    sa.column("outcome", sa.String()),
)


def _rename_prepared(old: str, new: str) -> None:
    op.alter_column("escrow_transactions", old, new_column_name=new)


def upgrade() -> None:
    _rename_prepared("unsigned_transaction", "prepared_transaction")
    op.add_column("idempotency_keys", sa.Column("outcome", sa.String(length=16)))
    op.execute(
        KEYS.update().values(
            outcome=sa.case(OUTCOME_OF_STATUS, value=KEYS.c.status_code)
        )
    )
    op.alter_column("idempotency_keys", "outcome", nullable=False)
    op.drop_column("idempotency_keys", "status_code")


def downgrade() -> None:
    status_of = {outcome: status for status, outcome in OUTCOME_OF_STATUS.items()}
    op.add_column("idempotency_keys", sa.Column("status_code", sa.Integer()))
    op.execute(
        KEYS.update().values(status_code=sa.case(status_of, value=KEYS.c.outcome))
    )
    op.alter_column("idempotency_keys", "status_code", nullable=False)
    op.drop_column("idempotency_keys", "outcome")
    _rename_prepared("prepared_transaction", "unsigned_transaction")
