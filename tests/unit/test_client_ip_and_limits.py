"""Who the client is behind proxies, which budget an address draws on, and how
the limits are configured and reported."""

from __future__ import annotations

import os
from ipaddress import ip_network
from pathlib import Path

import pytest
from pydantic import ValidationError

from pourtier.config import Settings
from pourtier.infrastructure.rate_limiter import (
    Decision,
    RateLimiter,
    Window,
    parse_limits,
)
from pourtier.presentation.client_ip import (
    Network,
    parse_address,
    rate_limit_key,
    resolve_client_ip,
)

PROXIES: list[Network] = [ip_network("10.0.0.0/8"), ip_network("2001:db8:ff::/48")]


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        # No trusted proxy in front: the header is never read.
        ("198.51.100.1", ["203.0.113.5"], "198.51.100.1"),
        # Behind a proxy: the right-most address it did not add itself.
        ("10.0.0.1", ["203.0.113.5"], "203.0.113.5"),
        ("10.0.0.1", ["1.2.3.4, 203.0.113.5"], "203.0.113.5"),
        ("10.0.0.1", ["1.2.3.4, 203.0.113.5, 10.9.9.9"], "203.0.113.5"),
        ("10.0.0.1", ["1.2.3.4", "203.0.113.5, 10.9.9.9"], "203.0.113.5"),
        # Nothing forwarded, or only proxies: the furthest one known.
        ("10.0.0.1", [], "10.0.0.1"),
        ("10.0.0.1", ["10.2.2.2, 10.3.3.3"], "10.2.2.2"),
        # Garbage stops the walk at the last good hop.
        ("10.0.0.1", ["203.0.113.5, not-an-ip"], "10.0.0.1"),
        ("10.0.0.1", ["not-an-ip, 10.4.4.4"], "10.4.4.4"),
        # Ports, brackets and IPv4-mapped IPv6 as proxies write them.
        ("10.0.0.1", ["203.0.113.5:4711"], "203.0.113.5"),
        ("10.0.0.1", ["[2001:db8::7]:443"], "2001:db8::7"),
        ("::ffff:10.0.0.1", ["::ffff:203.0.113.5"], "203.0.113.5"),
        ("2001:db8:ff::1", ["2001:db8::7"], "2001:db8::7"),
        (None, ["203.0.113.5"], None),
    ],
)
def test_client_ip_behind_trusted_proxies(
    peer: str | None, forwarded: list[str], client: str | None
) -> None:
    assert resolve_client_ip(peer, forwarded, PROXIES) == client


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert resolve_client_ip("10.0.0.1", ["203.0.113.5"], []) == "10.0.0.1"


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::9", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        ("testclient", "testclient"),
        (None, "unknown"),
    ],
)
def test_rate_limit_key(address: str | None, key: str) -> None:
    assert rate_limit_key(address) == key


def test_parse_address_refuses_garbage() -> None:
    assert parse_address("999.1.1.1") is None
    assert parse_address("") is None


def test_limits_parse_single_and_several() -> None:
    assert [(i.amount, i.get_expiry()) for i in parse_limits("20/minute")] == [(20, 60)]
    several = parse_limits("5/second; 100/hour")
    assert [(i.amount, i.get_expiry()) for i in several] == [(5, 1), (100, 3600)]
    for bad in ("", "lots", "20 per fortnight"):
        with pytest.raises(ValueError, match="is not a rate limit"):
            parse_limits(bad)


def settings(**values: object) -> Settings:
    return Settings(POURTIER_DATA_DIR=Path("/nonexistent"), **values)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting leaks in from the machine's environment or a YAML file."""
    monkeypatch.setenv("POURTIER_CONFIG", "/nonexistent/pourtier.yaml")
    fields = {name.upper() for name in Settings.model_fields}
    for name in list(os.environ):
        if name.upper() in fields:
            monkeypatch.delenv(name)


def test_settings_check_limits_and_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = settings()
    assert defaults.RATE_LIMIT_ENABLED is True
    assert defaults.TRUSTED_PROXIES == []
    assert defaults.MAX_BODY_BYTES == 64 * 1024
    with pytest.raises(ValidationError, match="RATE_LIMIT_AUTH"):
        settings(RATE_LIMIT_AUTH="often")
    with pytest.raises(ValidationError, match="TRUSTED_PROXIES"):
        settings(TRUSTED_PROXIES=["proxy.example"])
    monkeypatch.setenv("TRUSTED_PROXIES", '["10.0.0.0/8", "192.0.2.7"]')
    monkeypatch.setenv("RATE_LIMIT_ENABLED", "false")
    from_env = settings()
    expected = [ip_network("10.0.0.0/8"), ip_network("192.0.2.7/32")]
    proxies = from_env.TRUSTED_PROXIES
    assert proxies == expected
    assert from_env.RATE_LIMIT_ENABLED is False


def test_rate_limit_store_defaults_to_the_cache_redis() -> None:
    assert settings(REDIS_URL="redis://cache:6379/0").rate_limit_redis_url == (
        "redis://cache:6379/0"
    )
    assert (
        settings(
            REDIS_URL="redis://cache:6379/0", RATE_LIMIT_REDIS_URL="redis://rl:1/2"
        ).rate_limit_redis_url
        == "redis://rl:1/2"
    )


def test_a_decision_reports_its_tightest_window() -> None:
    now = 1000.0
    loose = Window(True, 100, 90, now + 3600)
    tight = Window(True, 5, 1, now + 0.2)
    assert Decision.of([loose, tight], now) == Decision(True, 5, 1, 1)
    # Refused: the window that frees last decides when to come back.
    refused_soon = Window(False, 5, 0, now + 2.5)
    refused_late = Window(False, 100, 0, now + 1800)
    assert Decision.of([refused_soon, loose, refused_late], now) == Decision(
        False, 100, 0, 1800
    )


async def test_memory_limiter_counts_each_key_in_each_group() -> None:
    limiter = RateLimiter({"auth": "2/minute; 3/hour", "read": "1/minute"})
    try:
        assert limiter.backend == "memory"
        first = await limiter.hit("auth", ("ip", "a"))
        assert (first.allowed, first.limit, first.remaining) == (True, 2, 1)
        assert (await limiter.hit("auth", ("ip", "a"))).remaining == 0
        refused = await limiter.hit("auth", ("ip", "a"))
        assert not refused.allowed
        assert 59 <= refused.reset_after <= 60
        # Other keys and other groups have budgets of their own.
        assert (await limiter.hit("auth", ("ip", "b"))).allowed
        assert (await limiter.hit("read", ("ip", "a"))).allowed
        # Several keys at once: refused if any one is spent.
        assert not (await limiter.hit("auth", ("ip", "c"), ("ip", "a"))).allowed
    finally:
        await limiter.close()
