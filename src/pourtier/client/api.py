"""`PourtierClient`: the whole API, one method per route, answers parsed
into the service's own response models (see session.py for tokens).

Request bodies are the service's request models built without validation
(`model_construct`): their field names are said once, and the service stays
the one judge of the values, answering a `detail` that names the field.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

from pourtier.client.errors import ApiError, TransactionFailed, TransactionNotFinal
from pourtier.client.session import DEFAULT_URL, Amount, Session, amount_text, body_of
from pourtier.client.wallet import Wallet
from pourtier.domain.escrow import TransactionStatus
from pourtier.domain.sign_in import NoncePurpose
from pourtier.domain.subscriptions import PlanName
from pourtier.presentation.schemas import auth, dev, escrow, legal, users
from pourtier.presentation.schemas import kyc as kyc_schema
from pourtier.presentation.schemas import subscriptions as subscription_schema

__all__ = ["DEFAULT_URL", "PourtierClient"]


class PourtierClient(Session):
    """One wallet's client of one service (public routes only without one)."""

    # -- sign-in and sessions ---------------------------------------------

    async def sign(
        self, wallet: Wallet | None = None, purpose: NoncePurpose | None = None
    ) -> auth.SignedIn:
        """A fresh nonce's message, signed by `wallet` (this client's by
        default): one login or registration (a 404 from login leaves it
        usable for registering); `purpose=LINK` to link that wallet."""
        wallet = wallet or self._wallet()
        body = body_of(auth.NonceIn.model_construct(wallet_address=wallet.address))
        if purpose is not None:
            body["purpose"] = purpose
        nonce = await self._post(
            auth.NonceOut, "/api/auth/nonce", json=body, public=True
        )
        message = nonce.message
        assert message is not None  # asked for a wallet, a nonce has its text
        return auth.SignedIn.model_construct(
            wallet_address=wallet.address,
            message=message,
            signature=wallet.sign_message(message),
        )

    async def login(self, signed: auth.SignedIn | None = None) -> auth.TokenOut:
        """Sign in; `ApiError(404)` when the wallet has no account."""
        signed = signed or await self.sign()
        return self._keep(
            await self._post(
                auth.TokenOut, "/api/auth/login", json=body_of(signed), public=True
            )
        )

    async def register(
        self,
        accepted_document_ids: Sequence[uuid.UUID],
        signed: auth.SignedIn | None = None,
    ) -> auth.TokenOut:
        """Open the wallet's account, accepting the given (every active) document."""
        signed = signed or await self.sign()
        body = auth.RegisterIn.model_construct(
            **dict(signed), accepted_document_ids=list(accepted_document_ids)
        )
        answer = await self._post(
            auth.TokenOut,
            "/api/auth/register",
            json=body_of(body),
            public=True,
            ok=(201,),
        )
        return self._keep(answer)

    async def logout(self) -> None:
        """End this session at the service, then forget its tokens; tokens the
        service refuses already are forgotten all the same."""
        try:
            await self._send("POST", "/api/auth/logout", ok=(204,))
        except ApiError as error:
            if error.status != 401:
                raise
        finally:
            self.forget()

    async def sessions(self) -> list[auth.SessionOut]:
        return await self._list(auth.SessionOut, "/api/auth/sessions")

    async def end_session(self, session_id: uuid.UUID) -> None:
        await self._send("DELETE", f"/api/auth/sessions/{session_id}", ok=(204,))

    async def me(self) -> users.ProfileOut:
        return await self._get(users.ProfileOut, "/api/users/me")

    # -- linked wallets ---------------------------------------------------

    async def link_wallet(self, other: Wallet) -> users.WalletOut:
        """Prove `other` is the user's too: it signs a `link` nonce's message."""
        signed = await self.sign(other, purpose=NoncePurpose.LINK)
        return await self._post(
            users.WalletOut, "/api/users/me/wallets", json=body_of(signed), ok=(201,)
        )

    async def wallets(self) -> list[users.WalletOut]:
        return await self._list(users.WalletOut, "/api/users/me/wallets")

    async def unlink_wallet(self, address: str) -> None:
        await self._send("DELETE", f"/api/users/me/wallets/{address}", ok=(204,))

    # -- legal ------------------------------------------------------------

    async def legal_documents(self) -> list[legal.LegalDocumentOut]:
        return await self._list(
            legal.LegalDocumentOut, "/api/legal/documents", public=True
        )

    async def compliance(self) -> legal.ComplianceOut:
        return await self._get(legal.ComplianceOut, "/api/legal/compliance")

    async def accept(self, document_ids: Sequence[uuid.UUID]) -> legal.ComplianceOut:
        body = legal.AcceptIn.model_construct(document_ids=list(document_ids))
        return await self._post(
            legal.ComplianceOut, "/api/legal/accept", json=body_of(body)
        )

    # -- escrow -----------------------------------------------------------

    async def prepare_initialize(
        self, allowance: Amount | None = None
    ) -> escrow.PreparedOut:
        text = None if allowance is None else amount_text(allowance)
        body = escrow.InitializeIn.model_construct(allowance=text)
        return await self._post(
            escrow.PreparedOut, "/api/escrow/initialize", json=body_of(body)
        )

    async def prepare_deposit(self, amount: Amount) -> escrow.PreparedOut:
        body = escrow.AmountIn.model_construct(amount=amount_text(amount))
        return await self._post(
            escrow.PreparedOut, "/api/escrow/deposit", json=body_of(body)
        )

    async def prepare_withdraw(self, amount: Amount) -> escrow.PreparedOut:
        body = escrow.AmountIn.model_construct(amount=amount_text(amount))
        return await self._post(
            escrow.PreparedOut, "/api/escrow/withdraw", json=body_of(body)
        )

    async def submit(self, prepared: escrow.PreparedOut) -> escrow.SubmittedOut:
        """Sign what the service prepared with the wallet, and hand it back."""
        body = escrow.SubmitIn.model_construct(
            transaction_id=prepared.transaction_id,
            signed_transaction=self._wallet().sign_transaction(prepared.transaction),
        )
        return await self._post(
            escrow.SubmittedOut, "/api/escrow/submit", json=body_of(body), ok=(202,)
        )

    async def transaction(self, transaction_id: uuid.UUID) -> escrow.TransactionOut:
        return await self._get(
            escrow.TransactionOut, f"/api/escrow/transactions/{transaction_id}"
        )

    async def wait_final(
        self,
        transaction_id: uuid.UUID,
        wait_seconds: float = 60.0,
        interval: float = 0.25,
    ) -> escrow.TransactionOut:
        """Poll the transaction until it is final (confirmed, failed or
        expired); `TransactionNotFinal` after `wait_seconds`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while True:
            found = await self.transaction(transaction_id)
            if TransactionStatus(found.status).is_final:
                return found
            if loop.time() >= deadline:
                raise TransactionNotFinal(found)
            await asyncio.sleep(interval)

    async def settle(
        self, prepared: escrow.PreparedOut, wait_seconds: float = 60.0
    ) -> escrow.TransactionOut:
        """Sign, submit, and wait for finality: the confirmed transaction, or
        `TransactionFailed` (failed on chain, or expired)."""
        submitted = await self.submit(prepared)
        final = await self.wait_final(submitted.transaction_id, wait_seconds)
        if final.status != TransactionStatus.CONFIRMED:
            raise TransactionFailed(final)
        return final

    async def initialize_escrow(
        self, allowance: Amount | None = None
    ) -> escrow.TransactionOut:
        return await self.settle(await self.prepare_initialize(allowance))

    async def deposit(self, amount: Amount) -> escrow.TransactionOut:
        return await self.settle(await self.prepare_deposit(amount))

    async def withdraw(self, amount: Amount) -> escrow.TransactionOut:
        return await self.settle(await self.prepare_withdraw(amount))

    async def balance(self) -> escrow.BalanceOut:
        return await self._get(escrow.BalanceOut, "/api/escrow/balance")

    async def transactions(
        self, limit: int = 50, offset: int = 0, type: str | None = None
    ) -> list[escrow.TransactionOut]:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if type is not None:
            params["type"] = type
        return await self._list(
            escrow.TransactionOut, "/api/escrow/transactions", params=params
        )

    # -- subscriptions ----------------------------------------------------

    async def plans(self) -> list[subscription_schema.PlanOut]:
        return await self._list(
            subscription_schema.PlanOut, "/api/subscriptions/plans", public=True
        )

    async def subscribe(
        self,
        plan: PlanName,
        auto_renew: bool = True,
        idempotency_key: str | None = None,
    ) -> subscription_schema.SubscriptionOut:
        """Subscribe or change plan; a short balance or allowance is
        `ApiError(402)`. The answer may be `pending` (charge not final yet)."""
        body = subscription_schema.SubscribeIn.model_construct(
            plan=plan, auto_renew=auto_renew
        )
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return await self._post(
            subscription_schema.SubscriptionOut,
            "/api/subscriptions/",
            json=body_of(body),
            headers=headers,
            ok=(200, 201, 202),
        )

    async def subscriptions(
        self, status: str | None = None
    ) -> list[subscription_schema.SubscriptionOut]:
        params = {"status": status} if status else None
        return await self._list(
            subscription_schema.SubscriptionOut, "/api/subscriptions/", params=params
        )

    async def subscription(
        self, subscription_id: uuid.UUID
    ) -> subscription_schema.SubscriptionOut:
        return await self._get(
            subscription_schema.SubscriptionOut, f"/api/subscriptions/{subscription_id}"
        )

    async def access(self) -> subscription_schema.AccessOut:
        return await self._get(
            subscription_schema.AccessOut, "/api/subscriptions/check"
        )

    async def cancel(
        self, subscription_id: uuid.UUID, immediately: bool = False
    ) -> subscription_schema.SubscriptionOut:
        response = await self._send(
            "DELETE",
            f"/api/subscriptions/{subscription_id}",
            params={"immediately": str(immediately).lower()},
        )
        return subscription_schema.SubscriptionOut.model_validate_json(response.content)

    async def resume(
        self, subscription_id: uuid.UUID
    ) -> subscription_schema.SubscriptionOut:
        return await self._post(
            subscription_schema.SubscriptionOut,
            f"/api/subscriptions/{subscription_id}/resume",
        )

    # -- KYC and development ----------------------------------------------

    async def kyc(self) -> kyc_schema.KycOut:
        return await self._get(kyc_schema.KycOut, "/api/kyc")

    async def kyc_start(
        self,
        legal_name: str | None = None,
        date_of_birth: str | None = None,
        country: str | None = None,
    ) -> kyc_schema.KycStartOut:
        """Manual provider: the three details; a hosted provider: none."""
        body = kyc_schema.KycStartIn.model_construct(
            legal_name=legal_name, date_of_birth=date_of_birth, country=country
        )
        return await self._post(
            kyc_schema.KycStartOut, "/api/kyc/start", json=body_of(body)
        )

    async def faucet(self, amount: Amount) -> dev.FaucetOut:
        """Development only: SOL for fees and `amount` test USDC to the wallet."""
        body = dev.FaucetIn.model_construct(
            wallet_address=self._wallet().address, amount=amount_text(amount)
        )
        return await self._post(
            dev.FaucetOut, "/api/dev/faucet", json=body_of(body), public=True
        )
