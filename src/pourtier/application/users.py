"""Profiles: read and edit your own record, never anyone else's."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from pourtier.application.cached import ReadsThroughCache
from pourtier.domain.errors import NotFound
from pourtier.domain.legal import LegalDocument, pending_documents
from pourtier.domain.users import User


@dataclass(frozen=True)
class Profile:
    user: User
    pending_documents: list[LegalDocument]


@dataclass
class UserUseCases(ReadsThroughCache):
    async def profile(self, user_id: uuid.UUID) -> Profile:
        async with self._reads as reads:
            user = await reads.user(user_id)
            if user is None:
                raise NotFound("user not found")
            active = await reads.active_documents()
            accepted = await reads.accepted_document_ids(user_id)
        return Profile(user, pending_documents(active, accepted))

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
            user.update_profile(changes, self.clock())
            await uow.users.save(user)
            await uow.commit()
        return await self.profile(user_id)
