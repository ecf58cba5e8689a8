"""Broken providers behind translated answers: Anthropic Messages and OpenAI Responses
clients of chat providers in each fault mode of the fake upstream (tests/fakes/faults.py),
and chat clients of a failing Anthropic provider. Whatever the provider does, the client
gets a well-formed end in its own dialect (Anthropic's `event: error`, Responses'
`response.failed`, or a 502/504 error in its shape), never the provider's key, and the
request one row with the right status. Also clients that leave mid-stream (the upstream
closed, a 499 row counting what was sent) and many streams at once."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from server.providers.sse import MAX_EVENT_BYTES
from tests import rawhttp
from tests.fakes.script import Turn, turn_for
from tests.fakes.upstream import FakeUpstream
from tests.server.client_fixtures import Appliance

# Not shaped like a key ("sk-..."): only the provider's own key, known, can hide it.
PROVIDER_KEY = "pk9Q2vX7rT4mW8zL1nB6cY3dE5"
# name -> (fault mode, its argument, the provider's timeout_s)
PROVIDERS: dict[str, tuple[str | None, float | None, float]] = {
    "ok": (None, None, 60),
    "garbage": ("garbage", None, 60),
    "plain-json": ("plain_json", None, 60),
    "error-200": ("error_200", None, 60),
    "drop": ("drop", 1, 60),
    "huge-event": ("huge_event", MAX_EVENT_BYTES + 1_000_000, 60),
    "drip": ("drip", 0.1, 1),
    "stall": ("stall", None, 60),
    "stall-1s": ("stall", None, 1),
    "half-event": ("half_event", None, 1),
    "error-event": ("error_event", None, 60),
    "key-error": ("key_error_event", None, 60),
    # the key at characters 490-515 of the message: across the 500 where it is cut
    "key-error-cut": ("key_error_event", 462, 60),
    "str-delta": ("str_delta", None, 60),
    "after-done": ("after_done", 2, 60),
    "content-parts": ("content_parts", None, 60),
    "negative-usage": ("negative_usage", None, 60),
    "usage-many": ("usage_many", None, 60),
    "usage-list": ("usage_list", None, 60),
    "null-message": ("null_message", None, 60),
    "surrogate-error": ("surrogate_error", None, 60),
}
SURROGATE_ASK = "answer with a lone surrogate"


def script(dialect: str, body: dict[str, Any]) -> Turn:
    """Echo; a lone surrogate (sent as the JSON escape \\ud800) where the user asks."""
    turn = turn_for(None, dialect, body)
    if SURROGATE_ASK in turn.text:
        return Turn(text="broken \ud800 text")
    return turn


@dataclass
class Faulty:
    appliance: Appliance
    fake: FakeUpstream
    token: str

    def post(self, path: str, body: dict[str, Any], **kwargs: Any) -> requests.Response:
        headers = {"x-api-key": self.token, "anthropic-version": "2023-06-01",
                   "X-Request-ID": "fault-" + uuid.uuid4().hex, **kwargs.pop("headers", {})}
        return requests.post(self.appliance.url + path, json=body, headers=headers,
                             timeout=kwargs.pop("timeout", 30), **kwargs)

    def row(self, response: requests.Response, timeout: float = 5) -> dict[str, Any]:
        return self.appliance.log_row(response.headers["X-Request-ID"], timeout=timeout)


@pytest.fixture(scope="module")
def _faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faulty]:
    with FakeUpstream(script=script) as fake:
        app = Appliance(tmp_path_factory.mktemp("dialect-faults"))
        for name, (mode, arg, timeout_s) in PROVIDERS.items():
            url = fake.base_url if mode is None else fake.fault_url(mode, arg)
            app.provider(name, base_url=url, timeout_s=timeout_s, api_key=PROVIDER_KEY)
            app.endpoint(name, f"/api/{name}", name)
        app.provider("claude", type="anthropic", base_url=fake.base_url, timeout_s=1,
                     api_key=PROVIDER_KEY)
        app.endpoint("claude", "/api/claude", "claude", model="claude-upstream")
        token = app.token("faults", scopes=["chat", "models"]).plaintext
        app.serve()
        try:
            yield Faulty(app, fake, token)
        finally:
            app.close()


@pytest.fixture
def faulty(_faulty: Faulty) -> Iterator[Faulty]:
    _faulty.fake.reset()
    _faulty.fake.clear()
    live = _faulty.appliance.live
    before = len(live.output)
    yield _faulty
    printed = live.output[before:]
    assert "Traceback" not in printed and "unhandled error" not in printed, printed[-3000:]


# --- what a client sees -------------------------------------------------------------


def sse_events(text: str) -> list[tuple[str | None, Any]]:
    """(event name, parsed data) of each SSE event; data that is not JSON as text."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if data:
            joined = "\n".join(data)
            try:
                events.append((name, json.loads(joined)))
            except ValueError:
                events.append((name, joined))
    return events


