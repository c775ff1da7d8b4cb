"""How each `pourtier client` command runs: the wallet from its keypair file,
a client whose tokens live under the config directory, and every failure
turned into one line on stderr and a documented exit status.

A command is written as `async def name(client, out, <its options>)` and
registered with `@command(group)`: typer sees its options and the context,
the client and the output are given to it here."""

from __future__ import annotations

import asyncio
import functools
import inspect
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from pourtier.client.api import DEFAULT_URL, PourtierClient
from pourtier.client.errors import ApiError, TransactionFailed, TransactionNotFinal
from pourtier.client.output import NOT_FINAL, REFUSED, UNREACHABLE, USAGE, Output, fail
from pourtier.client.tokens import FileTokenStore
from pourtier.client.wallet import DEFAULT_KEYPAIR, KeypairFileError, Wallet

app = typer.Typer(
    help="Act as your wallet against a running service: sign in, accept the "
    "legal documents, fund the escrow, subscribe. Exit status: 1 refused by "
    "the service, 2 usage, 3 service unreachable, 4 transaction not final yet.",
    no_args_is_help=True,
)


@dataclass
class Options:
    url: str
    keypair: Path
    out: Output


@app.callback()
def options(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Option(envvar="POURTIER_URL", help="The service.")
    ] = DEFAULT_URL,
    keypair: Annotated[
        Path,
        typer.Option(
            envvar="POURTIER_KEYPAIR",
            help="Solana CLI keypair file (JSON array of 64 bytes).",
        ),
    ] = DEFAULT_KEYPAIR,
    as_json: Annotated[
        bool, typer.Option("--json", help="Answer in JSON on stdout, for scripts.")
    ] = False,
) -> None:
    ctx.obj = Options(url, keypair, Output(as_json))


def load_wallet(path: Path) -> Wallet:
    try:
        return Wallet.from_file(path)
    except KeypairFileError as error:
        raise fail(str(error), USAGE) from None


def run(
    ctx: typer.Context, work: Callable[[PourtierClient, Output], Awaitable[None]]
) -> None:
    options = ctx.find_object(Options)
    assert options is not None  # set by the group's callback
    wallet = load_wallet(options.keypair)

    async def session() -> None:
        async with PourtierClient(options.url, wallet, store=FileTokenStore()) as c:
            await work(c, options.out)

    try:
        asyncio.run(session())
    except ApiError as error:
        hint = " (sign in: pourtier client login)" if error.status == 401 else ""
        raise fail(f"{error.detail}{hint}", REFUSED) from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
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


Command = Callable[..., Awaitable[None]]


def command(
    group: typer.Typer, name: str | None = None, *, default: bool = False
) -> Callable[[Command], Command]:
    """Register `async def f(client, out, **options)` in `group`; `default`:
    as what the group does when no subcommand is named."""

    def register(f: Command) -> Command:
        own = list(inspect.signature(f, eval_str=True).parameters.values())[2:]
        context = inspect.Parameter(
            "ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context
        )

        @functools.wraps(f)
        def sync(ctx: typer.Context, **values: Any) -> None:
            if default and ctx.invoked_subcommand is not None:
                return
            run(ctx, lambda client, out: f(client, out, **values))

        sync.__signature__ = inspect.Signature([context, *own])  # type: ignore[attr-defined]
        if default:
            group.callback(invoke_without_command=True)(sync)
        else:
            group.command(name)(sync)
        return f

    return register


def confirm(question: str) -> bool:
    """Ask only a person at a terminal; a script must say so with an option."""
    return sys.stdin.isatty() and typer.confirm(question, err=True)
