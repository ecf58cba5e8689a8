"""The client API as a plain Werkzeug WSGI app, in front of the Flask app.

Every LAN call goes through the client API, so it skips what it does not use of Flask:
the request and app contexts, the hooks, the error-handler lookup. Measured with py-spy
at one connection, Flask's layer was ~14% of a request's CPU, this one is ~8%. Requests
under /api/ and /v1/ are routed with Werkzeug's Map, Request and Response (what Flask is
built on); every other path goes on to Flask (the admin API, /metrics).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug import Request, Response
from werkzeug.exceptions import HTTPException

from server.client_api import cors, routes
from server.client_api.call import request_id_from
from server.client_api.gateway import Gateway
from server.errors import INTERNAL_ERROR, error_response, http_error_response

log = logging.getLogger(__name__)

PREFIXES = ("/api/", "/v1/")
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class ClientAPI:
    """WSGI middleware: serves the client API paths, hands the rest to `fallback`."""

    def __init__(self, gateway: Gateway, fallback: WSGIApp) -> None:
        self.gateway = gateway
        self.fallback = fallback
        self._routes = routes.url_map.bind("modelproxy")  # the rules name no host

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        if not environ.get("PATH_INFO", "").startswith(PREFIXES):
            return self.fallback(environ, start_response)
        request = Request(environ)
        try:
            response = self.dispatch(request)
        finally:
            db = self.gateway.db
            if not db.is_closed():
                db.close()  # back to the pool (health checks and quota loads use one)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        origins = self.gateway.catalog.options["cors_origins"]
        if request.method == "OPTIONS":
            response = cors.preflight(request, origins)
        else:
            response = self.route(request)
            cors.allow_origin(request, response, origins)
        if "X-Request-ID" not in response.headers:  # preflights, health, routing errors
            response.headers["X-Request-ID"] = request_id_from(
                request.headers.get("X-Request-ID"))
        return response

    def route(self, request: Request) -> Response:
        try:
            view, args = self._routes.match(request.path, request.method)
            return view(self.gateway, request, **args)
        except HTTPException as exc:  # no such route or method
            return http_error_response(exc)
        except Exception:
            log.exception("unhandled error in the client API")
            return error_response(500, INTERNAL_ERROR)
