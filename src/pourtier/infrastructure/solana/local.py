"""The local chain: LiteSVM in process, running the real System and SPL Token
programs, with its accounts kept in the data directory across restarts.

Every executed transaction is one block: the block height goes up by one and
a fresh random blockhash is issued, valid for BLOCKHASH_VALIDITY blocks, as on
a real cluster. (LiteSVM's own blockhash never changes by itself, so two
transactions with the same instructions would otherwise share a signature.)

LiteSVM lives in one process's memory: `pourtier localnet` (localnet.py)
owns the chain and serves it to every other process over JSON-RPC; tests run
it in process. Bootstrap, keys and faucet: local_chain.py.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from pathlib import Path
from typing import Any

from solders.account import Account
from solders.hash import Hash
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction
from solders.transaction_metadata import FailedTransactionMetadata

from pourtier.domain.escrow import (
    ChainRejected,
    Commitment,
    SignatureState,
)
from pourtier.infrastructure.solana.chain_history import (
    ChainHistory,
    snapshot_balances,
)
from pourtier.infrastructure.solana.files import write_atomically
from pourtier.infrastructure.solana.node import (
    NEWEST,
    ChainTransaction,
    HistoryPage,
    SignatureInfo,
)
from pourtier.infrastructure.solana.rpc import transaction_error_text

BLOCKHASH_VALIDITY = 150


def _fresh_blockhash() -> Hash:
    return Hash(secrets.token_bytes(32))


class LiteSvmNode:
    """A Node over LiteSVM; each accepted transaction is one block."""

    def __init__(self, state_dir: Path | None = None) -> None:
        # Blockhashes are ours (see the module docstring), so LiteSVM's check is off.
        self.svm = LiteSVM().with_blockhash_check(False)
        self._state_dir = state_dir
        self._height = 0
        self._results: dict[str, SignatureState] = {}
        self._known: set[Pubkey] = set()
        self._blockhashes: dict[str, int] = {}  # blockhash -> last valid height
        self.available = True
        self.history = ChainHistory(state_dir / "history.jsonl" if state_dir else None)
        if state_dir is not None:
            state_dir.mkdir(parents=True, exist_ok=True)
            self._load()
            self.history.load(self._results.keys())
        self._blockhash = _fresh_blockhash()
        self._blockhashes[str(self._blockhash)] = self._height + BLOCKHASH_VALIDITY

    # --- persistence ---------------------------------------------------------

    @property
    def _state_file(self) -> Path | None:
        return self._state_dir / "accounts.json" if self._state_dir else None

    def _load(self) -> None:
        path = self._state_file
        if path is None or not path.exists():
            return
        state = json.loads(path.read_text())
        self._height = state["height"]
        for address, raw in state["accounts"].items():
            pubkey = Pubkey.from_string(address)
            self.svm.set_account(
                pubkey,
                Account(
                    lamports=raw["lamports"],
                    data=base64.b64decode(raw["data"]),
                    owner=Pubkey.from_string(raw["owner"]),
                    executable=raw["executable"],
                    rent_epoch=raw["rent_epoch"],
                ),
            )
            self._known.add(pubkey)
        self._results = {
            sig: SignatureState(Commitment(v["commitment"]), v.get("error"))
            for sig, v in state["results"].items()
        }
        self._blockhashes = dict(state.get("blockhashes", {}))

    def save(self) -> None:
        path = self._state_file
        if path is None:
            return
        accounts: dict[str, Any] = {}
        for pubkey in self._known:
            account = self.svm.get_account(pubkey)
            if account is None:
                continue
            accounts[str(pubkey)] = {
                "lamports": account.lamports,
                "data": base64.b64encode(bytes(account.data)).decode(),
                "owner": str(account.owner),
                "executable": account.executable,
                "rent_epoch": account.rent_epoch,
            }
        results = {
            sig: {"commitment": s.commitment.value, "error": s.error}
            for sig, s in self._results.items()
        }
        write_atomically(
            path,
            json.dumps(
                {
                    "height": self._height,
                    "accounts": accounts,
                    "results": results,
                    "blockhashes": self._blockhashes,
                }
            ),
        )

    def track(self, *pubkeys: Pubkey) -> None:
        self._known.update(pubkeys)

    # --- blocks --------------------------------------------------------------

    @property
    def height(self) -> int:
        return self._height

    def current_blockhash(self) -> tuple[Hash, int]:
        """(blockhash, last block height at which it is still valid)."""
        return self._blockhash, self._blockhashes[str(self._blockhash)]

    def advance_blocks(self, count: int = 1) -> None:
        """Produce `count` blocks (empty ones, when called directly)."""
        self._height += count
        self._blockhash = _fresh_blockhash()
        self._blockhashes[str(self._blockhash)] = self._height + BLOCKHASH_VALIDITY
        self._blockhashes = {
            h: last for h, last in self._blockhashes.items() if last >= self._height
        }

    def blockhash_valid(self, blockhash: Hash) -> bool:
        last_valid = self._blockhashes.get(str(blockhash))
        return last_valid is not None and self._height <= last_valid

    def known(self, signature: str) -> SignatureState | None:
        """The outcome of an executed transaction, None if never executed."""
        return self._results.get(signature)

    # --- the Node protocol ---------------------------------------------------

    async def latest_blockhash(self) -> tuple[Hash, int]:
        return self.current_blockhash()

    async def get_account(self, address: Pubkey) -> Account | None:
        return self.svm.get_account(address)

    async def minimum_balance(self, size: int) -> int:
        return int(self.svm.minimum_balance_for_rent_exemption(size))

    async def send_raw(self, transaction: bytes) -> None:
        self.submit(transaction)

    def submit(self, transaction: bytes) -> SignatureState:
        """Execute now; the same bytes again return the first outcome.

        Raises ChainRejected for bytes that are not a transaction and for an
        expired or unknown blockhash (a real node refuses those at preflight).
        Execution errors are recorded: signature_state shows them as FAILED.
        """
        try:
            parsed = Transaction.from_bytes(transaction)
        except ValueError:
            raise ChainRejected("transaction bytes are malformed") from None
        signature = str(parsed.signatures[0])
        known = self._results.get(signature)
        if known is not None:
            return known
        if not self.blockhash_valid(parsed.message.recent_blockhash):
            raise ChainRejected(
                "the transaction expired: its blockhash is no longer valid"
            )
        keys = list(parsed.message.account_keys)
        pre_lamports, pre_tokens = snapshot_balances(self.svm, keys)
        result = self.svm.send_transaction(parsed)
        if isinstance(result, FailedTransactionMetadata):
            state = SignatureState(
                Commitment.FAILED, transaction_error_text(result.err())
            )
            meta = result.meta()
        else:
            state = SignatureState(Commitment.FINALIZED)
            self.track(*keys)
            meta = result
        post_lamports, post_tokens = snapshot_balances(self.svm, keys)
        self._results[signature] = state
        self.advance_blocks(1)
        # History first: on reload it keeps only what `save` recorded as executed.
        self.history.record(
            ChainTransaction(
                signature=signature,
                slot=self._height,
                block_time=int(time.time()),
                error=state.error,
                transaction=transaction,
                account_keys=[str(key) for key in keys],
                pre_token_balances=pre_tokens,
                post_token_balances=post_tokens,
                fee=meta.fee(),
                pre_balances=pre_lamports,
                post_balances=post_lamports,
                logs=list(meta.logs()),
            )
        )
        self.save()
        return state

    # --- history (getSignaturesForAddress, getTransaction) ---------------------

    async def signatures(
        self, address: Pubkey, page: HistoryPage = NEWEST
    ) -> list[SignatureInfo]:
        return self.history.signatures_for_address(str(address), page)

    async def get_transaction(self, signature: str) -> ChainTransaction | None:
        return self.history.transaction(signature)

    async def signature_state(self, signature: Signature) -> SignatureState:
        return self._results.get(str(signature), SignatureState(Commitment.UNKNOWN))

    async def block_height(self) -> int:
        return self._height

    async def health(self) -> str:
        return "litesvm"