def messages_end(response: requests.Response) -> str:
    """How an Anthropic client's answer ended: "ok", "error" (one error event, last),
    or "http <status>" (an error in Anthropic's shape before any event)."""
    assert PROVIDER_KEY[:8] not in response.text
    if response.status_code != 200:
        body = response.json()
        assert body["type"] == "error" and body["error"]["message"], body
        return f"http {response.status_code}"
    events = sse_events(response.text)
    names = [n for n, _ in events]
    assert all(isinstance(d, dict) and d.get("type") == n for n, d in events), events[-3:]
    if names[-1] == "error":  # before message_start too: the SDKs raise it either way
        assert names.count("error") == 1 and "message_stop" not in names, names
        assert events[-1][1]["error"]["message"], events[-1]
        return "error"
    assert names[0] == "message_start", names
    assert names[-1] == "message_stop" and names[-2] == "message_delta", names
    starts = [d["index"] for n, d in events if n == "content_block_start"]
    stops = [d["index"] for n, d in events if n == "content_block_stop"]
    assert starts == stops, (starts, stops)  # every block opened is closed
    return "ok"


def responses_end(response: requests.Response) -> str:
    """How a Responses client's answer ended: "ok" (response.completed last), "failed"
    (response.failed last) or "http <status>" (an OpenAI-shaped error)."""
    assert PROVIDER_KEY[:8] not in response.text
    if response.status_code != 200:
        error = response.json()["error"]
        assert error["message"] and error["type"], error
        return f"http {response.status_code}"
    events = [d for _, d in sse_events(response.text)]
    types = [e["type"] for e in events]
    assert types[0] == "response.created", types
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    ends = [t for t in types if t in ("response.completed", "response.failed",
                                      "response.incomplete")]
    assert ends == [types[-1]], types  # EVERY stream ends so, exactly once (Codex)
    if types[-1] == "response.failed":
        assert events[-1]["response"]["error"]["message"], events[-1]
        return "failed"
    assert types[-1] == "response.completed", types
    return "ok"


def streamed_text(dialect: str, response: requests.Response) -> str:
    events = [d for _, d in sse_events(response.text)]
    if dialect == "messages":
        return "".join(e["delta"].get("text", "") for e in events
                       if e["type"] == "content_block_delta")
    return "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")


HELLO = "hello there, a longer answer please"


def ask(dialect: str, endpoint: str, stream: bool, text: str = HELLO) -> tuple[str,
                                                                             dict[str, Any]]:
    if dialect == "messages":
        return "/v1/messages", {"model": endpoint, "max_tokens": 200, "stream": stream,
                                "messages": [{"role": "user", "content": text}]}
    return "/v1/responses", {"model": endpoint, "input": text, "stream": stream}


def end_of(dialect: str, response: requests.Response) -> str:
    return (messages_end if dialect == "messages" else responses_end)(response)


FAILED = {"messages": "error", "responses": "failed"}

