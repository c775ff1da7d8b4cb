"""The local chain's JSON-RPC reads: its state, signature statuses and history.

`LocalnetRpc` (localnet_rpc.py) adds the methods that send and simulate, and
serves them all over HTTP; these answer in the shapes a real node answers.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from typing import Any

from solders.signature import Signature
from spl.token.constants import TOKEN_PROGRAM_ID

from pourtier.domain.base58 import b58encode
from pourtier.infrastructure.solana.local_chain import LocalChain
from pourtier.infrastructure.solana.node import HistoryPage
from pourtier.infrastructure.solana.rpc_shapes import (
    INVALID_PARAMS,
    RpcError,
    param_config,
    param_list,
    parse_pubkey,
    parse_signature,
    stored_error,
    transaction_meta,
    ui_token_amount,
    ui_transaction,
)
from pourtier.infrastructure.solana.token_accounts import decode_token_account

API_VERSION = "2.2.0"
MAX_SIGNATURES = 256
MAX_HISTORY_PAGE = 1000


@dataclass
class Landed:
    slot: int
    err: Any  # the node's JSON form, None on success
    finalized: bool = True


class LocalnetReads:
    """The read methods over one LocalChain, and what they read: the chain and
    the transactions landed through this server."""

    finalize_at_once = True  # tests hold landings at `confirmed` instead

    def __init__(self, chain: LocalChain) -> None:
        self.chain = chain
        self.node = chain.node
        # The HTTP server runs in one thread; tests fund wallets from another.
        self.lock = threading.RLock()
        self.landed: dict[str, Landed] = {}

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

    # --- signature statuses ------------------------------------------------

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
