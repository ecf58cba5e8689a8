"""CORS for the client API: off unless MODELPROXY_CORS_ORIGINS lists origins; then exact
origin matching, and preflight requests answered here."""

from __future__ import annotations

from flask import Flask, Response, current_app, request

CLIENT_PREFIXES = ("/api/", "/v1/")
ALLOW_HEADERS = "Authorization, Content-Type, X-Request-ID"
EXPOSE_HEADERS = ("X-Request-ID, x-ratelimit-limit-requests, x-ratelimit-remaining-requests, "
                  "x-ratelimit-reset-requests, Retry-After")


def _allowed_origin() -> str | None:
    origin = request.headers.get("Origin")
    origins = current_app.extensions["modelproxy"].catalog.options["cors_origins"]
    if origin and origin in origins and request.path.startswith(CLIENT_PREFIXES):
        return origin
    return None


def init_app(app: Flask) -> None:
    @app.before_request
    def preflight() -> Response | None:
        if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
            return None
        response = Response(status=204)
        origin = _allowed_origin()
        if origin:
            response.headers.update({
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                "Access-Control-Allow-Headers": ALLOW_HEADERS,
                "Access-Control-Max-Age": "600",
                "Vary": "Origin",
            })
        return response

    @app.after_request
    def allow_origin(response: Response) -> Response:
        origin = _allowed_origin()
        if origin and request.method != "OPTIONS":
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
            response.headers.add("Vary", "Origin")
        return response
