"""Nonces, sessions and refresh tokens on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, exists, func, or_, select, update

from pourtier.domain.auth import AuthSession, RefreshToken
from pourtier.domain.cache import session_key
from pourtier.domain.sign_in import Nonce
from pourtier.infrastructure.persistence.mapping import (
    SqlRepository,
    to_columns,
    to_entity,
)
from pourtier.infrastructure.persistence.models.auth import (
    AuthNonceRow,
    AuthSessionRow,
    RefreshTokenRow,
)


class SqlNonceRepository(SqlRepository):
    async def get(self, value: str) -> Nonce | None:
        row = await self._session.scalar(
            select(AuthNonceRow).where(AuthNonceRow.value == value)
        )
        return to_entity(Nonce, row) if row else None

    async def consume(self, value: str, wallet_address: str, now: datetime) -> bool:
        """One conditional UPDATE: of concurrent consumers exactly one wins,
        whichever wallet each is, and an unbound nonce is bound to it."""
        result = await self._session.execute(
            update(AuthNonceRow)
            .where(
                AuthNonceRow.value == value,
                or_(
                    AuthNonceRow.wallet_address.is_(None),
                    AuthNonceRow.wallet_address == wallet_address,
                ),
                AuthNonceRow.consumed_at.is_(None),
                AuthNonceRow.expires_at > now,
            )
            .values(consumed_at=now, wallet_address=wallet_address)
            .returning(AuthNonceRow.value)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def delete_expired(self, before: datetime) -> int:
        result = await self._session.execute(
            delete(AuthNonceRow)
            .where(AuthNonceRow.expires_at < before)
            .returning(AuthNonceRow.value)
        )
        return len(result.all())


class SqlSessionRepository(SqlRepository):
    async def add_session(self, session: AuthSession) -> None:
        self._session.add(AuthSessionRow(**to_columns(session)))
        await self._session.flush()

    async def get_session(self, session_id: uuid.UUID) -> AuthSession | None:
        row = await self._session.get(AuthSessionRow, session_id)
        return to_entity(AuthSession, row) if row else None

    async def revoke_session(
        self, session_id: uuid.UUID, now: datetime, reason: str
    ) -> None:
        self._changed.add(session_key(session_id))
        await self._session.execute(
            update(AuthSessionRow)
            .where(AuthSessionRow.id == session_id, AuthSessionRow.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
            .execution_options(synchronize_session=False)
        )

    async def revoke_user_sessions(
        self, user_id: uuid.UUID, now: datetime, reason: str
    ) -> list[uuid.UUID]:
        result = await self._session.execute(
            update(AuthSessionRow)
            .where(
                AuthSessionRow.user_id == user_id, AuthSessionRow.revoked_at.is_(None)
            )
            .values(revoked_at=now, revoked_reason=reason)
            .returning(AuthSessionRow.id)
            .execution_options(synchronize_session=False)
        )
        ended = list(result.scalars())
        self._changed.update(session_key(session_id) for session_id in ended)
        return ended

    async def sessions_of(self, user_id: uuid.UUID, limit: int) -> list[AuthSession]:
        return await self._all(
            AuthSession,
            select(AuthSessionRow)
            .where(AuthSessionRow.user_id == user_id)
            .order_by(AuthSessionRow.created_at.desc(), AuthSessionRow.id)
            .limit(limit),
        )

    async def live_sessions_of(
        self, user_id: uuid.UUID, limit: int
    ) -> list[AuthSession]:
        return await self._all(
            AuthSession,
            select(AuthSessionRow)
            .where(
                AuthSessionRow.user_id == user_id, AuthSessionRow.revoked_at.is_(None)
            )
            .order_by(AuthSessionRow.created_at.desc(), AuthSessionRow.id)
            .limit(limit),
        )

    async def touch_session(self, session_id: uuid.UUID, now: datetime) -> bool:
        self._changed.add(session_key(session_id))
        result = await self._session.execute(
            update(AuthSessionRow)
            .where(AuthSessionRow.id == session_id, AuthSessionRow.revoked_at.is_(None))
            .values(last_used_at=now)
            .returning(AuthSessionRow.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def add_refresh_token(self, token: RefreshToken) -> None:
        self._session.add(RefreshTokenRow(**to_columns(token)))
        await self._session.flush()

    async def refresh_token_for_update(self, token_hash: str) -> RefreshToken | None:
        row = await self._session.scalar(
            select(RefreshTokenRow)
            .where(RefreshTokenRow.token_hash == token_hash)
            .with_for_update()
        )
        return to_entity(RefreshToken, row) if row else None

    async def mark_refresh_token_used(self, token_id: uuid.UUID, now: datetime) -> None:
        await self._session.execute(
            update(RefreshTokenRow)
            .where(RefreshTokenRow.id == token_id)
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )

    async def children_of(self, token_id: uuid.UUID) -> list[RefreshToken]:
        return await self._all(
            RefreshToken,
            select(RefreshTokenRow).where(RefreshTokenRow.parent_id == token_id),
        )

    async def count_users_with_live_sessions(self, now: datetime) -> int:
        """Not logged out, and still holding a refresh token that works."""
        live_token = exists().where(
            RefreshTokenRow.session_id == AuthSessionRow.id,
            RefreshTokenRow.used_at.is_(None),
            RefreshTokenRow.expires_at > now,
        )
        return int(
            await self._session.scalar(
                select(func.count(func.distinct(AuthSessionRow.user_id))).where(
                    AuthSessionRow.revoked_at.is_(None), live_token
                )
            )
            or 0
        )
