"""The admin allow-list as the server applies it, on every admin-API request and /metrics:
MODELPROXY_ADMIN_ALLOW when set, else the stored `admin_allow` option as the catalog last
loaded it (at once after an admin-API change, within seconds of another server's), else none
(app/services/admin_access.py says why)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from app.services import admin_access
from app.settings import Settings
from server.catalog import Catalog
from server.client_api import network

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


class AdminAccess:
    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self._environment = network.parse_networks(settings.admin_allow)
        self._catalog = catalog
        self._parsed: tuple[object, Sequence[network.Network]] = (None, ())

    def networks(self) -> Sequence[network.Network]:
        """The list in force; empty: none."""
        if self._environment:
            return self._environment
        stored = self._catalog.options.get(admin_access.OPTION) or []
        source, parsed = self._parsed  # one read: another thread may swap it meanwhile
        if source is not stored:
            parsed = network.parse_networks(stored)
            self._parsed = (stored, parsed)
        return parsed

    def admits(self, address: str) -> bool:
        """Whether `address` may use the admin API (anyone when there is no list)."""
        return network.allowed(address, self.networks())

    def admits_metrics(self, address: str) -> bool:
        """Whether `address` may read /metrics (loopback when there is no list)."""
        return network.allowed(address, self.networks() or LOOPBACK)
