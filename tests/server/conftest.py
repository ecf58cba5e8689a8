"""Fixtures for the client API end-to-end tests; they live in client_fixtures.py and
dialect_fixtures.py."""

from tests.server.client_fixtures import _main_gateway, edge, gateway
from tests.server.dialect_fixtures import _dialects, dialects

__all__ = ["_dialects", "_main_gateway", "dialects", "edge", "gateway"]
