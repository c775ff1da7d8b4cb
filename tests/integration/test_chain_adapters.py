"""The chain port's contract, run over both adapters with real keypairs.

`local`: LiteSVM in process. `rpc`: the JSON-RPC adapter over HTTP against a
small node in tests/support that is backed by LiteSVM too. Where the two
differ on purpose (preflight, commitment levels, outages) the tests say so.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction

from pourtier.config import Settings
from pourtier.di.chain import build_chain
from pourtier.domain.errors import InvalidInput
from pourtier.domain.escrow import (
    ChainRejected,
    ChainUnavailable,
    Commitment,
    PreparedTransaction,
    SignatureState,
)
from pourtier.infrastructure.solana.escrow_chain import SolanaEscrowChain
from pourtier.infrastructure.solana.local import BLOCKHASH_VALIDITY
from pourtier.infrastructure.solana.local_chain import LocalChain
from pourtier.infrastructure.solana.rpc import RpcNode
from pourtier.infrastructure.solana.token_accounts import TOKEN_ACCOUNT_SIZE
from tests.integration.conftest import Adapter, rpc_chain
from tests.support.escrow import send_lamports
from tests.support.rpc_server import RpcTestServer

USDC = 1_000_000
SOL = 1_000_000_000
ALLOWANCE = 50 * USDC
FEE = 5_000  # lamports per signature
INSUFFICIENT_FUNDS = '{"InstructionError":[0,{"Custom":1}]}'  # SPL Token error 1


# --- helpers ---------------------------------------------------------------------


def funded(adapter: Adapter, usdc: int = 100 * USDC) -> Keypair:
    wallet = Keypair()
    adapter.faucet(wallet.pubkey(), usdc, SOL)
    return wallet


def sign(prepared: PreparedTransaction, *signers: Keypair) -> bytes:
    message = Transaction.from_bytes(prepared.transaction).message
    return bytes(Transaction(list(signers), message, message.recent_blockhash))


async def signed_initialize(
    server: RpcTestServer, chain: SolanaEscrowChain
) -> tuple[str, bytes, str]:
    """A funded new wallet's escrow initialize, signed and checked but not
    sent: the wallet, the signed bytes and their signature."""
    user = Keypair()
    server.faucet(user.pubkey(), 100 * USDC, SOL)
    wallet = str(user.pubkey())
    prepared = await chain.prepare_initialize(wallet, ALLOWANCE)
    signed = sign(prepared, user)
    return wallet, signed, chain.check_signed(prepared.transaction, signed, wallet)


async def final_state(adapter: Adapter, signature: str) -> SignatureState:
    adapter.finalize()
    for _ in range(50):
        state = await adapter.chain.signature_state(signature)
        if state.commitment in (Commitment.FINALIZED, Commitment.FAILED):
            return state
        await asyncio.sleep(0.01)
    return state


async def land(adapter: Adapter, prepared: PreparedTransaction, user: Keypair) -> str:
    """What the API does: check the user's signature, send, follow to final."""
    signed = sign(prepared, user)
    signature = adapter.chain.check_signed(
        prepared.transaction, signed, str(user.pubkey())
    )
    await adapter.chain.send(signed)
    state = await final_state(adapter, signature)
    assert state == SignatureState(Commitment.FINALIZED)
    return signature


async def with_escrow(adapter: Adapter, usdc: int = 100 * USDC) -> Keypair:
    user = funded(adapter, usdc)
    prepared = await adapter.chain.prepare_initialize(str(user.pubkey()), ALLOWANCE)
    await land(adapter, prepared, user)
    return user


async def deposit(adapter: Adapter, user: Keypair, amount: int) -> str:
    prepared = await adapter.chain.prepare_deposit(str(user.pubkey()), amount)
    return await land(adapter, prepared, user)


async def treasury_balance(adapter: Adapter) -> int:
    return await adapter.chain.wallet_usdc_balance(str(adapter.treasury_owner))


# --- the contract, over both adapters ----------------------------------------------


