"""`pourtier` command line: serve the API and manage its database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Annotated, TypeVar

import typer
import uvicorn
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import SQLAlchemyError

from pourtier.application.admin import RoleChange
from pourtier.client.cli import app as client_app
from pourtier.config import Settings
from pourtier.di.chain import fee_authority
from pourtier.di.container import Container, build_container
from pourtier.domain.audit import Actor
from pourtier.domain.errors import DomainError
from pourtier.domain.legal import DocumentType
from pourtier.infrastructure.monitoring.logging import configure_logging
from pourtier.infrastructure.monitoring.metrics import shared_metrics_directory
from pourtier.infrastructure.persistence import migrate
from pourtier.infrastructure.solana import localnet
from pourtier.presentation.worker_site import worker_site

app = typer.Typer(help="Pourtier: wallet sign-in, profiles and legal compliance.")
db_app = typer.Typer(help="Database schema.")
legal_app = typer.Typer(help="Legal documents.")
admin_app = typer.Typer(help="Operator roles (audited, actor `cli`).")
app.add_typer(db_app, name="db")
app.add_typer(legal_app, name="legal")
app.add_typer(admin_app, name="admin")
events_app = typer.Typer(help="Platform events and their deliveries.")
app.add_typer(events_app, name="events")
app.add_typer(client_app, name="client")
console = Console()
errors = Console(stderr=True)
T = TypeVar("T")


def _with_container(work: Callable[[Container], Awaitable[T]]) -> T:
    settings = Settings()
    configure_logging(settings.LOG_LEVEL)

    async def run() -> T:
        container = build_container(settings)
        try:
            return await work(container)
        finally:
            await container.stop()

    try:
        return asyncio.run(run())
    except DomainError as error:
        errors.print(f"[red]error:[/red] {escape(error.detail)}")
        raise typer.Exit(1) from None
    except (OSError, SQLAlchemyError) as error:
        errors.print(
            f"[red]error:[/red] the database is unreachable ({type(error).__name__}); "
            "check DATABASE_URL"
        )
        raise typer.Exit(2) from None


@contextlib.contextmanager
def _local_chain() -> Iterator[None]:
    """Without SOLANA_RPC_URL, join the data directory's local chain, or start
    it; this process uses it until the block ends (and a chain started for it
    stops once no process uses it)."""
    settings = Settings()
    if settings.SOLANA_RPC_URL:
        yield
        return
    try:
        joined = localnet.ensure(
            Path(settings.POURTIER_DATA_DIR) / "chain", settings.LOCALNET_PORT
        )
    except localnet.LocalnetError as error:
        errors.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(2) from None
    verb = "started" if joined.process is not None else "joined"
    console.print(f"{verb} the local chain at {joined.url}", markup=False)
    try:
        yield
    finally:
        joined.leave()


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind [default: HOST, 127.0.0.1]")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on [default: PORT, 9000]")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Start the API (http://localhost:9000 by default)."""
    settings = Settings()  # HOST and PORT from the environment or the YAML file
    host = host or settings.HOST
    port = port or settings.PORT
    os.environ["HOST"], os.environ["PORT"] = host, str(port)

    async def prepare(container: Container) -> None:
        await container.start()

    with _local_chain():
        # Done once here, before workers start: the embedded PostgreSQL, the
        # dev secret, migrations and seeding are then ready and never raced.
        _with_container(prepare)
        # Before uvicorn spawns the workers: they pick the metrics mode on
        # import.
        with shared_metrics_directory(workers):
            _run_uvicorn(host, port, workers)


def _run_uvicorn(host: str, port: int, workers: int) -> None:
    uvicorn.run(
        "pourtier.presentation.app:create_app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # The C parser and event loop from uvicorn[standard], named so that a
        # missing one fails loudly rather than falling back to the slower
        # pure-Python ones.
        loop="uvloop",
        http="httptools",
        access_log=False,
        # The client's address is worked out from TRUSTED_PROXIES alone.
        proxy_headers=False,
        log_config=None,
        timeout_graceful_shutdown=30,
        # uvicorn kills a worker that has not answered its supervisor within
        # 5 s: on a loaded machine a starting worker (imports, pools, cache
        # listener) can take longer, and was killed and restarted in a loop.
        timeout_worker_healthcheck=30,
    )


@app.command()
def worker(
    once: Annotated[
        bool, typer.Option("--once", help="Run each worker one pass, then exit.")
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Serve /metrics and /health on this port."),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option(help="Interface of --metrics-port.")
    ] = "127.0.0.1",
) -> None:
    """Run the background workers (chain follower, renewals) without the API.

    Any number of these, beside API processes started with RUN_WORKERS=false,
    share the work through PostgreSQL row locks. With --metrics-port, each
    reports its passes and lag for Prometheus and its supervisor.
    """

    async def work(container: Container) -> int:
        if once:
            return sum([await run() for run in container.workers])
        main = asyncio.current_task()
        if main is not None:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, main.cancel)
        console.print(f"running {len(container.workers)} worker(s); Ctrl-C stops")
        async with contextlib.AsyncExitStack() as stack:
            if metrics_port is not None:
                try:
                    await stack.enter_async_context(
                        worker_site(container, metrics_host, metrics_port)
                    )
                except OSError as error:
                    errors.print(f"[red]error:[/red] {escape(str(error))}")
                    raise typer.Exit(1) from None
                console.print(
                    f"metrics and health at http://{metrics_host}:{metrics_port}",
                    markup=False,
                )
            try:
                await container.run_workers()
            except asyncio.CancelledError:
                console.print("workers stopped")
        return 0

    with _local_chain():
        done = _with_container(work)
    if once:
        console.print(f"one pass done: {done} item(s) processed")


