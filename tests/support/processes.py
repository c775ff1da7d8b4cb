"""`pourtier` as a separate process: its command, its environment, a free port,
and a run to completion (servers that keep running are in servers.py)."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from pourtier.config import Settings
from tests.conftest import JWT_SECRET

_SCRIPT = Path(sys.executable).with_name("pourtier")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "pourtier.cli"]
SETTINGS = frozenset(Settings.model_fields)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def process_env(database_url: str, data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a `pourtier` process under test.

    This process's own, less every setting of the service it may hold (so the
    shell running the tests changes nothing a test sees), plus the test
    database, a data directory of its own and `settings`.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if key.upper() not in SETTINGS and not key.upper().startswith("POURTIER_")
    }
    env.update(
        {
            "DATABASE_URL": database_url,
            "ENV": "test",
            "JWT_SECRET_KEY": JWT_SECRET,
            "POURTIER_CONFIG": "/nonexistent/pourtier.yaml",
            "POURTIER_DATA_DIR": str(data_dir),
            "LOG_LEVEL": "WARNING",
            "LOCALNET_PORT": "0",  # any free port: tests run side by side
            **settings,
        }
    )
    return env


@dataclass
class Result:
    returncode: int
    output: str


async def run_cli(env: dict[str, str], *args: str) -> Result:
    """`pourtier <args>` to its end (at most a minute), stdout and stderr as one."""
    process = await asyncio.create_subprocess_exec(
        *COMMAND,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return Result(process.returncode, stdout.decode("utf-8", "replace"))


@dataclass
class Outputs:
    returncode: int
    stdout: str
    stderr: str


async def run_cli_apart(env: dict[str, str], *args: str) -> Outputs:
    """`pourtier <args>` to its end (at most a minute), stdout and stderr kept
    apart: a command's answer (`--json`) against what it tells people."""
    process = await asyncio.create_subprocess_exec(
        *COMMAND,
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return Outputs(
        process.returncode,
        stdout.decode("utf-8", "replace"),
        stderr.decode("utf-8", "replace"),
    )
