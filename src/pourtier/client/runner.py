"""How each `pourtier client` command runs: the wallet from its keypair file,
a client whose tokens live under the config directory, and every failure
turned into one line on stderr and a documented exit status."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import typer

from pourtier.client.api import PourtierClient
from pourtier.client.errors import ApiError, TransactionFailed, TransactionNotFinal
from pourtier.client.output import NOT_FINAL, REFUSED, UNREACHABLE, USAGE, Output, fail
from pourtier.client.tokens import FileTokenStore
from pourtier.client.wallet import KeypairFileError, Wallet


@dataclass
class Options:
    url: str
    keypair: Path
    out: Output


Work = Callable[[PourtierClient, Output], Awaitable[None]]


def run(ctx: typer.Context, work: Work) -> None:
    """Load the wallet, run `work` with a client whose tokens live under the
    config directory, and turn every failure into one line and its status."""
    options = ctx.find_object(Options)
    assert options is not None  # set by the group's callback
    try:
        wallet = Wallet.from_file(options.keypair)
    except KeypairFileError as error:
        raise fail(str(error), USAGE) from None

    async def session() -> None:
        async with PourtierClient(options.url, wallet, store=FileTokenStore()) as c:
            await work(c, options.out)

    try:
        asyncio.run(session())
    except ApiError as error:
        hint = " (sign in: pourtier client login)" if error.status == 401 else ""
        raise fail(f"{error.detail}{hint}", REFUSED) from None
    except httpx.InvalidURL as error:
        raise fail(f"bad --url {options.url!r}: {error}", USAGE) from None
    except httpx.TransportError as error:
        reason = str(error) or type(error).__name__
        raise fail(f"cannot reach {options.url}: {reason}", UNREACHABLE) from None
    except TransactionFailed as error:
        raise fail(str(error), REFUSED) from None
    except TransactionNotFinal as error:
        raise fail(
            f"{error}; see `pourtier client escrow history`", NOT_FINAL
        ) from None


def confirm(question: str) -> bool:
    """Ask only a person at a terminal; a script must say so with an option."""
    return sys.stdin.isatty() and typer.confirm(question, err=True)
