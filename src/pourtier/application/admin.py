"""The operator's side: roles, reading any user's records, ending their
sessions, and the audit log every such action appends to.

Each action that changes something writes its audit entry in its own
transaction, so the two are committed together or not at all.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from pourtier.application.cached import ReadsThroughCache
from pourtier.domain.audit import Actor, AuditAction, AuditEntry, AuditQuery
from pourtier.domain.auth import AuthSession
from pourtier.domain.errors import NotFound, PermissionDenied
from pourtier.domain.escrow import EscrowTransaction
from pourtier.domain.events import Event, EventType
from pourtier.domain.legal import Acceptance
from pourtier.domain.subscriptions import Subscription
from pourtier.domain.unit_of_work import UnitOfWork
from pourtier.domain.users import (
    Role,
    RolePolicy,
    User,
    UserWallet,
    validate_wallet_address,
)

RECENT_TRANSACTIONS = 20
SESSIONS_SHOWN = 50


@dataclass(frozen=True)
class RoleChange:
    user: User
    changed: bool
    """False when the user already had (or lacked) the role: nothing written."""
    admin_by_configuration: bool
    """The wallet is in ADMIN_WALLETS: an admin whatever the stored role."""


@dataclass(frozen=True)
class EscrowSummary:
    balance: int
    """The ledger's balance, in base units."""
    recent_transactions: list[EscrowTransaction]


@dataclass(frozen=True)
class UserRecord:
    """Everything an operator sees of one user."""

    user: User
    roles: tuple[Role, ...]
    acceptances: list[Acceptance]
    escrow: EscrowSummary
    subscriptions: list[Subscription]
    sessions: list[AuthSession]
    wallets: list[UserWallet]


@dataclass(frozen=True)
class SessionsEnded:
    user_id: uuid.UUID
    session_ids: list[uuid.UUID]


@dataclass
class AdminUseCases(ReadsThroughCache):
    roles: RolePolicy = field(default_factory=RolePolicy)

    def require_admin(self, user: User) -> None:
        """The gate of every admin route; `user` is read per request, so a
        revoked role is refused on the next one."""
        if not self.roles.is_admin(user):
            raise PermissionDenied("this needs the admin role")

    async def grant(self, actor: Actor, wallet_address: str) -> RoleChange:
        return await self._set_role(actor, wallet_address, Role.ADMIN)

    async def revoke(self, actor: Actor, wallet_address: str) -> RoleChange:
        return await self._set_role(actor, wallet_address, Role.USER)

    async def _set_role(
        self, actor: Actor, wallet_address: str, role: Role
    ) -> RoleChange:
        validate_wallet_address(wallet_address)
        async with self.uow() as uow:
            user = await uow.users.get_by_wallet(wallet_address)
            if user is None:
                raise NotFound(f"no account has the wallet {wallet_address}")
            before = user.role
            changed = user.set_role(role, self.clock())
            if changed:
                await uow.users.save(user)
                granted = role == Role.ADMIN
                action = AuditAction.ROLE_GRANT if granted else AuditAction.ROLE_REVOKE
                await uow.audit.append(
                    AuditEntry.of(
                        actor, action, ("user", user.id), self.clock()
                    ).changed({"role": before.value}, {"role": role.value})
                )
                await uow.commit()
        configured = wallet_address in self.roles.admin_wallets
        return RoleChange(user, changed, configured)

    async def search_users(
        self, query: str | None, limit: int, offset: int
    ) -> list[tuple[User, tuple[Role, ...]]]:
        async with self.uow() as uow:
            found = await uow.users.search(query, limit, offset)
        return [(user, self.roles.roles(user)) for user in found]

    async def user_record(self, user_id: uuid.UUID) -> UserRecord:
        async with self.uow() as uow:
            user = await _user(uow, user_id)
            return UserRecord(
                user=user,
                roles=self.roles.roles(user),
                acceptances=await uow.legal.acceptances_of(user_id),
                escrow=EscrowSummary(
                    balance=await uow.escrow.ledger_balance(user_id),
                    recent_transactions=await uow.escrow.list_for_user(
                        user_id, None, RECENT_TRANSACTIONS, 0
                    ),
                ),
                subscriptions=await uow.subscriptions.list_for_user(user_id, None),
                sessions=await uow.sessions.sessions_of(user_id, SESSIONS_SHOWN),
                wallets=await uow.users.wallets_of(user_id),
            )

    async def end_sessions(self, actor: Actor, user_id: uuid.UUID) -> SessionsEnded:
        """Sign the user out everywhere: every refresh token and access token
        of theirs is refused from now on."""
        async with self.uow() as uow:
            await _user(uow, user_id)
            ended = await uow.sessions.revoke_user_sessions(
                user_id, self.clock(), "admin"
            )
            if ended:
                await uow.outbox.add(
                    Event.about_user(
                        EventType.SESSION_REVOKED,
                        user_id,
                        self.clock(),
                        session_ids=ended,
                        reason="admin",
                    )
                )
            await uow.audit.append(
                AuditEntry.of(
                    actor, AuditAction.SESSIONS_REVOKE, ("user", user_id), self.clock()
                ).changed(None, {"sessions_ended": [str(i) for i in ended]})
            )
            await uow.commit()
        return SessionsEnded(user_id, ended)

    async def audit_log(self, query: AuditQuery) -> list[AuditEntry]:
        async with self.uow() as uow:
            return await uow.audit.find(query)


async def _user(uow: UnitOfWork, user_id: uuid.UUID) -> User:
    user = await uow.users.get(user_id)
    if user is None:
        raise NotFound("user not found")
    return user
