"""Profiles: read and edit your own record, never anyone else's."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from pourtier.application.cached import ReadsThroughCache
from pourtier.domain.errors import Conflict, NotFound
from pourtier.domain.events import Event, EventType
from pourtier.domain.legal import LegalDocument, pending_documents
from pourtier.domain.users import Role, RolePolicy, User, UserWallet


@dataclass(frozen=True)
class Profile:
    user: User
    pending_documents: list[LegalDocument]
    roles: tuple[Role, ...] = ()


@dataclass
class UserUseCases(ReadsThroughCache):
    roles: RolePolicy = field(default_factory=RolePolicy)

    async def profile(self, user_id: uuid.UUID) -> Profile:
        async with self._reads as reads:
            user = await reads.user(user_id)
            if user is None:
                raise NotFound("user not found")
            active = await reads.active_documents()
            accepted = await reads.accepted_document_ids(user_id)
        return Profile(
            user, pending_documents(active, accepted), self.roles.roles(user)
        )

    async def get_visible(self, caller_id: uuid.UUID, user_id: uuid.UUID) -> User:
        """Another user's id answers like an unknown one, so ids can't be probed."""
        if caller_id != user_id:
            raise NotFound("user not found")
        user = await self._reads.user(user_id)
        if user is None:
            raise NotFound("user not found")
        return user

    async def update_profile(
        self, user_id: uuid.UUID, changes: dict[str, str | None]
    ) -> Profile:
        async with self.uow() as uow:
            user = await uow.users.get(user_id)
            if user is None:
                raise NotFound("user not found")
            now = self.clock()
            user.update_profile(changes, now)
            await uow.users.save(user)
            # Names only: profile values are personal data, read them from the API.
            await uow.outbox.add(
                Event.about_user(
                    EventType.USER_UPDATED, user.id, now, fields=sorted(changes)
                )
            )
            await uow.commit()
        return await self.profile(user_id)

    async def wallets(self, user: User) -> list[UserWallet]:
        """The wallets that sign in to the user's account, the primary first."""
        async with self.uow() as uow:
            return await uow.users.wallets_of(user.id)

    async def unlink_wallet(self, user: User, wallet_address: str) -> None:
        """The wallet no longer signs in to the account. The primary one owns
        the escrow, so it stays; another user's or an unknown one (or what
        is no address at all) is not found."""
        if wallet_address == user.wallet_address:
            raise Conflict("the primary wallet owns the escrow: it cannot be unlinked")
        async with self.uow() as uow:
            if not await uow.users.unlink_wallet(user.id, wallet_address):
                raise NotFound("wallet not found")
            await uow.outbox.add(
                Event.about_user(
                    EventType.WALLET_UNLINKED,
                    user.id,
                    self.clock(),
                    wallet_address=wallet_address,
                )
            )
            await uow.commit()
