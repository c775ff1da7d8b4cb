"""Solana JSON-RPC as a node speaks it: request parsing, errors and the JSON
shapes of answers, for the local chain's server.

Kept apart from the server so each layout reads in one place.
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

from solders.pubkey import Pubkey
from solders.rpc.responses import RpcSimulateTransactionResult
from solders.signature import Signature
from solders.transaction import Transaction
from solders.transaction_status import TransactionErrorType
from spl.token.constants import TOKEN_PROGRAM_ID

from pourtier.domain.base58 import b58decode, b58encode
from pourtier.infrastructure.solana.node import ChainTransaction, TokenBalance


def error_json(err: TransactionErrorType) -> Any:
    """{"InstructionError":[0,{"Custom":1}]}, "AlreadyProcessed", ..."""
    return json.loads(RpcSimulateTransactionResult(err=err).to_json())["err"]


def stored_error(error: str | None) -> Any:
    """A transaction error kept as its compact JSON text, back to JSON."""
    return json.loads(error) if error is not None else None


def simulation_result(err: Any, logs: list[str], units: int) -> dict[str, Any]:
    return {
        "err": err,
        "logs": logs,
        "accounts": None,
        "unitsConsumed": units,
        "returnData": None,
        "innerInstructions": None,
        "replacementBlockhash": None,
        "loadedAccountsDataSize": None,
    }


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


def ui_token_amount(amount: int, decimals: int) -> dict[str, Any]:
    """A token amount as nodes show it; `uiAmount` is their (lossy) display float."""
    ui = Decimal(amount).scaleb(-decimals)
    return {
        "amount": str(amount),
        "decimals": decimals,
        "uiAmount": float(ui),
        "uiAmountString": format(ui.normalize(), "f"),
    }


def token_balance(balance: TokenBalance) -> dict[str, Any]:
    return {
        "accountIndex": balance.account_index,
        "mint": balance.mint,
        "owner": balance.owner,
        "programId": str(TOKEN_PROGRAM_ID),
        "uiTokenAmount": ui_token_amount(balance.amount, balance.decimals),
    }


def transaction_meta(found: ChainTransaction) -> dict[str, Any]:
    err = stored_error(found.error)
    return {
        "err": err,
        "status": {"Ok": None} if err is None else {"Err": err},
        "fee": found.fee,
        "preBalances": found.pre_balances,
        "postBalances": found.post_balances,
        "innerInstructions": [],
        "logMessages": found.logs,
        "preTokenBalances": [token_balance(b) for b in found.pre_token_balances],
        "postTokenBalances": [token_balance(b) for b in found.post_token_balances],
        "rewards": [],
        "loadedAddresses": {"writable": [], "readonly": []},
        "computeUnitsConsumed": 0,
    }


def ui_transaction(raw: bytes) -> dict[str, Any]:
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


def reply(
    request_id: Any, *, result: Any = None, error: RpcError | None = None
) -> dict[str, Any]:
    if error is not None:
        return {"jsonrpc": "2.0", "error": error.body(), "id": request_id}
    return {"jsonrpc": "2.0", "result": result, "id": request_id}


def param_list(params: Any, required: int) -> list[Any]:
    if params is None:
        params = []
    if not isinstance(params, list) or len(params) < required:
        raise RpcError(INVALID_PARAMS, "Invalid params")
    return params


def param_config(params: list[Any], index: int) -> dict[str, Any]:
    config = params[index] if len(params) > index else None
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise RpcError(INVALID_PARAMS, "Invalid params: config must be an object")
    return config


def parse_pubkey(value: Any) -> Pubkey:
    try:
        return Pubkey.from_string(value)
    except (TypeError, ValueError):
        raise RpcError(INVALID_PARAMS, "Invalid param: Invalid") from None


def parse_signature(value: Any) -> Signature:
    try:
        return Signature.from_string(value)
    except (TypeError, ValueError):
        raise RpcError(INVALID_PARAMS, "Invalid param: Invalid") from None


def decode_transaction(value: Any, encoding: Any) -> bytes:
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
