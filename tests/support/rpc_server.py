"""The local chain's JSON-RPC server in a thread, with fault modes for tests.

The methods and their answers are the real ones of `pourtier localnet`
(src/pourtier/infrastructure/solana/localnet_rpc.py); this adds behaviour a
test can steer, all deterministic:
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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from solders.pubkey import Pubkey
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from pourtier.infrastructure.solana.local_chain import LocalChain
from pourtier.infrastructure.solana.localnet_rpc import LocalnetRpc
from pourtier.infrastructure.solana.rpc_shapes import NODE_UNHEALTHY, RpcError
from tests.support.threaded import ThreadedServer


class RpcTestServer(LocalnetRpc):
    finalize_at_once = False

    def __init__(self) -> None:
        super().__init__(LocalChain.open(None))
        self.down = False
        self.unhealthy = False
        self.garbage = False
        self.delay = 0.0
        self.drop_next_sends = 0
        self.dropped = 0
        self.calls: list[str] = []
        self.url = ""
        self._served: ThreadedServer | None = None

    # --- what tests steer ----------------------------------------------------

    def faucet(self, wallet: Pubkey, usdc_units: int, lamports: int) -> None:
        with self.lock:
            self.chain.faucet(wallet, usdc_units, lamports)

    def finalize_all(self) -> None:
        with self.lock:
            for landed in self.landed.values():
                landed.finalized = True

    def advance_blocks(self, count: int) -> None:
        with self.lock:
            self.node.advance_blocks(count)

    def drop_send(self) -> bool:
        if self.drop_next_sends <= 0:
            return False
        self.drop_next_sends -= 1
        self.dropped += 1
        return True

    # --- faults --------------------------------------------------------------

    async def endpoint(self, request: Request) -> Response:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.down:
            return PlainTextResponse("Service Unavailable", status_code=503)
        if self.garbage:
            return Response("<html>maintenance</html>", media_type="text/html")
        return await super().endpoint(request)

    def handle(self, payload: Any) -> dict[str, Any]:
        method = payload.get("method") if isinstance(payload, dict) else None
        if isinstance(method, str) and method in self.methods:
            self.calls.append(method)
        return super().handle(payload)

    def _get_health(self, params: Any) -> str:
        if self.unhealthy:
            raise RpcError(NODE_UNHEALTHY, "Node is unhealthy", {})
        return "ok"

    # --- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        self._served = ThreadedServer(self.app, "the test JSON-RPC server")
        self.url = self._served.start()

    def stop(self) -> None:
        if self._served is not None:
            self._served.stop()


@contextmanager
def running_rpc_server() -> Iterator[RpcTestServer]:
    server = RpcTestServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
