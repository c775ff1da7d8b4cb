"""the plan each subscription charge pays for

Settlement grants a charge's own plan, never the one its subscription names
when the charge lands, so a plan changed meanwhile cannot turn a paid period
into another plan's.

Existing rows get the plan the code before this revision would have granted:
an upgrade buys the top plan (`pro`); a renewal not yet confirmed (pending, or
failed and due again) bills the scheduled plan if any, else the current one;
any other charge gets the subscription's plan. Only unsettled charges are ever
read for it, and for those this is exact (bar a change that raced the charge,
which is what this revision ends); for confirmed ones it is history, and for a
subscription that changed plan since, the best guess there is.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BACKFILL = """
UPDATE subscription_charges AS c
SET plan = CASE
    WHEN c.kind = 'upgrade' THEN 'pro'
    WHEN c.kind = 'renewal' AND c.status <> 'confirmed'
        THEN coalesce(s.scheduled_plan, s.plan)
    ELSE s.plan
END
FROM subscriptions AS s
WHERE s.id = c.subscription_id
"""


def upgrade() -> None:
    op.add_column(
        "subscription_charges", sa.Column("plan", sa.String(length=16), nullable=True)
    )
    op.execute(BACKFILL)
    op.alter_column("subscription_charges", "plan", nullable=False)
    op.create_check_constraint(
        op.f("ck_subscription_charges_plan"),
        "subscription_charges",
        "plan IN ('basic', 'pro')",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("ck_subscription_charges_plan"), "subscription_charges", type_="check"
    )
    op.drop_column("subscription_charges", "plan")
