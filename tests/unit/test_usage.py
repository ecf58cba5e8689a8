"""Reading upstream usage (whole answers and stream chunks), checking answer shapes, and the
stream relay's counting when a provider's usage cannot be believed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Gauge

from server.client_api.call import Call
from server.client_api.relay import StreamRelay
from server.client_api.usage import (
    INLINE_DATA_TOKENS,
    MAX_COUNT,
    answer_problem,
    prompt_estimate,
    read_usage,
    tokens_to_reserve,
)
from server.providers import Stream

BAD_USAGES = [
    pytest.param({"prompt_tokens": -1_000_000, "completion_tokens": 5}, id="negative-prompt"),
    pytest.param({"prompt_tokens": 3, "completion_tokens": -1}, id="negative-completion"),
    pytest.param({"prompt_tokens": 3, "completion_tokens": "many"}, id="completion-string"),
    pytest.param({"prompt_tokens": "3", "completion_tokens": 1}, id="prompt-string"),
    pytest.param({"prompt_tokens": True, "completion_tokens": 1}, id="bool"),
    pytest.param({"prompt_tokens": 2.5, "completion_tokens": 1}, id="float"),
    pytest.param({"prompt_tokens": MAX_COUNT + 1, "completion_tokens": 1}, id="absurd"),
    pytest.param({"prompt_tokens": 10**15, "completion_tokens": 1}, id="past-int32"),
    pytest.param({"completion_tokens": 4}, id="no-prompt"),
    pytest.param([], id="list"),
    pytest.param("12", id="string"),
    pytest.param(7, id="number"),
]


@pytest.mark.parametrize("usage", BAD_USAGES)
def test_unbelievable_usage_reads_as_none(usage: Any) -> None:
    assert read_usage(usage) is None


@pytest.mark.parametrize(("usage", "read"), [
    ({"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}, (3, 4)),
    ({"prompt_tokens": 3, "total_tokens": 3}, (3, 0)),  # embeddings
    ({"prompt_tokens": 3, "completion_tokens": None}, (3, 0)),
    ({"prompt_tokens": 0, "completion_tokens": MAX_COUNT}, (0, MAX_COUNT)),
])
def test_believable_usage_is_read(usage: dict[str, Any], read: tuple[int, int]) -> None:
    assert read_usage(usage) == read


@pytest.mark.parametrize(("kind", "answer", "problem"), [
    ("chat", {"choices": [{"message": None}]}, "choices[0].message"),
    ("chat", {"choices": [{"message": {"content": "a"}}, "b"]}, "choices[1].message"),
    ("chat", {"choices": "x"}, "choices"),
    ("chat", {"usage": {"prompt_tokens": 1}}, "choices"),
    ("embeddings", {"data": {"embedding": []}}, "data"),
    ("embeddings", {"object": "list"}, "data"),
])
def test_malformed_answers_are_named(kind: str, answer: dict[str, Any], problem: str) -> None:
    assert problem in (answer_problem(kind, answer) or "")


@pytest.mark.parametrize(("kind", "answer"), [
    ("chat", {"choices": []}),
    ("chat", {"choices": [{"message": {"content": None, "tool_calls": []}}]}),
    ("embeddings", {"data": [], "usage": []}),  # bad usage is estimated, not refused
])
def test_well_formed_answers_pass(kind: str, answer: dict[str, Any]) -> None:
    assert answer_problem(kind, answer) is None


# --- the stream relay --------------------------------------------------------------------


class ListStream(Stream):
    def __init__(self, events: list[bytes]) -> None:
        self.events = events

    def __iter__(self) -> Iterator[bytes]:
        yield from self.events

    def close(self) -> None:
        pass


def _sse(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def _relay(usage: Any, wants_usage: bool = False) -> tuple[Call, list[bytes], list[Call]]:
    """A stream of 'hello world' (11 characters) then a usage chunk holding `usage`."""
    content = [{"choices": [{"index": 0, "delta": {"content": text}}]}
               for text in ("hello", " world")]
    events = [_sse(c) for c in content] + [_sse({"choices": [], "usage": usage}),
                                           b"data: [DONE]\n\n"]
    body = {"messages": [{"role": "user", "content": "hi"}], "stream": True}
    if wants_usage:
        body["stream_options"] = {"include_usage": True}
    call, finished = Call("req_1", "127.0.0.1", stream=True), []
    gauge = Gauge("open_streams", "", registry=CollectorRegistry())
    relay = StreamRelay(call, ListStream(events), body, finished.append, None, gauge)
    sent = list(relay)
    relay.close()
    return call, sent, finished


@pytest.mark.parametrize("usage", BAD_USAGES)
def test_a_stream_with_unbelievable_usage_is_estimated_and_logged_once(usage: Any) -> None:
    call, sent, finished = _relay(usage)
    assert finished == [call]  # one row
    assert (call.status, call.usage_estimated) == (200, True)
    assert call.completion_tokens == 3  # (11 + 3) // 4
    assert call.prompt_tokens > 0
    assert sent[-1] == b"data: [DONE]\n\n"
    assert not any(b'"usage"' in event for event in sent)  # the client did not ask for it


def test_a_stream_with_believable_usage_counts_it() -> None:
    call, sent, finished = _relay({"prompt_tokens": 9, "completion_tokens": 2},
                                  wants_usage=True)
    assert finished == [call]
    assert (call.prompt_tokens, call.completion_tokens, call.usage_estimated) == (9, 2, False)
    assert any(b'"usage"' in event for event in sent)  # asked for: passed on


# --- what a request holds against its token's quota ------------------------------------------

HI = {"messages": [{"role": "user", "content": "hi"}]}  # 34 characters of JSON: 9 tokens


@pytest.mark.parametrize(("kind", "body", "held"), [
    ("chat", {**HI, "max_tokens": 1000}, 1009),
    ("chat", {**HI, "max_completion_tokens": 200, "max_tokens": 1000}, 209),
    ("chat", {**HI, "max_tokens": 100, "n": 3}, 309),
    ("chat", {**HI, "max_tokens": 0}, 9),
    ("embeddings", {"input": "x" * 40, "max_tokens": 1000}, 11),
])
def test_a_request_holds_its_prompt_and_max_tokens(kind: str, body: dict[str, Any],
                                                  held: int) -> None:
    assert tokens_to_reserve(kind, body, 1024) == (held, held)


@pytest.mark.parametrize("body", [HI, {**HI, "max_tokens": None},
                                  {**HI, "max_completion_tokens": None, "n": None}])
def test_without_max_tokens_the_default_is_held_and_may_shrink_to_the_prompt(
        body: dict[str, Any]) -> None:
    assert tokens_to_reserve("chat", body, 1024) == (9 + 1024, 9 + 1)


@pytest.mark.parametrize("body", [
    pytest.param({**HI, "max_tokens": 10**12}, id="max_tokens-absurd"),
    pytest.param({**HI, "max_completion_tokens": MAX_COUNT + 1}, id="max_completion-absurd"),
    pytest.param({**HI, "max_tokens": -1}, id="minus-one-no-limit"),
    pytest.param({**HI, "max_tokens": 2.5}, id="fraction"),
    pytest.param({**HI, "max_tokens": "100000000000"}, id="text"),
    pytest.param({**HI, "max_tokens": True}, id="bool"),
    pytest.param({**HI, "max_tokens": 100, "n": 10**12}, id="n-absurd"),
    pytest.param({**HI, "max_tokens": 1000, "n": "lots"}, id="n-text"),
])
def test_a_limit_that_is_not_a_sane_count_holds_the_most_an_answer_counts_for(
        body: dict[str, Any]) -> None:
    """Read as unset, an absurd max_tokens held the 1,024 default and escaped the hold."""
    assert tokens_to_reserve("chat", body, 1024) == (9 + MAX_COUNT, 9 + MAX_COUNT)


def test_an_inline_image_is_estimated_as_an_image_not_as_its_base64() -> None:
    image = "data:image/png;base64," + "iVBORw0KGgo" * 100_000  # 1.1 MB
    content = [{"type": "text", "text": "what is this?"},
               {"type": "image_url", "image_url": {"url": image}}]
    body = {"messages": [{"role": "user", "content": content}]}
    assert INLINE_DATA_TOKENS < prompt_estimate(body) < INLINE_DATA_TOKENS + 50
    short = {"messages": [{"role": "user", "content": "data:" + "A" * 100}]}
    assert prompt_estimate(short) > 25  # short text is text, whatever it starts with
