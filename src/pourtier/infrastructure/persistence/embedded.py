"""The embedded PostgreSQL (pgserver) shared by every process on one data dir.

pgserver counts the processes using a data directory by pid and stops the
server when the last of them exits through `atexit`. A process that dies
without that clean-up (kill -9, a crash, SIGTERM's default action) stays on
its list for good, so no later run is ever the last one and the server
outlives them all. pgserver is therefore told never to stop the server, and
the users are recorded here instead: each process by pid and kernel start
time (a pid the OS gave to another process is not the same user), with the
processes no longer running dropped whenever the record is read. One lock
covers the record and starting or stopping the server, so a process joining
never races one that is stopping it.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import structlog

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
        users.append((pid, _identity(pid) or ""))
    _joined[pgdata] = server
    atexit.register(_leave, pgdata, pid)
    _exit_normally_on_sigterm()
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
    started = _identity(pid)
    if started is None or not _is_postmaster_of(pid, pgdata):
        return  # a stale file, maybe naming a pid now given to another process
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while _identity(pid) == started:
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


@contextmanager
def _users(pgdata: Path) -> Iterator[list[tuple[int, str]]]:
    """The live users of the cluster, locked; changes to the list are saved."""
    path = pgdata.parent / USERS_FILE
    with path.open("a+", encoding="utf-8") as record:
        fcntl.flock(record, fcntl.LOCK_EX)  # released when the file closes
        record.seek(0)
        users = [
            (pid, started)
            for pid, started in _parse(record.read())
            if _identity(pid) == started
        ]
        yield users
        record.seek(0)
        record.truncate()
        record.write("".join(f"{pid} {started}\n" for pid, started in users))


def _parse(text: str) -> list[tuple[int, str]]:
    users = []
    for line in text.splitlines():
        pid, _, started = line.partition(" ")
        if pid.isdigit():
            users.append((int(pid), started.strip()))
    return users


def _identity(pid: int) -> str | None:
    """What tells the running process `pid` from any other that had or will
    have that pid: field 22 of /proc/<pid>/stat, its start in ticks after
    boot. None once it has ended, zombies included (an unreaped process will
    never use the cluster again). Without /proc (macOS), the pid alone."""
    if not _PROC.is_dir():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return ""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # the name may hold spaces
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return fields[19]


def _exit_normally_on_sigterm() -> None:
    """SIGTERM's default action ends the process without `atexit`, so without
    leaving the cluster. Where it still has that action, make it an ordinary
    exit. Servers that handle SIGTERM themselves (uvicorn) restore this handler
    and raise the signal again once they have shut down."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit)


def _exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)
