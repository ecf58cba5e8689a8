"""Which addresses may use the admin API (and /metrics): the admin allow-list.

Two places can hold it. `MODELPROXY_ADMIN_ALLOW` (environment, flag, the service's settings
file) wins when set: whoever controls the server's environment has the last word, and can
undo a list that locked every admin out without the API. Otherwise the `admin_allow` option
(the `setting` table: offered at first-run setup, changed under settings) is the list. With
neither, the admin API answers any address that reaches the server (/metrics only loopback).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from app.services import stored_settings
from app.settings import Settings, env_name

OPTION = "admin_allow"
MAX_ITEMS = 100


def check_list(value: Any) -> list[str]:
    """A stored admin allow-list: IP addresses or CIDRs (empty: no list). Raises ValueError."""
    if not isinstance(value, list) or len(value) > MAX_ITEMS or not all(
            isinstance(item, str) for item in value):
        raise ValueError(f"must be a list of at most {MAX_ITEMS} IP addresses or CIDRs, such "
                         "as [\"192.168.1.20\", \"192.168.1.0/28\"] (empty: any address)")
    for item in value:
        try:
            ipaddress.ip_network(item.strip(), strict=False)
        except ValueError:
            raise ValueError(f"has {item!r}, which is not an IP address or CIDR") from None
    return [item.strip() for item in value]


def shuts_out(allow: list[str], address: str | None) -> bool:
    """Whether `allow` (non-empty) leaves out `address`, the one a change comes from: an
    admin saving it would lock themselves out at once. An address that is not one (the
    CLI's "cli", which needs no network) is never shut out."""
    if not allow:
        return False
    try:
        caller = ipaddress.ip_address((address or "").split("%")[0])
    except ValueError:
        return False
    if isinstance(caller, ipaddress.IPv6Address) and caller.ipv4_mapped:
        caller = caller.ipv4_mapped
    return not any(caller in ipaddress.ip_network(item, strict=False) for item in allow)


def shut_out_message(address: str) -> str:
    return (f"admin_allow would shut you out: your address {address} is not in it; add it "
            "(or a network that holds it)")


def in_force(settings: Settings) -> tuple[list[str], str]:
    """The admin allow-list in force and where it comes from: "environment", "admin" (stored)
    or "none" (any address). Needs an open database."""
    if settings.admin_allow:
        return list(settings.admin_allow), "environment"
    stored = stored_settings.get_value(OPTION) or []
    return (list(stored), "admin") if stored else ([], "none")


def startup_notice(settings: Settings, setup_pending: bool) -> str | None:
    """What the server says at start when the admin API answers any address on the LAN;
    None when a list is in force or it listens on loopback only (behind no proxy)."""
    if (_loopback(settings.host) and not settings.trusted_proxies) or in_force(settings)[0]:
        return None
    where = ("tick \"Only these addresses\" in the window's first-run setup, send "
             "\"admin_allow\": [\"ADDRESS\", ...] with POST /admin/api/setup"
             if setup_pending else
             "set admin_allow in the window's Settings (PATCH /admin/api/settings)")
    return (f"the admin API answers any address that can reach port {settings.port} (anyone on "
            f"the network may try to log in). To open it to admins' machines only, {where}, "
            f"or set {env_name('admin_allow')}=ADDRESS,... (docs/install.md)")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
