"""A user's whole journey through `pourtier client`, as separate processes
against `pourtier serve` on the local chain, its workers settling the
escrow: the keypair file is the wallet, the answers are read as JSON."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pourtier.cli import app
from pourtier.client import FileTokenStore, SyncPourtierClient, Wallet
from pourtier.di.container import Container
from pourtier.domain.audit import Actor
from pourtier.domain.legal import DocumentType
from tests.support.processes import Outputs, run_cli_apart
from tests.support.servers import Server, serving_with_workers


@pytest.fixture
async def server(container: Container, database_url: str, tmp_path: Path) -> Any:
    """`pourtier serve` with its workers; `container` migrates and cleans the
    database it uses."""
    async with serving_with_workers("serve", database_url, tmp_path) as started:
        yield started


def user_env(home: Path) -> dict[str, str]:
    """Nothing of the tester's own home: tokens go under this one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POURTIER_")}
    return {
        **env,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "COLUMNS": "200",
    }


class Cli:
    """The command, as `pourtier client` run by the user.

    In this process (typer's runner, in a thread: the command runs its own
    event loop), since starting the whole `pourtier` command costs seconds
    each time; `process` runs the installed script itself.
    """

    def __init__(self, server: Server, keypair: Path, home: Path) -> None:
        self.base = ["client", "--url", str(server.client.base_url)]
        self.base += ["--keypair", str(keypair)]
        self.env = user_env(home)

    async def __call__(self, *args: str) -> Outputs:
        def invoke() -> Outputs:
            result = CliRunner().invoke(app, [*self.base, *args], env=self.env)
            assert not isinstance(result.exception, AssertionError)
            return Outputs(result.exit_code, result.stdout, result.stderr)

        return await asyncio.to_thread(invoke)

    async def process(self, *args: str) -> Outputs:
        return await run_cli_apart(self.env, *self.base, *args)

    async def json(self, *args: str) -> Any:
        result = await self("--json", *args)
        assert result.returncode == 0, result
        return json.loads(result.stdout)


async def test_the_whole_journey_through_the_command_line(
    server: Server, container: Container, tmp_path: Path
) -> None:
    wallet, home = Wallet(), tmp_path / "home"
    keypair = home / ".config" / "solana" / "id.json"
    wallet.to_file(keypair)
    cli = Cli(server, keypair, home)

    refused = await cli.process("login")  # no account, terms not accepted: nothing done
    assert refused.returncode == 1, refused
    assert "terms_of_service" in refused.stderr
    assert "--accept-terms" in refused.stderr.splitlines()[-1]

    signed_in = await cli.json("login", "--accept-terms")
    assert signed_in["registered"] is True
    assert signed_in["user"]["wallet_address"] == wallet.address
    (token_file,) = (home / "config" / "pourtier" / "tokens").iterdir()
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert (await cli.json("login"))["registered"] is False  # a second sign-in
    sessions = await cli.json("sessions")  # the first one ended by the second
    assert [s["current"] for s in sessions] == [True]

    await container.legal.publish(
        DocumentType.TERMS_OF_SERVICE,
        "2.0",
        "Terms v2",
        "New terms.",
        actor=Actor.cli(),
    )
    me = await cli.json("whoami")
    assert [d["version"] for d in me["pending_documents"]] == ["2.0"]
    accepted = await cli.json("legal", "accept", "--yes")
    assert accepted == {"is_compliant": True, "pending_documents": []}

    funded = await cli.json("faucet", "100")
    assert funded["usdc_balance"] == "100.000000"
    initialized = await cli.json("escrow", "init", "--allowance", "500")
    assert (initialized["type"], initialized["status"]) == ("initialize", "confirmed")
    deposited = await cli.json("escrow", "deposit", "50")
    assert (deposited["amount"], deposited["status"]) == ("50.000000", "confirmed")
    withdrawn = await cli.json("escrow", "withdraw", "10")
    assert (withdrawn["type"], withdrawn["status"]) == ("withdraw", "confirmed")
    balance = await cli.json("escrow", "balance")
    assert (balance["is_initialized"], balance["balance"]) == (True, "40.000000")
    assert balance["allowance_remaining"] == "500.000000"

    subscribed = await cli.json("subscribe", "basic")
    assert (subscribed["plan"], subscribed["status"]) == ("basic", "active")
    status = await cli.json("subscription", "status")
    assert status["access"]["has_access"] is True
    assert status["subscription"]["id"] == subscribed["id"]
    canceled = await cli.json("subscription", "cancel")
    assert canceled["cancel_at_period_end"] is True
    assert canceled["status"] == "active"  # access until the period's end
    resumed = await cli.json("subscription", "resume")
    assert resumed["cancel_at_period_end"] is False
    ended = await cli.json("subscription", "cancel", "--now")
    assert ended["status"] == "canceled"
    after_end = await cli.json("subscription", "status")
    assert after_end["access"]["has_access"] is False
    assert after_end["subscription"] is None
    nothing = await cli("subscription", "cancel")
    assert nothing.returncode == 1
    assert nothing.stderr.startswith("error: no live subscription")
    history = await cli.json("escrow", "history")
    assert [(t["type"], t["amount"]) for t in history] == [
        ("subscription_charge", "29.990000"),  # the basic plan's price
        ("withdraw", "10.000000"),
        ("deposit", "50.000000"),
        ("initialize", "500.000000"),  # the allowance approved
    ]
    assert [t["status"] for t in history] == ["confirmed"] * 4

    second = Wallet()
    second.to_file(home / "ledger.json")
    linked = await cli.json("wallets", "link", str(home / "ledger.json"))
    assert (linked["wallet_address"], linked["primary"]) == (second.address, False)
    listed = await cli.json("wallets")
    assert [w["wallet_address"] for w in listed] == [wallet.address, second.address]
    as_second = Cli(server, home / "ledger.json", tmp_path / "second-home")
    assert (await as_second.json("login"))["user"]["id"] == (
        signed_in["user"]["id"]
    )  # the linked wallet signs in to the same account
    assert await cli.json("wallets", "unlink", second.address) == {
        "unlinked": second.address
    }

    # The library shares the command's tokens: same store, URL and wallet.
    def library_profile() -> str:
        store = FileTokenStore(home / "config" / "pourtier" / "tokens")
        url = str(server.client.base_url)
        with SyncPourtierClient(url, wallet, store=store) as client:
            return str(client.me().wallet_address)

    assert await asyncio.to_thread(library_profile) == wallet.address

    assert await cli.json("logout") == {"signed_out": True}
    assert not token_file.exists()
    after = await cli.process("whoami")
    assert after.returncode == 1, after
    assert after.stderr.startswith("error: ")
    assert len(after.stderr.strip().splitlines()) == 1
    assert "Traceback" not in after.stderr