@app.command("localnet")
def localnet_command(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[
        int | None,
        typer.Option(help="Port (default LOCALNET_PORT, 8899); 0 for any free one."),
    ] = None,
    while_used: Annotated[
        bool,
        typer.Option(
            "--while-used",
            hidden=True,
            help="Stop once no process recorded as a user is alive (how serve "
            "and worker start it).",
        ),
    ] = False,
) -> None:
    """Serve the local chain of POURTIER_DATA_DIR over Solana JSON-RPC.

    LiteSVM with the real System and SPL Token programs, a test USDC mint and
    a fee authority; state in POURTIER_DATA_DIR/chain. `serve` and `worker`
    start it when SOLANA_RPC_URL is unset, or join it if it already runs.
    """
    settings = Settings()
    configure_logging(settings.LOG_LEVEL)
    _stop_on_sigterm()
    try:
        localnet.serve(
            Path(settings.POURTIER_DATA_DIR) / "chain",
            host=host,
            port=settings.LOCALNET_PORT if port is None else port,
            fee_authority=fee_authority(settings),
            while_used=while_used,
        )
    except localnet.LocalnetError as error:
        errors.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(1) from None


def _stop_on_sigterm() -> None:
    """uvicorn handles SIGTERM itself once serving; before that, exit cleanly."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply migrations up to head (idempotent)."""

    async def work(container: Container) -> str | None:
        await migrate.upgrade(container.direct_engine)
        return await migrate.current_revision(container.direct_engine)

    console.print(f"database at revision {_with_container(work)}")


@legal_app.command("seed")
def legal_seed() -> None:
    """Publish the initial legal documents if there are none (idempotent)."""

    async def work(container: Container) -> int:
        await migrate.upgrade(container.direct_engine)
        return len(await container.legal.seed_initial())

    count = _with_container(work)
    console.print(f"seeded {count} document(s)" if count else "documents already exist")


@legal_app.command("publish")
def legal_publish(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    document_type: Annotated[DocumentType, typer.Option("--type")],
    version: Annotated[str, typer.Option("--version")],
    title: Annotated[str, typer.Option("--title")],
) -> None:
    """Publish a new version of a document and archive the previous one."""
    try:
        content = file.read_text("utf-8")
    except UnicodeDecodeError:
        errors.print(f"[red]error:[/red] {escape(str(file))} is not UTF-8 text")
        raise typer.Exit(1) from None

    async def work(container: Container) -> str:
        doc = await container.legal.publish(
            document_type, version, title, content, actor=Actor.cli()
        )
        return f"published {doc.document_type.value} {doc.version} ({doc.id})"

    console.print(_with_container(work), markup=False)


WalletArgument = Annotated[str, typer.Argument(help="The account's wallet address.")]


def _set_role(wallet: str, *, grant: bool) -> RoleChange:
    async def work(container: Container) -> RoleChange:
        change = container.admin.grant if grant else container.admin.revoke
        return await change(Actor.cli(), wallet)

    change = _with_container(work)
    if grant:
        verb = "granted admin to" if change.changed else "already an admin:"
    else:
        verb = "revoked admin from" if change.changed else "not an admin:"
    console.print(f"{verb} {wallet} ({change.user.id})", markup=False)
    return change


@admin_app.command("grant")
def admin_grant(wallet: WalletArgument) -> None:
    """Give the admin role to the account of WALLET (it must exist)."""
    _set_role(wallet, grant=True)


@admin_app.command("revoke")
def admin_revoke(wallet: WalletArgument) -> None:
    """Take the admin role from the account of WALLET; effective at once."""
    change = _set_role(wallet, grant=False)
    if change.admin_by_configuration:
        console.print(
            "note: the wallet is in ADMIN_WALLETS, so it stays an admin until "
            "removed from there",
            markup=False,
        )


if __name__ == "__main__":
    app()


EventArgument = Annotated[uuid.UUID, typer.Argument(help="The event's id.")]


@events_app.command("list")
def events_list(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
) -> None:
    """The latest events, newest first: id, type, subject, sequence."""

    async def work(container: Container) -> None:
        for event in await container.events.recent_events(limit):
            console.print(
                f"{event.id}  {event.occurred_at.isoformat()}  {event.type.value}  "
                f"{event.subject_type}:{event.subject_id}  #{event.sequence}",
                markup=False,
            )

    _with_container(work)


@events_app.command("show")
def events_show(event_id: EventArgument) -> None:
    """An event's envelope and each of its deliveries."""

    async def work(container: Container) -> None:
        event, deliveries = await container.events.event(event_id)
        console.print(json.dumps(event.envelope(), indent=2), markup=False)
        for d in deliveries:
            when = d.delivered_at or d.next_attempt_at
            console.print(
                f"{d.sink}: {d.status.value}, {d.attempts} attempt(s), "
                f"{when.isoformat()}" + (f", {d.last_error}" if d.last_error else ""),
                markup=False,
            )

    _with_container(work)


@events_app.command("redeliver")
def events_redeliver(event_id: EventArgument) -> None:
    """Send an event again to each of its enabled sinks (audited, actor `cli`)."""

    async def work(container: Container) -> int:
        return await container.events.redeliver(Actor.cli(), event_id)

    count = _with_container(work)
    console.print(f"{count} delivery(ies) due again")
