"""The escrow's `Node` over Solana JSON-RPC: devnet, mainnet or any validator.

Commitments:
- blockhashes, account reads and preflight simulation use `confirmed`, the
  level wallets show and the one at which a fresh blockhash is known;
- `signature_state` reports processed/confirmed/finalized as the node does:
  callers credit only FINALIZED and show the rest as pending. A transaction
  that executed with an error is FAILED once finalized, pending before;
- `block_height` is the `finalized` height, so a transaction is declared
  expired (height > its lastValidBlockHeight) only once it can no longer land.
- an address's history (`signatures`, `get_transaction`) is read at
  `finalized`: a movement found there can no longer be rolled back.

Sending: `send_raw` broadcasts the exact signed bytes with preflight on; the
caller keeps those bytes and their lastValidBlockHeight and sends the same
bytes again until the signature is final or expired, never re-signing.
Sending bytes that already landed is harmless: the node's "already processed"
answer counts as success.

A preflight failure (the simulation fails, the blockhash is unknown or
expired, the signature does not verify, the bytes are not a transaction)
raises ChainRejected with the node's reason as the detail (e.g. "simulation
failed: Error processing Instruction 0: custom program error: 0x1 (...)"):
nothing was broadcast by that call. An *earlier* broadcast of the same bytes
may still land until the blockhash expires, so a rebroadcast that is rejected
does not make the transaction failed: follow `signature_state` and
`block_height` instead.

Every transport failure, timeout, HTTP error status, unhealthy node, JSON-RPC
internal error or unreadable answer raises ChainUnavailable("solana node
unreachable: ..."). Details never include the URL, which often carries an
API key.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx2
import structlog
from solana.exceptions import SolanaRpcException
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed, Finalized
from solana.rpc.core import RPCException, RPCNoResultException
from solana.rpc.models import TxOpts
from solders.account import Account
from solders.errors import SerdeJSONError
from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.rpc.errors import (
    InternalErrorMessage,
    InvalidRequestMessage,
    MethodNotFoundMessage,
    NodeUnhealthyMessage,
    ParseErrorMessage,
    SendTransactionPreflightFailureMessage,
)
from solders.rpc.responses import RpcSimulateTransactionResult
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_status import (
    TransactionConfirmationStatus,
    TransactionErrorFieldless,
    TransactionErrorType,
    UiTransactionTokenBalance,
)

from pourtier.domain.escrow import (
    ChainRejected,
    ChainUnavailable,
    Commitment,
    SignatureState,
)
from pourtier.infrastructure.solana.node import (
    NEWEST,
    ChainTransaction,
    HistoryPage,
    SignatureInfo,
    TokenBalance,
)

log = structlog.get_logger(__name__)

DEFAULT_TIMEOUT_SECONDS = 5.0
T = TypeVar("T")

_COMMITMENTS = (  # solders' levels are not hashable: no dict
    (TransactionConfirmationStatus.Processed, Commitment.PROCESSED),
    (TransactionConfirmationStatus.Confirmed, Commitment.CONFIRMED),
    (TransactionConfirmationStatus.Finalized, Commitment.FINALIZED),
)
# JSON-RPC errors that say the node, not the transaction, is the problem.
_NODE_ERRORS = (
    NodeUnhealthyMessage,
    InternalErrorMessage,
    ParseErrorMessage,
    InvalidRequestMessage,
    MethodNotFoundMessage,
)
# Everything a request can fail with, short of a bug in this module.
_FAILURES = (
    TimeoutError,
    RPCException,
    RPCNoResultException,
    SolanaRpcException,
    httpx2.HTTPError,
    SerdeJSONError,  # an answer that is not the JSON it should be
    ValueError,
)


class RpcNode:
    """A Node over the `solana` package's AsyncClient; one per process."""

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self._timeout = timeout
        self._client = AsyncClient(url, commitment=Confirmed, timeout=timeout)

    def __repr__(self) -> str:
        return "RpcNode(<url hidden>)"

    async def close(self) -> None:
        await self._client.close()

    async def _call(self, method: str, request: Callable[[], Awaitable[T]]) -> T:
        """Run one request; every way it can fail becomes ChainUnavailable."""
        try:
            async with asyncio.timeout(self._timeout):
                return await request()
        except _FAILURES as error:
            raise self._unavailable(method, error) from None

    def _unavailable(self, method: str, error: Exception) -> ChainUnavailable:
        reason = _failure_reason(error, self._timeout)
        log.warning("solana rpc call failed", method=method, reason=reason)
        return ChainUnavailable(f"solana node unreachable: {method}: {reason}")

    # --- the Node protocol ---------------------------------------------------

    async def latest_blockhash(self) -> tuple[Hash, int]:
        response = await self._call(
            "getLatestBlockhash", lambda: self._client.get_latest_blockhash(Confirmed)
        )
        return response.value.blockhash, response.value.last_valid_block_height

    async def get_account(self, address: Pubkey) -> Account | None:
        response = await self._call(
            "getAccountInfo",
            lambda: self._client.get_account_info(address, Confirmed, "base64"),
        )
        value: Account | None = response.value
        return value

    async def minimum_balance(self, size: int) -> int:
        response = await self._call(
            "getMinimumBalanceForRentExemption",
            lambda: self._client.get_minimum_balance_for_rent_exemption(size),
        )
        return int(response.value)

    async def send_raw(self, transaction: bytes) -> None:
        """Broadcast with preflight at `confirmed`; see the module docstring."""
        options = TxOpts(
            skip_confirmation=True,
            skip_preflight=False,
            preflight_commitment=Confirmed,
        )
        try:
            async with asyncio.timeout(self._timeout):
                await self._client.send_raw_transaction(transaction, options)
        except RPCException as error:
            detail = error.args[0] if error.args else None
            if isinstance(detail, SendTransactionPreflightFailureMessage):
                if detail.data.err == TransactionErrorFieldless.AlreadyProcessed:
                    return  # these bytes landed before: sending again is harmless
                raise ChainRejected(_preflight_reason(detail)) from None
            if detail is not None and not isinstance(detail, _NODE_ERRORS):
                # -32602 undecodable bytes, -32003 signature verification, ...
                raise ChainRejected(_message_of(detail)) from None
            raise self._unavailable("sendTransaction", error) from None
        except _FAILURES as error:
            raise self._unavailable("sendTransaction", error) from None

    async def signature_state(self, signature: Signature) -> SignatureState:
        response = await self._call(
            "getSignatureStatuses",
            lambda: self._client.get_signature_statuses(
                [signature], search_transaction_history=True
            ),
        )
        status = response.value[0] if response.value else None
        if status is None:
            return SignatureState(Commitment.UNKNOWN)
        level = status.confirmation_status
        if level is None:  # old nodes: no level; no confirmation count means rooted
            rooted = status.confirmations is None
            commitment = Commitment.FINALIZED if rooted else Commitment.CONFIRMED
        else:
            commitment = next(
                (ours for theirs, ours in _COMMITMENTS if level == theirs),
                Commitment.PROCESSED,
            )
        if status.err is not None and commitment is Commitment.FINALIZED:
            # Only a finalized failure is final; until then it is pending too.
            return SignatureState(Commitment.FAILED, transaction_error_text(status.err))
        return SignatureState(commitment)

    async def request_airdrop(self, address: Pubkey, lamports: int) -> Signature:
        """Local and test clusters only: new SOL for an address."""
        response = await self._call(
            "requestAirdrop",
            lambda: self._client.request_airdrop(address, lamports, Confirmed),
        )
        signature: Signature = response.value
        return signature

    async def block_height(self) -> int:
        response = await self._call(
            "getBlockHeight", lambda: self._client.get_block_height(Finalized)
        )
        return int(response.value)

    async def health(self) -> str:
        healthy = await self._call("getHealth", self._client.is_connected)
        if not healthy:
            raise ChainUnavailable("solana node unreachable: getHealth: not healthy")
        return "solana-rpc"

    async def signatures(
        self, address: Pubkey, page: HistoryPage = NEWEST
    ) -> list[SignatureInfo]:
        before, until = page.before, page.until
        response = await self._call(
            "getSignaturesForAddress",
            lambda: self._client.get_signatures_for_address(
                address,
                before=Signature.from_string(before) if before else None,
                until=Signature.from_string(until) if until else None,
                limit=page.limit,
                commitment=Finalized,
            ),
        )
        return [
            SignatureInfo(
                signature=str(item.signature),
                slot=item.slot,
                error=transaction_error_text(item.err) if item.err else None,
                block_time=item.block_time,
            )
            for item in response.value
        ]

    async def get_transaction(self, signature: str) -> ChainTransaction | None:
        """Base64, so the exact signed bytes come back (and their message)."""
        response = await self._call(
            "getTransaction",
            lambda: self._client.get_transaction(
                Signature.from_string(signature),
                encoding="base64",
                commitment=Finalized,
                max_supported_transaction_version=0,
            ),
        )
        found = response.value
        if found is None:
            return None
        meta = found.transaction.meta
        transaction = found.transaction.transaction
        if meta is None or not isinstance(transaction, VersionedTransaction):
            raise self._unavailable(
                "getTransaction", ValueError("no metadata or raw bytes")
            )
        keys = [str(key) for key in transaction.message.account_keys]
        loaded = meta.loaded_addresses
        if loaded is not None:
            keys += [str(key) for key in [*loaded.writable, *loaded.readonly]]
        return ChainTransaction(
            signature=signature,
            slot=found.slot,
            block_time=found.block_time,
            error=transaction_error_text(meta.err) if meta.err else None,
            transaction=bytes(transaction),
            account_keys=keys,
            pre_token_balances=_token_balances(meta.pre_token_balances),
            post_token_balances=_token_balances(meta.post_token_balances),
            fee=meta.fee,
            pre_balances=list(meta.pre_balances),
            post_balances=list(meta.post_balances),
            logs=list(meta.log_messages or []),
        )


