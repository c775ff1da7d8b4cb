"""The processes of `make cluster`: each started, probed until it answers,
stopped (SIGTERM, then SIGKILL), killed or restarted; and the system programs
it needs, installed from Debian's packages when missing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from redis import Redis
from redis.exceptions import RedisError

HOST = "127.0.0.1"
PACKAGES = {
    "nginx": "nginx",
    "pgbouncer": "pgbouncer",
    "prometheus": "prometheus",
    "redis-server": "redis-server",
}
START_SECONDS = 120.0
STOP_SECONDS = 15.0


def say(text: str) -> None:
    print(f"[cluster] {text}", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def system_command(name: str) -> str:
    """The program's path, installing its Debian package when missing."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found:
        return found
    say(f"{name} is missing: apt-get install {PACKAGES[name]}")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)  # noqa: S603
    subprocess.run(  # noqa: S603
        [*sudo, "apt-get", "install", "-y", "-qq", PACKAGES[name]], check=True, env=env
    )
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if not found:
        raise SystemExit(f"{name} is still missing after installing {PACKAGES[name]}")
    return found


@dataclass
class Service:
    """One process of the cluster: started, probed, stopped, restarted."""

    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    ready: Callable[[], bool]
    url: str = ""
    stop_signal: int = signal.SIGTERM
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(  # noqa: S603 - our own commands
                self.command,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us only: we stop them
            )

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def probe(self) -> bool:
        try:
            return self.ready()
        except (httpx.HTTPError, OSError):
            return False

    def wait_ready(self, seconds: float = START_SECONDS) -> None:
        deadline = time.monotonic() + seconds
        while not self.probe():
            if not self.alive:
                raise StartError(self, "exited")
            if time.monotonic() > deadline:
                raise StartError(self, f"not ready in {seconds:g} s")
            time.sleep(0.1)

    def stop(self, seconds: float = STOP_SECONDS) -> None:
        """`stop_signal` (SIGTERM unless the program has a gentler one), then
        SIGKILL after `seconds`; and whatever is left of its process group (a
        killed `serve`'s uvicorn workers) is killed."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(self.stop_signal)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(seconds)
        self._kill_group()

    def kill(self) -> None:
        """SIGKILL to the process and its children, as a machine's crash
        would: a `serve` killed alone leaves its workers serving."""
        if self.process is not None and self.process.poll() is None:
            self._kill_group()

    def _kill_group(self) -> None:
        assert self.process is not None
        # Its own session (start_new_session), so its group id is its pid;
        # while a member lives, no new process can be given that id.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def restart(self, stop_signal: int | None = None) -> None:
        if stop_signal is not None and self.alive:
            assert self.process is not None
            self.process.send_signal(stop_signal)
        self.stop()
        self.start()
        self.wait_ready()

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class StartError(RuntimeError):
    def __init__(self, service: Service, why: str) -> None:
        super().__init__(f"{service.name} {why}; the end of {service.log}:\n")
        self.service = service


def http_ok(url: str, *accepted: int) -> Callable[[], bool]:
    return lambda: httpx.get(url, timeout=2).status_code in (accepted or (200,))


def pg_answers(url: str) -> bool:
    async def connect() -> bool:
        connection = await asyncpg.connect(url, timeout=2)
        await connection.close()
        return True

    try:
        return asyncio.run(connect())
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False


def redis_answers(url: str) -> bool:
    client = Redis.from_url(url, socket_timeout=2)
    try:
        return bool(client.ping())
    except RedisError:
        return False
    finally:
        client.close()


def chain_healthy(url: str) -> bool:
    body = {"jsonrpc": "2.0", "id": 1, "method": "getHealth"}
    return bool(httpx.post(url, json=body, timeout=2).json().get("result") == "ok")
