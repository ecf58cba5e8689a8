"""The run-time settings (retention, CORS origins, body limit, ...)."""

from __future__ import annotations

from flask.typing import ResponseReturnValue

from app.services import options
from server.admin_api.auth import bp
from server.admin_api.common import actor, items, json_body, state


@bp.get("/settings")
def get_settings() -> ResponseReturnValue:
    return items(options.describe(state().settings))


@bp.patch("/settings")
def update_settings() -> ResponseReturnValue:
    options.update(state().settings, actor(), json_body())
    state().catalog.apply_change()
    return items(options.describe(state().settings))