async def test_initialize_creates_escrow_with_capped_delegate(
    adapter: Adapter,
) -> None:
    user = funded(adapter)
    wallet = str(user.pubkey())
    chain = adapter.chain
    before = await chain.escrow_state(wallet)
    assert (before.exists, before.balance, before.delegate) == (False, 0, None)
    assert before.address == chain.escrow_address(wallet)

    prepared = await chain.prepare_initialize(wallet, ALLOWANCE)
    assert prepared.last_valid_block_height > await chain.block_height()
    unsigned = Transaction.from_bytes(prepared.transaction)
    assert unsigned.signatures == [Signature.default()]
    signed = sign(prepared, user)
    signature = chain.check_signed(prepared.transaction, signed, wallet)
    assert signature == str(Transaction.from_bytes(signed).signatures[0])
    await chain.send(signed)
    assert await final_state(adapter, signature) == SignatureState(Commitment.FINALIZED)

    state = await chain.escrow_state(wallet)
    assert state.exists
    assert state.address == chain.escrow_address(wallet)
    assert state.balance == 0
    assert state.delegate == chain.fee_authority
    assert state.delegated_amount == ALLOWANCE
    assert state.mint == chain.usdc_mint


async def lamports(adapter: Adapter, address: str) -> int:
    account = await adapter.chain.node.get_account(Pubkey.from_string(address))
    return account.lamports if account is not None else 0


async def stranger_funds(adapter: Adapter, address: str, amount: int) -> None:
    """Someone with no stake sends SOL to a public address: anyone can."""
    stranger = Keypair()
    adapter.faucet(stranger.pubkey(), 0, amount + SOL)
    signature = await send_lamports(adapter.chain.node, stranger, address, amount)
    assert await final_state(adapter, signature) == SignatureState(Commitment.FINALIZED)


async def assert_usable_escrow(adapter: Adapter, user: Keypair) -> None:
    """Initialized with our capped delegate: deposits and charges both work."""
    wallet = str(user.pubkey())
    state = await adapter.chain.escrow_state(wallet)
    assert (state.exists, state.delegate, state.delegated_amount) == (
        True,
        adapter.chain.fee_authority,
        ALLOWANCE,
    )
    await deposit(adapter, user, 30 * USDC)
    charge = await adapter.chain.sign_charge(wallet, 5 * USDC)
    await adapter.chain.send(charge.transaction)
    assert await final_state(adapter, charge.signature) == SignatureState(
        Commitment.FINALIZED
    )
    assert (await adapter.chain.escrow_state(wallet)).balance == 25 * USDC


@pytest.mark.parametrize("sent", ["least possible", "more than the rent"])
async def test_initialize_succeeds_on_an_address_a_stranger_funded_first(
    adapter: Adapter, sent: str
) -> None:
    user = funded(adapter)
    wallet = str(user.pubkey())
    chain = adapter.chain
    escrow = chain.escrow_address(wallet)
    rent = await chain.node.minimum_balance(TOKEN_ACCOUNT_SIZE)
    # Less than an empty account's rent exemption is refused by the chain.
    amount = await chain.node.minimum_balance(0) if sent == "least possible" else SOL
    await stranger_funds(adapter, escrow, amount)
    assert not (await chain.escrow_state(wallet)).exists

    wallet_before = await lamports(adapter, wallet)
    await land(adapter, await chain.prepare_initialize(wallet, ALLOWANCE), user)

    # The wallet pays only what the rent still lacked, plus the fee; the
    # stranger's lamports stay in the escrow (its owner's on closing it).
    top_up = max(0, rent - amount)
    assert await lamports(adapter, escrow) == amount + top_up
    assert wallet_before - await lamports(adapter, wallet) == top_up + FEE
    await assert_usable_escrow(adapter, user)


async def test_initialize_lands_when_a_stranger_funds_the_address_after_prepare(
    adapter: Adapter,
) -> None:
    user = funded(adapter)
    wallet = str(user.pubkey())
    escrow = adapter.chain.escrow_address(wallet)
    rent = await adapter.chain.node.minimum_balance(TOKEN_ACCOUNT_SIZE)
    prepared = await adapter.chain.prepare_initialize(wallet, ALLOWANCE)
    await stranger_funds(adapter, escrow, SOL)

    await land(adapter, prepared, user)
    assert await lamports(adapter, escrow) == SOL + rent
    await assert_usable_escrow(adapter, user)


async def test_deposit_and_withdraw_move_the_users_own_funds(adapter: Adapter) -> None:
    user = await with_escrow(adapter)
    wallet = str(user.pubkey())
    chain = adapter.chain

    await deposit(adapter, user, 30 * USDC)
    assert (await chain.escrow_state(wallet)).balance == 30 * USDC
    assert await chain.wallet_usdc_balance(wallet) == 70 * USDC

    prepared = await chain.prepare_withdraw(wallet, 10 * USDC)
    await land(adapter, prepared, user)
    state = await chain.escrow_state(wallet)
    assert state.balance == 20 * USDC
    assert state.delegated_amount == ALLOWANCE  # the owner's moves keep it
    assert await chain.wallet_usdc_balance(wallet) == 80 * USDC


