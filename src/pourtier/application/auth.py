"""Sign-in with a wallet, sessions, token rotation and logout."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pourtier.application.cached import ReadsThroughCache
from pourtier.application.legal import check_accepts_all_active
from pourtier.domain.auth import (
    AccessClaims,
    AccessTokenCodec,
    AuthSession,
    ClientInfo,
    RefreshToken,
    SignatureVerifier,
    SignInStore,
    hash_token,
    new_refresh_token,
)
from pourtier.domain.errors import AuthenticationFailed, Conflict, InvalidInput, owned
from pourtier.domain.events import Event, EventType
from pourtier.domain.legal import Acceptance
from pourtier.domain.sign_in import (
    IssuedNonce,
    Nonce,
    NoncePurpose,
    SignInMessage,
    SignInPolicy,
    new_nonce,
)
from pourtier.domain.sign_in_proof import SignInProof
from pourtier.domain.unit_of_work import UnitOfWork
from pourtier.domain.users import User, UserWallet, validate_wallet_address

WalletBudget = Callable[[str], Awaitable[None]]
"""Spends one sign-in of a wallet's budget, or raises to refuse the request.

Called only once the wallet's signature has verified: asking for a nonce
needs no signature, so a budget spent by whoever names a wallet would let
anyone lock that wallet out.
"""


SESSIONS_LISTED = 100
"""At most this many sessions are listed to their user, the newest."""
ENDED_BY_USER = "ended_by_user"
"""Why a session ended when its user ended it from the list."""


async def unlimited(wallet_address: str) -> None:
    """The budget when none is kept (rate limiting off)."""


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    user: User


@dataclass(frozen=True)
class Authenticated:
    """Who is calling, checked: the user and the access token's claims."""

    user: User
    claims: AccessClaims


