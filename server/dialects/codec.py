"""What every dialect's codec module offers (server/dialects/<dialect>.py), as protocols.

A codec module has these functions and classes at module level:

- `read_request(body) -> Request`: a client's request in this dialect (DialectError for
  what cannot be read, naming the field);
- `write_request(request, model) -> dict`: the request for a provider of this dialect,
  for its upstream `model` (DialectError for a part this dialect cannot carry);
- `read_reply(answer) -> Reply`: a provider's whole answer (UpstreamShapeError);
- `write_reply(reply, model, body) -> dict`: the whole answer for a client, which sent
  `body` (its request as it came);
- `usage_of(answer) -> Usage | None`: the usage in a whole answer, where believable
  (for answers relayed untranslated);
- `StreamReader()`: a provider's stream, event by event;
- `StreamWriter(model, body)`: a stream for a client, event by event;
- `error_body(status, message, code, param) -> bytes`: an error in the dialect's shape.
"""

from __future__ import annotations

from typing import Protocol

from server.dialects.model import Event, Usage


class StreamReader(Protocol):
    def read(self, data: bytes) -> list[Event]:
        """The events in the data of one SSE event (its `data:` lines joined); `Ended`
        last once the provider ended the answer. UpstreamShapeError for an event no
        client could be given, and for the provider's own error event (its message)."""


class StreamWriter(Protocol):
    def write(self, event: Event) -> bytes:
        """The client's SSE events (whole, each ending in a blank line) for `event`;
        b"" where it adds none yet."""

    def end(self, usage: Usage) -> bytes:
        """The stream's last events, with the answer's usage (the provider's, or the
        proxy's estimate where it sent none)."""

    def fail(self, message: str, code: str) -> bytes:
        """The events that tell the client the answer failed midway (the stream's last)."""
