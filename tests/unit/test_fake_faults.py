"""The fake upstream's fault modes (tests/fakes/faults.py), over real HTTP with `requests`:
each mode answers the way its docstring says, and only on the base URL that names it."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.fakes.upstream import FakeUpstream

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello there"}]}
STREAM = {**CHAT, "stream": True}
USAGE = {**STREAM, "stream_options": {"include_usage": True}}


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False
        yield session


def post(http: requests.Session, base: str, body: dict[str, Any], path: str = "/chat/completions",
         **kwargs: Any) -> requests.Response:
    return http.post(base + path, json=body, timeout=kwargs.pop("timeout", 10), **kwargs)


def data_lines(response: requests.Response) -> list[bytes]:
    return [line[6:] for line in response.content.split(b"\n") if line.startswith(b"data: ")]


def test_a_mode_acts_only_on_the_base_url_that_names_it(fake: FakeUpstream,
                                                        http: requests.Session) -> None:
    assert fake.fault_url("drip", 0.25) == fake.url + "/fault/drip:0.25/v1"
    assert post(http, fake.fault_url("error_200"), CHAT).json()["error"]["type"]
    assert post(http, fake.base_url, CHAT).json()["object"] == "chat.completion"
    assert fake.requests[0].path == "/fault/error_200/v1/chat/completions"
    assert http.get(fake.fault_url("stall") + "/models", timeout=5).json()["data"]
    with pytest.raises(ValueError, match="unknown fault mode"):
        fake.fault_url("no_such_mode")


def test_the_fakes_own_faults_still_act_first(fake: FakeUpstream,
                                              http: requests.Session) -> None:
    fake.fail_next(503)
    assert post(http, fake.fault_url("garbage"), CHAT).status_code == 503
    assert post(http, fake.fault_url("garbage"), CHAT).content.startswith(b"\x00\xff")


def test_huge_event_is_one_event_with_no_blank_line_until_its_end(
        fake: FakeUpstream, http: requests.Session) -> None:
    response = post(http, fake.fault_url("huge_event", 3_000_000), STREAM)
    body = response.content
    assert response.headers["Content-Type"].startswith("text/event-stream")
    role, rest = body.split(b"\n\n", 1)
    assert role.startswith(b"data: {")
    huge, done = rest.split(b"\n\n", 1)
    assert len(huge) > 3_000_000 and b"\n" not in huge
    assert json.loads(huge[6:])["choices"][0]["delta"]["content"] == "x" * 3_000_000
    assert done == b"data: [DONE]\n\n" and fake.streams_completed == 1


@pytest.mark.parametrize("path, body", [("/chat/completions", CHAT),
                                        ("/embeddings", {"model": "e", "input": "x"})])
def test_huge_answer_is_valid_json_of_that_size(fake: FakeUpstream, http: requests.Session,
                                                path: str, body: dict[str, Any]) -> None:
    response = post(http, fake.fault_url("huge_answer", 2_000_000), body, path)
    assert "Content-Length" not in response.headers  # chunked: the size shows only at the end
    assert 2_000_000 < len(response.content) < 2_001_000
    assert response.json()["object"] in {"chat.completion", "list"}


def test_a_huge_answer_the_client_stops_reading_counts_as_abandoned(
        fake: FakeUpstream, http: requests.Session) -> None:
    response = post(http, fake.fault_url("huge_answer", 50_000_000), CHAT, stream=True)
    next(response.iter_content(65536))
    response.close()
    assert fake.wait_until(lambda f: f.requests_abandoned == 1, timeout=5)


def test_drip_sends_the_normal_answer_a_byte_at_a_time(fake: FakeUpstream,
                                                       http: requests.Session) -> None:
    with post(http, fake.fault_url("drip", 0.05), STREAM, stream=True) as response:
        pieces = response.iter_content(chunk_size=None)  # held: a dropped one closes
        first, second = next(pieces), next(pieces)
        # ~1,000 bytes 0.05 s apart: still sending (sent at once, it would have ended)
        assert fake.open_streams == 1 and fake.streams_completed == 0
    assert (first, second) == (b"d", b"a")
    assert fake.wait_until(lambda f: f.streams_aborted == 1)
    answer = post(http, fake.fault_url("drip", 0.001), CHAT)
    assert answer.json()["choices"][0]["message"]["content"] == "echo: hello there"


@pytest.mark.parametrize("mode, ctype", [("garbage", "application/octet-stream"),
                                         ("plain_json", "application/json"),
                                         ("error_200", "application/json")])
def test_a_stream_request_answered_with_something_else(fake: FakeUpstream,
                                                       http: requests.Session, mode: str,
                                                       ctype: str) -> None:
    response = post(http, fake.fault_url(mode), STREAM)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == ctype
    assert b"data: " not in response.content


def test_str_delta_puts_a_string_where_the_delta_object_goes(
        fake: FakeUpstream, http: requests.Session) -> None:
    payloads = data_lines(post(http, fake.fault_url("str_delta"), STREAM))
    assert json.loads(payloads[1])["choices"] == [{"index": 0, "delta": "str"}]
    assert payloads[-1] == b"[DONE]"


def test_error_event_is_the_providers_error_mid_stream(fake: FakeUpstream,
                                                       http: requests.Session) -> None:
    payloads = data_lines(post(http, fake.fault_url("error_event"), STREAM))
    assert len(payloads) == 2 and json.loads(payloads[1])["error"]["message"]


def test_key_error_event_quotes_the_key_after_chars(fake: FakeUpstream,
                                                    http: requests.Session) -> None:
    headers = {"Authorization": "Bearer pk-the-key"}
    payloads = data_lines(post(http, fake.fault_url("key_error_event", 5), STREAM,
                               headers=headers))
    assert len(payloads) == 2 and json.loads(payloads[0])["choices"]
    message = json.loads(payloads[1])["error"]["message"]
    assert message == "xxxxxIncorrect API key provided: pk-the-key."


def test_content_parts_sends_each_deltas_content_as_a_list_of_text_parts(
        fake: FakeUpstream, http: requests.Session) -> None:
    payloads = data_lines(post(http, fake.fault_url("content_parts"), USAGE))
    assert payloads[-1] == b"[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    contents = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    parts = [part for content in contents if isinstance(content, list) for part in content]
    assert len(parts) == fake.stream_chunks and all(p["type"] == "text" for p in parts)
    assert "".join(p["text"] for p in parts) == "echo: hello there"
    assert chunks[-1]["usage"]["completion_tokens"] == 3


def test_after_done_sends_a_comment_after_done_or_counts_a_client_that_left(
        fake: FakeUpstream, http: requests.Session) -> None:
    body = post(http, fake.fault_url("after_done", 0.01), STREAM).content
    assert body.endswith(b"data: [DONE]\n\n: keep-alive\n\n")
    assert fake.wait_until(lambda f: f.streams_completed == 1)  # counted after its last byte
    with post(http, fake.fault_url("after_done", 60), STREAM, stream=True) as response:
        for line in response.iter_lines():
            if line == b"data: [DONE]":
                break
    assert fake.wait_until(lambda f: f.streams_aborted == 1)


def test_half_event_is_unframed_and_stops_inside_an_event(fake: FakeUpstream) -> None:
    body = json.dumps(STREAM).encode()
    with socket.create_connection(("127.0.0.1", int(fake.url.rsplit(":", 1)[1])),
                                  timeout=5) as sock:
        sock.sendall(b"POST /fault/half_event/v1/chat/completions HTTP/1.1\r\n"
                     b"Host: fake\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        received = b""
        while received.count(b"data: ") < 2:
            received += sock.recv(65536)
    head, _, rest = received.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in head and b"Content-Length" not in head
    role, half = rest.split(b"\n\n")
    assert json.loads(role[6:])["choices"][0]["delta"]["role"] == "assistant"
    assert half.startswith(b'data: {"id"') and not half.endswith(b"}")
    assert fake.wait_until(lambda f: f.streams_aborted == 1)


def test_stall_holds_until_the_client_leaves(fake: FakeUpstream,
                                             http: requests.Session) -> None:
    with post(http, fake.fault_url("stall"), STREAM, stream=True) as response:
        pieces = response.iter_content(chunk_size=None)  # held: a dropped one closes
        assert next(pieces).startswith(b"data: ")
        assert fake.open_streams == 1 and fake.streams_aborted == 0
    assert fake.wait_until(lambda f: f.streams_aborted == 1, timeout=2)
    with pytest.raises(requests.Timeout):
        post(http, fake.fault_url("stall"), CHAT, timeout=0.3)
    assert fake.wait_until(lambda f: f.requests_abandoned == 1, timeout=2)


def test_drop_ends_the_stream_without_done(fake: FakeUpstream, http: requests.Session) -> None:
    lines: list[bytes] = []
    with (pytest.raises(requests.exceptions.ChunkedEncodingError),
          post(http, fake.fault_url("drop", 1), STREAM, stream=True) as response):
        lines.extend(line for line in response.iter_lines() if line)
    assert len(lines) == 2 and b"[DONE]" not in b"".join(lines)


@pytest.mark.parametrize("mode, usage", [
    ("negative_usage", {"prompt_tokens": -1000000, "completion_tokens": 3,
                        "total_tokens": -999997}),
    ("usage_many", {"prompt_tokens": 4, "completion_tokens": "many", "total_tokens": 4}),
    ("usage_list", []),
])
def test_bad_usage_in_whole_answers_and_the_stream_usage_chunk(
        fake: FakeUpstream, http: requests.Session, mode: str, usage: Any) -> None:
    base = fake.fault_url(mode)
    assert post(http, base, CHAT).json()["usage"] == usage
    assert post(http, base, {"model": "e", "input": "x"}, "/embeddings").json()["usage"] == usage
    chunks = [json.loads(p) for p in data_lines(post(http, base, USAGE)) if p != b"[DONE]"]
    assert chunks[-1]["usage"] == usage and chunks[-1]["choices"] == []


def test_null_message(fake: FakeUpstream, http: requests.Session) -> None:
    assert post(http, fake.fault_url("null_message"), CHAT).json()["choices"][0]["message"] \
        is None


def test_surrogate_error_is_a_lone_surrogate_as_a_json_escape(
        fake: FakeUpstream, http: requests.Session) -> None:
    response = post(http, fake.fault_url("surrogate_error", 502), CHAT)
    assert response.status_code == 502
    assert b"\\ud800" in response.content
    message = response.json()["error"]["message"]
    with pytest.raises(UnicodeEncodeError):
        message.encode()