@dataclass(kw_only=True)
class AuthUseCases(ReadsThroughCache):
    sign_ins: SignInStore
    policy: SignInPolicy
    verifier: SignatureVerifier
    tokens: AccessTokenCodec
    refresh_ttl: timedelta

    async def issue_nonce(
        self,
        wallet_address: str | None,
        purpose: NoncePurpose = NoncePurpose.SIGN_IN,
    ) -> IssuedNonce:
        """A nonce for the wallet, or for whichever wallet uses it first
        (Wallet Standard's `signIn` says the address only in its output).
        Linking proves one named wallet, so a link nonce is always bound."""
        if wallet_address is not None:
            validate_wallet_address(wallet_address)
        elif purpose == NoncePurpose.LINK:
            raise InvalidInput("wallet_address is required to link a wallet")
        now = self.clock()
        nonce = Nonce(
            value=new_nonce(),
            wallet_address=wallet_address,
            issued_at=now,
            expires_at=now + self.policy.nonce_ttl,
            purpose=purpose,
        )
        await self.sign_ins.add_nonce(nonce)
        return IssuedNonce(nonce, self.policy.input_for(nonce))

    async def _check_message(
        self,
        proof: SignInProof,
        budget: WalletBudget,
        now: datetime,
        purpose: NoncePurpose = NoncePurpose.SIGN_IN,
    ) -> SignInMessage:
        """Every check before the nonce's, cheapest first; the wallet's
        budget is spent as soon as its signature has verified. Whatever form
        the proof came in, its text is checked as a bare one."""
        wallet_address = proof.wallet_address
        validate_wallet_address(wallet_address)
        opened = proof.opened()
        parsed = SignInMessage.parse(opened.text)
        self.policy.check(parsed, wallet_address, now, purpose)
        self.verifier.verify(wallet_address, opened.signed, opened.signature)
        await budget(wallet_address)
        return parsed

    async def _check_signed(
        self,
        uow: UnitOfWork,
        proof: SignInProof,
        budget: WalletBudget,
        purpose: NoncePurpose = NoncePurpose.SIGN_IN,
    ) -> SignInMessage:
        """Every check except consuming the nonce."""
        now = self.clock()
        parsed = await self._check_message(proof, budget, now, purpose)
        nonce = await uow.nonces.get(parsed.nonce)
        if nonce is None:
            raise AuthenticationFailed("nonce", "nonce was not issued by this server")
        nonce.check_usable(proof.wallet_address, now, purpose)
        return parsed

    async def _consume_nonce(
        self, uow: UnitOfWork, parsed: SignInMessage, wallet_address: str
    ) -> None:
        if not await uow.nonces.consume(parsed.nonce, wallet_address, self.clock()):
            raise AuthenticationFailed("nonce", "nonce has already been used")

    async def verify(self, proof: SignInProof, budget: WalletBudget) -> bool:
        """Whether the wallet has an account, once its signed message checks out."""
        async with self.uow() as uow:
            await self._check_signed(uow, proof, budget)
            return await uow.users.get_by_wallet(proof.wallet_address) is not None

    async def register(
        self,
        proof: SignInProof,
        accepted_document_ids: Sequence[uuid.UUID],
        client: ClientInfo,
        budget: WalletBudget,
    ) -> TokenPair:
        wallet_address = proof.wallet_address
        async with self.uow() as uow:
            parsed = await self._check_signed(uow, proof, budget)
            if await uow.users.get_by_wallet(wallet_address) is not None:
                raise Conflict("this wallet already has an account; log in instead")
            documents = check_accepts_all_active(
                await uow.legal.active_documents(), accepted_document_ids
            )
            await self._consume_nonce(uow, parsed, wallet_address)
            now = self.clock()
            user = User.register(wallet_address, now)
            await uow.users.add(user)
            await uow.legal.add_acceptances(
                [
                    Acceptance.of(
                        user.id, doc, now, client.ip_address, client.user_agent
                    )
                    for doc in documents
                ]
            )
            await uow.outbox.add(
                Event.about_user(
                    EventType.USER_REGISTERED,
                    user.id,
                    now,
                    wallet_address=user.wallet_address,
                    accepted_document_ids=[doc.id for doc in documents],
                )
            )
            pair = await self._start_session(uow, user, client)
            await uow.commit()
        return pair

    async def login(
        self, proof: SignInProof, client: ClientInfo, budget: WalletBudget
    ) -> TokenPair:
        """One statement after the message checks: it consumes the nonce,
        stamps the last login and opens the session (see `SignInStore`)."""
        now = self.clock()
        wallet_address = proof.wallet_address
        parsed = await self._check_message(proof, budget, now)
        refresh = new_refresh_token()
        token = self._refresh_token(refresh, uuid.uuid4(), None, now)
        found = await self.sign_ins.log_in(wallet_address, parsed.nonce, token, client)
        user = found.signed_in(wallet_address, now)
        access = self.tokens.issue(user, token.session_id, now)
        return TokenPair(access, refresh, self.tokens.expires_in_seconds, user)

    async def link_wallet(
        self, user_id: uuid.UUID, proof: SignInProof, budget: WalletBudget
    ) -> UserWallet:
        """Link the proof's wallet to the user's account: it signs in to it
        from then on. The proof is a sign-in's in every respect but its
        purpose (`link`: its own statement and nonce). A wallet that is any
        account's already, this one's too, is a conflict."""
        wallet_address = proof.wallet_address
        async with self.uow() as uow:
            parsed = await self._check_signed(uow, proof, budget, NoncePurpose.LINK)
            if await uow.users.get_by_wallet(wallet_address) is not None:
                raise Conflict("this wallet already belongs to an account")
            await self._consume_nonce(uow, parsed, wallet_address)
            now = self.clock()
            wallet = UserWallet(wallet_address, user_id, now)
            await uow.users.link_wallet(wallet)
            await uow.outbox.add(
                Event.about_user(
                    EventType.WALLET_LINKED,
                    user_id,
                    now,
                    wallet_address=wallet_address,
                )
            )
            await uow.commit()
        return wallet

    async def _start_session(
        self, uow: UnitOfWork, user: User, client: ClientInfo
    ) -> TokenPair:
        now = self.clock()
        session = AuthSession(
            user_id=user.id,
            created_at=now,
            ip_address=client.ip_address,
            user_agent=client.user_agent,
        )
        await uow.sessions.add_session(session)
        return await self._issue_pair(uow, user, session.id, parent_id=None)

    async def _issue_pair(
        self,
        uow: UnitOfWork,
        user: User,
        session_id: uuid.UUID,
        parent_id: uuid.UUID | None,
    ) -> TokenPair:
        now = self.clock()
        refresh = new_refresh_token()
        await uow.sessions.add_refresh_token(
            self._refresh_token(refresh, session_id, parent_id, now)
        )
        access = self.tokens.issue(user, session_id, now)
        return TokenPair(access, refresh, self.tokens.expires_in_seconds, user)

    def _refresh_token(
        self,
        refresh: str,
        session_id: uuid.UUID,
        parent_id: uuid.UUID | None,
        now: datetime,
    ) -> RefreshToken:
        return RefreshToken(
            session_id=session_id,
            token_hash=hash_token(refresh),
            issued_at=now,
            expires_at=now + self.refresh_ttl,
            parent_id=parent_id,
        )

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate: each token works once; a replay ends the whole session.

        A rotated token is honoured once more, for a second tab refreshing at
        the same time (see `RefreshToken.may_redeem_again`). The token's row
        lock serialises concurrent uses, so of several only one gets it.
        """
        now = self.clock()
        async with self.uow() as uow:
            token = await uow.sessions.refresh_token_for_update(
                hash_token(refresh_token)
            )
            if token is None:
                raise AuthenticationFailed(
                    "refresh_token", "refresh token is not valid"
                )
            session = await uow.sessions.get_session(token.session_id)
            if session is None or session.revoked_at is not None:
                raise AuthenticationFailed("refresh_token", "the session has ended")
            if token.expires_at <= now:
                raise AuthenticationFailed("refresh_token", "refresh token has expired")
            if token.used_at is not None:
                children = await uow.sessions.children_of(token.id)
                if not token.may_redeem_again(children, now):
                    await uow.sessions.revoke_session(session.id, now, "token_reuse")
                    await _revoked(
                        uow, session.user_id, [session.id], "token_reuse", now
                    )
                    await uow.commit()
                    raise AuthenticationFailed(
                        "refresh_token",
                        "refresh token was already used; the session has been ended",
                    )
            else:
                await uow.sessions.mark_refresh_token_used(token.id, now)
            if not await uow.sessions.touch_session(session.id, now):
                # Ended since it was read: no new tokens for it.
                raise AuthenticationFailed("refresh_token", "the session has ended")
            user = await uow.users.get(session.user_id)
            if user is None:
                raise AuthenticationFailed("refresh_token", "the account is gone")
            pair = await self._issue_pair(uow, user, session.id, parent_id=token.id)
            await uow.commit()
        return pair

    async def authenticate(self, access_token: str) -> Authenticated:
        """Decode the JWT, then insist its session is still live."""
        claims = self.tokens.decode(access_token)
        async with self._reads as reads:
            session = await reads.session(claims.session_id)
            if (
                session is None
                or session.revoked_at is not None
                or session.user_id != claims.user_id
            ):
                raise AuthenticationFailed("session", "the session has ended")
            user = await reads.user(claims.user_id)
        if user is None:
            raise AuthenticationFailed("session", "the account is gone")
        return Authenticated(user, claims)

    async def purge_expired_nonces(self) -> int:
        """Drop nonces past their lifetime; they can never be used again."""
        async with self.uow() as uow:
            removed = await uow.nonces.delete_expired(self.clock())
            await uow.commit()
        return removed

    async def logout(self, session_id: uuid.UUID) -> None:
        now = self.clock()
        async with self.uow() as uow:
            session = await uow.sessions.get_session(session_id)
            await uow.sessions.revoke_session(session_id, now, "logout")
            if session is not None and session.revoked_at is None:
                await _revoked(uow, session.user_id, [session_id], "logout", now)
            await uow.commit()

    async def sessions(self, user_id: uuid.UUID) -> list[AuthSession]:
        """The user's sessions still live, newest first (ended ones are gone
        for good: nothing can be done with them)."""
        async with self.uow() as uow:
            return await uow.sessions.live_sessions_of(user_id, SESSIONS_LISTED)

    async def end_session(self, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
        """End one of the user's live sessions, the current one too (a
        logout); another user's, an unknown or an ended one is not found."""
        now = self.clock()
        async with self.uow() as uow:
            found = await uow.sessions.get_session(session_id)
            live = found if found is not None and found.revoked_at is None else None
            session = owned(live, user_id, "session")
            await uow.sessions.revoke_session(session.id, now, ENDED_BY_USER)
            await _revoked(uow, user_id, [session.id], ENDED_BY_USER, now)
            await uow.commit()

    async def logout_all(self, user_id: uuid.UUID) -> list[uuid.UUID]:
        now = self.clock()
        async with self.uow() as uow:
            ended = await uow.sessions.revoke_user_sessions(user_id, now, "logout_all")
            await _revoked(uow, user_id, ended, "logout_all", now)
            await uow.commit()
        return ended


async def _revoked(
    uow: UnitOfWork,
    user_id: uuid.UUID,
    session_ids: Sequence[uuid.UUID],
    reason: str,
    now: datetime,
) -> None:
    """`session.revoked` for the sessions just ended (none: nothing to tell)."""
    if session_ids:
        await uow.outbox.add(
            Event.about_user(
                EventType.SESSION_REVOKED,
                user_id,
                now,
                session_ids=list(session_ids),
                reason=reason,
            )
        )