def _token_balances(
    balances: list[UiTransactionTokenBalance] | None,
) -> list[TokenBalance]:
    return [
        TokenBalance(
            account_index=balance.account_index,
            mint=str(balance.mint),
            owner=str(balance.owner) if balance.owner else None,
            amount=int(balance.ui_token_amount.amount),
            decimals=balance.ui_token_amount.decimals,
        )
        for balance in balances or []
    ]


def transaction_error_text(err: TransactionErrorType) -> str:
    """A transaction error as the node writes it: {"InstructionError":[0,...]}."""
    rendered = json.loads(RpcSimulateTransactionResult(err=err).to_json())["err"]
    return json.dumps(rendered, separators=(",", ":"))


def _message_of(detail: object) -> str:
    message = getattr(detail, "message", None)
    if message:
        return str(message)
    # Fieldless errors, e.g. RpcCustomErrorFieldless.TransactionSignatureLenMismatch
    name = str(detail).rsplit(".", 1)[-1]
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()


def _failure_reason(error: Exception, timeout: float) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(error, RPCException):
        detail = error.args[0] if error.args else None
        if isinstance(detail, NodeUnhealthyMessage):
            behind = detail.data.num_slots_behind
            suffix = f" ({behind} slots behind)" if behind else ""
            return f"the node is unhealthy{suffix}"
        return f"JSON-RPC error: {_message_of(detail)}"
    if isinstance(error, SolanaRpcException) and error.__cause__ is not None:
        cause = error.__cause__
        if isinstance(cause, httpx2.HTTPError):
            return _transport_reason(cause)
    if isinstance(error, httpx2.HTTPError):
        return _transport_reason(error)
    return "its answer could not be read"


def _transport_reason(error: httpx2.HTTPError) -> str:
    if isinstance(error, httpx2.HTTPStatusError):
        response = error.response
        return f"HTTP {response.status_code} {response.reason_phrase}".strip()
    if isinstance(error, httpx2.TimeoutException):
        return "timed out"
    if isinstance(error, httpx2.ConnectError):
        return "connection refused or host unreachable"
    return f"transport error ({type(error).__name__})"


def _preflight_reason(detail: SendTransactionPreflightFailureMessage) -> str:
    if detail.data.err == TransactionErrorFieldless.BlockhashNotFound:
        return (
            "the transaction expired: the node does not know its blockhash "
            "(prepare it again)"
        )
    reason = detail.message.removeprefix("Transaction simulation failed: ")
    logs = detail.data.logs or []
    failed = next((line for line in reversed(logs) if " failed: " in line), None)
    if failed:
        reason += f" ({failed})"
    return f"simulation failed: {reason}"
