"""The admin API under /admin/api/: what the desktop window and admins' scripts use."""

from __future__ import annotations

from flask import Flask

from server.admin_api import (  # noqa: F401 (the modules register their routes)
    auth,
    openapi,
    reports,
    resources,
    settings_routes,
    targets,
)

__all__ = ["init_app"]


def init_app(app: Flask) -> None:
    app.register_blueprint(auth.bp)
