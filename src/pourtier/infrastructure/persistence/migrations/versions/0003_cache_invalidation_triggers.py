"""cache invalidation triggers

Every change of a row that a cached read is built from is announced on the
`pourtier_cache` channel, named by the cache key (see `pourtier.domain.cache`).
PostgreSQL delivers a NOTIFY when, and only if, its transaction commits, so
running servers learn of every write, whoever makes it: the API, a worker,
the CLI, or an administrator's SQL.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CHANNEL = "pourtier_cache"

FUNCTION = f"""
CREATE OR REPLACE FUNCTION pourtier_cache_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    prefix text := TG_ARGV[0];
    key_column text := TG_ARGV[1];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('{CHANNEL}', '*');
    ELSIF key_column = '' THEN
        PERFORM pg_notify('{CHANNEL}', prefix);
    ELSE
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            PERFORM pg_notify(
                '{CHANNEL}', prefix || ':' || (to_jsonb(OLD) ->> key_column)
            );
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            PERFORM pg_notify(
                '{CHANNEL}', prefix || ':' || (to_jsonb(NEW) ->> key_column)
            );
        END IF;
    END IF;
    RETURN NULL;
END
$$
"""

# (table, events, FOR EACH, key prefix, key column or '' for a constant key)
TRIGGERS = [
    ("users", "UPDATE OR DELETE", "ROW", "user", "id"),
    ("auth_sessions", "UPDATE OR DELETE", "ROW", "session", "id"),
    ("legal_acceptances", "INSERT OR UPDATE OR DELETE", "ROW", "accepted", "user_id"),
    ("subscriptions", "INSERT OR UPDATE OR DELETE", "ROW", "subscription", "user_id"),
    ("legal_documents", "INSERT OR UPDATE OR DELETE", "STATEMENT", "legal:active", ""),
]


def _execute(statement: str) -> None:
    """Run as written: a colon is SQL here, not a bind parameter."""
    op.execute(sa.text(statement.replace(":", "\\:")))


def upgrade() -> None:
    _execute(FUNCTION)
    for table, events, each, prefix, column in TRIGGERS:
        _execute(
            f"CREATE TRIGGER {table}_cache_notify AFTER {events} ON {table} "
            f"FOR EACH {each} EXECUTE FUNCTION pourtier_cache_notify"
            f"('{prefix}', '{column}')"
        )
        _execute(
            f"CREATE TRIGGER {table}_cache_truncate AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION pourtier_cache_notify('', '')"
        )


def downgrade() -> None:
    for table, *_ in reversed(TRIGGERS):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_cache_truncate ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_cache_notify ON {table}")
    op.execute("DROP FUNCTION IF EXISTS pourtier_cache_notify()")
