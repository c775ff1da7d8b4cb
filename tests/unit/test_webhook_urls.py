"""In production, webhook URLs resolving to non-public addresses are refused,
at creation and at every send."""

from __future__ import annotations

import pytest

from pourtier.domain.errors import InvalidInput
from pourtier.infrastructure.events.url_policy import WebhookUrlPolicy

REFUSED = [
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    "http://[::1]/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.10/hook",
    "http://172.16.5.4/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://[fe80::1]/hook",
    "http://0.0.0.0/hook",
    "http://[::ffff:127.0.0.1]/hook",
]


@pytest.mark.parametrize("url", REFUSED)
async def test_production_refuses_non_public_addresses(url: str) -> None:
    with pytest.raises(InvalidInput):
        await WebhookUrlPolicy(allow_private=False).check(url)


async def test_production_accepts_a_public_address() -> None:
    await WebhookUrlPolicy(allow_private=False).check("https://93.184.215.14/hook")


@pytest.mark.parametrize("url", ["ftp://example.com/x", "http:///nohost", "hook"])
async def test_any_environment_refuses_what_is_not_an_http_url(url: str) -> None:
    with pytest.raises(InvalidInput):
        await WebhookUrlPolicy(allow_private=True).check(url)


async def test_elsewhere_local_receivers_are_allowed() -> None:
    await WebhookUrlPolicy(allow_private=True).check("http://127.0.0.1:9/hook")
