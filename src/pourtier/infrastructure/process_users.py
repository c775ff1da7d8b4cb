"""Which live processes use a shared local resource (the embedded PostgreSQL,
the local chain), so the last one to leave can stop it.

Each user is recorded by pid and kernel start time in a small file beside the
resource: a pid the OS gave to another process is not the same user, and a
process that died without its clean-up (kill -9, a crash, SIGTERM's default
action) is dropped the next time the record is read. The record is read and
written under an exclusive lock, which also serialises starting and stopping
the resource.
"""

from __future__ import annotations

import fcntl
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

_PROC = Path("/proc")

User = tuple[int, str]


def identity(pid: int) -> str | None:
    """What tells the running process `pid` from any other that had or will
    have that pid: field 22 of /proc/<pid>/stat, its start in ticks after
    boot. None once it has ended, zombies included (an unreaped process will
    never use anything again). Without /proc (macOS), the pid alone."""
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


def me() -> User:
    pid = os.getpid()
    return pid, identity(pid) or ""


@contextmanager
def live_users(path: Path) -> Iterator[list[User]]:
    """The live users recorded in `path`, locked; changes to the list are saved."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as record:
        fcntl.flock(record, fcntl.LOCK_EX)  # released when the file closes
        record.seek(0)
        users = [
            (pid, started)
            for pid, started in _parse(record.read())
            if identity(pid) == started
        ]
        yield users
        record.seek(0)
        record.truncate()
        record.write("".join(f"{pid} {started}\n" for pid, started in users))


def _parse(text: str) -> list[User]:
    users = []
    for line in text.splitlines():
        pid, _, started = line.partition(" ")
        if pid.isdigit():
            users.append((int(pid), started.strip()))
    return users


def exit_normally_on_sigterm() -> None:
    """SIGTERM's default action ends the process without `atexit`, so without
    leaving. Where it still has that action, make it an ordinary exit. Servers
    that handle SIGTERM themselves (uvicorn) restore this handler and raise
    the signal again once they have shut down."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit)


def _exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)
