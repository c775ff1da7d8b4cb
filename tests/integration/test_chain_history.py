"""An escrow's history on chain, over both adapters: what moved, in what order.

`local`: LiteSVM in process; `rpc`: the JSON-RPC adapter against the test
node's getSignaturesForAddress and getTransaction (see test_chain_adapters).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction
from solders.transaction_status import TransactionConfirmationStatus, UiTransaction
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import get_associated_token_address, transfer_checked
from spl.token.models import TransferCheckedParams

from pourtier.domain.escrow import ChainMovement, Commitment
from pourtier.domain.money import USDC_DECIMALS
from pourtier.infrastructure.solana.escrow_chain import escrow_address
from pourtier.infrastructure.solana.local_chain import LocalChain
from pourtier.infrastructure.solana.rpc import RpcNode
from tests.integration.conftest import Adapter, local_adapter, rpc_adapter
from tests.integration.test_chain_adapters import (
    USDC,
    deposit,
    final_state,
    funded,
    land,
    sign,
    with_escrow,
)
from tests.support.rpc_server import RpcTestServer


def transfer(
    adapter: Adapter, signer: Keypair, source: Pubkey, dest: Pubkey, amount: int
) -> Transaction:
    """A plain SPL transfer, signed and paid by `signer` alone (not prepared here)."""
    instruction = transfer_checked(
        TransferCheckedParams(
            program_id=TOKEN_PROGRAM_ID,
            source=source,
            mint=Pubkey.from_string(adapter.chain.usdc_mint),
            dest=dest,
            owner=signer.pubkey(),
            amount=amount,
            decimals=USDC_DECIMALS,
        )
    )
    message = Message([instruction], signer.pubkey())
    return Transaction.new_unsigned(message)


async def send_signed(adapter: Adapter, signer: Keypair, unsigned: Transaction) -> str:
    blockhash, _ = await adapter.chain.node.latest_blockhash()
    signed = Transaction([signer], unsigned.message, blockhash)
    await adapter.chain.send(bytes(signed))
    signature = str(signed.signatures[0])
    assert (await final_state(adapter, signature)).commitment is Commitment.FINALIZED
    return signature


def ata(adapter: Adapter, owner: Pubkey) -> Pubkey:
    return get_associated_token_address(
        owner, Pubkey.from_string(adapter.chain.usdc_mint)
    )


async def stranger_pays(adapter: Adapter, user: Keypair, amount: int) -> str:
    stranger = funded(adapter, amount)
    move = transfer(
        adapter,
        stranger,
        ata(adapter, stranger.pubkey()),
        escrow_address(user.pubkey()),
        amount,
    )
    return await send_signed(adapter, stranger, move)


async def owner_takes(adapter: Adapter, user: Keypair, amount: int) -> str:
    move = transfer(
        adapter,
        user,
        escrow_address(user.pubkey()),
        ata(adapter, user.pubkey()),
        amount,
    )
    return await send_signed(adapter, user, move)


def deltas(movements: list[ChainMovement]) -> list[tuple[str, int]]:
    return [(m.signature, m.delta) for m in movements]


async def test_every_finalized_movement_of_the_escrow_oldest_first(
    adapter: Adapter,
) -> None:
    user = await with_escrow(adapter)
    wallet = str(user.pubkey())
    first = await adapter.chain.escrow_movements(wallet, None, 100)
    (initialized,) = first.movements
    assert initialized.delta == 0
    assert first.cursor == initialized.signature

    prepared = await adapter.chain.prepare_deposit(wallet, 10 * USDC)
    deposited = await land(adapter, prepared, user)
    received = await stranger_pays(adapter, user, 3 * USDC)
    taken = await owner_takes(adapter, user, 2 * USDC)
    funded(adapter)  # a transaction elsewhere: not in this escrow's history

    page = await adapter.chain.escrow_movements(wallet, first.cursor, 100)
    assert deltas(page.movements) == [
        (deposited, 10 * USDC),
        (received, 3 * USDC),
        (taken, -2 * USDC),
    ]
    assert page.cursor == taken
    # What the wallet signed, with its signatures blanked, is what was prepared.
    assert page.movements[0].unsigned_transaction == prepared.transaction
    assert page.movements[0].block_time is not None
    assert [m.slot for m in page.movements] == sorted(m.slot for m in page.movements)
    assert (await adapter.chain.escrow_state(wallet)).balance == 11 * USDC

    nothing_new = await adapter.chain.escrow_movements(wallet, taken, 100)
    assert (nothing_new.movements, nothing_new.cursor) == ([], None)

    # A bounded read takes the oldest; the cursor picks the rest up.
    head = await adapter.chain.escrow_movements(wallet, first.cursor, 2)
    assert deltas(head.movements) == deltas(page.movements)[:2]
    rest = await adapter.chain.escrow_movements(wallet, head.cursor, 2)
    assert deltas(rest.movements) == deltas(page.movements)[2:]

    # However many pages of signatures the node answers in.
    adapter.chain.history_page = 1
    paged = await adapter.chain.escrow_movements(wallet, None, 100)
    assert deltas(paged.movements) == deltas(first.movements + page.movements)


async def failed_transfer(adapter: Adapter, user: Keypair) -> Transaction:
    """The owner moves out more than the escrow holds: it fails on chain."""
    blockhash, _ = await adapter.chain.node.latest_blockhash()
    balance = (await adapter.chain.escrow_state(str(user.pubkey()))).balance
    move = transfer(
        adapter,
        user,
        escrow_address(user.pubkey()),
        ata(adapter, user.pubkey()),
        balance + 1,
    )
    return Transaction([user], move.message, blockhash)


async def read_past_a_failure(adapter: Adapter, send: Callable[[bytes], Any]) -> None:
    user = await with_escrow(adapter)
    wallet = str(user.pubkey())
    start = (await adapter.chain.escrow_movements(wallet, None, 100)).cursor
    deposited = await deposit(adapter, user, 5 * USDC)
    signed = await failed_transfer(adapter, user)
    await send(bytes(signed))
    failed = str(signed.signatures[0])
    assert (await final_state(adapter, failed)).commitment is Commitment.FAILED

    page = await adapter.chain.escrow_movements(wallet, start, 100)
    assert deltas(page.movements) == [(deposited, 5 * USDC)]
    assert page.cursor == failed  # read past, so never read again


async def test_local_a_failed_transaction_is_read_past_and_moves_nothing(
    tmp_path: Path,
) -> None:
    adapter = local_adapter(LocalChain.open(tmp_path / "chain"))
    await read_past_a_failure(adapter, adapter.chain.send)


async def test_rpc_a_failed_transaction_is_read_past_and_moves_nothing(
    rpc_server: RpcTestServer, rpc_node: RpcNode
) -> None:
    """Another client skipped preflight, so the failure landed on chain."""

    async def without_preflight(raw: bytes) -> None:
        async with httpx.AsyncClient() as client:
            await client.post(
                rpc_server.url,
                json={
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "sendTransaction",
                    "params": [
                        base64.b64encode(raw).decode(),
                        {"encoding": "base64", "skipPreflight": True},
                    ],
                },
            )

    await read_past_a_failure(rpc_adapter(rpc_server, rpc_node), without_preflight)


async def test_rpc_history_shows_only_what_the_cluster_finalized(
    rpc_server: RpcTestServer, rpc_node: RpcNode
) -> None:
    adapter = rpc_adapter(rpc_server, rpc_node)
    user = funded(adapter)
    wallet = str(user.pubkey())
    prepared = await adapter.chain.prepare_initialize(wallet, USDC)
    signed = sign(prepared, user)
    await adapter.chain.send(signed)
    signature = Transaction.from_bytes(signed).signatures[0]

    async with AsyncClient(rpc_server.url) as client:  # a stock client
        listed = await client.get_signatures_for_address(
            escrow_address(user.pubkey()), commitment=Confirmed
        )
    assert [(s.signature, s.confirmation_status) for s in listed.value] == [
        (signature, TransactionConfirmationStatus.Confirmed)
    ]
    unfinal = await adapter.chain.escrow_movements(wallet, None, 10)
    assert (unfinal.movements, unfinal.cursor) == ([], None)
    assert await rpc_node.get_transaction(str(signature)) is None

    rpc_server.finalize_all()
    final = await adapter.chain.escrow_movements(wallet, None, 10)
    assert [m.signature for m in final.movements] == [str(signature)]


async def test_rpc_get_transaction_answers_in_the_real_nodes_shape(
    rpc_server: RpcTestServer, rpc_node: RpcNode
) -> None:
    adapter = rpc_adapter(rpc_server, rpc_node)
    user = await with_escrow(adapter)
    signature = await deposit(adapter, user, 4 * USDC)
    escrow = str(escrow_address(user.pubkey()))

    async with AsyncClient(rpc_server.url) as client:  # a stock client, json
        answer = await client.get_transaction(
            Signature.from_string(signature), max_supported_transaction_version=0
        )
    found = answer.value
    assert found is not None
    decoded = found.transaction.transaction
    assert isinstance(decoded, UiTransaction)  # json: decoded, not raw bytes
    assert decoded.signatures == [Signature.from_string(signature)]
    keys = [str(key) for key in decoded.message.account_keys]
    meta = found.transaction.meta
    assert meta is not None
    assert meta.err is None
    balances = {
        side: {
            keys[b.account_index]: (
                b.ui_token_amount.amount,
                b.ui_token_amount.decimals,
                b.ui_token_amount.ui_amount_string,
                str(b.owner),
                str(b.mint),
                str(b.program_id),
            )
            for b in getattr(meta, f"{side}_token_balances")
        }
        for side in ("pre", "post")
    }
    mint, program = adapter.chain.usdc_mint, str(TOKEN_PROGRAM_ID)
    owner = str(user.pubkey())
    assert balances["pre"][escrow] == ("0", 6, "0", owner, mint, program)
    assert balances["post"][escrow] == ("4000000", 6, "4", owner, mint, program)
    assert len(meta.pre_balances) == len(keys) == len(meta.post_balances)

    async with httpx.AsyncClient(base_url=rpc_server.url) as raw:

        async def call(method: str, params: list[Any]) -> Any:
            body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
            return (await raw.post("/", json=body)).json()

        entry = (await call("getTransaction", [signature]))["result"]["meta"][
            "postTokenBalances"
        ][0]
        assert set(entry) == {
            "accountIndex",
            "mint",
            "owner",
            "programId",
            "uiTokenAmount",
        }
        assert set(entry["uiTokenAmount"]) == {
            "amount",
            "decimals",
            "uiAmount",
            "uiAmountString",
        }
        unknown = str(Keypair().sign_message(b"never sent"))
        assert (await call("getTransaction", [unknown]))["result"] is None
        too_many = await call("getSignaturesForAddress", [escrow, {"limit": 1001}])
        assert too_many["error"]["code"] == -32602


async def test_local_history_survives_a_restart(tmp_path: Path) -> None:
    directory = tmp_path / "chain"
    local = LocalChain.open(directory)
    adapter = local_adapter(local)
    user = await with_escrow(adapter)
    wallet = str(user.pubkey())
    await deposit(adapter, user, 3 * USDC)
    await stranger_pays(adapter, user, 2 * USDC)
    before = await adapter.chain.escrow_movements(wallet, None, 100)

    reopened = LocalChain.open(directory).escrow_chain()
    after = await reopened.escrow_movements(wallet, None, 100)
    assert deltas(after.movements) == deltas(before.movements)
    assert [m.delta for m in after.movements] == [0, 3 * USDC, 2 * USDC]
