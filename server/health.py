"""GET /api/health: no auth; says whether the server and its database answer."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from app import __version__
from app.db import ping

bp = Blueprint("health", __name__)


@bp.get("/api/health")
def health() -> tuple[Response, int]:
    ok = ping(current_app.extensions["modelproxy"].db)
    body = {"status": "ok" if ok else "error", "version": __version__,
            "database": "ok" if ok else "error"}
    return jsonify(body), 200 if ok else 503
