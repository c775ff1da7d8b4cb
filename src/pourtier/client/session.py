"""The client's session: httpx, the wallet's tokens (from a pluggable
store, refreshed by themselves) and answers parsed into the service's own
response models; `PourtierClient` (api.py) adds one method per route."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from pourtier.client.errors import ApiError
from pourtier.client.tokens import MemoryTokenStore, Tokens, TokenStore
from pourtier.client.wallet import Wallet
from pourtier.presentation.schemas import auth

M = TypeVar("M", bound=BaseModel)
Amount = Decimal | str
DEFAULT_URL = "http://localhost:9000"


def body_of(model: BaseModel) -> dict[str, Any]:
    """Only what was given: the service applies its own defaults (the same
    model's), and a route taking fewer fields gets no unknown one."""
    return model.model_dump(mode="json", exclude_none=True, exclude_defaults=True)


def amount_text(value: Amount) -> str:
    if isinstance(value, float):
        raise TypeError("amounts are Decimal or str, never float")
    return str(value)


class Session:
    """One wallet's session with one service: its tokens and its requests.

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

    async def __aenter__(self) -> Self:
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
        response = await self._http.post("/api/auth/refresh", json=body_of(body))
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
        public: bool = False,
        ok: Sequence[int] = (200,),
    ) -> httpx.Response:
        async def send(tokens: Tokens | None) -> httpx.Response:
            sent = dict(headers or {})
            if tokens is not None:
                sent["Authorization"] = f"Bearer {tokens.access_token}"
            return await self._http.request(
                method, path, json=json, params=params, headers=sent
            )

        tokens = None if public else self.tokens
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
