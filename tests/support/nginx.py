"""A real nginx load balancer in front of server processes, for tests.

Its configuration, pid, logs and temporary files are all in a directory of
the test's; it runs in the foreground (`daemon off`) as a child of the test.
It connects to the upstreams from `PROXY_ADDRESS`, another loopback address
than the clients', so the service can tell the proxy from the client. Each
answer names the upstream that gave it (`X-Upstream`).
"""

from __future__ import annotations

import asyncio
import os
import pwd
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.processes import free_port
from tests.support.system import require_command

PROXY_ADDRESS = "127.0.0.2"
"""nginx's own address as the upstreams see it (all of 127/8 is loopback)."""


def nginx_conf(directory: Path, port: int, upstreams: Sequence[str]) -> str:
    servers = "".join(f"        server {u};\n" for u in upstreams)
    temp = "".join(
        f"    {kind}_temp_path {directory / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # Ignored (with a warning) unless started as root, where it keeps the
    # workers able to use the test's own (private) directory.
    user = pwd.getpwuid(os.getuid()).pw_name
    return (
        f"user {user};\n"
        "worker_processes 1;\n"
        f"pid {directory / 'nginx.pid'};\n"
        f"error_log {directory / 'error.log'} warn;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"    access_log {directory / 'access.log'};\n"
        f"{temp}"
        "    upstream pourtier {\n"
        f"{servers}"
        "    }\n"
        "    server {\n"
        f"        listen 127.0.0.1:{port};\n"
        "        location / {\n"
        "            proxy_pass http://pourtier;\n"
        f"            proxy_bind {PROXY_ADDRESS};\n"
        "            proxy_set_header Host $host;\n"
        "            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "            proxy_set_header X-Forwarded-Proto $scheme;\n"
        "            add_header X-Upstream $upstream_addr always;\n"
        "        }\n"
        "    }\n"
        "}\n"
    )


@dataclass
class Nginx:
    url: str
    directory: Path

    def client(self, address: str) -> httpx.AsyncClient:
        """A client connecting to nginx from `address` (a loopback one)."""
        transport = httpx.AsyncHTTPTransport(local_address=address)
        return httpx.AsyncClient(base_url=self.url, transport=transport, timeout=10)


@asynccontextmanager
async def running_nginx(
    directory: Path, upstreams: Sequence[str]
) -> AsyncIterator[Nginx]:
    """nginx balancing over `upstreams` (host:port), ready, stopped at the end."""
    binary = require_command("nginx")
    port = free_port()
    conf = _write_conf(directory, port, upstreams)
    output = directory / "output.log"
    with output.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            binary,
            "-c",
            str(conf),
            "-p",
            str(directory),
            "-e",  # from the start: not the system's log, which may be closed to us
            str(directory / "error.log"),
            "-g",
            "daemon off;",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=sink,
            stderr=sink,
        )
    found = Nginx(f"http://127.0.0.1:{port}", directory)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.returncode is None, _logs(directory)
            try:
                async with httpx.AsyncClient() as probe:
                    await probe.get(found.url + "/health")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, _logs(directory)
                await asyncio.sleep(0.05)
        yield found
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 15)


def _write_conf(directory: Path, port: int, upstreams: Sequence[str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "nginx.conf"
    conf.write_text(nginx_conf(directory, port, upstreams))
    return conf


def _logs(directory: Path) -> str:
    return "\n".join(
        path.read_text(errors="replace")
        for path in (directory / "output.log", directory / "error.log")
        if path.exists()
    )
