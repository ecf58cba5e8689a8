"""The client API: what LAN clients and OpenAI SDKs call."""

from __future__ import annotations

from flask import Flask

from server.client_api.wsgi import ClientAPI

__all__ = ["ClientAPI", "init_app"]


def init_app(app: Flask) -> None:
    """Put the client API in front of the Flask app (see wsgi.py for why not a blueprint)."""
    app.wsgi_app = ClientAPI(app.extensions["modelproxy"].gateway, app.wsgi_app)
