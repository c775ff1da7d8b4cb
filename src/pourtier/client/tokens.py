"""Where a client keeps its tokens between runs: pluggable, keyed by the
service's URL and the wallet, so one machine can hold several of each."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_at: datetime
    """When the access token expires, by this machine's clock."""

    @classmethod
    def issued(cls, access_token: str, refresh_token: str, expires_in: int) -> Tokens:
        expires_at = datetime.now(UTC) + timedelta(seconds=expires_in)
        return cls(access_token, refresh_token, expires_at)

    def expired(self, margin: timedelta = timedelta(seconds=10)) -> bool:
        return datetime.now(UTC) >= self.expires_at - margin


class TokenStore(Protocol):
    def load(self, url: str, wallet: str) -> Tokens | None: ...
    def save(self, url: str, wallet: str, tokens: Tokens) -> None: ...
    def clear(self, url: str, wallet: str) -> None: ...


class MemoryTokenStore:
    """Tokens for this process only (a library user's default)."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str], Tokens] = {}

    def load(self, url: str, wallet: str) -> Tokens | None:
        return self._tokens.get((url, wallet))

    def save(self, url: str, wallet: str, tokens: Tokens) -> None:
        self._tokens[(url, wallet)] = tokens

    def clear(self, url: str, wallet: str) -> None:
        self._tokens.pop((url, wallet), None)


def config_directory() -> Path:
    """`$XDG_CONFIG_HOME/pourtier`, else `~/.config/pourtier`."""
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "pourtier"


class FileTokenStore:
    """One JSON file per (URL, wallet) in a 0700 directory, each 0600 from its
    creation: a refresh token is a session, so never readable by others."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or config_directory() / "tokens"

    def path(self, url: str, wallet: str) -> Path:
        key = hashlib.sha256(f"{url}\n{wallet}".encode()).hexdigest()[:32]
        return self.directory / f"{key}.json"

    def load(self, url: str, wallet: str) -> Tokens | None:
        try:
            stored = json.loads(self.path(url, wallet).read_text("utf-8"))
            return Tokens(
                stored["access_token"],
                stored["refresh_token"],
                datetime.fromisoformat(stored["expires_at"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None  # none, or unreadable: sign in again

    def save(self, url: str, wallet: str, tokens: Tokens) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        stored = {
            "url": url,
            "wallet": wallet,
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_at": tokens.expires_at.isoformat(),
        }
        write_private(self.path(url, wallet), json.dumps(stored).encode("utf-8"))

    def clear(self, url: str, wallet: str) -> None:
        self.path(url, wallet).unlink(missing_ok=True)


def write_private(path: Path, data: bytes) -> None:
    """Replace `path` with `data`, readable by its owner only from the start:
    written to a new 0600 file beside it, then renamed over it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)  # left by a process killed mid-write
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as sink:
            sink.write(data)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
