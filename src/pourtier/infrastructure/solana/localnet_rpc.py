"""Solana JSON-RPC 2.0 over HTTP in front of the local LiteSVM chain.

It answers the methods the service and stock clients (solana-py's AsyncClient,
@solana/web3.js's Connection) use, in the shapes a real node answers:
getHealth, getVersion, getSlot, getBlockHeight, getLatestBlockhash,
getMinimumBalanceForRentExemption, getAccountInfo, getBalance,
getTokenAccountBalance, sendTransaction, simulateTransaction,
getSignatureStatuses, requestAirdrop, and the chain's history:
getSignaturesForAddress and getTransaction (json/base64, with token
balances). Malformed input gets JSON-RPC errors. The reads are in
localnet_reads.py; this module sends, simulates and serves them all.

Every landed transaction is final at once (one block each; see local.py).
`pourtier localnet` serves this app; tests run it in a thread and steer its
fault modes through a subclass (tests/support/rpc_server.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from solders.message import Message
from solders.transaction import Transaction
from solders.transaction_metadata import FailedTransactionMetadata
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from pourtier.domain.escrow import Commitment
from pourtier.infrastructure.solana.local_chain import LocalChain
from pourtier.infrastructure.solana.localnet_reads import Landed, LocalnetReads
from pourtier.infrastructure.solana.rpc_shapes import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    PREFLIGHT_FAILURE,
    SIGNATURE_VERIFICATION_FAILURE,
    RpcError,
    decode_transaction,
    describe,
    error_json,
    param_config,
    param_list,
    parse_pubkey,
    reply,
    simulation_result,
)

MAX_AIRDROP_LAMPORTS = 1_000 * 1_000_000_000


def simulation_failure(message: str, err: Any, logs: list[str]) -> RpcError:
    return RpcError(
        PREFLIGHT_FAILURE,
        f"Transaction simulation failed: {message}",
        simulation_result(err, logs, 0),
    )


class LocalnetRpc(LocalnetReads):
    """The JSON-RPC methods over one LocalChain; `app` serves them."""

    def __init__(self, chain: LocalChain) -> None:
        super().__init__(chain)
        self.methods: dict[str, Callable[[Any], Any]] = {
            "getHealth": self._get_health,
            "getVersion": self._get_version,
            "getSlot": self._get_height,
            "getBlockHeight": self._get_height,
            "getLatestBlockhash": self._get_latest_blockhash,
            "getMinimumBalanceForRentExemption": self._get_minimum_balance,
            "getAccountInfo": self._get_account_info,
            "getBalance": self._get_balance,
            "getTokenAccountBalance": self._get_token_account_balance,
            "sendTransaction": self._send_transaction,
            "simulateTransaction": self._simulate_transaction,
            "getSignatureStatuses": self._get_signature_statuses,
            "requestAirdrop": self._request_airdrop,
            "getSignaturesForAddress": self._get_signatures_for_address,
            "getTransaction": self._get_transaction,
        }
        self.app = Starlette(
            routes=[
                Route("/", self.endpoint, methods=["POST"]),
                Route("/health", self._http_health, methods=["GET"]),
            ]
        )

    # --- HTTP ----------------------------------------------------------------

    async def _http_health(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def endpoint(self, request: Request) -> Response:
        try:
            payload = json.loads(await request.body())
        except ValueError:
            return JSONResponse(reply(None, error=RpcError(PARSE_ERROR, "Parse error")))
        if isinstance(payload, list):
            if not payload:
                error = RpcError(INVALID_REQUEST, "Invalid request")
                return JSONResponse(reply(None, error=error))
            return JSONResponse([self.handle(item) for item in payload])
        return JSONResponse(self.handle(payload))

    def handle(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict):
            return reply(None, error=RpcError(INVALID_REQUEST, "Invalid request"))
        request_id = payload.get("id")
        method = payload.get("method")
        if payload.get("jsonrpc") != "2.0" or not isinstance(method, str):
            return reply(request_id, error=RpcError(INVALID_REQUEST, "Invalid request"))
        handler = self.methods.get(method)
        if handler is None:
            error = RpcError(METHOD_NOT_FOUND, "Method not found")
            return reply(request_id, error=error)
        try:
            with self.lock:
                return reply(request_id, result=handler(payload.get("params")))
        except RpcError as error:
            return reply(request_id, error=error)

    # --- transactions --------------------------------------------------------

    def _parse_transaction(self, args: list[Any], default: str) -> Transaction:
        config = param_config(args, 1)
        raw = decode_transaction(args[0], config.get("encoding", default))
        try:
            return Transaction.from_bytes(raw)
        except ValueError as error:
            raise RpcError(
                INVALID_PARAMS,
                f"failed to deserialize solana_transaction::Transaction: {error}",
            ) from None

    def _send_transaction(self, params: Any) -> str:
        args = param_list(params, 1)
        config = param_config(args, 1)
        transaction = self._parse_transaction(args, "base58")
        signature = str(transaction.signatures[0])
        landed = self.node.known(signature) is not None
        fresh = self.node.blockhash_valid(transaction.message.recent_blockhash)
        if config.get("skipPreflight", False):
            if landed or not fresh:
                return signature  # a real leader would drop it silently
        else:
            self._preflight(transaction, landed=landed, fresh=fresh)
        if self.drop_send():
            return signature
        state = self.node.submit(bytes(transaction))
        err = None
        if state.commitment is Commitment.FAILED:
            result = self.node.svm.get_transaction(transaction.signatures[0])
            if isinstance(result, FailedTransactionMetadata):
                err = error_json(result.err())
            else:
                err = state.error
        self.landed[signature] = Landed(self.node.height, err, self.finalize_at_once)
        return signature

    def drop_send(self) -> bool:
        """Whether to drop this broadcast (never, here; tests steer it)."""
        return False

    def _preflight(
        self, transaction: Transaction, *, landed: bool, fresh: bool
    ) -> None:
        _verify(transaction)
        if landed:
            raise simulation_failure(
                "This transaction has already been processed", "AlreadyProcessed", []
            )
        if not fresh:
            raise simulation_failure("Blockhash not found", "BlockhashNotFound", [])
        result = self.node.svm.simulate_transaction(transaction)
        if isinstance(result, FailedTransactionMetadata):
            err = error_json(result.err())
            raise simulation_failure(describe(err), err, list(result.meta().logs()))

    def _simulate_transaction(self, params: Any) -> dict[str, Any]:
        args = param_list(params, 1)
        config = param_config(args, 1)
        transaction = self._parse_transaction(args, "base58")
        if config.get("sigVerify", False):
            _verify(transaction)
        message = transaction.message
        if config.get("replaceRecentBlockhash", False):
            blockhash, _ = self.node.current_blockhash()
            message = Message.new_with_compiled_instructions(
                message.header.num_required_signatures,
                message.header.num_readonly_signed_accounts,
                message.header.num_readonly_unsigned_accounts,
                message.account_keys,
                blockhash,
                message.instructions,
            )
            transaction = Transaction.populate(message, transaction.signatures)
        elif not self.node.blockhash_valid(message.recent_blockhash):
            return self.context(simulation_result("BlockhashNotFound", [], 0))
        # Like a node, check signatures only when asked (wallets simulate
        # unsigned transactions); the same VM then executes with them on.
        svm = self.node.svm.with_sigverify(False)
        try:
            result = svm.simulate_transaction(transaction)
        finally:
            svm.with_sigverify(True)
        if isinstance(result, FailedTransactionMetadata):
            meta, err = result.meta(), error_json(result.err())
        else:
            meta, err = result.meta(), None
        return self.context(
            simulation_result(err, list(meta.logs()), meta.compute_units_consumed())
        )

    def _request_airdrop(self, params: Any) -> str:
        args = param_list(params, 2)
        param_config(args, 2)
        address, lamports = parse_pubkey(args[0]), args[1]
        if not isinstance(lamports, int) or isinstance(lamports, bool):
            raise RpcError(INVALID_PARAMS, "Invalid params: expected lamports")
        if not 0 < lamports <= MAX_AIRDROP_LAMPORTS:
            raise RpcError(
                INVALID_PARAMS,
                f"Invalid params: lamports must be 1..{MAX_AIRDROP_LAMPORTS}",
            )
        signature = self.chain.airdrop(address, lamports)
        self.landed[signature] = Landed(self.node.height, None, self.finalize_at_once)
        return signature


def _verify(transaction: Transaction) -> None:
    try:
        transaction.verify()
    except Exception:
        raise RpcError(
            SIGNATURE_VERIFICATION_FAILURE, "Transaction signature verification failure"
        ) from None
