"""Server-sent events, sans-IO: an upstream's stream split into events as its bytes arrive.

`EventSplitter.feed(bytes)` returns the events completed by those bytes, each as the
event's lines with "\\n" line endings followed by one blank line (b"...\\n\\n"); the SSE
line endings CRLF and lone CR become "\\n". Each byte is scanned for the blank line that
ends an event once, so an event of any size costs time linear in its size (the splitter
this replaced searched the whole buffer again on every read: a 20 MB event took 12 s of
the event loop). One event is capped: past `max_event_bytes` the splitter raises
`EventTooLarge`, its only error, and holds no more than that many bytes meanwhile.

`data_of(event)` is the event's data as the SSE spec defines it (its `data:` lines joined
by "\\n"), or None for an event without data (a comment, a keep-alive).
"""

from __future__ import annotations

MiB = 1 << 20
# One event, as large as real providers send: a chunk of an image-generating model carries
# a whole base64 PNG (a 1536x1024 one is ~2-5 MB), and an OpenAI Responses stream ends
# with the whole response in one event. Chat text deltas are well under 1 KiB.
MAX_EVENT_BYTES = 16 * MiB


class EventTooLarge(ValueError):
    """An event grew past the splitter's cap before its blank line came."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"an event of the stream is larger than {limit:,} bytes")
        self.limit = limit


class EventSplitter:
    """Feed it a stream's bytes in pieces of any size; get its complete events back."""

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        self._buffer = bytearray()  # the event being received (after the last boundary)
        self._cr = False  # the last piece ended in "\r": a "\n" starting the next is its own

    def feed(self, data: bytes) -> list[bytes]:
        """The events that `data` completes, in order (blank ones left out)."""
        if not data:
            return []
        buffer = self._buffer
        scan = max(len(buffer) - 1, 0)  # a "\n\n" may straddle the old end
        buffer += self._lines(data)
        events: list[bytes] = []
        start = 0
        while (end := buffer.find(b"\n\n", scan)) != -1:
            if end - start > self.max_event_bytes:
                raise EventTooLarge(self.max_event_bytes)
            event = bytes(buffer[start:end]).lstrip(b"\n")
            if event.strip():
                events.append(event + b"\n\n")
            start = scan = end + 2
        if start:
            del buffer[:start]
        if len(buffer) > self.max_event_bytes + 1:  # + the first "\n" of its blank line
            raise EventTooLarge(self.max_event_bytes)
        return events

    def end(self) -> list[bytes]:
        """At the end of the stream: the last event, if it came without its blank line."""
        rest, self._buffer = bytes(self._buffer).rstrip(b"\n"), bytearray()
        if len(rest) > self.max_event_bytes:
            raise EventTooLarge(self.max_event_bytes)
        rest = rest.lstrip(b"\n")
        return [rest + b"\n\n"] if rest.strip() else []

    def _lines(self, data: bytes) -> bytes:
        """`data` with its line endings made "\\n" (CRLF split across pieces included)."""
        if self._cr and data.startswith(b"\n"):
            data = data[1:]
        self._cr = data.endswith(b"\r")
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        return data


def data_of(event: bytes) -> bytes | None:
    """The data of one event from `EventSplitter`, or None when it has no `data:` field."""
    if event.startswith(b"data: ") and event.find(b"\n") == len(event) - 2:
        return event[6:-2]  # the usual shape: one "data: ..." line
    lines = [line for line in event.split(b"\n") if line == b"data" or
             line.startswith(b"data:")]
    if not lines:
        return None
    return b"\n".join(line[6:] if line.startswith(b"data: ") else line[5:] for line in lines)
