"""Fuzzing the reading of a provider's error event (server/dialects/stream_errors.py),
under the bounded profile of tests/fuzz/conftest.py: whatever an event's data is, it
raises nothing, and says a status only where it is an HTTP error status; an event it
takes for an error is one the dialect's codec refuses too (the relay would have ended
the stream with it), one it takes for an answer's opening carries none of the answer,
and in the recorded streams it finds their errors and only those."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.dialects import CODECS, DIALECTS
from server.dialects.model import UpstreamShapeError
from server.dialects.stream_errors import (
    MESSAGE_CHARS,
    StreamError,
    opening_only,
    stream_error,
)
from server.providers.sse import EventSplitter, data_of

FIXTURES = Path(__file__).parents[1] / "fixtures" / "dialects"
WORDS = ["error", "type", "code", "message", "object", "response", "status", "choices",
         "response.failed", "response.created", "overloaded_error", "rate_limit_error",
         "invalid_request_error", "server_error", "api_error", "rate_limit_exceeded",
         "invalid_prompt", "context_length_exceeded", "429", "502", "5000", "status_code",
         "message_start", "ping", "response.in_progress", "delta", "role", "assistant",
         "content", "finish_reason", "usage", "index", "text"]

scalars = (st.none() | st.booleans() | st.integers(-5, 1000) | st.floats(allow_nan=False)
           | st.sampled_from(WORDS) | st.text(max_size=12))
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(WORDS) | st.text(max_size=6), inner, max_size=5),
    max_leaves=30)
events = st.dictionaries(st.sampled_from(WORDS), json_values, max_size=5)
dialects = st.sampled_from(sorted(DIALECTS))


def _well_formed(found: StreamError | None) -> None:
    if found is None:
        return
    assert isinstance(found.message, str) and len(found.message) <= MESSAGE_CHARS
    assert found.status is None or (type(found.status) is int and 400 <= found.status <= 599)


@given(dialects, st.binary(max_size=400))
def test_arbitrary_bytes_raise_nothing(dialect: str, data: bytes) -> None:
    _well_formed(stream_error(dialect, data))
    assert opening_only(dialect, data) in (True, False)


@given(dialects, json_values)
def test_arbitrary_json_raises_nothing(dialect: str, value: Any) -> None:
    data = json.dumps(value).encode()
    _well_formed(stream_error(dialect, data))
    assert opening_only(dialect, data) in (True, False)


@given(dialects, events)
def test_an_event_that_only_opens_an_answer_carries_none_of_it(
        dialect: str, event: dict[str, Any]) -> None:
    """What the codec reads from it is at most the answer's start: no text, no end."""
    data = json.dumps(event).encode()
    if not opening_only(dialect, data):
        return
    assert stream_error(dialect, data) is None
    try:
        read = CODECS[dialect].StreamReader().read(data)
    except UpstreamShapeError:
        return  # a shape the relay refuses, as before
    assert all(type(e).__name__ in ("Started", "UsageSeen") for e in read), read


@given(dialects, events)
def test_an_event_read_as_an_error_is_one_the_codec_refuses(dialect: str,
                                                            event: dict[str, Any]) -> None:
    data = json.dumps(event).encode()
    found = stream_error(dialect, data)
    _well_formed(found)
    if found is not None:
        with pytest.raises(UpstreamShapeError):
            CODECS[dialect].StreamReader().read(data)


# The recorded streams that end in the provider's error: its status, in their last event.
FAILING = {"chat/stream_error_openai.sse": 500, "chat/stream_error_openrouter.sse": 500,
           "messages/stream_overloaded.sse": 529, "responses/stream_failed.sse": 500}


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*/stream_*.sse")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_recorded_streams_errors_and_only_those(path: Path) -> None:
    name = f"{path.parent.name}/{path.name}"
    datas = [d for e in EventSplitter().feed(path.read_bytes()) if (d := data_of(e))]
    found = [stream_error(path.parent.name, d) for d in datas]
    errors = [(i, e.status) for i, e in enumerate(found) if e is not None]
    assert errors == ([(len(datas) - 1, FAILING[name])] if name in FAILING else []), name
