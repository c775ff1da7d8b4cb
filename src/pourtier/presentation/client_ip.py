"""The client's address: the socket's peer, unless that peer is a trusted proxy.

Only then is `X-Forwarded-For` read, from the right: each trusted proxy
appends the address it received the request from, so the right-most address
that is not itself a trusted proxy is the client. Whatever a client writes
into the header itself stays on the left, and is never reached.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from starlette.requests import Request

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address
IPV6_CLIENT_PREFIX = 64
"""An IPv6 client usually owns a whole /64: it is limited as one."""

_STATE_KEY = "client_ip"


def parse_address(text: str) -> Address | None:
    """An address as proxies write it: bare, `v4:port` or `[v6]:port`."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, proxies: Sequence[Network]) -> bool:
    return any(address in network for network in proxies)


def resolve_client_ip(
    peer: str | None, forwarded_for: Iterable[str], proxies: Sequence[Network]
) -> str | None:
    """The client's address for a request from `peer` with these headers."""
    if peer is None or not proxies:
        return peer
    client = parse_address(peer)
    if client is None or not _trusted(client, proxies):
        return peer
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            break  # garbage: trust goes no further than the last good hop
        client = address
        if not _trusted(address, proxies):
            break
    return str(client)


def request_client_ip(request: Request, proxies: Sequence[Network]) -> str | None:
    """`resolve_client_ip` for a request, worked out once per request."""
    state = request.scope.setdefault("state", {})
    if _STATE_KEY not in state:
        peer = request.client.host if request.client else None
        forwarded = request.headers.getlist("x-forwarded-for") if proxies else []
        state[_STATE_KEY] = resolve_client_ip(peer, forwarded, proxies)
    found: str | None = state[_STATE_KEY]
    return found


def rate_limit_key(client_ip: str | None) -> str:
    """The budget an address draws on: itself, or its /64 for IPv6."""
    address = parse_address(client_ip) if client_ip else None
    if address is None:
        return client_ip or "unknown"
    if isinstance(address, IPv6Address):
        network = IPv6Network((address, IPV6_CLIENT_PREFIX), strict=False)
        return str(network)
    return str(address)
