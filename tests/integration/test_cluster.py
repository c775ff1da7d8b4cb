"""`make cluster --check` end to end: nginx, two `pourtier serve --workers 2`
replicas, PgBouncer in transaction pooling, a Redis of its own, two `pourtier worker`
processes, the shared local chain and Prometheus, all real processes on free
ports; a wallet signs in through nginx, every replica and worker answers
/metrics, Prometheus reports every target up, and everything stops."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import SERVER_URL
from tests.support.system import require_command

SCRIPT = Path(__file__).parents[2] / "bench" / "cluster.py"
TIMEOUT_SECONDS = 180  # about 30 s on an idle two-core machine


async def test_cluster_check_signs_in_through_nginx_and_prometheus_sees_all(
    tmp_path: Path,
) -> None:
    for name in ("nginx", "pgbouncer", "prometheus", "redis-server"):
        require_command(name)
    database = f"pourtier_cluster_test_{uuid.uuid4().hex[:12]}"
    env = {**os.environ, "CLUSTER_POSTGRES_URL": SERVER_URL}
    command = [sys.executable, str(SCRIPT), "--check", "--free-ports"]
    command += ["--dir", str(tmp_path / "cluster"), "--database", database]
    process = await asyncio.create_subprocess_exec(
        *command,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), TIMEOUT_SECONDS)
    finally:
        if process.returncode is None:
            process.terminate()  # it stops its own processes on SIGTERM
            await process.wait()
        admin = await asyncpg.connect(SERVER_URL)
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
    text = output.decode(errors="replace")
    assert process.returncode == 0, text
    for line in (
        "ok   sign-in",
        "ok   replica1 /metrics",
        "ok   replica2 /metrics",
        "ok   worker1 /metrics",
        "ok   worker2 /metrics",
        "ok   Prometheus targets: 4 of 4 up",
        "PASS",
        "[cluster] stopped",
    ):
        assert line in text, text
    # Stopped means stopped: nothing answers on any of its ports any more.
    ports = re.findall(r"^\[cluster\] .*http://127\.0\.0\.1:(\d+)$", text, re.M)
    assert len(ports) == 7, text  # balancer, 2 replicas, 2 workers, Prometheus, chain
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()
