"""`PourtierClient`: the whole API over httpx, answers parsed into the
service's own response models, tokens refreshed by themselves.

Request bodies are the service's request models built without validation
(`model_construct`): their field names are said once, and the service stays
the one judge of the values, answering a `detail` that names the field.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from pourtier.client.errors import ApiError, TransactionFailed, TransactionNotFinal
from pourtier.client.tokens import MemoryTokenStore, Tokens, TokenStore
from pourtier.client.wallet import Wallet
from pourtier.domain.escrow import TransactionStatus
from pourtier.domain.subscriptions import PlanName
from pourtier.presentation.schemas import auth, dev, escrow, legal, users
from pourtier.presentation.schemas import kyc as kyc_schema
from pourtier.presentation.schemas import subscriptions as subscription_schema

M = TypeVar("M", bound=BaseModel)
Amount = Decimal | str
DEFAULT_URL = "http://localhost:9000"


def _body(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True)


def _amount(value: Amount) -> str:
    if isinstance(value, float):
        raise TypeError("amounts are Decimal or str, never float")
    return str(value)


class PourtierClient:
    """One wallet's client of one service.

    Without a wallet it can only call the public routes. Tokens come from the
    store (keyed by URL and wallet) and go back to it whenever they change;
    an expired or refused access token is refreshed once, then the request
    is sent again.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        wallet: Wallet | None = None,
        *,
        store: TokenStore | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.wallet = wallet
        self.store: TokenStore = store or MemoryTokenStore()
        self._http = httpx.AsyncClient(
            base_url=self.url, transport=transport, timeout=timeout
        )
        self._refreshing = asyncio.Lock()

    async def __aenter__(self) -> PourtierClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- tokens -----------------------------------------------------------

    def _wallet(self) -> Wallet:
        if self.wallet is None:
            raise ValueError("this call needs a wallet: PourtierClient(url, wallet)")
        return self.wallet

    @property
    def tokens(self) -> Tokens | None:
        if self.wallet is None:
            return None
        return self.store.load(self.url, self.wallet.address)

    def _keep(self, answer: auth.TokenOut) -> auth.TokenOut:
        tokens = Tokens.issued(
            answer.access_token, answer.refresh_token, answer.expires_in
        )
        self.store.save(self.url, self._wallet().address, tokens)
        return answer

    def forget(self) -> None:
        """Drop the stored tokens (what a logout does locally)."""
        if self.wallet is not None:
            self.store.clear(self.url, self.wallet.address)

    async def refresh(self) -> auth.TokenOut:
        """Redeem the refresh token for a new pair (the old one is rotated)."""
        tokens = self.tokens
        if tokens is None:
            raise ApiError(401, "Not signed in")
        body = auth.RefreshIn.model_construct(refresh_token=tokens.refresh_token)
        response = await self._http.post("/api/auth/refresh", json=_body(body))
        if response.status_code != 200:
            if response.status_code == 401:
                self.forget()  # the session has ended: these tokens are dead
            raise ApiError.of(response)
        return self._keep(auth.TokenOut.model_validate_json(response.content))

    async def _refresh_after(self, used: Tokens | None) -> None:
        """Refresh once, unless a concurrent request already did since `used`."""
        async with self._refreshing:
            if self.tokens == used:
                await self.refresh()

    # -- requests ---------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
        ok: Sequence[int] = (200,),
    ) -> httpx.Response:
        async def send(tokens: Tokens | None) -> httpx.Response:
            sent = dict(headers or {})
            if tokens is not None:
                sent["Authorization"] = f"Bearer {tokens.access_token}"
            return await self._http.request(
                method, path, json=json, params=params, headers=sent
            )

        tokens = self.tokens if auth else None
        if tokens is not None and tokens.expired():
            await self._refresh_after(tokens)
            tokens = self.tokens
        response = await send(tokens)
        if response.status_code == 401 and tokens is not None:
            await self._refresh_after(tokens)
            response = await send(self.tokens)
        if response.status_code not in ok:
            raise ApiError.of(response)
        return response

    async def _get(self, model: type[M], path: str, **kwargs: Any) -> M:
        response = await self._send("GET", path, **kwargs)
        return model.model_validate_json(response.content)

    async def _post(self, model: type[M], path: str, **kwargs: Any) -> M:
        response = await self._send("POST", path, **kwargs)
        return model.model_validate_json(response.content)

    async def _list(self, model: type[M], path: str, **kwargs: Any) -> list[M]:
        response = await self._send("GET", path, **kwargs)
        return TypeAdapter(list[model]).validate_json(response.content)  # type: ignore[valid-type]

    # -- sign-in and sessions ---------------------------------------------

    async def sign(self, purpose: str | None = None) -> auth.SignedIn:
        """A fresh nonce's message, signed by the wallet: one login or
        registration (a 404 from login leaves it usable for registering)."""
        wallet = self._wallet()
        body = _body(auth.NonceIn.model_construct(wallet_address=wallet.address))
        if purpose is not None:
            body["purpose"] = purpose
        nonce = await self._post(
            auth.NonceOut, "/api/auth/nonce", json=body, auth=False
        )
        return auth.SignedIn.model_construct(
            wallet_address=wallet.address,
            message=nonce.message,
            signature=wallet.sign_message(nonce.message),
        )

    async def login(self, signed: auth.SignedIn | None = None) -> auth.TokenOut:
        """Sign in; `ApiError(404)` when the wallet has no account."""
        signed = signed or await self.sign()
        return self._keep(
            await self._post(
                auth.TokenOut, "/api/auth/login", json=_body(signed), auth=False
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
            auth.TokenOut, "/api/auth/register", json=_body(body), auth=False, ok=(201,)
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

    async def link_wallet(self, other: Wallet) -> dict[str, Any]:
        """Prove `other` is the user's too: it signs a `link` nonce's message."""
        nonce = await self._post(
            auth.NonceOut,
            "/api/auth/nonce",
            json={"wallet_address": other.address, "purpose": "link"},
            auth=False,
        )
        body = {
            "wallet_address": other.address,
            "message": nonce.message,
            "signature": other.sign_message(nonce.message),
        }
        response = await self._send(
            "POST", "/api/users/me/wallets", json=body, ok=(201,)
        )
        linked: dict[str, Any] = response.json()
        return linked

    async def wallets(self) -> list[dict[str, Any]]:
        response = await self._send("GET", "/api/users/me/wallets")
        linked: list[dict[str, Any]] = response.json()
        return linked

    # -- legal ------------------------------------------------------------

    async def legal_documents(self) -> list[legal.LegalDocumentOut]:
        return await self._list(
            legal.LegalDocumentOut, "/api/legal/documents", auth=False
        )

    async def compliance(self) -> legal.ComplianceOut:
        return await self._get(legal.ComplianceOut, "/api/legal/compliance")

    async def accept(self, document_ids: Sequence[uuid.UUID]) -> legal.ComplianceOut:
        body = legal.AcceptIn.model_construct(document_ids=list(document_ids))
        return await self._post(
            legal.ComplianceOut, "/api/legal/accept", json=_body(body)
        )

    # -- escrow -----------------------------------------------------------

    async def prepare_initialize(
        self, allowance: Amount | None = None
    ) -> escrow.PreparedOut:
        text = None if allowance is None else _amount(allowance)
        body = escrow.InitializeIn.model_construct(allowance=text)
        return await self._post(
            escrow.PreparedOut, "/api/escrow/initialize", json=_body(body)
        )

    async def prepare_deposit(self, amount: Amount) -> escrow.PreparedOut:
        body = escrow.AmountIn.model_construct(amount=_amount(amount))
        return await self._post(
            escrow.PreparedOut, "/api/escrow/deposit", json=_body(body)
        )

    async def prepare_withdraw(self, amount: Amount) -> escrow.PreparedOut:
        body = escrow.AmountIn.model_construct(amount=_amount(amount))
        return await self._post(
            escrow.PreparedOut, "/api/escrow/withdraw", json=_body(body)
        )

    async def submit(self, prepared: escrow.PreparedOut) -> escrow.SubmittedOut:
        """Sign what the service prepared with the wallet, and hand it back."""
        body = escrow.SubmitIn.model_construct(
            transaction_id=prepared.transaction_id,
            signed_transaction=self._wallet().sign_transaction(prepared.transaction),
        )
        return await self._post(
            escrow.SubmittedOut, "/api/escrow/submit", json=_body(body), ok=(202,)
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
            subscription_schema.PlanOut, "/api/subscriptions/plans", auth=False
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
            json=_body(body),
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
            kyc_schema.KycStartOut, "/api/kyc/start", json=_body(body)
        )

    async def faucet(self, amount: Amount) -> dev.FaucetOut:
        """Development only: SOL for fees and `amount` test USDC to the wallet."""
        body = dev.FaucetIn.model_construct(
            wallet_address=self._wallet().address, amount=_amount(amount)
        )
        return await self._post(
            dev.FaucetOut, "/api/dev/faucet", json=_body(body), auth=False
        )