async def test_charge_moves_escrow_to_treasury_within_the_allowance(
    adapter: Adapter,
) -> None:
    user = await with_escrow(adapter)
    wallet = str(user.pubkey())
    await deposit(adapter, user, 30 * USDC)
    treasury_before = await treasury_balance(adapter)

    charge = await adapter.chain.sign_charge(wallet, 5 * USDC)
    parsed = Transaction.from_bytes(charge.transaction)
    assert parsed.message.account_keys[0] == Pubkey.from_string(
        adapter.chain.fee_authority
    )
    assert charge.signature == str(parsed.signatures[0])
    assert charge.last_valid_block_height > await adapter.chain.block_height()
    await adapter.chain.send(charge.transaction)
    assert await final_state(adapter, charge.signature) == SignatureState(
        Commitment.FINALIZED
    )

    state = await adapter.chain.escrow_state(wallet)
    assert state.balance == 25 * USDC
    assert state.delegated_amount == ALLOWANCE - 5 * USDC
    assert await treasury_balance(adapter) == treasury_before + 5 * USDC


@pytest.mark.parametrize(
    ("deposited", "charged"),
    [(ALLOWANCE + 10 * USDC, ALLOWANCE + 1), (10 * USDC, 10 * USDC + 1)],
    ids=["above-allowance", "above-balance"],
)
async def test_charge_beyond_allowance_or_balance_moves_nothing(
    adapter: Adapter, deposited: int, charged: int
) -> None:
    user = await with_escrow(adapter)
    wallet = str(user.pubkey())
    await deposit(adapter, user, deposited)
    treasury_before = await treasury_balance(adapter)

    charge = await adapter.chain.sign_charge(wallet, charged)
    if adapter.kind == "rpc":
        # Preflight simulates it: the node refuses and broadcasts nothing.
        with pytest.raises(ChainRejected, match="custom program error") as refused:
            await adapter.chain.send(charge.transaction)
        assert "solana node unreachable" not in refused.value.detail
        state = await adapter.chain.signature_state(charge.signature)
        assert state == SignatureState(Commitment.UNKNOWN)
    else:
        # The local VM executes it: the failure is the signature's outcome.
        await adapter.chain.send(charge.transaction)
        state = await final_state(adapter, charge.signature)
        assert state == SignatureState(Commitment.FAILED, INSUFFICIENT_FUNDS)

    escrow = await adapter.chain.escrow_state(wallet)
    assert escrow.balance == deposited
    assert escrow.delegated_amount == ALLOWANCE
    assert await treasury_balance(adapter) == treasury_before


async def test_check_signed_accepts_only_the_prepared_transaction_by_the_wallet(
    adapter: Adapter,
) -> None:
    user = funded(adapter)
    wallet = str(user.pubkey())
    chain = adapter.chain
    prepared = await chain.prepare_deposit(wallet, 5 * USDC)
    good = sign(prepared, user)
    message = Transaction.from_bytes(prepared.transaction).message
    other = Keypair()

    tampered = await chain.prepare_deposit(wallet, 6 * USDC)
    by_other_key = bytes(
        Transaction.populate(message, [other.sign_message(bytes(message))])
    )
    signature = bytes(Transaction.from_bytes(good).signatures[0])
    extra_signer = b"\x02" + signature + bytes(other.sign_message(bytes(message)))
    extra_signer += bytes(message)
    refused = {
        "tampered message": sign(tampered, user),
        "another key": by_other_key,
        "extra signer": extra_signer,
        "garbage": b"\x01not a transaction",
        "empty": b"",
        "trailing bytes": good + b"\x00",
        "too large": good + bytes(2000),
    }
    accepted = []
    for case, signed in refused.items():
        try:
            chain.check_signed(prepared.transaction, signed, wallet)
        except InvalidInput:
            continue
        accepted.append(case)
    assert accepted == []
    with pytest.raises(InvalidInput):
        chain.check_signed(prepared.transaction, good, str(other.pubkey()))
    assert chain.check_signed(prepared.transaction, good, wallet)


