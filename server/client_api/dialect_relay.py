"""Relaying a stream whose dialect is not chat completions, or differs on the two sides.

Each upstream event is read by the provider dialect's StreamReader into internal events
(server/dialects/model.py). Translated, the client dialect's StreamWriter turns them into
the client's events as they come; passed through (same dialect, not chat), the provider's
bytes go on unchanged and the reader only counts usage and finds the answer's end. Either
way the call is finished (quota settled, row written) before the stream's last event.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from server.client_api.call import Call
from server.client_api.relay import StreamRelay
from server.client_api.usage import cached_count
from server.dialects import model as m
from server.dialects.codec import StreamReader, StreamWriter
from server.providers import UpstreamError
from server.providers.base import scrub
from server.providers.sse import data_of

_END = b""  # _pass_events' last event when the writer makes it, in _closing


def count_usage(call: Call, usage: m.Usage) -> None:
    """The provider's counts on the call. The cached tokens are the cache READS (OpenAI's
    cached_tokens, Anthropic's cache_read_input_tokens), priced at the cached input price;
    Anthropic's cache WRITES (cache_creation_input_tokens) are in `usage.input` but not in
    `usage.cached`, so they count as input at the input price (Anthropic bills them at
    1.25x that: a price table with a write price would be needed to be exact)."""
    call.prompt_tokens, call.completion_tokens = usage.input, usage.output
    call.cached_tokens = cached_count(usage.cached, usage.input)


class DialectRelay(StreamRelay):
    """A StreamRelay reading `reader`'s dialect and writing `writer`'s; `translate=False`
    relays the provider's bytes (same dialect on both sides)."""

    def __init__(self, *args: Any, reader: StreamReader, writer: StreamWriter,
                 translate: bool, **kwargs: Any) -> None:
        self.reader = reader
        self.writer = writer
        self.translate = translate
        self.usage: m.Usage | None = None  # the provider's, cached and reasoning included
        super().__init__(*args, **kwargs)

    def _pass_events(self) -> Generator[bytes, None, bytes | None]:
        try:
            for event in self.stream:
                self.call.mark_first_byte()
                data = data_of(event)
                events = self._read(data) if data is not None else []
                ended = self._note(events)
                if self.translate:
                    out = b"".join(self.writer.write(e) for e in events
                                   if not isinstance(e, m.Ended))
                    if ended:
                        if out:
                            yield out
                        return _END
                    if out:
                        yield out
                elif ended:
                    return event
                else:
                    self._started(events)
                    yield event
            failure = UpstreamError("the upstream stream ended before the answer's end")
        except UpstreamError as exc:
            failure = exc
        if self.disconnected:
            return None
        return self._failed(failure)

    def _started(self, events: list[m.Event]) -> None:
        """Passed through, the writer still learns the answer began, so that an error
        event it may have to write ends this answer rather than start another."""
        for event in events:
            if isinstance(event, m.Started):
                self.writer.write(event)

    def _read(self, data: bytes) -> list[m.Event]:
        try:
            return self.reader.read(data)
        except m.UpstreamShapeError as exc:
            raise UpstreamError(scrub(str(exc), self.api_key)) from None

    def _note(self, events: list[m.Event]) -> bool:
        """Count usage and text from `events`; whether the answer ended among them."""
        ended = False
        for event in events:
            if isinstance(event, m.UsageSeen):
                self.usage_seen, self.usage = True, event.usage
                count_usage(self.call, event.usage)
            elif isinstance(event, m.TextDelta | m.ThinkingDelta | m.ToolArgumentsDelta):
                self.completion_chars += len(event.text)
            elif isinstance(event, m.Ended):
                ended = True
        return ended

    def _closing(self, last: bytes) -> bytes:
        if last is not _END:
            return last
        usage = self.usage or m.Usage(input=self.call.prompt_tokens,
                                      output=self.call.completion_tokens)
        return self.writer.end(usage)

    def _error_event(self, message: str, code: str, type_: str) -> bytes:
        return self.writer.fail(message, code)
