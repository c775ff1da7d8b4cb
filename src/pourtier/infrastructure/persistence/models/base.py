"""What every table module shares: the declarative base, its naming
convention and the column types and helpers the tables are written with."""

from __future__ import annotations

from typing import Any

from sqlalchemy import DateTime, ForeignKey, MetaData, Numeric
from sqlalchemy.orm import DeclarativeBase, MappedColumn, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TZ = DateTime(timezone=True)
U64 = Numeric(20, 0)
KYC_STATUSES = "'not_started', 'pending', 'in_review', 'verified', 'rejected'"
"""Both users.kyc_status and the kyc tables' status hold one of these."""


def refers_to(column: str, ondelete: str, **options: Any) -> MappedColumn[Any]:
    return mapped_column(ForeignKey(column, ondelete=ondelete), **options)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
