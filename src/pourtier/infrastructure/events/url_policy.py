"""Which webhook URLs the service may call.

In production an admin's URL must not turn the service into a way into its
own network: a host resolving to a loopback, private, link-local (cloud
metadata), or otherwise non-public address is refused, when the endpoint is
created and again at every send (DNS may change). Elsewhere (development,
tests) local receivers are the point, so only the form is checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from pourtier.domain.errors import InvalidInput


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


class WebhookUrlPolicy:
    def __init__(self, allow_private: bool) -> None:
        self._allow_private = allow_private

    async def check(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput("a webhook URL is http(s)://host/...")
        if self._allow_private:
            return
        try:
            found = await asyncio.get_running_loop().getaddrinfo(
                parts.hostname, parts.port or 443, type=socket.SOCK_STREAM
            )
        except OSError:
            raise InvalidInput(f"{parts.hostname} does not resolve") from None
        addresses = {str(info[4][0]) for info in found}
        if not addresses or not all(_public(a) for a in addresses):
            raise InvalidInput(
                "webhook URLs resolving to loopback, private or link-local "
                "addresses are refused"
            )
