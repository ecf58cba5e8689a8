"""Broken providers, from the fault modes of the fake upstream (tests/fakes/faults.py): a
real `modelproxy serve` with one provider per mode on one fake. Huge events and answers are
capped, an upstream that drips or stalls is timed out or closed at once, and what no
client could read becomes a clear error; each request leaves one row saying so."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from server.providers.openai_compatible import MAX_ANSWER_BYTES
from server.providers.sse import MAX_EVENT_BYTES
from tests.fakes.upstream import FakeUpstream
from tests.server.client_fixtures import (
    HTTP_TIMEOUT,
    Appliance,
    assert_error,
    chat_body,
    chunks_of,
    sse_data,
)

# name -> (fault mode, its argument, the provider's timeout_s)
PROVIDERS: dict[str, tuple[str, float | None, float]] = {
    "huge-event": ("huge_event", MAX_EVENT_BYTES + 1_000_000, 60),
    "huge-answer": ("huge_answer", 2 * MAX_ANSWER_BYTES, 60),  # past what sockets buffer
    "stall": ("stall", None, 60),
    "drip": ("drip", 0.1, 1),
    "str-delta": ("str_delta", None, 60),
    "plain-json": ("plain_json", None, 60),
    "error-200": ("error_200", None, 60),
    "garbage": ("garbage", None, 60),
    "error-event": ("error_event", None, 60),
    "key-error": ("key_error_event", None, 60),
    # the key at characters 490-515 of the message: across the 500 where it is cut
    "key-error-cut": ("key_error_event", 462, 60),
    "content-parts": ("content_parts", None, 60),
    "after-done": ("after_done", 2, 60),
}
# Not shaped like a key ("sk-..."): only the provider's own key, known, can hide it.
PROVIDER_KEY = "pk9Q2vX7rT4mW8zL1nB6cY3dE5"


@dataclass
class FaultGateway:
    appliance: Appliance
    fake: FakeUpstream
    token: str

    def post(self, endpoint: str, body: dict[str, Any], **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return requests.post(f"{self.appliance.url}/api/{endpoint}", json=body,
                             headers=headers, timeout=kwargs.pop("timeout", HTTP_TIMEOUT),
                             **kwargs)

    def row(self, response: requests.Response) -> dict[str, Any]:
        return self.appliance.log_row(response.headers["X-Request-ID"])


@pytest.fixture(scope="module")
def _faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultGateway]:
    with FakeUpstream() as fake:
        app = Appliance(tmp_path_factory.mktemp("faulty"))
        for name, (mode, arg, timeout_s) in PROVIDERS.items():
            app.provider(name, base_url=fake.fault_url(mode, arg), timeout_s=timeout_s,
                         api_key=PROVIDER_KEY)
            app.endpoint(name, f"/api/{name}", name)
        app.endpoint("embed", "/api/embed", "huge-answer", kind="embeddings")
        token = app.token("faults").plaintext
        app.serve()
        try:
            yield FaultGateway(app, fake, token)
        finally:
            app.close()


@pytest.fixture
def faulty(_faulty: FaultGateway) -> FaultGateway:
    _faulty.fake.reset()
    _faulty.fake.clear()
    return _faulty


def one_error_event(payloads: list[str]) -> dict[str, Any]:
    """The stream ended with exactly one error event and no [DONE]; its error object."""
    assert "[DONE]" not in payloads
    errors = [p for p in payloads if '"error"' in p]
    assert len(errors) == 1 and payloads[-1] == errors[0], payloads[-3:]
    return json.loads(errors[0])["error"]


# --- item 7: sizes ---------------------------------------------------------------------


def test_an_event_past_the_cap_ends_the_stream_with_one_error_event(
        faulty: FaultGateway) -> None:
    response = faulty.post("huge-event", chat_body(stream=True))
    payloads = sse_data(response)
    error = one_error_event(payloads)
    assert "larger than 16 MiB" in error["message"] and error["code"] == "upstream_error"
    assert len(response.content) < 10_000  # the huge event was never relayed
    row = faulty.row(response)
    assert row["status"] == 502 and "16 MiB" in row["error"]


@pytest.mark.parametrize("endpoint, body", [("huge-answer", chat_body()),
                                            ("embed", {"input": "x"})])
def test_a_whole_answer_past_the_cap_is_502_and_left_unread(
        faulty: FaultGateway, endpoint: str, body: dict[str, Any]) -> None:
    response = faulty.post(endpoint, body)
    assert_error(response, 502, "upstream_error", mentions="larger than 64 MiB")
    assert faulty.row(response)["status"] == 502
    assert faulty.fake.wait_until(lambda f: f.requests_abandoned == 1), \
        "the provider's connection was not closed at the cap"


# --- item 14: a client leaving a silent stream -----------------------------------------


def test_a_client_leaving_a_silent_stream_closes_the_upstream_at_once(
        faulty: FaultGateway) -> None:
    """The provider sends its first chunk, then nothing (its timeout is 60 s). The client
    leaves: the proxy's watcher closes the upstream there and then."""
    response = faulty.post("stall", chat_body(stream=True), stream=True,
                           headers={"X-Request-ID": "left-silent"})
    pieces = response.iter_content(chunk_size=None)  # held: a dropped one closes
    assert next(pieces).startswith(b"data: ")
    assert faulty.fake.open_streams == 1
    response.close()
    # Held, the upstream would be closed by the provider's timeout only (60 s), and the
    # row written then: both are waited for well within that.
    assert faulty.fake.wait_until(lambda f: f.streams_aborted == 1, timeout=20), \
        "the upstream stream was held after the client left"
    row = faulty.appliance.log_row("left-silent", timeout=20)
    assert row["status"] == 499 and "disconnect" in row["error"]
    assert faulty.fake.open_streams == 0


