"""A sign-in's writes on PostgreSQL: one statement each, no transaction around them.

Sign-in is the busiest write path, one nonce per attempt and one login per
signed message. Each write is a single statement, atomic by itself, so it runs
outside any transaction: no BEGIN and COMMIT round trips and no ORM flush. It
runs on asyncpg itself (see `driver`): SQLAlchemy's execution path would cost
more CPU than the statement.
The login statement finds the account by any of its wallets (`user_wallets`),
consumes the nonce, stamps the last login, and inserts the
session with its first refresh token; it also reads the nonce as it was, so a
refusal names the check that failed without another query.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from pourtier.domain.auth import ClientInfo, LoginRecord, RefreshToken
from pourtier.domain.cache import Cache, user_key
from pourtier.domain.sign_in import Nonce, NoncePurpose
from pourtier.domain.users import User
from pourtier.infrastructure.persistence.driver import DriverStatements, Statement
from pourtier.infrastructure.persistence.mapping import to_columns, to_entity

_ADD_NONCE = Statement(
    """
INSERT INTO auth_nonces
    (value, wallet_address, issued_at, expires_at, consumed_at, purpose)
VALUES (:value, :wallet_address, :issued_at, :expires_at, :consumed_at, :purpose)
"""
)

# A statement's sub-statements all see the database as it was when it began;
# the nonce's conditional UPDATE re-reads a row another login has just
# consumed, so of concurrent logins with one nonce exactly one gets a row.
# Foreign keys are checked at the end of the statement, after both INSERTs.
# The account is the one `user_wallets` names for the wallet, whether it is
# the account's primary wallet or one linked to it. A nonce no wallet has used
# yet (Wallet Standard's) is bound to this one.
_LOG_IN = Statement(
    """
WITH nonce AS (
    SELECT wallet_address, purpose, issued_at, expires_at, consumed_at
    FROM auth_nonces WHERE value = :nonce
), owner AS (
    SELECT user_id FROM user_wallets WHERE wallet_address = :wallet
), used AS (
    UPDATE auth_nonces SET consumed_at = :now, wallet_address = :wallet
    FROM owner
    WHERE auth_nonces.value = :nonce
      AND (auth_nonces.wallet_address IS NULL
           OR auth_nonces.wallet_address = :wallet)
      AND auth_nonces.purpose = :purpose
      AND auth_nonces.consumed_at IS NULL
      AND auth_nonces.expires_at > :now
    RETURNING owner.user_id AS id
), account AS (
    UPDATE users SET last_login_at = :now
    FROM used WHERE users.id = used.id
    RETURNING users.*
), session AS (
    INSERT INTO auth_sessions (id, user_id, created_at, ip_address, user_agent)
    SELECT CAST(:session_id AS uuid), id, :now, :ip_address, :user_agent
    FROM account
    RETURNING id
), token AS (
    INSERT INTO refresh_tokens (id, session_id, token_hash, issued_at, expires_at)
    SELECT CAST(:token_id AS uuid), id, :token_hash, :now,
        CAST(:expires_at AS timestamptz)
    FROM session
    RETURNING id
)
SELECT
    nonce.wallet_address AS nonce_wallet_address,
    nonce.issued_at AS nonce_issued_at,
    nonce.expires_at AS nonce_expires_at,
    nonce.consumed_at AS nonce_consumed_at,
    nonce.purpose AS nonce_purpose,
    EXISTS (SELECT FROM owner) AS account_exists,
    account.*
FROM (SELECT) AS one
LEFT JOIN nonce ON true
LEFT JOIN account ON true
"""
)


class SqlSignIns:
    def __init__(
        self,
        engine: AsyncEngine,
        cache: Cache,
        counted: Callable[[], object] | None = None,
    ) -> None:
        self._statements = DriverStatements(engine, counted)
        self._cache = cache

    async def add_nonce(self, nonce: Nonce) -> None:
        await self._statements.execute(_ADD_NONCE, to_columns(nonce))

    async def log_in(
        self, wallet_address: str, nonce: str, token: RefreshToken, client: ClientInfo
    ) -> LoginRecord:
        row = await self._statements.fetchrow(
            _LOG_IN,
            {
                "nonce": nonce,
                "wallet": wallet_address,
                "purpose": NoncePurpose.SIGN_IN,
                "now": token.issued_at,
                "session_id": token.session_id,
                "ip_address": client.ip_address,
                "user_agent": client.user_agent,
                "token_id": token.id,
                "token_hash": token.token_hash,
                "expires_at": token.expires_at,
            },
        )
        found = (
            None
            if row["nonce_issued_at"] is None
            else Nonce(
                value=nonce,
                wallet_address=row["nonce_wallet_address"],
                issued_at=row["nonce_issued_at"],
                expires_at=row["nonce_expires_at"],
                consumed_at=row["nonce_consumed_at"],
                purpose=NoncePurpose(row["nonce_purpose"]),
            )
        )
        if row["id"] is None:
            return LoginRecord(None, found, row["account_exists"])
        user = to_entity(User, row)
        await self._cache.invalidate([user_key(user.id)])
        return LoginRecord(user, found, True)
