"""The record of processes using the embedded cluster keeps only live ones.

A process counts by pid and start time: one that has ended (reaped or not)
or whose pid the OS gave to another process no longer uses the cluster.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pourtier.infrastructure.persistence import embedded
from pourtier.infrastructure.process_users import identity


def start_time(pid: int) -> str:
    started = identity(pid)
    assert started is not None
    return started


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_only_processes_still_running_are_users(tmp_path: Path) -> None:
    me = os.getpid()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    reaped = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        zombie_started = start_time(zombie.pid)
        reaped_started = start_time(reaped.pid)
        reaped.wait()
        for _ in range(100):  # ended but not waited for: a zombie
            if identity(zombie.pid) is None:
                break
            time.sleep(0.05)
        pgdata = tmp_path / "postgres"
        (tmp_path / embedded.USERS_FILE).write_text(
            f"{me} {start_time(me)}\n"
            f"{sleeper.pid} {start_time(sleeper.pid)}\n"
            f"{me} 1\n"  # this pid, but an earlier process that had it
            f"{zombie.pid} {zombie_started}\n"
            f"{reaped.pid} {reaped_started}\n"
            "not a line\n"
        )
        with embedded._users(pgdata) as users:
            assert users == [
                (me, start_time(me)),
                (sleeper.pid, start_time(sleeper.pid)),
            ]
            users.remove((me, start_time(me)))
        saved = (tmp_path / embedded.USERS_FILE).read_text()
        assert saved == f"{sleeper.pid} {start_time(sleeper.pid)}\n"
    finally:
        sleeper.kill()
        sleeper.wait()
        zombie.wait()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_stale_postmaster_pid_naming_another_process_is_not_signalled(
    tmp_path: Path,
) -> None:
    """A crashed server's postmaster.pid may name a pid the OS has reused."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        pgdata = tmp_path / "postgres"
        pgdata.mkdir()
        (pgdata / "postmaster.pid").write_text(f"{other.pid}\n{pgdata}\n")
        embedded._stop(pgdata)
        time.sleep(0.2)
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()
