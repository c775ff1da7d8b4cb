"""User repository on PostgreSQL."""

from __future__ import annotations

import contextlib
import uuid

from sqlalchemy import delete, func, or_, select, update

from pourtier.domain.cache import user_key
from pourtier.domain.users import User, UserWallet
from pourtier.infrastructure.persistence.mapping import (
    SqlRepository,
    to_columns,
    to_entity,
)
from pourtier.infrastructure.persistence.models.users import UserRow, UserWalletRow

_PROFILE = (
    "display_name",
    "email",
    "kyc_status",
    "updated_at",
    "last_login_at",
    "role",
)
"""What changes after registration."""
TAKEN = "this wallet already belongs to an account"


def _like_prefix(text: str) -> str:
    """`text` as a LIKE prefix pattern, its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


class SqlUserRepository(SqlRepository):
    async def get(self, user_id: uuid.UUID) -> User | None:
        row = await self._session.get(UserRow, user_id)
        return to_entity(User, row) if row else None

    async def get_by_wallet(self, wallet_address: str) -> User | None:
        row = await self._session.scalar(
            select(UserRow)
            .join(UserWalletRow, UserWalletRow.user_id == UserRow.id)
            .where(UserWalletRow.wallet_address == wallet_address)
        )
        return to_entity(User, row) if row else None

    async def add(self, user: User) -> None:
        await self._add_new(UserRow(**to_columns(user)), TAKEN)
        await self.link_wallet(
            UserWallet(user.wallet_address, user.id, user.created_at)
        )

    async def wallets_of(self, user_id: uuid.UUID) -> list[UserWallet]:
        primary = UserWalletRow.wallet_address == UserRow.wallet_address
        return await self._all(
            UserWallet,
            select(UserWalletRow)
            .join(UserRow, UserRow.id == UserWalletRow.user_id)
            .where(UserWalletRow.user_id == user_id)
            .order_by(
                primary.desc(), UserWalletRow.linked_at, UserWalletRow.wallet_address
            ),
        )

    async def link_wallet(self, wallet: UserWallet) -> None:
        await self._add_new(UserWalletRow(**to_columns(wallet)), TAKEN)

    async def unlink_wallet(self, user_id: uuid.UUID, wallet_address: str) -> bool:
        if "\x00" in wallet_address:  # PostgreSQL text cannot hold it: no row can
            return False
        result = await self._session.execute(
            delete(UserWalletRow)
            .where(
                UserWalletRow.user_id == user_id,
                UserWalletRow.wallet_address == wallet_address,
            )
            .returning(UserWalletRow.wallet_address)
        )
        return result.first() is not None

    async def save(self, user: User) -> None:
        self._changed.add(user_key(user.id))
        await self._session.execute(
            update(UserRow)
            .where(UserRow.id == user.id)
            .values(to_columns(user, only=_PROFILE))
            .execution_options(synchronize_session=False)
        )

    async def search(self, query: str | None, limit: int, offset: int) -> list[User]:
        statement = select(UserRow)
        text = (query or "").strip()
        if text:
            matches = [
                func.lower(UserRow.email) == text.lower(),
                UserRow.id.in_(
                    select(UserWalletRow.user_id).where(
                        UserWalletRow.wallet_address.ilike(
                            _like_prefix(text), escape="\\"
                        )
                    )
                ),
            ]
            with contextlib.suppress(ValueError):
                matches.append(UserRow.id == uuid.UUID(text))
            statement = statement.where(or_(*matches))
        rows = await self._session.scalars(
            statement.order_by(UserRow.created_at.desc(), UserRow.id)
            .limit(limit)
            .offset(offset)
        )
        return [to_entity(User, row) for row in rows]
