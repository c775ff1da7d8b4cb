"""Node clients under tests/support: installed once with `npm ci`, run with node."""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

from tests.support.system import require_command


def npm_ci(directory: Path, package: str) -> None:
    """`npm ci` once into `directory`, under a lock on it: pytest-xdist
    workers or two runs in this checkout never install at once, nor run a
    client on a node_modules another is still writing. `package` is one it
    installs: once it is there, the install is done."""
    npm = require_command("npm")
    handle = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        if not (directory / "node_modules" / package).exists():
            subprocess.run(  # noqa: S603
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=directory,
                check=True,
                timeout=300,
            )
    finally:
        os.close(handle)  # releases the lock


def node_client(directory: Path, package: str) -> str:
    """The node command, with `directory`'s packages installed; skips (or
    fails under CI=true) when node or npm is missing."""
    node = require_command("node", "nodejs")
    npm_ci(directory, package)
    return node