async def test_sending_the_same_bytes_again_is_harmless(adapter: Adapter) -> None:
    user = await with_escrow(adapter)
    wallet = str(user.pubkey())
    prepared = await adapter.chain.prepare_deposit(wallet, 7 * USDC)
    signed = sign(prepared, user)
    signature = adapter.chain.check_signed(prepared.transaction, signed, wallet)

    await adapter.chain.send(signed)
    await adapter.chain.send(signed)
    assert await final_state(adapter, signature) == SignatureState(Commitment.FINALIZED)
    await adapter.chain.send(signed)  # even once final

    assert (await adapter.chain.escrow_state(wallet)).balance == 7 * USDC
    assert await adapter.chain.wallet_usdc_balance(wallet) == 93 * USDC


async def test_the_same_movement_twice_is_two_transactions(adapter: Adapter) -> None:
    """A monthly charge of the same amount must not reuse last month's bytes."""
    user = await with_escrow(adapter)
    wallet = str(user.pubkey())
    first = await deposit(adapter, user, 10 * USDC)
    second = await deposit(adapter, user, 10 * USDC)
    assert first != second

    charges = []
    for _ in range(2):
        charge = await adapter.chain.sign_charge(wallet, 3 * USDC)
        await adapter.chain.send(charge.transaction)
        assert (await final_state(adapter, charge.signature)).commitment is (
            Commitment.FINALIZED
        )
        charges.append(charge.signature)
    assert charges[0] != charges[1]
    assert (await adapter.chain.escrow_state(wallet)).balance == 14 * USDC


async def test_a_transaction_expires_with_its_blockhash(adapter: Adapter) -> None:
    user = await with_escrow(adapter)
    wallet = str(user.pubkey())
    prepared = await adapter.chain.prepare_deposit(wallet, 5 * USDC)
    signed = sign(prepared, user)
    signature = adapter.chain.check_signed(prepared.transaction, signed, wallet)

    adapter.advance_blocks(BLOCKHASH_VALIDITY)
    assert await adapter.chain.block_height() == prepared.last_valid_block_height
    adapter.advance_blocks(1)
    assert await adapter.chain.block_height() > prepared.last_valid_block_height

    with pytest.raises(ChainRejected, match="expired"):
        await adapter.chain.send(signed)
    assert await adapter.chain.signature_state(signature) == SignatureState(
        Commitment.UNKNOWN
    )
    assert (await adapter.chain.escrow_state(wallet)).balance == 0


async def test_an_unknown_signature_is_unknown(adapter: Adapter) -> None:
    state = await adapter.chain.signature_state(str(Keypair().sign_message(b"x")))
    assert state == SignatureState(Commitment.UNKNOWN)


async def test_health_names_the_backend(adapter: Adapter) -> None:
    expected = {"local": "litesvm", "rpc": "solana-rpc"}[adapter.kind]
    assert await adapter.chain.health() == expected


# --- RPC only: commitment, rebroadcast, outages ------------------------------------


async def test_rpc_confirmed_is_not_finalized_until_the_cluster_finalizes(
    rpc_server: RpcTestServer, rpc_node: RpcNode
) -> None:
    chain = rpc_chain(rpc_server, rpc_node)
    _, signed, signature = await signed_initialize(rpc_server, chain)

    await chain.send(signed)
    for _ in range(3):
        state = await chain.signature_state(signature)
        assert state == SignatureState(Commitment.CONFIRMED)
    rpc_server.finalize_all()
    assert await chain.signature_state(signature) == SignatureState(
        Commitment.FINALIZED
    )


async def test_rpc_a_dropped_broadcast_lands_when_the_same_bytes_are_resent(
    rpc_server: RpcTestServer, rpc_node: RpcNode
) -> None:
    chain = rpc_chain(rpc_server, rpc_node)
    wallet, signed, signature = await signed_initialize(rpc_server, chain)

    rpc_server.drop_next_sends = 1
    await chain.send(signed)
    assert rpc_server.dropped == 1
    assert await chain.signature_state(signature) == SignatureState(Commitment.UNKNOWN)
    assert not (await chain.escrow_state(wallet)).exists

    await chain.send(signed)  # the same bytes, not a new signature
    assert await chain.signature_state(signature) == SignatureState(
        Commitment.CONFIRMED
    )
    rpc_server.finalize_all()
    assert await chain.signature_state(signature) == SignatureState(
        Commitment.FINALIZED
    )
    assert (await chain.escrow_state(wallet)).delegated_amount == ALLOWANCE


