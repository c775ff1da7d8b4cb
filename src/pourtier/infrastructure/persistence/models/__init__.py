"""SQLAlchemy tables, one module per domain area. Alembic migrations build
the schema; a test keeps them equal.

Importing this package imports every table module, so `Base.metadata` here
holds the whole schema (what Alembic and the tests compare and create)."""

from pourtier.infrastructure.persistence.models import (
    audit,
    auth,
    escrow,
    events,
    kyc,
    legal,
    notifications,
    receipts,
    subscriptions,
    users,
)
from pourtier.infrastructure.persistence.models.base import Base

__all__ = [
    "Base",
    "audit",
    "auth",
    "escrow",
    "events",
    "kyc",
    "legal",
    "notifications",
    "receipts",
    "subscriptions",
    "users",
]
