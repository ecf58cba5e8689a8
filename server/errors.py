"""Every error leaves the server in the OpenAI shape: {"error": {"message", "type", "code"}}.

No stack trace and no secret is ever in a response: unexpected exceptions are logged
here and answered with a plain 500.
"""

from __future__ import annotations

import json
import logging

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from app.db import DATABASE_AWAY
from app.errors import (
    ConflictError,
    ForbiddenError,
    ModelProxyError,
    NotFoundError,
    SecretKeyError,
    StorageError,
    ValidationError,
)
from app.text import encodable
from server.framing import BodyError

log = logging.getLogger(__name__)

INTERNAL_ERROR = "internal error; the server log has the details"

TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    414: "invalid_request_error",
    429: "rate_limit_error",
    431: "invalid_request_error",
    500: "server_error",
    502: "upstream_error",
    503: "server_error",
    504: "upstream_error",
}

# Most specific first: ConflictError is a ValidationError. A secret key that does not fit
# the stored secrets (rotated under this server) is a conflict the admin must resolve.
STATUS_OF = [(ConflictError, 409), (ValidationError, 400), (ForbiddenError, 403),
             (NotFoundError, 404), (SecretKeyError, 409), (StorageError, 503)]


def error_body(status: int, message: str, code: str | None = None,
               param: str | None = None) -> bytes:
    """The error in the OpenAI shape, as the JSON bytes of a response body: the one place
    that shape is made (responses here, whole raw answers in server/connection.py). The
    message may quote the client's input, so it is made encodable first."""
    body = {"message": encodable(message), "type": TYPES.get(status, "server_error"), "code": code}
    if param:
        body["param"] = param
    return json.dumps({"error": body}, ensure_ascii=False).encode()


def error_response(status: int, message: str, code: str | None = None,
                   param: str | None = None) -> Response:
    """The error as a response (needs no Flask context: the client API has none)."""
    return Response(error_body(status, message, code, param), status,
                    mimetype="application/json")


def http_error_response(exc: HTTPException) -> Response:
    """A routing or protocol error (404, 405, 413 ...) in the OpenAI shape."""
    response = error_response(exc.code or 500, exc.description or exc.name)
    if exc.code == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, http_error_response)

    @app.errorhandler(BodyError)
    def unreadable_body(exc: BodyError) -> Response:  # malformed, cut short, too slow
        return error_response(exc.status, exc.message, exc.code)

    @app.errorhandler(ModelProxyError)
    def appliance_error(exc: ModelProxyError) -> Response:
        status = next((s for cls, s in STATUS_OF if isinstance(exc, cls)), 500)
        if status >= 500:
            log.error("%s: %s", type(exc).__name__, exc)
            return error_response(status, "the server could not complete the request")
        return error_response(status, str(exc), param=getattr(exc, "field", None))

    def database_away(exc: Exception) -> Response:  # busy or restarting: try again soon
        log.warning("the database did not answer an admin-API request: %s", exc)
        response = error_response(503, "the database is busy or not answering; retry "
                                  "in a moment", "database_unavailable")
        response.headers["Retry-After"] = "1"
        return response

    for away in DATABASE_AWAY:
        app.register_error_handler(away, database_away)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, INTERNAL_ERROR)
