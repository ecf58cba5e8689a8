"""Fixtures for the client API end-to-end tests; they live in client_fixtures.py."""

from tests.server.client_fixtures import _main_gateway, edge, gateway

__all__ = ["_main_gateway", "edge", "gateway"]
