"""CORS for the client API: off unless MODELPROXY_CORS_ORIGINS lists origins; then exact
origin matching, and preflight requests answered here."""

from __future__ import annotations

from collections.abc import Collection

from werkzeug import Request, Response

ALLOW_HEADERS = "Authorization, Content-Type, X-Request-ID"
EXPOSE_HEADERS = ("X-Request-ID, x-ratelimit-limit-requests, x-ratelimit-remaining-requests, "
                  "x-ratelimit-reset-requests, x-ratelimit-limit-tokens, "
                  "x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens, Retry-After")


def preflight(request: Request, origins: Collection[str]) -> Response:
    """The answer to any OPTIONS request: 204, with the allowances when the origin is one
    of `origins`."""
    response = Response(status=204)
    origin = request.headers.get("Origin")
    if origin and origin in origins:
        response.headers.update({
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        })
    return response


def allow_origin(request: Request, response: Response, origins: Collection[str]) -> None:
    """Let a browser page from one of `origins` read `response` (refusals included)."""
    origin = request.headers.get("Origin")
    if origin and origin in origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
        response.headers.add("Vary", "Origin")
