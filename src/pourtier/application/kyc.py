"""KYC: a user starts a check, a provider or an operator decides.

The case and the user's `kyc_status` change in one transaction with the event
that moved them, so what /api/users/me shows (a cached user row, invalidated
by the database on change) is always the case's status.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import structlog

from pourtier.application.common import Clock, UnitOfWorkFactory
from pourtier.domain.audit import Actor, AuditAction, AuditEntry
from pourtier.domain.errors import Conflict, InvalidInput, NotFound
from pourtier.domain.events import Event, EventType
from pourtier.domain.kyc import (
    REASON_MAX_LENGTH,
    KycCase,
    KycEvent,
    KycProvider,
    PersonalDataVault,
    PersonalDetails,
    RejectionType,
)
from pourtier.domain.notifications import Notification, NotificationKind
from pourtier.domain.unit_of_work import UnitOfWork
from pourtier.domain.users import KycStatus

log = structlog.get_logger(__name__)

MAX_PER_PASS = 100


@dataclass
class KycUseCases:
    uow: UnitOfWorkFactory
    clock: Clock
    provider: KycProvider
    vault: PersonalDataVault
    reconcile_after: timedelta = timedelta(minutes=30)

    async def view(self, user_id: uuid.UUID) -> KycCase:
        """The user's case; a not-started one (not stored) if there is none."""
        async with self.uow() as uow:
            case = await uow.kyc.get(user_id)
        now = self.clock()
        return case or KycCase(user_id, self.provider.name, now, now)

    async def start(
        self, user_id: uuid.UUID, details: PersonalDetails | None
    ) -> tuple[KycCase, str | None]:
        """Open a check with the provider (the manual one needs the details);
        the case, and the token of the provider's web SDK if it has one."""
        manual = self.provider.name == "manual"
        if manual and details is None:
            raise InvalidInput("legal_name, date_of_birth and country are required")
        started = await self.provider.start(user_id)  # idempotent: before the lock
        now = self.clock()
        async with self.uow() as uow:
            case = await self._case(uow, user_id, now)
            if case.is_final:
                raise Conflict("your KYC was rejected for good; it cannot be retried")
            fresh = case.status in (KycStatus.NOT_STARTED, KycStatus.REJECTED)
            if case.status is KycStatus.VERIFIED or (manual and not fresh):
                raise Conflict(f"your KYC is already {case.status}")
            if fresh:  # else: the provider's check goes on, with a new token
                # After all the case has seen, even with a provider's clock ahead.
                at = max(now, case.status_at or now)
                event = KycEvent(user_id, started.status, at, "user", now)
                if case.apply(event):
                    await uow.kyc.add_event(event)
            case.provider = self.provider.name
            case.applicant_id = started.applicant_id or case.applicant_id
            if details is not None and manual:
                case.personal_data = self.vault.seal(details)
            case.updated_at = now
            await self._save(uow, case)
            await uow.commit()
        log.info("kyc started", user_id=str(user_id), status=case.status.value)
        return case, started.sdk_token

    async def decide(
        self,
        actor: Actor,
        user_id: uuid.UUID,
        approve: bool,
        rejection_type: RejectionType | None,
        reason: str | None,
    ) -> KycCase:
        """An operator's decision, audited in its transaction."""
        if not approve and rejection_type is None:
            raise InvalidInput("rejection_type is required to reject")
        now = self.clock()
        async with self.uow() as uow:
            case = await uow.kyc.get(user_id, for_update=True)
            if case is None:
                raise NotFound("no KYC case for this user")
            before = _summary(case)
            if case.status not in (KycStatus.IN_REVIEW, KycStatus.VERIFIED):
                raise Conflict(f"a KYC {case.status} is not for an operator to decide")
            event = KycEvent(
                user_id,
                KycStatus.VERIFIED if approve else KycStatus.REJECTED,
                max(now, case.status_at or now),  # the latest word, clocks aside
                f"operator:{actor.wallet or actor.type}",
                now,
                rejection_type=None if approve else rejection_type,
                reason=(reason or "")[:REASON_MAX_LENGTH] or None,
            )
            if not case.apply(event):
                raise Conflict(f"the KYC is already {case.status}")
            await uow.kyc.add_event(event)
            await self._save(uow, case)
            await uow.audit.append(
                AuditEntry.of(
                    actor, AuditAction.KYC_DECISION, ("user", user_id), now
                ).changed(before, _summary(case))
            )
            await uow.commit()
        return case

    async def webhook(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """Apply a provider's webhook; False if it changed nothing."""
        event = self.provider.webhook(body, headers)
        return event is not None and await self._apply(event)

    async def reconcile_once(self) -> int:
        """Ask the provider about cases waiting too long (a missed webhook)."""
        if self.provider.name == "manual":
            return 0
        before = self.clock() - self.reconcile_after
        async with self.uow() as uow:
            stale = await uow.kyc.stale(self.provider.name, before, MAX_PER_PASS)
            waiting = [(c.user_id, c.applicant_id) for c in stale if c.applicant_id]
        changed = 0
        for user_id, applicant_id in waiting:
            found = await self.provider.current(user_id, applicant_id)
            if found is not None and await self._apply(found):
                changed += 1
            else:
                await self._touch(user_id)  # asked: not again until it is due
        return changed

    async def queue(
        self, status: KycStatus, limit: int, offset: int
    ) -> Sequence[KycCase]:
        async with self.uow() as uow:
            return await uow.kyc.queue(status, limit, offset)

    async def case(
        self, user_id: uuid.UUID
    ) -> tuple[KycCase | None, PersonalDetails | None, list[KycEvent]]:
        """For operators: the case, its decrypted details and its history."""
        async with self.uow() as uow:
            case = await uow.kyc.get(user_id)
            events = await uow.kyc.events(user_id)
        sealed = case.personal_data if case else None
        return case, self.vault.open(sealed) if sealed else None, events

    # --- helpers ---------------------------------------------------------------

    async def _apply(self, found: KycEvent) -> bool:
        """A provider's event, recorded at our time, applied if it is news."""
        now = self.clock()
        reason = (found.reason or "")[:REASON_MAX_LENGTH] or None
        event = replace(found, recorded_at=now, reason=reason)
        async with self.uow() as uow:
            if await uow.users.get(event.user_id) is None:
                log.warning("kyc event for an unknown user", user_id=str(event.user_id))
                return False
            case = await self._case(uow, event.user_id, now)
            if not await uow.kyc.add_event(event):
                return False  # seen before
            try:
                changed = case.apply(event)
            except Conflict as refused:
                log.warning(
                    "kyc event refused", user_id=str(case.user_id), why=str(refused)
                )
                changed = False
            await self._save(uow, case)
            await uow.commit()
        return changed

    async def _touch(self, user_id: uuid.UUID) -> None:
        async with self.uow() as uow:
            case = await uow.kyc.get(user_id, for_update=True)
            if case is not None:
                case.updated_at = self.clock()
                await uow.kyc.save(case)
                await uow.commit()

    async def _case(
        self, uow: UnitOfWork, user_id: uuid.UUID, now: datetime
    ) -> KycCase:
        """The user's case, locked; a new one (not yet stored) if there is none."""
        case = await uow.kyc.get(user_id, for_update=True)
        if case is not None:
            return case
        await uow.escrow.lock_movements(user_id)  # two first events: one case
        case = await uow.kyc.get(user_id, for_update=True)
        return case or KycCase(user_id, self.provider.name, now, now)

    async def _save(self, uow: UnitOfWork, case: KycCase) -> None:
        """The case, and the user's kyc_status with it."""
        await uow.kyc.save(case)
        user = await uow.users.get(case.user_id)
        if user is not None and user.kyc_status is not case.status:
            previous = user.kyc_status
            user.kyc_status = case.status
            user.updated_at = case.updated_at
            await uow.users.save(user)
            await self._tell(uow, case, previous)

    async def _tell(self, uow: UnitOfWork, case: KycCase, previous: KycStatus) -> None:
        """The status change as an event, and a decision as a notification."""
        now = self.clock()
        rejection = case.rejection_type and case.rejection_type.value
        await uow.outbox.add(
            Event.about_user(
                EventType.KYC_STATUS_CHANGED,
                case.user_id,
                now,
                previous_status=previous,
                status=case.status,
                provider=case.provider,
                rejection_type=rejection,
            )
        )
        if case.status in (KycStatus.VERIFIED, KycStatus.REJECTED):
            verified = case.status is KycStatus.VERIFIED
            await uow.notifications.add(
                Notification.of(
                    case.user_id,
                    NotificationKind.KYC_DECISION,
                    now,
                    "Identity verified" if verified else "Identity check rejected",
                    _decision_text(verified, rejection),
                    status=case.status,
                    rejection_type=rejection,
                )
            )


def _summary(case: KycCase) -> dict[str, str | None]:
    """What the audit keeps of a case: no personal details."""
    return {
        "status": case.status.value,
        "rejection_type": case.rejection_type and case.rejection_type.value,
        "reason": case.reason,
    }


def _decision_text(verified: bool, rejection: str | None) -> str:
    if verified:
        return "Your identity check is approved."
    if rejection == "final":
        return "Your identity check was rejected; it cannot be retried."
    return "Your identity check was rejected; you may start it again."
