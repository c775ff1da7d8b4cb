"""A small Solana JSON-RPC 2.0 node over HTTP, backed by LiteSVM.

It speaks the methods `RpcNode` uses, with the shapes a real node answers:
getHealth, getBlockHeight, getLatestBlockhash, getMinimumBalanceForRentExemption,
getAccountInfo (base64/base58), sendTransaction (base64/base58, with or without
preflight), getSignatureStatuses, and the chain's history from `LiteSvmNode`:
getSignaturesForAddress and getTransaction (json/base64, with token balances).
Malformed input gets JSON-RPC errors.

Behaviour a test can steer, all deterministic:
- a landed transaction is `confirmed` until `finalize_all()`;
- `drop_next_sends = n`: the next n broadcasts pass preflight and get their
  signature back, but never execute (only a rebroadcast lands them);
- `advance_blocks(n)` produces empty blocks, so blockhashes expire after 150;
- `down = True` answers HTTP 503, `unhealthy = True` fails getHealth with
  -32005, `garbage = True` answers 200 with HTML, `delay` stalls every answer.

The chain underneath is a `LocalChain` in memory (mint, treasury and fee
authority bootstrapped), so tests fund wallets with `faucet`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import uvicorn
from solders.pubkey import Pubkey
from solders.rpc.responses import RpcSimulateTransactionResult
from solders.signature import Signature
from solders.transaction import Transaction
from solders.transaction_metadata import FailedTransactionMetadata
from solders.transaction_status import TransactionErrorType
from spl.token.constants import TOKEN_PROGRAM_ID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from pourtier.domain.base58 import b58decode, b58encode
from pourtier.domain.escrow import Commitment
from pourtier.infrastructure.solana.local import LocalChain
from pourtier.infrastructure.solana.node import ChainTransaction, TokenBalance

API_VERSION = "2.2.0"
MAX_SIGNATURES = 256
MAX_HISTORY_PAGE = 1000
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = (
    -32700,
    -32600,
    -32601,
    -32602,
)
PREFLIGHT_FAILURE, SIGNATURE_VERIFICATION_FAILURE, NODE_UNHEALTHY = (
    -32002,
    -32003,
    -32005,
)


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


@dataclass
class Landed:
    slot: int
    err: Any  # the node's JSON form, None on success
    finalized: bool = False


def error_json(err: TransactionErrorType) -> Any:
    """{"InstructionError":[0,{"Custom":1}]}, "AlreadyProcessed", ..."""
    return json.loads(RpcSimulateTransactionResult(err=err).to_json())["err"]


def simulation_failure(message: str, err: Any, logs: list[str]) -> RpcError:
    data = {
        "err": err,
        "logs": logs,
        "accounts": None,
        "unitsConsumed": 0,
        "returnData": None,
        "innerInstructions": None,
        "replacementBlockhash": None,
        "loadedAccountsDataSize": None,
    }
    return RpcError(
        PREFLIGHT_FAILURE, f"Transaction simulation failed: {message}", data
    )


def describe(err: Any) -> str:
    if isinstance(err, dict) and "InstructionError" in err:
        index, inner = err["InstructionError"]
        if isinstance(inner, dict) and "Custom" in inner:
            return (
                f"Error processing Instruction {index}: "
                f"custom program error: {inner['Custom']:#x}"
            )
        return f"Error processing Instruction {index}: {inner}"
    return str(err)


def _params(params: Any, required: int) -> list[Any]:
    if params is None:
        params = []
    if not isinstance(params, list) or len(params) < required:
        raise RpcError(INVALID_PARAMS, "Invalid params")
    return params


def _config(params: list[Any], index: int) -> dict[str, Any]:
    config = params[index] if len(params) > index else None
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise RpcError(INVALID_PARAMS, "Invalid params: config must be an object")
    return config


class RpcTestServer:
    def __init__(self) -> None:
        self.chain = LocalChain.open(None)
        self.node = self.chain.node
        self.lock = threading.RLock()
        self.down = False
        self.unhealthy = False
        self.garbage = False
        self.delay = 0.0
        self.drop_next_sends = 0
        self.dropped = 0
        self.calls: list[str] = []
        self._landed: dict[str, Landed] = {}
        self._methods: dict[str, Callable[[Any], Any]] = {
            "getHealth": self._get_health,
            "getBlockHeight": self._get_block_height,
            "getLatestBlockhash": self._get_latest_blockhash,
            "getMinimumBalanceForRentExemption": self._get_minimum_balance,
            "getAccountInfo": self._get_account_info,
            "sendTransaction": self._send_transaction,
            "getSignatureStatuses": self._get_signature_statuses,
            "getSignaturesForAddress": self._get_signatures_for_address,
            "getTransaction": self._get_transaction,
        }
        self.app = Starlette(routes=[Route("/", self._endpoint, methods=["POST"])])
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # --- what tests steer ----------------------------------------------------

    def faucet(self, wallet: Pubkey, usdc_units: int, lamports: int) -> None:
        with self.lock:
            self.chain.faucet(wallet, usdc_units, lamports)

    def finalize_all(self) -> None:
        with self.lock:
            for landed in self._landed.values():
                landed.finalized = True

    def advance_blocks(self, count: int) -> None:
        with self.lock:
            self.node.advance_blocks(count)

    # --- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test JSON-RPC server did not start")
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    # --- HTTP ----------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.down:
            return PlainTextResponse("Service Unavailable", status_code=503)
        if self.garbage:
            return Response("<html>maintenance</html>", media_type="text/html")
        try:
            payload = json.loads(await request.body())
        except ValueError:
            return JSONResponse(
                _reply(None, error=RpcError(PARSE_ERROR, "Parse error"))
            )
        if isinstance(payload, list):
            if not payload:
                error = RpcError(INVALID_REQUEST, "Invalid request")
                return JSONResponse(_reply(None, error=error))
            return JSONResponse([self._handle(item) for item in payload])
        return JSONResponse(self._handle(payload))

    def _handle(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict):
            return _reply(None, error=RpcError(INVALID_REQUEST, "Invalid request"))
        request_id = payload.get("id")
        method = payload.get("method")
        if payload.get("jsonrpc") != "2.0" or not isinstance(method, str):
            return _reply(
                request_id, error=RpcError(INVALID_REQUEST, "Invalid request")
            )
        handler = self._methods.get(method)
        if handler is None:
            error = RpcError(METHOD_NOT_FOUND, "Method not found")
            return _reply(request_id, error=error)
        self.calls.append(method)
        try:
            with self.lock:
                return _reply(request_id, result=handler(payload.get("params")))
        except RpcError as error:
            return _reply(request_id, error=error)

    def _context(self, value: Any) -> dict[str, Any]:
        return {
            "context": {"slot": self.node.height, "apiVersion": API_VERSION},
            "value": value,
        }

    # --- methods -------------------------------------------------------------

    def _get_health(self, params: Any) -> str:
        if self.unhealthy:
            raise RpcError(NODE_UNHEALTHY, "Node is unhealthy", {})
        return "ok"

    def _get_block_height(self, params: Any) -> int:
        _config(_params(params, 0), 0)
        return self.node.height

    def _get_latest_blockhash(self, params: Any) -> dict[str, Any]:
        _config(_params(params, 0), 0)
        blockhash, last_valid = self.node.current_blockhash()
        return self._context(
            {"blockhash": str(blockhash), "lastValidBlockHeight": last_valid}
        )

    def _get_minimum_balance(self, params: Any) -> int:
        args = _params(params, 1)
        size = args[0]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise RpcError(INVALID_PARAMS, "Invalid params: expected a data length")
        return int(self.node.svm.minimum_balance_for_rent_exemption(size))

    def _get_account_info(self, params: Any) -> dict[str, Any]:
        args = _params(params, 1)
        address = _pubkey(args[0])
        encoding = _config(args, 1).get("encoding", "binary")
        account = self.node.svm.get_account(address)
        if account is None:
            return self._context(None)
        data = bytes(account.data)
        if encoding == "base64":
            encoded: Any = [base64.b64encode(data).decode(), "base64"]
        elif encoding in ("base58", "binary") and len(data) <= 128:
            text = b58encode(data)
            encoded = text if encoding == "binary" else [text, "base58"]
        else:
            raise RpcError(INVALID_PARAMS, f"unsupported encoding: {encoding}")
        return self._context(
            {
                "data": encoded,
                "executable": account.executable,
                "lamports": account.lamports,
                "owner": str(account.owner),
                "rentEpoch": account.rent_epoch,
                "space": len(data),
            }
        )

    def _send_transaction(self, params: Any) -> str:
        args = _params(params, 1)
        config = _config(args, 1)
        raw = _decode_transaction(args[0], config.get("encoding", "base58"))
        try:
            transaction = Transaction.from_bytes(raw)
        except ValueError as error:
            raise RpcError(
                INVALID_PARAMS,
                f"failed to deserialize solana_transaction::Transaction: {error}",
            ) from None
        signature = str(transaction.signatures[0])
        landed = self.node.known(signature) is not None
        fresh = self.node.blockhash_valid(transaction.message.recent_blockhash)
        if config.get("skipPreflight", False):
            if landed or not fresh:
                return signature  # a real leader would drop it silently
        else:
            self._preflight(transaction, landed=landed, fresh=fresh)
        if self.drop_next_sends > 0:
            self.drop_next_sends -= 1
            self.dropped += 1
            return signature
        state = self.node.submit(raw)
        err = None
        if state.commitment is Commitment.FAILED:
            result = self.node.svm.get_transaction(transaction.signatures[0])
            if isinstance(result, FailedTransactionMetadata):
                err = error_json(result.err())
            else:
                err = state.error
        self._landed[signature] = Landed(self.node.height, err)
        return signature

    def _preflight(
        self, transaction: Transaction, *, landed: bool, fresh: bool
    ) -> None:
        try:
            transaction.verify()
        except Exception:
            raise RpcError(
                SIGNATURE_VERIFICATION_FAILURE,
                "Transaction signature verification failure",
            ) from None
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

    def _get_signature_statuses(self, params: Any) -> dict[str, Any]:
        args = _params(params, 1)
        _config(args, 1)  # searchTransactionHistory: everything is kept here
        signatures = args[0]
        if not isinstance(signatures, list):
            raise RpcError(INVALID_PARAMS, "Invalid params: expected signatures")
        if len(signatures) > MAX_SIGNATURES:
            raise RpcError(
                INVALID_PARAMS, f"Too many inputs provided; max {MAX_SIGNATURES}"
            )
        statuses: list[Any] = []
        for text in signatures:
            landed = self._landed.get(str(_signature(text)))
            if landed is None:
                statuses.append(None)
                continue
            statuses.append(
                {
                    "slot": landed.slot,
                    "confirmations": None
                    if landed.finalized
                    else self.node.height - landed.slot,
                    "err": landed.err,
                    "status": {"Ok": None}
                    if landed.err is None
                    else {"Err": landed.err},
                    "confirmationStatus": "finalized"
                    if landed.finalized
                    else "confirmed",
                }
            )
        return self._context(statuses)

    def _finalized(self, signature: str) -> bool:
        """Sent through this server: as finalize_all left it; else (set-up) final."""
        landed = self._landed.get(signature)
        return landed is None or landed.finalized

    def _get_signatures_for_address(self, params: Any) -> list[dict[str, Any]]:
        args = _params(params, 1)
        address = _pubkey(args[0])
        config = _config(args, 1)
        limit = config.get("limit")
        limit = MAX_HISTORY_PAGE if limit is None else limit
        if not isinstance(limit, int) or not 1 <= limit <= MAX_HISTORY_PAGE:
            raise RpcError(INVALID_PARAMS, f"Invalid limit; max {MAX_HISTORY_PAGE}")
        before, until = (
            str(_signature(config[key])) if config.get(key) else None
            for key in ("before", "until")
        )
        found = self.node.signatures_for_address(address, before, until, limit)
        only_final = config.get("commitment") == "finalized"
        return [
            {
                "signature": info.signature,
                "slot": info.slot,
                "err": _err(info.error),
                "memo": None,
                "blockTime": info.block_time,
                "confirmationStatus": "finalized" if final else "confirmed",
            }
            for info in found
            if (final := self._finalized(info.signature)) or not only_final
        ]

    def _get_transaction(self, params: Any) -> dict[str, Any] | None:
        args = _params(params, 1)
        signature = str(_signature(args[0]))
        config = _config(args, 1)
        encoding = config.get("encoding", "json")
        if encoding not in ("json", "base64"):
            raise RpcError(INVALID_PARAMS, f"unsupported encoding: {encoding}")
        found = self.node.transaction(signature)
        if found is None or (
            config.get("commitment") == "finalized" and not self._finalized(signature)
        ):
            return None
        answer: dict[str, Any] = {
            "slot": found.slot,
            "blockTime": found.block_time,
            "meta": _meta(found),
            "transaction": [base64.b64encode(found.transaction).decode(), "base64"]
            if encoding == "base64"
            else _ui_transaction(found.transaction),
        }
        if config.get("maxSupportedTransactionVersion") is not None:
            answer["version"] = "legacy"  # the only kind this node executes
        return answer


def _err(error: str | None) -> Any:
    return json.loads(error) if error is not None else None


def _token_balance(balance: TokenBalance) -> dict[str, Any]:
    ui = Decimal(balance.amount).scaleb(-balance.decimals)
    return {
        "accountIndex": balance.account_index,
        "mint": balance.mint,
        "owner": balance.owner,
        "programId": str(TOKEN_PROGRAM_ID),
        "uiTokenAmount": {
            "amount": str(balance.amount),
            "decimals": balance.decimals,
            "uiAmount": float(ui),  # the node's own (lossy) display field
            "uiAmountString": format(ui.normalize(), "f"),
        },
    }


def _meta(found: ChainTransaction) -> dict[str, Any]:
    err = _err(found.error)
    return {
        "err": err,
        "status": {"Ok": None} if err is None else {"Err": err},
        "fee": found.fee,
        "preBalances": found.pre_balances,
        "postBalances": found.post_balances,
        "innerInstructions": [],
        "logMessages": found.logs,
        "preTokenBalances": [_token_balance(b) for b in found.pre_token_balances],
        "postTokenBalances": [_token_balance(b) for b in found.post_token_balances],
        "rewards": [],
        "loadedAddresses": {"writable": [], "readonly": []},
        "computeUnitsConsumed": 0,
    }


def _ui_transaction(raw: bytes) -> dict[str, Any]:
    transaction = Transaction.from_bytes(raw)
    message = transaction.message
    header = message.header
    return {
        "signatures": [str(signature) for signature in transaction.signatures],
        "message": {
            "accountKeys": [str(key) for key in message.account_keys],
            "header": {
                "numRequiredSignatures": header.num_required_signatures,
                "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
                "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts,
            },
            "instructions": [
                {
                    "programIdIndex": instruction.program_id_index,
                    "accounts": list(instruction.accounts),
                    "data": b58encode(bytes(instruction.data)),
                    "stackHeight": None,
                }
                for instruction in message.instructions
            ],
            "recentBlockhash": str(message.recent_blockhash),
        },
    }


def _reply(
    request_id: Any, *, result: Any = None, error: RpcError | None = None
) -> dict[str, Any]:
    if error is not None:
        return {"jsonrpc": "2.0", "error": error.body(), "id": request_id}
    return {"jsonrpc": "2.0", "result": result, "id": request_id}


def _pubkey(value: Any) -> Pubkey:
    try:
        return Pubkey.from_string(value)
    except (TypeError, ValueError):
        raise RpcError(INVALID_PARAMS, "Invalid param: Invalid") from None


def _signature(value: Any) -> Signature:
    try:
        return Signature.from_string(value)
    except (TypeError, ValueError):
        raise RpcError(INVALID_PARAMS, "Invalid param: Invalid") from None


def _decode_transaction(value: Any, encoding: Any) -> bytes:
    if not isinstance(value, str):
        raise RpcError(INVALID_PARAMS, "Invalid params: expected a string")
    try:
        if encoding == "base64":
            return base64.b64decode(value, validate=True)
        if encoding == "base58":
            return b58decode(value)
    except ValueError:
        raise RpcError(INVALID_PARAMS, f"invalid {encoding} encoding") from None
    raise RpcError(INVALID_PARAMS, f"unsupported encoding: {encoding}")


@contextmanager
def running_rpc_server() -> Iterator[RpcTestServer]:
    server = RpcTestServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
