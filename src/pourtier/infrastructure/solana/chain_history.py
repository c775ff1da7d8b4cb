"""What the local chain remembers of its transactions: the answers to
getSignaturesForAddress and getTransaction.

LiteSVM's own metadata has no token balances and is gone after a restart, so
`LiteSvmNode` snapshots the token accounts among a transaction's keys before
and after executing it and records the result here. The newest
MAX_TRANSACTIONS are kept in memory and appended, one JSON line each, to
`history.jsonl` in the chain's directory; the file is rewritten with only
those once it holds twice as many. A follower that reads an address at least
every MAX_TRANSACTIONS transactions misses nothing.
"""

from __future__ import annotations

import base64
import json
from collections import deque
from collections.abc import Collection
from dataclasses import asdict
from pathlib import Path
from typing import Any

from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from spl.token.constants import TOKEN_PROGRAM_ID

from pourtier.infrastructure.solana.files import write_atomically
from pourtier.infrastructure.solana.node import (
    NEWEST,
    ChainTransaction,
    HistoryPage,
    SignatureInfo,
    TokenBalance,
)
from pourtier.infrastructure.solana.token_accounts import (
    TOKEN_ACCOUNT_SIZE,
    decode_token_account,
    mint_decimals,
)

MAX_TRANSACTIONS = 5_000


def _to_json(record: ChainTransaction) -> str:
    raw = asdict(record)
    raw["transaction"] = base64.b64encode(record.transaction).decode()
    return json.dumps(raw, separators=(",", ":"))


def _from_json(line: str) -> ChainTransaction:
    raw: dict[str, Any] = json.loads(line)
    raw["transaction"] = base64.b64decode(raw["transaction"])
    for side in ("pre_token_balances", "post_token_balances"):
        raw[side] = [TokenBalance(**balance) for balance in raw[side]]
    return ChainTransaction(**raw)


def snapshot_balances(
    svm: LiteSVM, keys: list[Pubkey]
) -> tuple[list[int], list[TokenBalance]]:
    """Lamports of every key, and the balance of each that is a token account."""
    lamports: list[int] = []
    tokens: list[TokenBalance] = []
    for index, key in enumerate(keys):
        account = svm.get_account(key)
        lamports.append(account.lamports if account else 0)
        if account is None or account.owner != TOKEN_PROGRAM_ID:
            continue
        if len(account.data) != TOKEN_ACCOUNT_SIZE:
            continue  # a mint or a multisig
        token = decode_token_account(bytes(account.data))
        mint = svm.get_account(token.mint)
        if not token.initialized or mint is None:
            continue
        tokens.append(
            TokenBalance(
                account_index=index,
                mint=str(token.mint),
                owner=str(token.owner),
                amount=token.amount,
                decimals=mint_decimals(bytes(mint.data)),
            )
        )
    return lamports, tokens


class ChainHistory:
    """Executed transactions, oldest first, indexed by every account they name."""

    def __init__(self, path: Path | None, limit: int = MAX_TRANSACTIONS) -> None:
        self._path = path
        self._limit = limit
        self._records: dict[str, ChainTransaction] = {}  # in execution order
        self._by_address: dict[str, deque[str]] = {}
        self._lines = 0

    def load(self, executed: Collection[str]) -> None:
        """Read the file back, keeping only transactions whose outcome was saved
        (a crash between the two writes must not leave a phantom movement)."""
        if self._path is None or not self._path.exists():
            return
        text = self._path.read_text()
        for line in text.splitlines():
            self._lines += 1
            try:
                record = _from_json(line)
            except (ValueError, TypeError, KeyError):
                continue  # a line cut short by a crash
            if record.signature in executed and record.signature not in self._records:
                self._remember(record)
        if text and not text.endswith("\n"):
            self._rewrite()  # or the next line would continue the torn one

    def _rewrite(self) -> None:
        assert self._path is not None
        text = "".join(_to_json(r) + "\n" for r in self._records.values())
        write_atomically(self._path, text)
        self._lines = len(self._records)

    def record(self, record: ChainTransaction) -> None:
        if record.signature in self._records:
            return
        self._remember(record)
        if self._path is None:
            return
        if self._lines >= 2 * self._limit:
            self._rewrite()
        else:
            with self._path.open("a") as file:
                file.write(_to_json(record) + "\n")
            self._lines += 1

    def _remember(self, record: ChainTransaction) -> None:
        self._records[record.signature] = record
        for key in dict.fromkeys(record.account_keys):
            self._by_address.setdefault(key, deque()).append(record.signature)
        while len(self._records) > self._limit:
            oldest = self._records.pop(next(iter(self._records)))
            for key in dict.fromkeys(oldest.account_keys):
                signatures = self._by_address[key]
                signatures.popleft()  # an address's oldest is the chain's oldest
                if not signatures:
                    del self._by_address[key]

    def signatures_for_address(
        self, address: str, page: HistoryPage = NEWEST
    ) -> list[SignatureInfo]:
        found: list[SignatureInfo] = []
        started = page.before is None
        for signature in reversed(self._by_address.get(address, ())):
            if not started:
                started = signature == page.before
                continue
            if signature == page.until or len(found) >= page.limit:
                break
            record = self._records[signature]
            found.append(
                SignatureInfo(signature, record.slot, record.error, record.block_time)
            )
        return found

    def transaction(self, signature: str) -> ChainTransaction | None:
        return self._records.get(signature)
