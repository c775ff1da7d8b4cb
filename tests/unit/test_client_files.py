"""The command-line wallet's files: tokens (0600, keyed by URL and wallet)
and Solana CLI keypair files, with a clear error for a bad one."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from solders.keypair import Keypair
from typer.testing import CliRunner

from pourtier.cli import app
from pourtier.client import (
    FileTokenStore,
    KeypairFileError,
    Tokens,
    Wallet,
    config_directory,
)
from pourtier.client.output import UNREACHABLE, USAGE
from tests.support.processes import free_port

URL = "http://localhost:9000"
TOKENS = Tokens("access", "refresh", datetime(2030, 1, 1, tzinfo=UTC))


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: the files' modes must not rely on it."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
def test_tokens_are_private_to_their_owner(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "pourtier" / "tokens")
    store.save(URL, "wallet-a", TOKENS)
    (path,) = store.directory.iterdir()
    assert mode(path) == 0o600
    assert mode(store.directory) == 0o700
    store.save(URL, "wallet-a", TOKENS)  # replaced, still private
    assert mode(store.path(URL, "wallet-a")) == 0o600
    assert [p.name for p in store.directory.iterdir()] == [path.name]  # no leftovers


def test_tokens_are_kept_per_url_and_wallet(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path)
    other = Tokens("access-2", "refresh-2", TOKENS.expires_at)
    store.save(URL, "wallet-a", TOKENS)
    store.save(URL, "wallet-b", other)
    store.save("https://api.example.com", "wallet-a", other)
    assert store.load(URL, "wallet-a") == TOKENS
    assert store.load(URL, "wallet-b") == other
    assert store.load("https://api.example.com", "wallet-a") == other
    assert store.load("http://localhost:9001", "wallet-a") is None
    store.clear(URL, "wallet-a")
    assert store.load(URL, "wallet-a") is None
    assert store.load(URL, "wallet-b") == other
    store.path(URL, "wallet-b").write_text("{not json")
    assert store.load(URL, "wallet-b") is None  # unreadable: sign in again


def test_the_config_directory_follows_xdg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_directory() == tmp_path / "xdg" / "pourtier"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config_directory() == tmp_path / "home" / ".config" / "pourtier"


def test_a_keypair_file_round_trips(tmp_path: Path) -> None:
    wallet = Wallet()
    path = tmp_path / "id.json"
    wallet.to_file(path)
    assert Wallet.from_file(path).address == wallet.address
    assert len(json.loads(path.read_text())) == 64
    assert mode(path) == 0o600


def secret_with_another_public_key() -> list[int]:
    return list(bytes(Keypair())[:32] + bytes(Keypair().pubkey()))


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "does not exist"),
        ("not json", "is not JSON"),
        ("[1, 2, 3]", "array of 64"),
        (json.dumps([256] * 64), "from 0 to 255"),
        (json.dumps([True] * 64), "from 0 to 255"),
        ('{"secret": 1}', "array of 64"),
        (json.dumps(secret_with_another_public_key()), "does not match"),
    ],
)
def test_a_bad_keypair_file_is_named_with_what_is_wrong(
    tmp_path: Path, content: str | None, says: str
) -> None:
    path = tmp_path / "id.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(KeypairFileError) as raised:
        Wallet.from_file(path)
    assert says in str(raised.value)
    assert str(path) in str(raised.value)


def invoke(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    result = CliRunner().invoke(app, ["client", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_the_command_refuses_a_bad_keypair_file_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "id.json"
    bad.write_text("[1, 2]")
    status, stdout, stderr = invoke(tmp_path, "--keypair", str(bad), "whoami")
    assert status == USAGE
    assert stdout == ""
    assert stderr.startswith(f"error: keypair file {bad} must hold")
    assert len(stderr.strip().splitlines()) == 1
    status, _, stderr = invoke(tmp_path, "whoami")  # the default: ~/.config/solana
    assert status == USAGE
    assert "id.json does not exist" in stderr


def test_an_unreachable_service_is_its_own_exit_status(tmp_path: Path) -> None:
    keypair = tmp_path / "id.json"
    Wallet().to_file(keypair)
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    args = ["--url", url, "--keypair", str(keypair), "whoami"]
    status, stdout, stderr = invoke(tmp_path, *args)
    assert status == UNREACHABLE
    assert stdout == ""
    assert stderr.startswith(f"error: cannot reach {url}")


def test_a_url_without_a_scheme_is_a_usage_error(tmp_path: Path) -> None:
    keypair = tmp_path / "id.json"
    Wallet().to_file(keypair)
    args = ["--url", "localhost:9000", "--keypair", str(keypair), "whoami"]
    status, _, stderr = invoke(tmp_path, *args)
    assert status == USAGE
    assert stderr.startswith("error: bad --url 'localhost:9000'")
