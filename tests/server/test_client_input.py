"""Request bodies: JSON whatever the Content-Type, clear 400s naming the bad field, and
413 past the body limit. Bad input never reaches the upstream."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from tests.server.client_fixtures import (
    EDGE_BODY_LIMIT,
    EdgeGateway,
    MainGateway,
    assert_error,
    chat_body,
)


def _raw_post(gateway: MainGateway, path: str, data: bytes | str,
              content_type: str = "application/json") -> requests.Response:
    headers = gateway.headers(**{"Content-Type": content_type})
    return requests.post(gateway.url + path, data=data, headers=headers, timeout=10)


def test_curl_style_form_content_type_with_a_json_body_works(gateway: MainGateway) -> None:
    response = _raw_post(gateway, "/api/chat", json.dumps(chat_body("sent like curl -d")),
                         "application/x-www-form-urlencoded")
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "echo: sent like curl -d"


def test_text_plain_json_works_for_embeddings_too(gateway: MainGateway) -> None:
    response = _raw_post(gateway, "/api/embeddings", json.dumps({"input": "plain"}), "text/plain")
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("raw", ['{"messages": [', "not json at all", "{'single': 'quotes'}",
                                 b"\xff\xfe\x00garbage"])
def test_invalid_json_is_400_invalid_json(gateway: MainGateway, raw: str | bytes) -> None:
    response = _raw_post(gateway, "/api/chat", raw)
    assert_error(response, 400, "invalid_json", mentions="JSON")
    assert gateway.fake.requests == []
    assert gateway.log_row(response)["status"] == 400


def test_empty_body_is_400(gateway: MainGateway) -> None:
    assert_error(_raw_post(gateway, "/api/chat", ""), 400, "invalid_json", mentions="empty")


@pytest.mark.parametrize("raw", ['[{"role": "user", "content": "hi"}]', '"a string"', "42",
                                 "null"])
def test_a_body_that_is_not_an_object_is_400(gateway: MainGateway, raw: str) -> None:
    response = _raw_post(gateway, "/api/chat", raw)
    assert_error(response, 400, "invalid_json", mentions="object")
    assert gateway.fake.requests == []


def test_missing_messages_is_400_naming_messages(gateway: MainGateway) -> None:
    for response in (gateway.post("/api/chat", {"temperature": 1}),
                     gateway.post("/v1/chat/completions", {"model": "chat"})):
        error = assert_error(response, 400, "invalid_request", mentions="messages")
        assert error.get("param") == "messages"
    assert gateway.fake.requests == []


@pytest.mark.parametrize("messages", [
    "hello",
    [],
    ["hello"],
    [{"content": "no role"}],
    [{"role": 7, "content": "role is not a string"}],
    [{"role": "user", "content": "fine"}, None],
])
def test_messages_must_be_a_list_of_objects_with_a_role(gateway: MainGateway,
                                                        messages: object) -> None:
    response = gateway.post("/api/chat", {"messages": messages})
    error = assert_error(response, 400, "invalid_request", mentions="messages")
    assert error.get("param") == "messages"
    assert gateway.fake.requests == []


def test_stream_must_be_a_boolean(gateway: MainGateway) -> None:
    error = assert_error(gateway.post("/api/chat", chat_body(stream="yes")), 400,
                         "invalid_request", mentions="stream")
    assert error.get("param") == "stream"


@pytest.mark.parametrize(("path", "body"), [
    ("/api/embeddings", {}),
    ("/api/embeddings", {"input": None}),
    ("/api/embeddings", {"input": []}),
    ("/api/embeddings", {"input": {"text": "an object"}}),
    ("/v1/embeddings", {"model": "embed"}),
])
def test_embeddings_without_valid_input_is_400_naming_input(gateway: MainGateway, path: str,
                                                            body: dict) -> None:
    error = assert_error(gateway.post(path, body), 400, "invalid_request", mentions="input")
    assert error.get("param") == "input"
    assert gateway.fake.requests == []


@pytest.mark.parametrize("endpoint", [5, ["/api/chat"], {"path": "/api/chat"}])
def test_body_endpoint_must_be_a_path(gateway: MainGateway, endpoint: object) -> None:
    error = assert_error(gateway.post("/api/chat", chat_body(endpoint=endpoint)), 400,
                         "invalid_request", mentions="endpoint")
    assert error.get("param") == "endpoint"


def test_v1_without_a_model_is_400(gateway: MainGateway) -> None:
    response = gateway.post("/v1/chat/completions", chat_body())
    error = assert_error(response, 400, "invalid_request", mentions="model")
    assert error.get("param") == "model"


# --- the body limit (the edge appliance allows 2048 bytes) -----------------------------------


def _big_chat(size: int) -> dict:
    return chat_body("x" * size)


def test_a_body_within_the_limit_is_served(edge: EdgeGateway) -> None:
    assert edge.post("/api/chat", _big_chat(EDGE_BODY_LIMIT // 2)).status_code == 200


def test_a_body_over_the_limit_is_413_request_too_large(edge: EdgeGateway) -> None:
    response = edge.post("/api/chat", _big_chat(EDGE_BODY_LIMIT * 2))
    assert_error(response, 413, "request_too_large", mentions=str(EDGE_BODY_LIMIT))
    row = edge.appliance.log_row(response.headers["X-Request-ID"])
    assert row["status"] == 413


def _chunked(payload: bytes) -> Iterator[bytes]:
    """A body sent without Content-Length (Transfer-Encoding: chunked), 512 bytes a chunk."""
    for i in range(0, len(payload), 512):
        yield payload[i:i + 512]


@pytest.mark.parametrize("payload", [
    json.dumps(_big_chat(EDGE_BODY_LIMIT * 2)).encode(),
    # Valid JSON within the limit, then padding past it: must not be cut and served.
    json.dumps(chat_body("padded")).encode() + b" " * (EDGE_BODY_LIMIT * 2),
], ids=["big-message", "padded-small-message"])
def test_a_chunked_body_over_the_limit_is_413_too(edge: EdgeGateway, payload: bytes) -> None:
    headers = {**edge.tokens["all"].headers, "Content-Type": "application/json"}
    response = requests.post(edge.url + "/api/chat", data=_chunked(payload), headers=headers,
                             timeout=10)
    assert_error(response, 413, "request_too_large")
