"""Typed errors: one class for each failure a caller handles differently.

Every error is a :class:`ModelProxyError` with

- ``status_code``: the HTTP status (``None`` when no response arrived);
- ``message``: the server's own message (``error.message`` of the JSON body);
- ``request_id``: the ``X-Request-ID`` of the request, the id of its request-log row;
- ``code`` and ``type``: ``error.code`` and ``error.type`` of the body, where given;
- ``body``: the parsed JSON body, where there was one;
- ``retry_after``: the response's ``Retry-After`` in seconds, where it had one (a 429;
  a 502 when the provider itself asked for a pause).

================================  =====================================================
class                             when
================================  =====================================================
:class:`AuthenticationError`      401: missing, unknown or malformed token
:class:`PermissionDeniedError`    403: revoked or expired token; scope, IP address or
                                  endpoint not allowed
:class:`NotFoundError`            404: no such endpoint (or it is disabled)
:class:`BadRequestError`          400 invalid request, 413 body too large
:class:`RateLimitError`           429 requests-per-minute limit; ``retry_after`` seconds
:class:`QuotaExceededError`       429 ``insufficient_quota``: the monthly quota is used up
:class:`UpstreamError`            502 the provider failed, 504 the provider timed out
:class:`ServerError`              other 5xx: the server itself could not answer
:class:`APIConnectionError`       no response: refused, reset, DNS, stream cut
:class:`APITimeoutError`          no response within ``timeout`` (an APIConnectionError)
================================  =====================================================

Retried by the client (before any stream has started): APIConnectionError and
APITimeoutError, RateLimitError (not QuotaExceededError), UpstreamError and 503; after
``retry_after`` where given, unless that is longer than ``max_retry_wait``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ModelProxyError",
    "NotFoundError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "RateLimitError",
    "ServerError",
    "UpstreamError",
]


class ModelProxyError(Exception):
    """The base of every error this client raises."""

    def __init__(self, message: str, *, status_code: int | None = None,
                 request_id: str | None = None, code: str | None = None,
                 type: str | None = None, body: Any = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.request_id = request_id
        self.code = code
        self.type = type
        self.body = body
        self.retry_after = retry_after

    def __str__(self) -> str:
        details = [f"status {self.status_code}"] if self.status_code is not None else []
        if self.code:
            details.append(f"code {self.code}")
        if self.request_id:
            details.append(f"request {self.request_id}")
        return f"{self.message} ({', '.join(details)})" if details else self.message

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.message!r}, status_code={self.status_code!r}, "
                f"request_id={self.request_id!r})")


class AuthenticationError(ModelProxyError):
    """401: the token is missing, unknown or malformed."""


class PermissionDeniedError(ModelProxyError):
    """403: the token is revoked or expired, or may not do this (scope, IP, endpoint)."""


class NotFoundError(ModelProxyError):
    """404: no endpoint has this path (or name), or it is disabled."""


class BadRequestError(ModelProxyError):
    """400: the request is malformed (or the provider rejected it); 413: body too large."""


class RateLimitError(ModelProxyError):
    """429: the token's requests-per-minute limit is reached.

    ``retry_after`` is the server's ``Retry-After`` in seconds (``None`` if absent).
    """


class QuotaExceededError(ModelProxyError):
    """429 ``insufficient_quota``: the token's monthly quota is used up. Never retried."""


class UpstreamError(ModelProxyError):
    """502: the provider failed (or a stream broke off); 504: the provider timed out.

    ``retry_after``: the provider's own ``Retry-After`` in seconds, where it sent one
    (it is rate-limiting or overloaded the server's key).
    """


class ServerError(ModelProxyError):
    """Another 5xx: the server itself could not answer (503 is retried)."""


class APIConnectionError(ModelProxyError):
    """No usable response: connection refused or reset, a stream cut short."""


class APITimeoutError(APIConnectionError):
    """No response within the client's ``timeout``."""


_BY_STATUS: dict[int, type[ModelProxyError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: BadRequestError,
    422: BadRequestError,
    502: UpstreamError,
    504: UpstreamError,
}

# An error event inside a stream has no status of its own (the stream began with 200):
# its `type` says what it would have been.
_STATUS_BY_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "upstream_error": 502,
    "server_error": 500,
}


def error_from_body(status_code: int, body: Any, request_id: str | None,
                    retry_after: float | None = None) -> ModelProxyError:
    """The typed error for a response with ``status_code`` and parsed JSON ``body``."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        message = error["message"]
        code = error.get("code") if isinstance(error.get("code"), str) else None
        type_ = error.get("type") if isinstance(error.get("type"), str) else None
    else:
        message, code, type_ = f"HTTP {status_code} from the server", None, None
    kwargs: dict[str, Any] = {"status_code": status_code, "request_id": request_id,
                              "code": code, "type": type_, "body": body,
                              "retry_after": retry_after}
    if status_code == 429:
        if code == "insufficient_quota":
            return QuotaExceededError(message, **kwargs)
        return RateLimitError(message, **kwargs)
    cls = _BY_STATUS.get(status_code)
    if cls is None:
        cls = ServerError if status_code >= 500 else ModelProxyError
    return cls(message, **kwargs)


def error_from_event(body: dict[str, Any], request_id: str | None) -> ModelProxyError:
    """The typed error for a ``data: {"error": ...}`` event in a stream."""
    error = body.get("error")
    type_ = error.get("type") if isinstance(error, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    status = 504 if code == "upstream_timeout" else _STATUS_BY_TYPE.get(str(type_), 502)
    return error_from_body(status, body, request_id)
