"""Python client for ModelProxy, the self-hosted AI gateway.

Quick start::

    from modelproxy import ModelProxyClient

    client = ModelProxyClient("http://127.0.0.1:8787", "mpx_...")
    reply = client.chat_completion(endpoint="/api/chat",
                                   messages=[{"role": "user", "content": "Hello"}])
    print(reply["choices"][0]["message"]["content"])

Responses are the server's JSON as plain dicts, typed with ``TypedDict`` (see
``modelproxy.types``). Failures raise a subclass of :class:`ModelProxyError`; each
carries ``status_code``, ``message`` (the server's) and ``request_id``:

- :class:`AuthenticationError` 401, :class:`PermissionDeniedError` 403,
  :class:`NotFoundError` 404, :class:`BadRequestError` 400 and 413,
- :class:`RateLimitError` 429 (``retry_after``), :class:`QuotaExceededError` 429
  ``insufficient_quota`` (never retried),
- :class:`UpstreamError` 502 and 504, :class:`ServerError` other 5xx,
- :class:`APIConnectionError` no response, :class:`APITimeoutError` no response in time.

Connection errors, timeouts, 429 rate limits and 502/503/504 are retried (``max_retries``,
exponential backoff with jitter, ``Retry-After`` honoured) before a stream starts, never
after it.
"""

from modelproxy._client import ChatCompletionStream, ModelProxyClient
from modelproxy._errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ModelProxyError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    UpstreamError,
)
from modelproxy._types import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatMessage,
    Embedding,
    EmbeddingsResponse,
    Health,
    Model,
    ModelList,
    Usage,
)
from modelproxy._version import __version__

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionStream",
    "ChatMessage",
    "Embedding",
    "EmbeddingsResponse",
    "Health",
    "Model",
    "ModelList",
    "ModelProxyClient",
    "ModelProxyError",
    "NotFoundError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "RateLimitError",
    "ServerError",
    "UpstreamError",
    "Usage",
    "__version__",
]