# endpoint -> (how the stream ends: "ok", "fail" (mid-stream) or "http N"; the row's status)
STREAMED: dict[str, tuple[str, int]] = {
    "ok": ("ok", 200),
    "garbage": ("http 502", 502),
    "plain-json": ("http 502", 502),
    "error-200": ("http 502", 502),
    "drop": ("fail", 502),
    "huge-event": ("fail", 502),
    "drip": ("http 504", 504),  # no event within its timeout: no answer began
    "stall-1s": ("fail", 504),
    "half-event": ("fail", 504),
    "error-event": ("fail", 502),
    "key-error": ("fail", 502),
    "key-error-cut": ("fail", 502),
    "str-delta": ("fail", 502),
    "after-done": ("ok", 200),
    "content-parts": ("ok", 200),
    "negative-usage": ("ok", 200),
    "usage-many": ("ok", 200),
    "usage-list": ("ok", 200),
    "surrogate-error": ("http 502", 502),
}
WHOLE: dict[str, int] = {
    "ok": 200, "garbage": 502, "error-200": 502, "drip": 504, "stall-1s": 504,
    "negative-usage": 200, "usage-many": 200, "usage-list": 200, "null-message": 502,
    "surrogate-error": 502,
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("endpoint", list(STREAMED))
@pytest.mark.parametrize("dialect", ["messages", "responses"])
def test_a_broken_provider_gives_a_translated_stream_a_clean_end(
        faulty: Faulty, dialect: str, endpoint: str) -> None:
    expected, status = STREAMED[endpoint]
    response = faulty.post(*ask(dialect, endpoint, stream=True))
    end = end_of(dialect, response)
    assert end == (FAILED[dialect] if expected == "fail" else expected), response.text[-600:]
    row = faulty.row(response)
    assert row["status"] == status, row
    assert (row["client_dialect"], row["provider_dialect"]) == (dialect, "chat")
    if status != 200:
        assert row["error"] and PROVIDER_KEY[:8] not in row["error"]
    if endpoint == "key-error":
        assert "Incorrect API key provided: ***" in row["error"]
    if endpoint.endswith("usage") or endpoint.startswith("usage"):
        assert row["usage_estimated"] and row["prompt_tokens"] >= 0
        assert row["completion_tokens"] > 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("endpoint", list(WHOLE))
@pytest.mark.parametrize("dialect", ["messages", "responses"])
def test_a_broken_provider_gives_a_translated_whole_answer_a_clean_error(
        faulty: Faulty, dialect: str, endpoint: str) -> None:
    status = WHOLE[endpoint]
    response = faulty.post(*ask(dialect, endpoint, stream=False))
    assert response.status_code == status, response.text
    assert PROVIDER_KEY[:8] not in response.text
    if dialect == "messages" and status != 200:
        body = response.json()
        assert body["type"] == "error" and body["error"]["type"] in (
            "api_error", "timeout_error"), body
    elif status != 200:
        assert response.json()["error"]["message"]
    row = faulty.row(response)
    assert row["status"] == status
    if "usage" in endpoint:
        assert row["usage_estimated"] and row["completion_tokens"] > 0


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("dialect", ["messages", "responses", "chat"])
def test_a_lone_surrogate_in_the_providers_text_reaches_the_client(
        faulty: Faulty, dialect: str, stream: bool) -> None:
    """A provider may send "\\ud800" (a JSON escape no UTF-8 text can hold): the
    translated answer carries it escaped as the provider sent it, not a server error."""
    if dialect == "chat":  # chat, translated for an Anthropic provider
        response = chat(faulty, stream, SURROGATE_ASK)
    else:
        response = faulty.post(*ask(dialect, "ok", stream=stream, text=SURROGATE_ASK))
    assert response.status_code == 200, response.text
    if stream:
        assert (chat_stream_end(response) if dialect == "chat"
                else end_of(dialect, response)) == "ok"
    assert "\\ud800" in response.text
    assert faulty.row(response)["status"] == 200


# --- chat clients of a failing Anthropic provider ------------------------------------


def chat(faulty: Faulty, stream: bool, text: str = HELLO) -> requests.Response:
    return faulty.post("/v1/chat/completions", {
        "model": "claude", "stream": stream,
        "messages": [{"role": "user", "content": text}]},
        headers={"Authorization": f"Bearer {faulty.token}"})


def chat_stream_end(response: requests.Response) -> str:
    assert response.status_code == 200, response.text
    payloads = [d for _, d in sse_events(response.text)]
    if payloads[-1] == "[DONE]":
        assert not any(isinstance(p, dict) and "error" in p for p in payloads)
        return "ok"
    errors = [p for p in payloads if isinstance(p, dict) and "error" in p]
    assert errors == [payloads[-1]] and "[DONE]" not in payloads, payloads[-3:]
    return "error"


def test_a_cut_anthropic_stream_is_one_chat_error_event(faulty: Faulty) -> None:
    faulty.fake.fail_mid_stream(after=1)
    response = chat(faulty, stream=True)
    assert chat_stream_end(response) == "error"
    assert faulty.row(response)["status"] == 502


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("status, client_status", [(500, 502), (529, 503), (400, 400),
                                                   (401, 502)])
def test_an_anthropic_error_reaches_a_chat_client_in_its_shape(
        faulty: Faulty, stream: bool, status: int, client_status: int) -> None:
    faulty.fake.fail_next(status, {"type": "error", "error": {
        "type": "api_error", "message": f"broken, key {PROVIDER_KEY}"}})
    response = chat(faulty, stream)
    assert response.status_code == client_status, response.text
    error = response.json()["error"]
    assert error["message"] and PROVIDER_KEY[:8] not in response.text
    assert faulty.row(response)["status"] == client_status


@pytest.mark.parametrize("stream", [False, True])
def test_a_silent_anthropic_provider_is_a_504(faulty: Faulty, stream: bool) -> None:
    faulty.fake.set_delay(3)  # past the provider's 1 s timeout
    response = chat(faulty, stream)
    assert response.status_code == 504, response.text
    assert faulty.row(response)["status"] == 504


def test_garbage_from_an_anthropic_provider_is_a_502(faulty: Faulty) -> None:
    for stream in (False, True):
        faulty.fake.fail_next(200, b"\x00\xff not json")
        response = chat(faulty, stream)
        assert response.status_code == 502, response.text
        assert faulty.row(response)["status"] == 502


# --- item 3: a client that leaves mid-stream ----------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("dialect", ["messages", "responses"])
def test_a_client_leaving_a_translated_stream_closes_upstream_and_counts_what_was_sent(
        faulty: Faulty, dialect: str) -> None:
    """The provider sends a chunk every 0.3 s and no usage; the client reads the first
    text and leaves: the upstream is closed, and the row (499) counts the prompt and the
    text sent, marked estimated."""
    faulty.fake.stream_delay(0.3)
    faulty.fake.no_usage_in_stream()
    path, body = ask(dialect, "ok", stream=True)
    rid = "left-" + uuid.uuid4().hex
    response = faulty.post(path, body, stream=True, headers={"X-Request-ID": rid})
    seen = b""
    pieces = response.iter_content(chunk_size=None)
    while b"text_delta" not in seen and b"output_text.delta" not in seen:
        seen += next(pieces)
    response.close()
    assert faulty.fake.wait_until(lambda f: f.streams_aborted == 1, timeout=20), \
        "the upstream stream was held after the client left"
    row = faulty.appliance.log_row(rid, timeout=20)
    assert row["status"] == 499 and "disconnect" in row["error"]
    assert row["usage_estimated"] and row["prompt_tokens"] > 0
    assert row["completion_tokens"] >= 1
    assert faulty.fake.open_streams == 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("dialect", ["messages", "responses"])
def test_a_client_leaving_a_silent_translated_stream_closes_upstream(
        faulty: Faulty, dialect: str) -> None:
    path, body = ask(dialect, "stall", stream=True)
    rid = "silent-" + uuid.uuid4().hex
    response = faulty.post(path, body, stream=True, headers={"X-Request-ID": rid})
    next(response.iter_content(chunk_size=None))
    response.close()
    assert faulty.fake.wait_until(lambda f: f.streams_aborted == 1, timeout=20)
    row = faulty.appliance.log_row(rid, timeout=20)
    assert row["status"] == 499 and row["usage_estimated"]


# --- item 4: many at once -----------------------------------------------------------


@pytest.mark.timeout(120)
def test_fifty_translated_streams_at_once_all_complete_and_are_logged(
        faulty: Faulty) -> None:
    faulty.fake.stream_delay(0.05)

    def one(i: int) -> tuple[str, str]:
        dialect = ("messages", "responses")[i % 2]
        path, body = ask(dialect, "ok", stream=True, text=f"client {i}")
        response = faulty.post(path, body, timeout=60)
        assert end_of(dialect, response) == "ok"
        assert streamed_text(dialect, response) == f"echo: client {i}"
        return response.headers["X-Request-ID"], dialect

    with ThreadPoolExecutor(max_workers=50) as pool:
        done = list(pool.map(one, range(50)))
    for rid, dialect in done:
        row = faulty.appliance.log_row(rid, timeout=20)
        assert row["status"] == 200 and row["client_dialect"] == dialect
        assert not row["usage_estimated"]
    assert faulty.fake.open_streams == 0


# --- item 5: raw sockets -------------------------------------------------------------


def raw(faulty: Faulty, path: str, headers: dict[str, str] | list[tuple[str, str]],
        body: dict[str, Any] | None = None) -> rawhttp.RawResponse:
    data = json.dumps(body or {"model": "ok", "max_tokens": 10, "input": "hi",
                               "messages": [{"role": "user", "content": "hi"}]}).encode()
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers)
    pairs = [("Host", "localhost"), ("Content-Type", "application/json"),
             ("Content-Length", str(len(data))), ("Connection", "close"), *pairs]
    port = int(faulty.appliance.url.rsplit(":", 1)[1])
    answer = rawhttp.exchange(port, rawhttp.request("POST", path, pairs, data))
    return answer.first


