"""The embedded PostgreSQL (pgserver) shared by every process on one data dir.

pgserver counts the processes using a data directory by pid and stops the
server when the last of them exits through `atexit`. A process that dies
without that clean-up (kill -9, a crash, SIGTERM's default action) stays on
its list for good, so no later run is ever the last one and the server
outlives them all. pgserver is therefore told never to stop the server, and
the users are recorded here instead (process_users.py): the processes no
longer running are dropped whenever the record is read, and its lock covers
starting or stopping the server, so a process joining never races one that
is stopping it.
"""

from __future__ import annotations

import atexit
import os
import signal
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import structlog

from pourtier.infrastructure.process_users import (
    User,
    exit_normally_on_sigterm,
    identity,
    live_users,
    me,
)

log = structlog.get_logger(__name__)

USERS_FILE = "postgres.users"
"""Beside the cluster's directory: initdb wants an empty one to create it."""

STOP_TIMEOUT_SECONDS = 60.0
"""As long as `pg_ctl stop` waits by default."""

_PROC = Path("/proc")
_joined: dict[Path, Any] = {}


def join_cluster(pgdata: Path, database: str) -> Any:
    """Start or join the cluster in `pgdata`, with `database` created in it;
    the process is a user of it until it exits."""
    server = _joined.get(pgdata)
    if server is not None:
        return server
    from pgserver.postgres_server import get_server

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    with _users(pgdata) as users:
        server = get_server(pgdata, cleanup_mode=None)
        exists = server.psql(
            f"SELECT 1 FROM pg_database WHERE datname = '{database}';"  # noqa: S608
        )
        if "(1 row)" not in exists:
            server.psql(f"CREATE DATABASE {database};")
        users.append(me())
    _joined[pgdata] = server
    atexit.register(_leave, pgdata, pid)
    exit_normally_on_sigterm()
    return server


def _leave(pgdata: Path, pid: int) -> None:
    """At exit: drop this process from the users; the last one stops the server."""
    if os.getpid() != pid:  # a forked child inherited the handler, not the use
        return
    with _users(pgdata) as users:
        users[:] = [user for user in users if user[0] != pid]
        if not users:
            _stop(pgdata)


def _stop(pgdata: Path) -> None:
    """What `pg_ctl stop` does (fast mode: SIGINT, then wait), done here: as
    root, pgserver runs PostgreSQL as another user, and pg_ctl run as that
    user fails whenever it cannot reach the directory, where a signal from
    root or the owner always arrives."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return  # not running
    started = identity(pid)
    if started is None or not _is_postmaster_of(pid, pgdata):
        return  # a stale file, maybe naming a pid now given to another process
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while identity(pid) == started:
        if time.monotonic() > deadline:
            log.warning("the embedded PostgreSQL did not stop in time", pid=pid)
            return
        time.sleep(0.05)


def _is_postmaster_of(pid: int, pgdata: Path) -> bool:
    try:
        command = (_PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return not _PROC.is_dir()  # no /proc: trust the file, as pg_ctl does
    except OSError:
        return False
    return os.fsencode(pgdata) in command


def _users(pgdata: Path) -> AbstractContextManager[list[User]]:
    return live_users(pgdata.parent / USERS_FILE)
