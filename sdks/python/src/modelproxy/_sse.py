"""An incremental parser for Server-Sent Events (the ``text/event-stream`` format).

Bytes go in as they arrive, cut anywhere; whole events come out. Lines end with CRLF,
LF or CR; ``data:`` lines of one event are joined with newlines; comments and the
``event``/``id``/``retry`` fields are read past; an event ends at a blank line.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator


class SSEDecoder:
    """Feed it bytes with :meth:`feed`; it yields the ``data`` of each complete event."""

    def __init__(self) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._data: list[str] = []
        self._pending_cr = False  # the last chunk ended with CR: a following LF is its pair

    def feed(self, chunk: bytes) -> Iterator[str]:
        """Take the next bytes of the stream; yield the data of every event they complete."""
        text = self._text.decode(chunk)
        if self._pending_cr and text.startswith("\n"):
            text = text[1:]
        self._pending_cr = False
        self._buffer += text
        yield from self._lines()

    def _lines(self) -> Iterator[str]:
        buffer, start = self._buffer, 0
        while True:
            cr, lf = buffer.find("\r", start), buffer.find("\n", start)
            ends = [i for i in (cr, lf) if i >= 0]
            if not ends:
                break
            end = min(ends)
            line = buffer[start:end]
            if buffer[end] == "\r":
                if end + 1 == len(buffer):
                    self._pending_cr = True  # maybe CRLF split across chunks
                    start = end + 1
                elif buffer[end + 1] == "\n":
                    start = end + 2
                else:
                    start = end + 1
            else:
                start = end + 1
            event = self._line(line)
            if event is not None:
                yield event
        self._buffer = buffer[start:]

    def _line(self, line: str) -> str | None:
        if line == "":
            if not self._data:
                return None
            data, self._data = "\n".join(self._data), []
            return data
        if line.startswith(":"):
            return None  # a comment
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)
        return None  # event, id, retry and unknown fields are not needed here
