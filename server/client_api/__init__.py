"""The client API: what LAN clients and OpenAI SDKs call."""

from __future__ import annotations

from flask import Flask

from server.client_api import cors, routes

__all__ = ["init_app"]


def init_app(app: Flask) -> None:
    app.register_blueprint(routes.bp)
    app.after_request(routes.stamp)
    cors.init_app(app)
