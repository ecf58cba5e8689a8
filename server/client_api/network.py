"""Who is calling: the client address, believing X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(texts: Sequence[str]) -> list[Network]:
    return [ipaddress.ip_network(t, strict=False) for t in texts]


@functools.lru_cache(maxsize=4096)  # LAN clients repeat; parsing is ~1% of a request
def parse_address(text: str | None) -> Address | None:
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.strip().split("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    return address


def client_address(peer: str | None, forwarded_for: str | None,
                   trusted: Sequence[Network]) -> str:
    """The socket's address; behind trusted proxies, the last untrusted X-Forwarded-For hop."""
    address = parse_address(peer)
    if address is None:
        return peer or ""
    if not forwarded_for or not _within(address, trusted):
        return str(address)
    for hop in reversed([h for h in forwarded_for.split(",") if h.strip()]):
        hop_address = parse_address(hop)
        if hop_address is None:
            break  # a forged or garbled hop: trust nothing before it
        address = hop_address
        if not _within(address, trusted):
            break
    return str(address)


def allowed(address_text: str, networks: Sequence[Network]) -> bool:
    """True when no networks are set, or the address is in one of them."""
    if not networks:
        return True
    address = parse_address(address_text)
    return address is not None and _within(address, networks)


def _within(address: Address, networks: Sequence[Network]) -> bool:
    return any(address.version == n.version and address in n for n in networks)
