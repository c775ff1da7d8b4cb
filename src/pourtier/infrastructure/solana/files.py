"""Files of the local chain, written so that a crash never leaves half of one."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    """Write a sibling file with `mode` from the start, then rename it in place."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # the file may have existed with other permissions
        with os.fdopen(fd, "w") as file:
            fd = -1
            file.write(text)
    finally:
        if fd != -1:
            os.close(fd)
    os.replace(tmp, path)
