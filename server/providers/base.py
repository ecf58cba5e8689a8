"""The provider adapter interface. Adapters build upstream requests and parse answers;
each provider gets one adapter with one pool of connections (providers/transport.py)."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ProviderConfig:
    """A provider as the proxy needs it: with its key opened, ready to call."""

    id: int
    name: str
    type: str
    base_url: str
    api_key: str | None = field(default=None, repr=False)
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 60.0


class UpstreamError(Exception):
    """The provider answered with an error, or could not be reached.

    `status` is the provider's HTTP status (None when there was no answer); `message` is
    safe to show to clients (never holds the provider key); `retry_after` is the
    provider's Retry-After header, where it sent one (a 429 or 503 usually does).
    """

    def __init__(self, message: str, status: int | None = None,
                 retry_after: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


class UpstreamTimeout(UpstreamError):
    """The provider did not answer within the provider's timeout."""


MESSAGE_CHARS = 500  # of a provider's own message, in an UpstreamError
_KEY_LIKE = re.compile(r"\b(sk|mpx)[-_][A-Za-z0-9_*.-]{6,}")
_KEY_LIKE_PART = 9  # the longest start of a key-like word that _KEY_LIKE leaves: "mpx_" + 5


def scrub(message: str, api_key: str | None, limit: int = MESSAGE_CHARS) -> str:
    """A provider's message as clients and the request log may see it: its key and
    anything shaped like a key (providers quote keys, partly masked, in errors) hidden,
    then cut to `limit` characters. Hidden before the cut: a key cut in half would slip
    past. Only the message's start is read (an event may be megabytes long)."""
    window = message[:4 * limit]
    if api_key:
        window = window.replace(api_key, "***")
    window = _KEY_LIKE.sub(r"\1-***", window)
    if len(message) > 4 * limit:  # the window may end inside a key: leave its end out
        window = window[:-max(len(api_key or ""), _KEY_LIKE_PART)]
    return window[:limit]


class Answer(dict):
    """A whole answer as an adapter parsed it, with the provider's own bytes in `raw`: the
    proxy relays those unchanged rather than encoding the dict again (which, for a batch
    of embeddings, is mostly formatting floats). `rate_limits`: the provider's
    x-ratelimit-* headers, passed on to clients whose token has no limit of its own.
    Adapters may return a plain dict."""

    def __init__(self, parsed: dict[str, Any], raw: bytes,
                 rate_limits: dict[str, str] | None = None) -> None:
        super().__init__(parsed)
        self.raw = raw
        self.rate_limits = rate_limits or {}


class Stream(ABC):
    """An open streamed answer: iterate for SSE events (`bytes`, each ending in a blank
    line); `close()` releases the upstream connection at once, from any greenlet."""

    @abstractmethod
    def __iter__(self) -> Iterator[bytes]: ...

    @abstractmethod
    def close(self) -> None: ...

    @property
    def rate_limits(self) -> dict[str, str]:
        """The provider's x-ratelimit-* headers, where it sent any (as Answer's)."""
        return {}


class Adapter(ABC):
    """One provider type. `chat()` and friends take and give OpenAI-shaped dicts; `send()`
    and `open_stream()` take a body in one of the `dialects` the provider speaks ("chat",
    "responses", "messages") and answer in that same dialect.

    `dialects`: the first is the one other dialects are best translated to. An adapter
    that does not set it (a plug-in written before dialects) speaks "chat" only, through
    its `chat()` / `chat_stream()`."""

    dialects: tuple[str, ...] = ("chat",)

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config

    def send(self, dialect: str, body: dict[str, Any], request_id: str,
             headers: dict[str, str] | None = None) -> dict[str, Any]:
        """The whole answer to `body`, in `dialect`. `headers`: extra headers for this
        request alone (this fallback for chat-only adapters has no way to send them)."""
        self.check_dialect(dialect)
        return self.chat(body, request_id)

    def open_stream(self, dialect: str, body: dict[str, Any], request_id: str,
                    headers: dict[str, str] | None = None) -> Stream:
        """An open stream of `dialect`'s events answering `body`."""
        self.check_dialect(dialect)
        return self.chat_stream(body, request_id)

    def count_tokens(self, body: dict[str, Any], request_id: str,
                     headers: dict[str, str] | None = None) -> int | None:
        """The input tokens of a Messages `body` as the provider counts them; None when it
        has no exact count of its own (the caller estimates)."""
        return None

    def check_dialect(self, dialect: str) -> None:
        if dialect not in self.dialects:
            raise UpstreamError(f"provider {self.config.name} ({self.config.type}) does not "
                                f"speak the {dialect!r} dialect; it speaks "
                                f"{', '.join(self.dialects)}")

    @abstractmethod
    def chat(self, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        """A `chat.completion` for a non-streamed request."""

    @abstractmethod
    def chat_stream(self, body: dict[str, Any], request_id: str) -> Stream:
        """An open stream of `chat.completion.chunk` events, ending with `data: [DONE]`."""

    @abstractmethod
    def embeddings(self, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        """An OpenAI embeddings list."""

    @abstractmethod
    def models(self) -> list[dict[str, Any]]:
        """The provider's models, as OpenAI model objects."""

    def close(self) -> None:
        """Release pooled connections (the provider changed or the server is stopping)."""
        return None
