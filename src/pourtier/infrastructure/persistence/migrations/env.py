"""Alembic environment: always given a live connection by `migrate.upgrade`."""

from __future__ import annotations

from alembic import context

from pourtier.infrastructure.persistence.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `pourtier db upgrade`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
