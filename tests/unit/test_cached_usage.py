"""Cached prompt tokens read wherever usage is read: the chat pass-through's whole answers
and streams, and the dialect paths (Anthropic's cache reads, Responses' cached_tokens), on
recorded fixtures; a count that cannot be believed is none cached."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Gauge

from app.prices import Price
from server.client_api.call import Call
from server.client_api.dialect_relay import DialectRelay, count_usage
from server.client_api.relay import StreamRelay, record_usage
from server.client_api.usage import MAX_COUNT, cached_count, read_cached
from server.dialects import CODECS
from server.providers import Stream
from server.providers.sse import EventSplitter

FIXTURES = Path(__file__).parents[1] / "fixtures" / "dialects"
BAD_CACHED = [pytest.param(-1, id="negative"), pytest.param(11, id="past-prompt"),
              pytest.param(2.5, id="fraction"), pytest.param("3", id="text"),
              pytest.param(True, id="bool"), pytest.param(MAX_COUNT + 1, id="absurd"),
              pytest.param(None, id="null")]


class ListStream(Stream):
    def __init__(self, events: list[bytes]) -> None:
        self.events = events

    def __iter__(self) -> Iterator[bytes]:
        yield from self.events

    def close(self) -> None:
        pass


def events_of(path: Path) -> list[bytes]:
    splitter = EventSplitter()
    return splitter.feed(path.read_bytes()) + splitter.end()


def sse(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def chat_usage(cached: Any) -> dict[str, Any]:
    return {"prompt_tokens": 10, "completion_tokens": 2,
            "prompt_tokens_details": {"cached_tokens": cached}}


@pytest.mark.parametrize("cached", BAD_CACHED)
def test_an_unbelievable_cached_count_is_none_cached(cached: Any) -> None:
    assert cached_count(cached, 10) == 0
    assert read_cached(chat_usage(cached), 10) == 0


def test_cached_counts_are_read_from_openai_and_deepseek_fields() -> None:
    assert read_cached(chat_usage(10), 10) == 10  # all of it, as a whole cache hit is
    assert read_cached(chat_usage(0), 10) == 0
    assert read_cached({"prompt_tokens": 10, "prompt_cache_hit_tokens": 6}, 10) == 6
    assert read_cached({"prompt_tokens": 10}, 10) == 0
    assert read_cached([], 10) == 0


def test_a_whole_chat_answer_records_its_cached_tokens() -> None:
    answer = json.loads((FIXTURES / "chat" / "reply_tool_calls.json").read_text())
    call = Call("req_1", "127.0.0.1")
    record_usage(call, answer, {"messages": []})
    usage = answer["usage"]
    assert (call.prompt_tokens, call.cached_tokens) == (
        usage["prompt_tokens"], usage["prompt_tokens_details"]["cached_tokens"])
    assert call.cached_tokens > 0


def test_a_whole_chat_answer_without_usage_has_none_cached() -> None:
    call = Call("req_1", "127.0.0.1")
    call.cached_tokens = 5
    record_usage(call, {"choices": [{"message": {"content": "hi"}}],
                        "usage": {"prompt_tokens": -1}}, {"messages": ["hello"]})
    assert call.usage_estimated and call.cached_tokens == 0


def relay_chat(events: list[bytes]) -> Call:
    call = Call("req_1", "127.0.0.1", stream=True)
    gauge = Gauge("open_streams", "", registry=CollectorRegistry())
    relay = StreamRelay(call, ListStream(events), {"messages": []}, lambda c: None, None, gauge)
    list(relay)
    relay.close()
    return call


def test_a_chat_stream_records_its_cached_tokens() -> None:
    call = relay_chat(events_of(FIXTURES / "chat" / "stream_tool_calls.sse"))
    assert (call.prompt_tokens, call.completion_tokens, call.cached_tokens) == (82, 40, 64)


@pytest.mark.parametrize("cached", BAD_CACHED)
def test_a_chat_stream_with_a_bad_cached_count_has_none_cached(cached: Any) -> None:
    call = relay_chat([sse({"choices": [{"index": 0, "delta": {"content": "hi"}}]}),
                       sse({"choices": [], "usage": chat_usage(cached)}), b"data: [DONE]\n\n"])
    assert (call.prompt_tokens, call.cached_tokens, call.usage_estimated) == (10, 0, False)


@pytest.mark.parametrize(("dialect", "name", "counts"), [
    # Anthropic: input_tokens + cache writes + cache reads; the reads are the cached ones.
    ("messages", "reply_tool_use.json", (50 + 1200 + 3000, 120, 3000)),
    ("responses", "response_tool.json", None),
    ("chat", "reply_tool_calls.json", None),
])
def test_a_dialect_whole_answer_records_its_cached_tokens(
        dialect: str, name: str, counts: tuple[int, int, int] | None) -> None:
    answer = json.loads((FIXTURES / dialect / name).read_text())
    reply = CODECS[dialect].read_reply(answer)
    call = Call("req_1", "127.0.0.1")
    count_usage(call, reply.usage)
    assert call.cached_tokens > 0
    if counts is not None:
        assert (call.prompt_tokens, call.completion_tokens, call.cached_tokens) == counts


def test_anthropic_cache_writes_are_priced_as_input() -> None:
    """cache_creation_input_tokens are input at the input price; reads at the cached price."""
    answer = json.loads((FIXTURES / "messages" / "reply_tool_use.json").read_text())
    call = Call("req_1", "127.0.0.1")
    count_usage(call, CODECS["messages"].read_reply(answer).usage)
    call.price = Price(Decimal(3), Decimal("0.3"), Decimal(15), "target")
    # (50 + 1200) at $3/M, 3000 at $0.30/M, 120 at $15/M
    assert call.cost_nanos() == (1250 * 3 + 3000 * 0.3 + 120 * 15) * 1000


def test_a_responses_cached_count_past_its_input_is_none_cached() -> None:
    answer = json.loads((FIXTURES / "responses" / "response_tool.json").read_text())
    answer["usage"]["input_tokens_details"]["cached_tokens"] = answer["usage"]["input_tokens"] + 1
    call = Call("req_1", "127.0.0.1")
    count_usage(call, CODECS["responses"].read_reply(answer).usage)
    assert call.prompt_tokens > 0 and call.cached_tokens == 0


def test_a_chat_codec_cached_count_past_its_prompt_is_none_cached() -> None:
    reply = CODECS["chat"].read_reply({"id": "x", "model": "m", "choices": [
        {"message": {"content": "hi"}, "finish_reason": "stop"}], "usage": chat_usage(11)})
    assert reply.usage.cached == 0


@pytest.mark.parametrize(("dialect", "name", "counts"), [
    ("messages", "stream_tool_use.sse", (472 + 100 + 2000, 89, 2000)),
    ("responses", "stream_tool.sse", (291, 123, 256)),
    ("chat", "stream_tool_calls.sse", (82, 40, 64)),
])
@pytest.mark.parametrize("translate", [False, True])
def test_a_dialect_stream_records_its_cached_tokens(
        dialect: str, name: str, counts: tuple[int, int, int], translate: bool) -> None:
    call = Call("req_1", "127.0.0.1", stream=True)
    gauge = Gauge("open_streams", "", registry=CollectorRegistry())
    client = "chat" if translate and dialect != "chat" else (
        "messages" if translate else dialect)
    relay = DialectRelay(call, ListStream(events_of(FIXTURES / dialect / name)),
                         {"messages": []}, lambda c: None, None, gauge,
                         reader=CODECS[dialect].StreamReader(),
                         writer=CODECS[client].StreamWriter("m", {}), translate=translate)
    list(relay)
    relay.close()
    assert call.status == 200, call.error
    assert (call.prompt_tokens, call.completion_tokens, call.cached_tokens) == counts