# --- item 15: what no client could read ------------------------------------------------


def test_a_chunk_of_the_wrong_shape_ends_the_stream_with_one_error_event(
        faulty: FaultGateway) -> None:
    response = faulty.post("str-delta", chat_body(stream=True))
    assert response.status_code == 200
    payloads = sse_data(response)
    error = one_error_event(payloads)
    assert "wrong shape" in error["message"]
    assert len(chunks_of(payloads)) == 2  # the role chunk, then the error
    row = faulty.row(response)
    assert row["status"] == 502 and "wrong shape" in row["error"]


def test_the_providers_error_event_mid_stream_is_one_error_event(
        faulty: FaultGateway) -> None:
    response = faulty.post("error-event", chat_body(stream=True))
    error = one_error_event(sse_data(response))
    assert "overloaded" in error["message"]
    assert faulty.row(response)["status"] == 502


@pytest.mark.parametrize("endpoint", ["key-error", "key-error-cut"])
def test_a_key_quoted_in_the_providers_error_event_reaches_no_client_and_no_row(
        faulty: FaultGateway, endpoint: str) -> None:
    response = faulty.post(endpoint, chat_body(stream=True))
    error = one_error_event(sse_data(response))
    assert "Incorrect API key provided: ***" in error["message"]
    row = faulty.row(response)
    assert row["status"] == 502 and "***" in row["error"]
    for text in (response.text, row["error"]):
        assert PROVIDER_KEY[:8] not in text  # not whole, nor its start where it is cut


def test_content_as_a_list_of_parts_is_relayed_and_counted(faulty: FaultGateway) -> None:
    faulty.fake.no_usage_in_stream()  # counted from the parts' text
    response = faulty.post("content-parts", chat_body("parts please", stream=True))
    payloads = sse_data(response)
    assert payloads[-1] == "[DONE]" and not any('"error"' in p for p in payloads)
    contents = [c["choices"][0]["delta"].get("content") for c in chunks_of(payloads)]
    parts = [part for content in contents if isinstance(content, list) for part in content]
    assert "".join(part["text"] for part in parts) == "echo: parts please"
    row = faulty.row(response)
    assert (row["status"], row["error"], row["usage_estimated"]) == (200, None, True)
    assert row["completion_tokens"] == (len("echo: parts please") + 3) // 4


def test_the_stream_ends_at_done_whatever_the_provider_sends_after_it(
        faulty: FaultGateway) -> None:
    """The provider sends a keep-alive comment 2 s after [DONE]: the stream has ended at
    [DONE] (the upstream closed there, not waited on), one success."""
    response = faulty.post("after-done", chat_body(stream=True))
    payloads = sse_data(response)
    assert payloads[-1] == "[DONE]" and not any('"error"' in p for p in payloads)
    row = faulty.row(response)
    assert (row["status"], row["error"]) == (200, None)
    assert faulty.fake.wait_until(lambda f: f.streams_aborted == 1)
    assert faulty.fake.streams_completed == 0  # its keep-alive was never read


@pytest.mark.parametrize("endpoint, mentions", [
    ("plain-json", "application/json"),
    ("error-200", "had an error processing"),
    ("garbage", "application/octet-stream"),
])
def test_a_stream_request_answered_with_no_event_stream_is_502(
        faulty: FaultGateway, endpoint: str, mentions: str) -> None:
    response = faulty.post(endpoint, chat_body(stream=True))
    error = assert_error(response, 502, "upstream_error", mentions="not an event stream")
    assert mentions in error["message"]
    assert faulty.row(response)["status"] == 502


# --- item 16: a deadline for the whole call --------------------------------------------


# A drip of ~1,000 bytes 0.1 s apart relays for ~100 s with a per-read timeout only: past
# this test's own limit, which bounds it (no duration is asserted).
@pytest.mark.timeout(40)
def test_a_stream_dripping_bytes_times_out_on_the_providers_timeout(
        faulty: FaultGateway) -> None:
    """A byte every 0.1 s keeps every read short; no event completes within the 1 s
    timeout. No byte of an answer was relayed yet (the client's response waits for the
    first data event, first_event.py): a 504 the client can retry, not a 200 stream."""
    response = faulty.post("drip", chat_body(stream=True))
    assert_error(response, 504, "upstream_timeout", mentions="sent no event within 1 s")
    assert faulty.row(response)["status"] == 504
    assert faulty.fake.wait_until(lambda f: f.streams_aborted == 1), \
        "the dripping stream was not closed"


@pytest.mark.timeout(40)
def test_a_whole_answer_dripping_bytes_is_504_within_the_providers_timeout(
        faulty: FaultGateway) -> None:
    response = faulty.post("drip", chat_body())
    assert_error(response, 504, "upstream_timeout", mentions="within 1 s")
    assert faulty.row(response)["status"] == 504
    assert faulty.fake.wait_until(lambda f: f.requests_abandoned == 1), \
        "the dripping connection was not closed"