ROUTES = ["/v1/messages", "/v1/messages/count_tokens", "/v1/responses"]


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("junk", ["junk", "mpx_" + "A" * 5000, "Bearer x", " ", "\t",
                                  "mpx_\x01\x02", "mpx_é\xff"])
def test_junk_in_x_api_key_is_a_401(faulty: Faulty, path: str, junk: str) -> None:
    response = raw(faulty, path, {"x-api-key": junk})
    # 400: a control character, refused as malformed before the token is looked at
    assert response.status == (400 if "\x01" in junk else 401), response.body[:300]
    assert b"Traceback" not in response.body


@pytest.mark.parametrize("path", ROUTES)
def test_both_authorization_and_x_api_key(faulty: Faulty, path: str) -> None:
    """Authorization wins when both are sent (Claude Code sends both when both its
    variables are set); a valid one there is served whatever x-api-key holds."""
    good = raw(faulty, path, {"Authorization": f"Bearer {faulty.token}",
                              "x-api-key": "junk"})
    assert good.status == 200, good.body[:300]
    bad = raw(faulty, path, {"Authorization": "Bearer junk", "x-api-key": faulty.token})
    assert bad.status == 401, bad.body[:300]


@pytest.mark.parametrize("path", ROUTES)
def test_a_blank_authorization_falls_back_to_x_api_key(faulty: Faulty, path: str) -> None:
    response = raw(faulty, path, {"Authorization": "", "x-api-key": faulty.token})
    assert response.status == 200, response.body[:300]