async def test_rpc_an_execution_failure_without_preflight_shows_as_failed(
    rpc_server: RpcTestServer, rpc_node: RpcNode
) -> None:
    """Another client may skip preflight; the failure then lands on chain."""
    chain = rpc_chain(rpc_server, rpc_node)
    user = Keypair()
    rpc_server.faucet(user.pubkey(), 0, SOL)
    charge = await chain.sign_charge(str(user.pubkey()), USDC)  # no escrow
    async with httpx.AsyncClient() as client:
        response = await client.post(
            rpc_server.url,
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "sendTransaction",
                "params": [
                    base64.b64encode(charge.transaction).decode(),
                    {"encoding": "base64", "skipPreflight": True},
                ],
            },
        )
    assert response.json()["result"] == charge.signature
    pending = await chain.signature_state(charge.signature)
    assert pending == SignatureState(Commitment.CONFIRMED)  # failed, not final yet
    rpc_server.finalize_all()
    state = await chain.signature_state(charge.signature)
    assert state.commitment is Commitment.FAILED
    assert state.error == '{"InstructionError":[0,"InvalidAccountData"]}'
    await chain.send(charge.transaction)  # already processed: harmless


async def test_rpc_an_outage_is_chain_unavailable_with_a_clear_detail(
    rpc_server: RpcTestServer, rpc_node: RpcNode
) -> None:
    chain = rpc_chain(rpc_server, rpc_node)
    wallet, signed, signature = await signed_initialize(rpc_server, chain)

    rpc_server.down = True
    outage = [
        chain.health(),
        chain.block_height(),
        chain.escrow_state(wallet),
        chain.wallet_usdc_balance(wallet),
        chain.prepare_deposit(wallet, USDC),
        chain.prepare_initialize(wallet, ALLOWANCE),
        chain.sign_charge(wallet, USDC),
        chain.send(signed),
        chain.signature_state(signature),
    ]
    for call in outage:
        with pytest.raises(ChainUnavailable) as error:
            await call
        assert error.value.detail.startswith("solana node unreachable: ")
        assert "HTTP 503" in error.value.detail
        assert rpc_server.url not in error.value.detail

    rpc_server.down = False
    await chain.send(signed)
    assert await chain.signature_state(signature) == SignatureState(
        Commitment.CONFIRMED
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_rpc_a_refused_connection_is_chain_unavailable() -> None:
    node = RpcNode(f"http://127.0.0.1:{closed_port()}/?api-key=secret")
    try:
        with pytest.raises(ChainUnavailable, match="connection refused") as error:
            await node.block_height()
        assert "secret" not in error.value.detail
        with pytest.raises(ChainUnavailable):
            await node.send_raw(b"\x01" + bytes(64))
    finally:
        await node.close()


async def test_rpc_a_slow_node_is_chain_unavailable(
    rpc_server: RpcTestServer,
) -> None:
    rpc_server.delay = 1.0
    node = RpcNode(rpc_server.url, timeout=0.2)
    try:
        with pytest.raises(ChainUnavailable, match=r"no answer within 0\.2 s"):
            await node.block_height()
    finally:
        await node.close()


async def test_rpc_an_unhealthy_or_garbled_node_is_chain_unavailable(
    rpc_server: RpcTestServer, rpc_node: RpcNode
) -> None:
    chain = rpc_chain(rpc_server, rpc_node)
    rpc_server.unhealthy = True
    with pytest.raises(ChainUnavailable, match="unhealthy"):
        await chain.health()
    rpc_server.unhealthy = False
    rpc_server.garbage = True
    with pytest.raises(ChainUnavailable, match="could not be read"):
        await chain.block_height()
    rpc_server.garbage = False
    assert await chain.health() == "solana-rpc"


async def test_rpc_uses_only_the_methods_the_test_node_speaks(
    rpc_server: RpcTestServer, rpc_node: RpcNode
) -> None:
    chain = rpc_chain(rpc_server, rpc_node)
    wallet, signed, signature = await signed_initialize(rpc_server, chain)
    await chain.send(signed)
    await chain.signature_state(signature)
    await chain.escrow_state(wallet)
    await chain.block_height()
    await chain.health()
    assert set(rpc_server.calls) == {
        "getMinimumBalanceForRentExemption",
        "getLatestBlockhash",
        "sendTransaction",
        "getSignatureStatuses",
        "getAccountInfo",
        "getBlockHeight",
        "getHealth",
    }


async def test_the_test_node_answers_malformed_requests_with_json_rpc_errors(
    rpc_server: RpcTestServer,
) -> None:
    async with httpx.AsyncClient(base_url=rpc_server.url) as client:

        async def post(body: object) -> Any:
            if isinstance(body, bytes):
                response = await client.post("/", content=body)
            else:
                response = await client.post("/", json=body)
            assert response.status_code == 200
            return response.json()

        def rpc(method: str, params: object) -> dict[str, object]:
            return {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}

        assert (await post(b"{not json"))["error"]["code"] == -32700
        assert (await post({"id": 1}))["error"]["code"] == -32600
        assert (await post(rpc("getSlotLeader", [])))["error"]["code"] == -32601
        bad_key = await post(rpc("getAccountInfo", ["not-a-key"]))
        assert bad_key["error"]["code"] == -32602
        bad_tx = await post(rpc("sendTransaction", ["AAAA", {"encoding": "base64"}]))
        assert bad_tx["error"]["code"] == -32602
        missing = await post(rpc("getAccountInfo", [str(Keypair().pubkey())]))
        assert missing == {
            "jsonrpc": "2.0",
            "id": 7,
            "result": {
                "context": {"slot": rpc_server.node.height, "apiVersion": "2.2.0"},
                "value": None,
            },
        }
        batch = await post([rpc("getHealth", []), rpc("getBlockHeight", [])])
        assert [item["result"] for item in batch] == ["ok", rpc_server.node.height]


# --- local only: persistence, and wiring -----------------------------------------


async def test_the_local_chain_survives_a_restart(tmp_path: Path) -> None:
    directory = tmp_path / "chain"
    local = LocalChain.open(directory)
    chain = local.escrow_chain()
    adapter = Adapter(
        "local",
        chain,
        local.faucet,
        lambda: None,
        local.node.advance_blocks,
        local.keys["treasury"].pubkey(),
    )
    user = await with_escrow(adapter)
    wallet = str(user.pubkey())
    await deposit(adapter, user, 12 * USDC)
    pending = await chain.prepare_deposit(wallet, 3 * USDC)
    keys_file = directory / "keys.json"
    assert stat.S_IMODE(os.stat(keys_file).st_mode) == 0o600

    reopened = LocalChain.open(directory)
    again = reopened.escrow_chain()
    assert reopened.mint == local.mint
    assert again.fee_authority == chain.fee_authority
    state = await again.escrow_state(wallet)
    assert (state.balance, state.delegated_amount) == (12 * USDC, ALLOWANCE)
    assert await again.wallet_usdc_balance(wallet) == 88 * USDC
    assert await again.block_height() == await chain.block_height()

    # A transaction prepared before the restart can still land after it.
    reopened_adapter = Adapter(
        "local",
        again,
        reopened.faucet,
        lambda: None,
        reopened.node.advance_blocks,
        reopened.keys["treasury"].pubkey(),
    )
    await land(reopened_adapter, pending, user)
    assert (await again.escrow_state(wallet)).balance == 15 * USDC


async def test_a_new_fee_authority_on_an_existing_local_chain_gets_fee_money(
    tmp_path: Path,
) -> None:
    LocalChain.open(tmp_path)
    authority = Keypair()
    local = LocalChain.open(tmp_path, authority)
    assert local.node.svm.get_balance(authority.pubkey())


def rpc_settings(**values: object) -> Settings:
    base: dict[str, object] = {
        "ENV": "test",
        "SOLANA_RPC_URL": "http://127.0.0.1:8899",
        "USDC_MINT": str(Keypair().pubkey()),
        "TREASURY_TOKEN_ACCOUNT": str(Keypair().pubkey()),
        "FEE_AUTHORITY_KEYPAIR": SecretStr(str(Keypair())),
    }
    base.update(values)
    return Settings(**base)  # type: ignore[arg-type]


async def test_build_chain_uses_json_rpc_when_a_url_is_set() -> None:
    settings = rpc_settings()
    chain, local = build_chain(settings)
    assert local is None
    assert isinstance(chain.node, RpcNode)
    assert chain.usdc_mint == settings.USDC_MINT
    await chain.node.close()


@pytest.mark.parametrize(
    "missing", ["FEE_AUTHORITY_KEYPAIR", "USDC_MINT", "TREASURY_TOKEN_ACCOUNT"]
)
def test_build_chain_with_json_rpc_names_what_is_missing(missing: str) -> None:
    with pytest.raises(ValueError, match=missing):
        build_chain(rpc_settings(**{missing: None}))
