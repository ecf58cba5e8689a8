"""A streamed answer read from an upstream HTTP response: its SSE events as they arrive,
within time limits, closable at once from any greenlet."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import urllib3
from urllib3.exceptions import HTTPError

from server.providers.base import Stream, UpstreamError, UpstreamTimeout
from server.providers.sse import EventSplitter, EventTooLarge
from server.providers.transport import DeadlinePassed, Response, deadline

READ_SIZE = 65536


@dataclass(frozen=True)
class StreamLimits:
    """How long a stream may keep the proxy waiting, and how large one event may be.

    `idle_s`: each event must come within this long of the one before (the first, of the
    call's start): the provider's timeout, applied to whole events, so an upstream that
    drips bytes without ever finishing an event times out too. `total_s`: the whole
    stream, however lively."""

    idle_s: float
    total_s: float
    max_event_bytes: int


class HTTPStream(Stream):
    """SSE events read from an upstream response as they arrive, one event per item.

    Failures are UpstreamError (a broken connection, an event past the size cap) or
    UpstreamTimeout (no event within `limits.idle_s`, or the stream past `limits.total_s`).
    """

    def __init__(self, response: Response, provider: str, limits: StreamLimits,
                 started: float, rate_limits: dict[str, str]) -> None:
        self._response = response
        self._provider = provider
        self._limits = limits
        self._ends = started + limits.total_s
        self._first_due = started + limits.idle_s
        self._rate_limits = rate_limits
        self._reading = False  # a greenlet is inside read1 on the response right now
        self._closed = False
        self._ended = False  # read to its end, the connection released

    @property
    def rate_limits(self) -> dict[str, str]:
        return self._rate_limits

    def __iter__(self) -> Iterator[bytes]:
        splitter = EventSplitter(self._limits.max_event_bytes)
        due = self._first_due
        while data := self._read(due):
            events = self._split(splitter, data)
            if events:
                due = time.monotonic() + self._limits.idle_s
                yield from events
        self._ended = True
        self._response.release_conn()  # read to the end: the connection can serve again
        yield from self._split(splitter, None)

    def close(self) -> None:
        """Release the upstream connection at once, from any greenlet: back to the pool
        if the answer's end has come already (a stream left at its [DONE], whose end
        followed it), else closed. If another greenlet is reading, closing the buffered
        reader under it would raise ("reentrant call inside BufferedReader") and leave the
        upstream open: its socket is shut instead, which wakes that read, and the reader
        closes the response on its way out."""
        if self._closed:
            return
        self._closed = True
        if self._reading:
            with contextlib.suppress(OSError, ValueError, RuntimeError):  # already gone
                self._response.shutdown()
        elif not self._ended and not self._end_at_hand():
            self._response.close()

    def _end_at_hand(self) -> bool:
        """Whether what is left of the answer is its end, received already: read without
        waiting, and if so the connection goes back to the pool (else the caller closes
        it; keeping connections spares a provider's TLS handshake per stream)."""
        try:
            with deadline(0):
                if self._response.read1(READ_SIZE):
                    return False
        except (DeadlinePassed, HTTPError, OSError):
            return False
        self._response.release_conn()
        return True

    def _read(self, due: float) -> bytes:
        """What has arrived (b"" at the end), waiting no later than `due` or the end.
        Once the stream is closed, from here or by another greenlet during the read, only
        UpstreamError: what a shut socket gives (b"", a broken chunk) is not the end."""
        if self._closed:
            raise UpstreamError("the stream was closed")
        self._reading = True
        try:
            with deadline(min(due, self._ends) - time.monotonic()):
                data = self._response.read1(READ_SIZE)  # never waits for more than 1 byte
        except (DeadlinePassed, urllib3.exceptions.ReadTimeoutError):
            raise self._timeout(due) from None
        except (HTTPError, OSError) as exc:
            if self._closed:
                raise UpstreamError("the stream was closed") from None
            raise UpstreamError(f"the upstream stream broke ({type(exc).__name__})") from None
        finally:
            self._reading = False
            if self._closed:  # closed by another greenlet meanwhile: release it here
                self._response.close()
        if self._closed:
            raise UpstreamError("the stream was closed")
        return data

    def _split(self, splitter: EventSplitter, data: bytes | None) -> list[bytes]:
        """The events `data` completes (None: the stream's end); an event past the cap
        ends the stream."""
        try:
            return splitter.end() if data is None else splitter.feed(data)
        except EventTooLarge as exc:
            self.close()
            raise UpstreamError(f"provider {self._provider} sent an event larger than "
                                f"{exc.limit >> 20} MiB, the most the proxy relays") from None

    def _timeout(self, due: float) -> UpstreamTimeout:
        if due < self._ends:
            return UpstreamTimeout(f"provider {self._provider} sent no event within "
                                   f"{self._limits.idle_s:g} s (its timeout)")
        return UpstreamTimeout(f"provider {self._provider}'s stream ran past "
                               f"{self._limits.total_s:g} s, the most one stream may take")
