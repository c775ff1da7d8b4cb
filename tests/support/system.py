"""Tests that need a system program: run when it is installed, skip when it is
not, and fail under CI=true, where .ci/run installs everything."""

from __future__ import annotations

import os
import shutil

import pytest


def require_command(name: str, package: str | None = None) -> str:
    """The path of `name`; skips (or fails under CI=true) when it is missing."""
    # Daemons (nginx, pgbouncer) are in sbin, which a user's PATH may lack.
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is not None:
        return path
    reason = f"{name} is not installed (Debian package {package or name})"
    if os.environ.get("CI") == "true":
        pytest.fail(reason + "; CI must install it")
    pytest.skip(reason)
