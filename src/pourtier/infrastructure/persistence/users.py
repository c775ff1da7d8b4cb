"""User repository on PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pourtier.domain.cache import user_key
from pourtier.domain.errors import Conflict
from pourtier.domain.users import KycStatus, User
from pourtier.infrastructure.persistence.models import UserRow


def _to_user(row: UserRow | Row[Any]) -> User:
    return User(
        id=row.id,
        wallet_address=row.wallet_address,
        display_name=row.display_name,
        email=row.email,
        kyc_status=KycStatus(row.kyc_status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_login_at=row.last_login_at,
    )


class SqlUserRepository:
    def __init__(self, session: AsyncSession, changed: set[str] | None = None) -> None:
        self._session = session
        self._changed = changed if changed is not None else set()

    async def get(self, user_id: uuid.UUID) -> User | None:
        row = await self._session.get(UserRow, user_id)
        return _to_user(row) if row else None

    async def get_by_wallet(self, wallet_address: str) -> User | None:
        row = await self._session.scalar(
            select(UserRow).where(UserRow.wallet_address == wallet_address)
        )
        return _to_user(row) if row else None

    async def add(self, user: User) -> None:
        self._session.add(
            UserRow(
                id=user.id,
                wallet_address=user.wallet_address,
                display_name=user.display_name,
                email=user.email,
                kyc_status=user.kyc_status.value,
                created_at=user.created_at,
                updated_at=user.updated_at,
                last_login_at=user.last_login_at,
            )
        )
        try:
            await self._session.flush()
        except IntegrityError:
            raise Conflict("this wallet already has an account") from None

    async def save(self, user: User) -> None:
        self._changed.add(user_key(user.id))
        await self._session.execute(
            update(UserRow)
            .where(UserRow.id == user.id)
            .values(
                display_name=user.display_name,
                email=user.email,
                kyc_status=user.kyc_status.value,
                updated_at=user.updated_at,
                last_login_at=user.last_login_at,
            )
            .execution_options(synchronize_session=False)
        )
