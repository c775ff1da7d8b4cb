"""One local chain per data directory, in one process, reached over JSON-RPC.

LiteSVM lives in the memory of one process, so a chain shared by API
workers, `pourtier worker` and the CLI must be a process of its own:
`pourtier localnet` serves `POURTIER_DATA_DIR/chain` over Solana JSON-RPC
(localnet_rpc.py) and every other process is an ordinary RPC client of it.

Finding it: the serving process holds an exclusive lock on
`chain/localnet.lock` for as long as it runs and writes its URL to
`chain/localnet.json` once it listens. A held lock means "running"; a stale
file left by a killed process is ignored because its lock died with it.
`ensure` starts one when none runs (under `chain/localnet.start.lock`, so two
processes starting at once get one chain) and hands the starter the process
to stop when it exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import structlog
import uvicorn
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction

from pourtier.domain.escrow import ChainRejected, Commitment
from pourtier.infrastructure.solana.local import LocalChain, mint_instructions
from pourtier.infrastructure.solana.localnet_rpc import LocalnetRpc
from pourtier.infrastructure.solana.rpc import RpcNode

log = structlog.get_logger(__name__)

STATE_FILE = "localnet.json"
SERVING_LOCK = "localnet.lock"
START_LOCK = "localnet.start.lock"
DEFAULT_PORT = 8899  # Solana's own; `solana config set --url localhost` finds it
START_TIMEOUT_SECONDS = 30.0
CONFIRM_POLLS = 100


class LocalnetError(RuntimeError):
    """The local chain could not be started or reached."""


def _try_lock(file: IO[str]) -> bool:
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def running_url(chain_dir: Path) -> str | None:
    """The URL of the local chain serving `chain_dir`, None if none runs."""
    lock_path = chain_dir / SERVING_LOCK
    if not lock_path.exists():
        return None
    with lock_path.open("a") as lock:
        if _try_lock(lock):
            return None  # nobody holds it: any state file is stale
    try:
        state = json.loads((chain_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None  # starting: locked, not yet listening
    url = state.get("url")
    return url if isinstance(url, str) else None


def _healthy(url: str) -> bool:
    try:
        answer = httpx.post(
            url,
            json={"jsonrpc": "2.0", "id": 1, "method": "getHealth"},
            timeout=2.0,
        )
        return bool(answer.json().get("result") == "ok")
    except (httpx.HTTPError, ValueError):
        return False


@dataclass
class Localnet:
    """A reachable local chain; `process` is set when this process started it."""

    url: str
    process: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def ensure(chain_dir: Path, port: int = DEFAULT_PORT) -> Localnet:
    """Join the local chain of `chain_dir`, or start it if none runs."""
    chain_dir.mkdir(parents=True, exist_ok=True)
    with (chain_dir / START_LOCK).open("a") as start_lock:
        fcntl.flock(start_lock, fcntl.LOCK_EX)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        url = running_url(chain_dir)
        if url is not None and _wait_healthy(url, deadline):
            return Localnet(url)
        process = subprocess.Popen(  # noqa: S603 - our own command
            [sys.executable, "-m", "pourtier.cli", "localnet", "--port", str(port)],
            env={**os.environ, "POURTIER_DATA_DIR": str(chain_dir.parent)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            # Its own session: Ctrl-C in the terminal reaches the service,
            # which stops the chain after its own graceful shutdown.
            start_new_session=True,
        )
        while time.monotonic() < deadline:
            if process.poll() is not None:
                stderr = process.stderr.read().decode() if process.stderr else ""
                last = stderr.strip().splitlines()[-1:] or ["no output"]
                raise LocalnetError(f"the local chain did not start: {last[0]}")
            url = running_url(chain_dir)
            if url is not None and _healthy(url):
                return Localnet(url, process)
            time.sleep(0.05)
        process.kill()
        raise LocalnetError("the local chain did not start in time")


def _wait_healthy(url: str, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if _healthy(url):
            return True
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def _serving_lock(chain_dir: Path) -> Iterator[None]:
    with (chain_dir / SERVING_LOCK).open("a") as lock:
        if not _try_lock(lock):
            raise LocalnetError(
                f"a local chain already serves {chain_dir} "
                f"(at {running_url(chain_dir) or 'an address not yet published'})"
            )
        try:
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                (chain_dir / STATE_FILE).unlink()


def serve(
    chain_dir: Path,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    fee_authority: Keypair | None = None,
    announce: bool = True,
) -> None:
    """Serve the chain of `chain_dir` until SIGINT/SIGTERM (`pourtier localnet`)."""
    chain_dir.mkdir(parents=True, exist_ok=True)
    with _serving_lock(chain_dir):
        chain = LocalChain.open(chain_dir, fee_authority)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            sock.close()
            raise LocalnetError(
                f"cannot listen on {host}:{port} ({error.strerror}); "
                "set LOCALNET_PORT to another port, or 0 for any free one"
            ) from None
        url = f"http://{host}:{sock.getsockname()[1]}"
        state = json.dumps({"pid": os.getpid(), "url": url})
        (chain_dir / STATE_FILE).write_text(state)
        if announce:
            print(f"local chain at {url} (mint {chain.mint})", flush=True)
        config = uvicorn.Config(
            LocalnetRpc(chain).app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        try:
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            chain.node.save()


class LocalnetFaucet:
    """Test SOL and USDC on the local chain, through its JSON-RPC like any
    client: an airdrop, and a mint signed by the mint authority whose key the
    data directory holds."""

    def __init__(self, node: RpcNode, keys: dict[str, Keypair]) -> None:
        self._node = node
        self._keys = keys

    async def fund(self, wallet: Pubkey, usdc_units: int, lamports: int) -> None:
        if lamports:
            await self._final(await self._node.request_airdrop(wallet, lamports))
        if usdc_units:
            authority = self._keys["mint_authority"]
            blockhash, _ = await self._node.latest_blockhash()
            message = Message.new_with_blockhash(
                mint_instructions(self._keys, wallet, usdc_units),
                authority.pubkey(),
                blockhash,
            )
            transaction = Transaction([authority], message, blockhash)
            await self._node.send_raw(bytes(transaction))
            await self._final(transaction.signatures[0])

    async def _final(self, signature: Signature) -> None:
        for _ in range(CONFIRM_POLLS):
            state = await self._node.signature_state(signature)
            if state.commitment is Commitment.FINALIZED:
                return
            if state.commitment is Commitment.FAILED:
                raise ChainRejected(f"faucet transaction failed: {state.error}")
            await asyncio.sleep(0.02)
        raise ChainRejected("faucet transaction did not land")
