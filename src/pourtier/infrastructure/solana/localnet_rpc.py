"""Solana JSON-RPC 2.0 over HTTP in front of the local LiteSVM chain.

It answers the methods the service and stock clients (solana-py's AsyncClient,
@solana/web3.js's Connection) use, in the shapes a real node answers:
getHealth, getVersion, getSlot, getBlockHeight, getLatestBlockhash,
getMinimumBalanceForRentExemption, getAccountInfo, getBalance,
getTokenAccountBalance, sendTransaction, simulateTransaction,
getSignatureStatuses, requestAirdrop, and the chain's history:
getSignaturesForAddress and getTransaction (json/base64, with token
balances). Malformed input gets JSON-RPC errors.

Every landed transaction is final at once (one block each; see local.py).
`pourtier localnet` serves this app; tests run it in a thread and steer its
fault modes through a subclass (tests/support/rpc_server.py).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from solders.message import Message
from solders.signature import Signature
from solders.transaction import Transaction
from solders.transaction_metadata import FailedTransactionMetadata
from spl.token.constants import TOKEN_PROGRAM_ID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from pourtier.domain.base58 import b58encode
from pourtier.domain.escrow import Commitment
from pourtier.infrastructure.solana.local_chain import LocalChain
from pourtier.infrastructure.solana.node import HistoryPage
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
    parse_signature,
    reply,
    simulation_result,
    stored_error,
    transaction_meta,
    ui_token_amount,
    ui_transaction,
)
from pourtier.infrastructure.solana.token_accounts import decode_token_account

API_VERSION = "2.2.0"
MAX_SIGNATURES = 256
MAX_HISTORY_PAGE = 1000
MAX_AIRDROP_LAMPORTS = 1_000 * 1_000_000_000


@dataclass
class Landed:
    slot: int
    err: Any  # the node's JSON form, None on success
    finalized: bool = True


def simulation_failure(message: str, err: Any, logs: list[str]) -> RpcError:
    return RpcError(
        PREFLIGHT_FAILURE,
        f"Transaction simulation failed: {message}",
        simulation_result(err, logs, 0),
    )


class LocalnetRpc:
    """The JSON-RPC methods over one LocalChain; `app` serves them."""

    finalize_at_once = True  # tests hold landings at `confirmed` instead

    def __init__(self, chain: LocalChain) -> None:
        self.chain = chain
        self.node = chain.node
        # The HTTP server runs in one thread; tests fund wallets from another.
        self.lock = threading.RLock()
        self.landed: dict[str, Landed] = {}
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

    def context(self, value: Any) -> dict[str, Any]:
        return {
            "context": {"slot": self.node.height, "apiVersion": API_VERSION},
            "value": value,
        }

    # --- reads ---------------------------------------------------------------

    def _get_health(self, params: Any) -> str:
        return "ok"

    def _get_version(self, params: Any) -> dict[str, Any]:
        return {"solana-core": API_VERSION, "feature-set": 0}

    def _get_height(self, params: Any) -> int:
        param_config(param_list(params, 0), 0)
        return self.node.height

    def _get_latest_blockhash(self, params: Any) -> dict[str, Any]:
        param_config(param_list(params, 0), 0)
        blockhash, last_valid = self.node.current_blockhash()
        return self.context(
            {"blockhash": str(blockhash), "lastValidBlockHeight": last_valid}
        )

    def _get_minimum_balance(self, params: Any) -> int:
        size = param_list(params, 1)[0]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise RpcError(INVALID_PARAMS, "Invalid params: expected a data length")
        return int(self.node.svm.minimum_balance_for_rent_exemption(size))

    def _get_account_info(self, params: Any) -> dict[str, Any]:
        args = param_list(params, 1)
        address = parse_pubkey(args[0])
        encoding = param_config(args, 1).get("encoding", "binary")
        account = self.node.svm.get_account(address)
        if account is None:
            return self.context(None)
        data = bytes(account.data)
        if encoding == "base64":
            encoded: Any = [base64.b64encode(data).decode(), "base64"]
        elif encoding in ("base58", "binary") and len(data) <= 128:
            text = b58encode(data)
            encoded = text if encoding == "binary" else [text, "base58"]
        else:
            raise RpcError(INVALID_PARAMS, f"unsupported encoding: {encoding}")
        return self.context(
            {
                "data": encoded,
                "executable": account.executable,
                "lamports": account.lamports,
                "owner": str(account.owner),
                "rentEpoch": account.rent_epoch,
                "space": len(data),
            }
        )

    def _get_balance(self, params: Any) -> dict[str, Any]:
        args = param_list(params, 1)
        param_config(args, 1)
        return self.context(self.node.svm.get_balance(parse_pubkey(args[0])) or 0)

    def _get_token_account_balance(self, params: Any) -> dict[str, Any]:
        args = param_list(params, 1)
        param_config(args, 1)
        account = self.node.svm.get_account(parse_pubkey(args[0]))
        if account is None or account.owner != TOKEN_PROGRAM_ID:
            raise RpcError(INVALID_PARAMS, "Invalid param: not a Token account")
        try:
            token = decode_token_account(bytes(account.data))
        except ValueError:
            raise RpcError(
                INVALID_PARAMS, "Invalid param: not a Token account"
            ) from None
        mint = self.node.svm.get_account(token.mint)
        decimals = bytes(mint.data)[44] if mint is not None else 0
        return self.context(ui_token_amount(token.amount, decimals))

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

    def _get_signature_statuses(self, params: Any) -> dict[str, Any]:
        args = param_list(params, 1)
        param_config(args, 1)  # searchTransactionHistory: everything is kept here
        signatures = args[0]
        if not isinstance(signatures, list):
            raise RpcError(INVALID_PARAMS, "Invalid params: expected signatures")
        if len(signatures) > MAX_SIGNATURES:
            raise RpcError(
                INVALID_PARAMS, f"Too many inputs provided; max {MAX_SIGNATURES}"
            )
        return self.context(
            [self._status(parse_signature(text)) for text in signatures]
        )

    def _status(self, signature: Signature) -> dict[str, Any] | None:
        landed = self.landed.get(str(signature))
        if landed is None:
            # Landed before this server started, or by the chain's own set-up.
            known = self.node.known(str(signature))
            if known is None:
                return None
            landed = Landed(0, stored_error(known.error))
        return {
            "slot": landed.slot,
            "confirmations": None
            if landed.finalized
            else self.node.height - landed.slot,
            "err": landed.err,
            "status": {"Ok": None} if landed.err is None else {"Err": landed.err},
            "confirmationStatus": "finalized" if landed.finalized else "confirmed",
        }

    # --- history -------------------------------------------------------------

    def _final(self, signature: str) -> bool:
        """Sent through this server: as its commitment says; else (set-up) final."""
        landed = self.landed.get(signature)
        return landed is None or landed.finalized

    def _get_signatures_for_address(self, params: Any) -> list[dict[str, Any]]:
        args = param_list(params, 1)
        address = parse_pubkey(args[0])
        config = param_config(args, 1)
        limit = config.get("limit")
        limit = MAX_HISTORY_PAGE if limit is None else limit
        if not isinstance(limit, int) or not 1 <= limit <= MAX_HISTORY_PAGE:
            raise RpcError(INVALID_PARAMS, f"Invalid limit; max {MAX_HISTORY_PAGE}")
        before, until = (
            str(parse_signature(config[key])) if config.get(key) else None
            for key in ("before", "until")
        )
        page = HistoryPage(before, until, limit)
        found = self.node.history.signatures_for_address(str(address), page)
        only_final = config.get("commitment") == "finalized"
        return [
            {
                "signature": info.signature,
                "slot": info.slot,
                "err": stored_error(info.error),
                "memo": None,
                "blockTime": info.block_time,
                "confirmationStatus": "finalized" if final else "confirmed",
            }
            for info in found
            if (final := self._final(info.signature)) or not only_final
        ]

    def _get_transaction(self, params: Any) -> dict[str, Any] | None:
        args = param_list(params, 1)
        signature = str(parse_signature(args[0]))
        config = param_config(args, 1)
        encoding = config.get("encoding", "json")
        if encoding not in ("json", "base64"):
            raise RpcError(INVALID_PARAMS, f"unsupported encoding: {encoding}")
        found = self.node.history.transaction(signature)
        if found is None or (
            config.get("commitment") == "finalized" and not self._final(signature)
        ):
            return None
        answer: dict[str, Any] = {
            "slot": found.slot,
            "blockTime": found.block_time,
            "meta": transaction_meta(found),
            "transaction": [base64.b64encode(found.transaction).decode(), "base64"]
            if encoding == "base64"
            else ui_transaction(found.transaction),
        }
        if config.get("maxSupportedTransactionVersion") is not None:
            answer["version"] = "legacy"  # the only kind this node executes
        return answer

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
