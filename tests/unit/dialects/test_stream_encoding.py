"""Every dialect's stream writer turns text with a lone surrogate (which a provider's JSON
escapes can carry, "\\ud800", but UTF-8 cannot) into valid UTF-8 events, escaped; and the
chat stream reader takes a provider's UTF-8 event data and refuses bytes that are not."""

from __future__ import annotations

import json

import pytest

from server.dialects import CHAT, CODECS, MESSAGES, RESPONSES
from server.dialects.model import Started, Stopped, TextDelta, UpstreamShapeError, Usage
from server.providers.sse import EventSplitter, data_of

TEXT = "bad \ud800 text, caf\u00e9"


def _texts(raw: bytes) -> list[str]:
    """Every string value in the stream's JSON event data."""
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    splitter = EventSplitter()
    for event in splitter.feed(raw):
        data = data_of(event)
        if data is not None and data != b"[DONE]":
            walk(json.loads(data))
    return found


@pytest.mark.parametrize("dialect", [CHAT, MESSAGES, RESPONSES])
def test_a_lone_surrogate_is_written_as_valid_utf8(dialect: str) -> None:
    writer = CODECS[dialect].StreamWriter("m", {"model": "m", "stream": True})
    raw = b"".join(writer.write(e) for e in (Started("x", "m"), TextDelta(TEXT),
                                             Stopped("end")))
    raw += writer.end(Usage(input=1, output=1))
    raw.decode("utf-8")  # no UnicodeEncodeError on the way, nothing invalid out
    assert any("\ud800" in text for text in _texts(raw))


def test_the_chat_reader_takes_utf8_and_refuses_other_bytes() -> None:
    chunk = {"id": "c1", "model": "m",
             "choices": [{"index": 0, "delta": {"content": "caf\u00e9 \ud800"}}]}
    events = CODECS[CHAT].StreamReader().read(json.dumps(chunk, ensure_ascii=False,
                                                         ).encode("utf-8", "surrogatepass"))
    assert events[1] == TextDelta("caf\u00e9 \ud800")
    assert CODECS[CHAT].StreamReader().read(json.dumps(chunk).encode())[1] == events[1]
    with pytest.raises(UpstreamShapeError, match="not JSON"):
        CODECS[CHAT].StreamReader().read(b'{"id": "c1", "x": "\xff"}')
