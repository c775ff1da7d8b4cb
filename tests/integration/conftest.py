"""Fixtures of the chain adapter tests: the same test over LiteSVM in process
(`local`) and over JSON-RPC against the test node (`rpc`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from solders.pubkey import Pubkey

from pourtier.di.container import Container
from pourtier.infrastructure.solana.escrow_chain import SolanaEscrowChain
from pourtier.infrastructure.solana.local_chain import LocalChain
from pourtier.infrastructure.solana.rpc import RpcNode
from tests.subscription_helpers import check_books
from tests.support.rpc_server import RpcTestServer, running_rpc_server


@dataclass
class Adapter:
    kind: str
    chain: SolanaEscrowChain
    faucet: Callable[[Pubkey, int, int], None]
    finalize: Callable[[], None]
    advance_blocks: Callable[[int], None]
    treasury_owner: Pubkey


def rpc_chain(server: RpcTestServer, node: RpcNode) -> SolanaEscrowChain:
    keys = server.chain.keys
    return SolanaEscrowChain(
        node, server.chain.mint, keys["fee_authority"], server.chain.treasury
    )


def local_adapter(local: LocalChain) -> Adapter:
    return Adapter(
        "local",
        local.escrow_chain(),
        local.faucet,
        lambda: None,
        local.node.advance_blocks,
        local.keys["treasury"].pubkey(),
    )


def rpc_adapter(server: RpcTestServer, node: RpcNode) -> Adapter:
    return Adapter(
        "rpc",
        rpc_chain(server, node),
        server.faucet,
        server.finalize_all,
        server.advance_blocks,
        server.chain.keys["treasury"].pubkey(),
    )


@pytest.fixture
def rpc_server() -> Iterator[RpcTestServer]:
    with running_rpc_server() as server:
        yield server


@pytest.fixture
async def rpc_node(rpc_server: RpcTestServer) -> AsyncIterator[RpcNode]:
    node = RpcNode(rpc_server.url)
    yield node
    await node.close()


@pytest.fixture(params=["local", "rpc"])
async def adapter(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Adapter]:
    if request.param == "local":
        yield local_adapter(LocalChain.open(tmp_path / "chain"))
        return
    with running_rpc_server() as server:
        node = RpcNode(server.url)
        try:
            yield rpc_adapter(server, node)
        finally:
            await node.close()


@pytest.fixture
async def books(container: Container) -> AsyncIterator[None]:
    """After the test, every escrow equals its ledger and the treasury received
    exactly the confirmed charges (modules that move money use it:
    `pytestmark = pytest.mark.usefixtures("books")`)."""
    async for _ in check_books(container):
        yield