@pytest.mark.parametrize("path", [*ROUTES, "/v1/models"])
@pytest.mark.parametrize("size", [8_000, 70_000, 1_000_000])
def test_huge_headers_on_the_new_routes_are_answered_sanely(faulty: Faulty, path: str,
                                                            size: int) -> None:
    headers = [("x-api-key", faulty.token), ("anthropic-version", "2023-06-01"),
               ("anthropic-beta", "b" * size)]
    port = int(faulty.appliance.url.rsplit(":", 1)[1])
    method = "GET" if path == "/v1/models" else "POST"
    data = json.dumps({"model": "ok", "max_tokens": 10, "input": "hi",
                       "messages": [{"role": "user", "content": "hi"}]}).encode()
    pairs = [("Host", "localhost"), ("Content-Type", "application/json"),
             ("Content-Length", str(len(data))), ("Connection", "close"), *headers]
    try:
        answer = rawhttp.exchange(port, rawhttp.request(method, path, pairs, data))
    except (TimeoutError, ConnectionResetError, BrokenPipeError):
        answer = None  # the server shut the door on a header past its limit: sane
    if answer is not None and answer.responses:
        assert answer.first.status in (200, 400, 413, 431), answer.first.status
    # the server still serves
    ok = faulty.post("/v1/messages", ask("messages", "ok", stream=False)[1])
    assert ok.status_code == 200


@pytest.mark.parametrize("dialect", ["messages", "responses"])
def test_a_cut_anthropic_stream_ends_cleanly_passed_through_or_translated(
        faulty: Faulty, dialect: str) -> None:
    """Messages -> Anthropic (bytes passed through) and Responses -> Anthropic
    (translated): a provider that dies mid-answer still gives the client its dialect's
    end, once."""
    faulty.fake.fail_mid_stream(after=1)
    response = faulty.post(*ask(dialect, "claude", stream=True))
    assert end_of(dialect, response) == FAILED[dialect]
    row = faulty.row(response)
    assert row["status"] == 502 and row["provider_dialect"] == "messages"
