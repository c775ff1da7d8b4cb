"""The embedded provider: the user submits their details, operators decide."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from pourtier.domain.errors import NotFound
from pourtier.domain.kyc import KycEvent, ProviderStart
from pourtier.domain.users import KycStatus


class ManualProvider:
    name = "manual"

    async def start(self, user_id: uuid.UUID) -> ProviderStart:
        """Submitting the details is the whole check: on to the review queue."""
        return ProviderStart(KycStatus.IN_REVIEW)

    async def current(self, user_id: uuid.UUID, applicant_id: str) -> KycEvent | None:
        return None  # decisions are made here, by operators: nothing to ask

    def webhook(self, body: bytes, headers: Mapping[str, str]) -> KycEvent | None:
        raise NotFound("no KYC provider sends webhooks here")

    async def aclose(self) -> None:
        return None
