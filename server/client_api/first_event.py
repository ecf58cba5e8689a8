"""A stream held until its answer begins, before the client's response starts: a provider
that answered 200 and then fails before any of the answer (OpenRouter's `data: {"error":
...}` after its `: OPENROUTER PROCESSING` comments, Anthropic's `event: error` overloaded
after `message_start` and `ping`, `response.failed` after `response.created`) has sent
no byte of an answer yet, so its failure is its target's, like the status it stands for,
and routing (routing.py) may try the next.

Held: comments and keep-alives, the events that only open an answer
(`stream_errors.opening_only`), and the first event past them. They are relayed,
unchanged and in order, when the stream is not failed: the relay sees exactly what it saw
before, and a pass-through client gets the provider's bytes as they came. A failed
attempt's go nowhere: the client never saw them, and the next target's stream is its own.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

from server.client_api.router import retryable
from server.dialects.stream_errors import opening_only, stream_error
from server.providers import Adapter, Stream, UpstreamError
from server.providers.base import scrub
from server.providers.sse import data_of

# Events held at most: a provider cannot have the proxy keep its opening events for ever.
MAX_HELD = 16


class HeldStream(Stream):
    """A stream whose first events were read already: those, then the rest as it comes
    (one iterator throughout: a stream's events are read once)."""

    def __init__(self, stream: Stream, held: list[bytes], rest: Iterator[bytes]) -> None:
        self._stream = stream
        self._events = itertools.chain(held, rest)

    @property
    def rate_limits(self) -> dict[str, str]:
        return self._stream.rate_limits

    def __iter__(self) -> Iterator[bytes]:
        return self._events

    def close(self) -> None:
        self._stream.close()


def held_to_first_data(stream: Stream, dialect: str, adapter: Adapter,
                       opened: float) -> Stream:
    """`stream` read until its answer begins (the first event with data that is not one
    that only opens it). UpstreamError (and the stream closed) where an event before
    that, or that one, is the provider's error of a retryable kind (overloaded,
    rate-limited, a server error: `retryable` of the status it stands for), where the
    stream fails or ends before it, or where no event comes within the provider's timeout
    of `opened` (the stream's own first-event timeout). Any other error (the client's
    fault, one that says nothing of its kind) goes to the client as before.

    Keep-alive comments (OpenRouter's while its upstream is slow) or opening events may
    go on for longer than that timeout: once it has passed, holding stops at the next one
    and the stream is relayed from there as before, no longer checked: a slow answer is
    never turned into a failure, and the client's headers wait no longer than the timeout
    and one gap between events (nor past MAX_HELD events)."""
    events = iter(stream)
    held: list[bytes] = []
    due = opened + adapter.config.timeout_s
    try:
        for event in events:
            held.append(event)
            data = data_of(event)
            if data is not None:
                _check(dialect, data, adapter)
                if not opening_only(dialect, data) or len(held) >= MAX_HELD:
                    break
            if time.monotonic() >= due:
                break
        else:
            raise UpstreamError(f"the stream of provider {adapter.config.name} ended "
                                "before its answer began")
    except BaseException:  # its failure, the client gone, the server stopping
        stream.close()
        raise
    return HeldStream(stream, held, events)


def _check(dialect: str, data: bytes, adapter: Adapter) -> None:
    """UpstreamError, with the status it stands for, where `data` is the provider's error
    and that status is one the next target is tried after."""
    error = stream_error(dialect, data)
    if error is None or error.status is None or not retryable(error.status, False):
        return
    message = scrub(error.message, adapter.config.api_key)
    raise UpstreamError(f"the stream of provider {adapter.config.name} began with an error "
                        f"({error.status}): {message}", error.status)
