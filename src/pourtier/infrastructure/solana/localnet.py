"""One local chain per data directory, in one process, reached over JSON-RPC.

LiteSVM lives in the memory of one process, so a chain shared by API
workers, `pourtier worker` and the CLI must be a process of its own:
`pourtier localnet` serves `POURTIER_DATA_DIR/chain` over Solana JSON-RPC
(localnet_rpc.py) and every other process is an ordinary RPC client of it.

Finding it: the serving process holds an exclusive lock on
`chain/localnet.lock` for as long as it runs and writes its URL to
`chain/localnet.json` once it listens. A held lock means "running"; a stale
file left by a killed process is ignored because its lock died with it.

Its lifetime: `ensure` records the calling process as a user of the chain
(`chain/localnet.users`, see process_users.py) and starts the chain if none
runs. A chain started that way stops itself once no recorded user is alive,
however they ended (a clean exit, Ctrl-C, kill -9), and under the users'
lock, so a process joining never races one stopping. A chain started by hand
(`pourtier localnet`) runs until it is stopped.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import json
import os
import socket
import subprocess
import sys
import threading
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
from pourtier.infrastructure.process_users import (
    exit_normally_on_sigterm,
    live_users,
    me,
)
from pourtier.infrastructure.solana.local_chain import LocalChain, mint_instructions
from pourtier.infrastructure.solana.localnet_rpc import LocalnetRpc
from pourtier.infrastructure.solana.rpc import RpcNode

log = structlog.get_logger(__name__)

STATE_FILE = "localnet.json"
SERVING_LOCK = "localnet.lock"
USERS_FILE = "localnet.users"
DEFAULT_PORT = 8899  # Solana's own; `solana config set --url localhost` finds it
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 30.0
WATCH_SECONDS = 0.5
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
    users: Path
    process: subprocess.Popen[bytes] | None = None

    def leave(self) -> None:
        """Stop using the chain before this process exits (it leaves at exit
        anyway); a chain `ensure` started stops once its last user has left."""
        _leave(self.users, os.getpid())


def _leave(users: Path, pid: int) -> None:
    if os.getpid() != pid:  # a forked child inherited the handler, not the use
        return
    with live_users(users) as alive:
        alive[:] = [user for user in alive if user[0] != pid]


def ensure(chain_dir: Path, port: int = DEFAULT_PORT) -> Localnet:
    """Join the local chain of `chain_dir`, or start it if none runs; this
    process uses it until it exits or calls `leave`."""
    users = chain_dir / USERS_FILE
    with live_users(users) as alive:
        if me() not in alive:
            alive.append(me())
            atexit.register(_leave, users, os.getpid())
            exit_normally_on_sigterm()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        url = running_url(chain_dir)
        if url is not None and _wait_healthy(url, deadline):
            return Localnet(url, users)
        command = ["localnet", "--port", str(port), "--while-used"]
        process = subprocess.Popen(  # noqa: S603 - our own command
            [sys.executable, "-m", "pourtier.cli", *command],
            env={**os.environ, "POURTIER_DATA_DIR": str(chain_dir.parent)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            # Its own session: Ctrl-C in a terminal reaches its users, and it
            # stops once they are gone.
            start_new_session=True,
        )
        while time.monotonic() < deadline:
            if process.poll() is not None:
                stderr = process.stderr.read().decode() if process.stderr else ""
                last = stderr.strip().splitlines()[-1:] or ["no output"]
                raise LocalnetError(f"the local chain did not start: {last[0]}")
            url = running_url(chain_dir)
            if url is not None and _healthy(url):
                return Localnet(url, users, process)
            time.sleep(0.05)
        process.kill()
        raise LocalnetError("the local chain did not start in time")


def _wait_healthy(url: str, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if _healthy(url):
            return True
        time.sleep(0.05)
    return False


def _stop_when_unused(
    chain_dir: Path, server: uvicorn.Server, stopped: threading.Event
) -> None:
    """In a chain `ensure` started: once no user is alive, stop serving, and
    hold the users' lock until the chain is saved and its serving lock is
    released, so whoever joins next starts a fresh one."""
    while not stopped.wait(WATCH_SECONDS):
        with live_users(chain_dir / USERS_FILE) as alive:
            if alive:
                continue
            with contextlib.suppress(FileNotFoundError):
                (chain_dir / STATE_FILE).unlink()
            server.should_exit = True
            stopped.wait(STOP_TIMEOUT_SECONDS)
            return


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
    while_used: bool = False,
) -> None:
    """Serve the chain of `chain_dir` until SIGINT/SIGTERM (`pourtier localnet`),
    or, `while_used`, until its last user has gone."""
    chain_dir.mkdir(parents=True, exist_ok=True)
    stopped = threading.Event()
    watcher: threading.Thread | None = None
    try:
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
            print(f"local chain at {url} (mint {chain.mint})", flush=True)
            config = uvicorn.Config(
                LocalnetRpc(chain).app,
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=2,
            )
            server = uvicorn.Server(config)
            if while_used:
                watcher = threading.Thread(
                    target=_stop_when_unused,
                    args=(chain_dir, server, stopped),
                    daemon=True,
                )
                watcher.start()
            try:
                server.run(sockets=[sock])
            finally:
                chain.node.save()
    finally:
        stopped.set()
        if watcher is not None:
            watcher.join(STOP_TIMEOUT_SECONDS)


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
