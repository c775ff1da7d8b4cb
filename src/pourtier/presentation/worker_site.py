"""`/metrics` and `/health` of a `pourtier worker` (`--metrics-port`).

A worker serves no API, yet Prometheus and supervisors need to see it: that
its passes go on, and how far behind it is (the oldest pending escrow
transaction, the oldest undelivered event). The server runs in the workers'
own event loop, so an answer also proves that loop is not stuck.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from pourtier import __version__
from pourtier.application.worker_health import Backlog, worker_name
from pourtier.di.container import Container
from pourtier.infrastructure.monitoring.health import CHECK_TIMEOUT_SECONDS
from pourtier.infrastructure.monitoring.metrics import WorkerGauges

log = structlog.get_logger(__name__)


def create_worker_site(container: Container) -> FastAPI:
    app = FastAPI(
        title="Pourtier worker",
        version=__version__,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    gauges = WorkerGauges(container.metrics)
    names = [worker_name(worker) for worker in container.workers]

    async def backlog() -> Backlog | None:
        """None when the database does not answer in time: the gauges keep
        their last values, and health says why."""
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                return await container.backlog.read()
        except Exception:
            log.warning("could not read the backlog", exc_info=True)
            return None

    @app.get("/metrics", response_class=Response)
    async def metrics() -> Response:
        found = await backlog()
        if found is not None:
            gauges.pending_transaction_age.set(
                found.pending_transaction.total_seconds()
            )
            gauges.undelivered_event_age.set(found.undelivered_event.total_seconds())
        for name, at in container.passes.last_pass.items():
            gauges.last_pass.labels(name).set(at.timestamp())
        return Response(container.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/health")
    async def health() -> JSONResponse:
        """`ok`, or `degraded` (503) when a worker has not completed a pass
        lately or a part the workers need fails."""
        report = await container.health()
        stale = container.passes.stale(names)
        latest = container.passes.latest()
        found = await backlog()
        body: dict[str, Any] = {
            "status": "degraded" if stale or report.failing else "ok",
            "last_pass_at": latest.isoformat() if latest else None,
            "workers": {name: _worker_state(container, name) for name in names},
            "checks": report.checks,
        }
        if found is not None:
            body["oldest_pending_transaction_seconds"] = (
                found.pending_transaction.total_seconds()
            )
            body["oldest_undelivered_event_seconds"] = (
                found.undelivered_event.total_seconds()
            )
        problems = [f"no recent pass: {name}" for name in stale]
        problems += [f"failing: {name}" for name in report.failing]
        if problems:
            body["detail"] = "; ".join(problems)
            return JSONResponse(body, status_code=503)
        return JSONResponse(body)

    return app


def _worker_state(container: Container, name: str) -> dict[str, Any]:
    at = container.passes.last_pass.get(name)
    return {
        "last_pass_at": at.isoformat() if at else None,
        "failed_passes": container.passes.failures.get(name, 0),
    }


class WorkerSiteServer(uvicorn.Server):
    """uvicorn inside the workers' loop: the worker command handles the
    signals (cancelling every task), so this server must not take them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def worker_site(
    container: Container, host: str, port: int
) -> AsyncIterator[None]:
    """The site served while the block runs; OSError if it cannot listen.

    The socket is bound here, so a port in use is an error to report, not
    uvicorn's exit of the whole process.
    """
    try:
        listener = socket.create_server((host, port))
    except OSError as error:
        raise OSError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    config = uvicorn.Config(
        create_worker_site(container), lifespan="off", access_log=False, log_config=None
    )
    server = WorkerSiteServer(config)
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        yield  # connections wait in the listening socket's queue until served
    finally:
        server.should_exit = True
        await serving
        listener.close()
