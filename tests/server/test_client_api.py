"""The client API's two surfaces, end to end: the seed surface (/api/...) and the
OpenAI-compatible one (/v1/...), what the upstream sees, and the official `openai` SDK."""

from __future__ import annotations

import requests
from openai import OpenAI

from tests.server.client_fixtures import UPSTREAM_KEY, MainGateway, assert_error, chat_body


def _reply(response: requests.Response) -> str:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["object"] == "chat.completion"
    return body["choices"][0]["message"]["content"]


# --- the seed surface ----------------------------------------------------------------------


def test_api_chat_without_endpoint_field_uses_the_request_path(gateway: MainGateway) -> None:
    response = gateway.post("/api/chat", chat_body("hi from the seed surface"))
    assert _reply(response) == "echo: hi from the seed surface"
    upstream = gateway.fake.last_request
    assert upstream.path == "/v1/chat/completions"
    assert upstream.body["model"] == "gpt-4o-mini"
    assert "endpoint" not in upstream.body


def test_api_chat_body_endpoint_names_another_path(gateway: MainGateway) -> None:
    response = gateway.post("/api/chat", chat_body("to the team", endpoint="/api/team/chat"))
    assert _reply(response) == "echo: to the team"
    assert gateway.fake.last_request.body["model"] == "gpt-4o"
    assert "endpoint" not in gateway.fake.last_request.body
    assert gateway.log_row(response)["endpoint_id"] == gateway.endpoint_ids["team-chat"]


def test_non_ascii_text_passes_through_unharmed(gateway: MainGateway) -> None:
    response = gateway.post("/api/chat", chat_body("héllo ✓ 日本"))
    assert _reply(response) == "echo: héllo ✓ 日本"
    assert gateway.fake.last_request.body["messages"][0]["content"] == "héllo ✓ 日本"


def test_other_chat_parameters_pass_through(gateway: MainGateway) -> None:
    response = gateway.post("/api/chat", chat_body("params", temperature=0.25, max_tokens=7,
                                                   user="alice"))
    assert response.status_code == 200
    sent = gateway.fake.last_request.body
    assert (sent["temperature"], sent["max_tokens"], sent["user"]) == (0.25, 7, "alice")


def test_api_embeddings(gateway: MainGateway) -> None:
    response = gateway.post("/api/embeddings", {"input": ["one", "two"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "list" and [d["index"] for d in body["data"]] == [0, 1]
    assert len(body["data"][0]["embedding"]) == gateway.fake.embedding_dim
    upstream = gateway.fake.last_request
    assert upstream.path == "/v1/embeddings"
    assert upstream.body == {"input": ["one", "two"], "model": "text-embedding-3-small"}


def test_api_embeddings_with_body_endpoint(gateway: MainGateway) -> None:
    response = gateway.post("/api/embeddings", {"endpoint": "/api/echo/embed", "input": "x"})
    assert response.status_code == 200, response.text
    assert len(response.json()["data"][0]["embedding"]) == 16  # the echo provider's size
    assert gateway.fake.requests == []  # the echo provider answered, not the fake


def test_any_configured_api_path_can_be_posted_to(gateway: MainGateway) -> None:
    assert _reply(gateway.post("/api/team/chat", chat_body("direct"))) == "echo: direct"
    assert gateway.fake.last_request.body["model"] == "gpt-4o"
    assert _reply(gateway.post("/api/echo/chat", chat_body("offline"))) == "echo: offline"
    embedded = gateway.post("/api/echo/embed", {"input": "vector please"})
    assert embedded.status_code == 200 and embedded.json()["data"][0]["embedding"]


def test_health_needs_no_token(gateway: MainGateway) -> None:
    response = gateway.get("/api/health", token=None)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["version"]


def test_api_models_lists_endpoints_and_filters_by_provider(gateway: MainGateway) -> None:
    everything = gateway.get("/api/models")
    assert everything.status_code == 200
    names = {m["id"] for m in everything.json()["data"]}
    assert names == {"chat", "embed", "team-chat", "echo-chat", "echo-embed", "slow"}  # not "off"
    echo = gateway.get("/api/models", params={"provider": "echo"})
    assert echo.status_code == 200
    assert {m["id"] for m in echo.json()["data"]} == {"echo-chat", "echo-embed"}
    nobody = gateway.get("/api/models", params={"provider": "no-such-provider"})
    assert nobody.status_code == 200 and nobody.json()["data"] == []


def test_models_lists_only_what_the_token_may_use(gateway: MainGateway) -> None:
    chat_scoped = gateway.get("/api/models", token="chat-models")
    assert chat_scoped.status_code == 200
    assert {m["id"] for m in chat_scoped.json()["data"]} == {"chat", "team-chat", "echo-chat",
                                                            "slow"}
    only_echo = gateway.get("/v1/models", token="echo-only")
    assert only_echo.status_code == 200
    assert [m["id"] for m in only_echo.json()["data"]] == ["echo-chat"]


# --- the OpenAI-compatible surface ----------------------------------------------------------


def test_v1_chat_model_names_an_endpoint_by_name(gateway: MainGateway) -> None:
    response = gateway.post("/v1/chat/completions", {**chat_body("by name"), "model": "team-chat"})
    assert _reply(response) == "echo: by name"
    assert gateway.fake.last_request.body["model"] == "gpt-4o"


def test_v1_chat_model_names_an_endpoint_by_upstream_model(gateway: MainGateway) -> None:
    response = gateway.post("/v1/chat/completions", {**chat_body("by model"), "model": "gpt-4o"})
    assert _reply(response) == "echo: by model"
    assert gateway.fake.last_request.body["model"] == "gpt-4o"
    assert gateway.log_row(response)["endpoint_id"] == gateway.endpoint_ids["team-chat"]


def test_v1_embeddings_and_models(gateway: MainGateway) -> None:
    response = gateway.post("/v1/embeddings", {"model": "embed", "input": "text"})
    assert response.status_code == 200, response.text
    assert response.json()["data"][0]["object"] == "embedding"
    assert gateway.fake.last_request.body["model"] == "text-embedding-3-small"
    models = gateway.get("/v1/models")
    assert models.status_code == 200
    body = models.json()
    assert body["object"] == "list"
    assert all(m["object"] == "model" for m in body["data"])
    assert "chat" in {m["id"] for m in body["data"]}


def test_openai_sdk_works_unchanged(gateway: MainGateway) -> None:
    client = OpenAI(base_url=gateway.url + "/v1", api_key=gateway.tokens["all"].plaintext,
                    max_retries=0, timeout=10)
    completion = client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "from the sdk"}])
    assert completion.choices[0].message.content == "echo: from the sdk"
    assert completion.usage is not None and completion.usage.completion_tokens > 0

    stream = client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "streamed words"}], stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "echo: streamed words"

    vectors = client.embeddings.create(model="embed", input=["a", "b"])
    assert len(vectors.data) == 2 and len(vectors.data[0].embedding) > 0

    listed = {m.id for m in client.models.list()}
    assert {"chat", "embed", "echo-chat"} <= listed


# --- what the upstream sees, and X-Request-ID ------------------------------------------------


def test_upstream_gets_the_provider_key_not_the_client_token(gateway: MainGateway) -> None:
    gateway.fake.require_api_key(UPSTREAM_KEY)
    response = gateway.post("/api/chat", chat_body())
    assert response.status_code == 200, response.text
    upstream = gateway.fake.last_request
    assert upstream.headers["Authorization"] == f"Bearer {UPSTREAM_KEY}"
    client_token = gateway.tokens["all"].plaintext
    assert all(client_token not in value for value in upstream.headers.values())
    assert client_token.encode() not in upstream.raw


def test_request_id_is_new_and_goes_upstream_and_into_the_log(gateway: MainGateway) -> None:
    response = gateway.post("/api/chat", chat_body())
    request_id = response.headers["X-Request-ID"]
    assert request_id
    assert gateway.fake.last_request.headers["X-Request-ID"] == request_id
    assert gateway.log_row(response)["request_id"] == request_id


def test_a_sane_client_request_id_is_kept(gateway: MainGateway) -> None:
    response = gateway.post("/v1/chat/completions", {**chat_body(), "model": "chat"},
                            headers={"X-Request-ID": "client-trace-42"})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "client-trace-42"
    assert gateway.fake.last_request.headers["X-Request-ID"] == "client-trace-42"
    assert gateway.appliance.log_row("client-trace-42")["status"] == 200


def test_an_insane_client_request_id_is_replaced(gateway: MainGateway) -> None:
    sent = "bad id with spaces <script>" + "x" * 200
    response = gateway.post("/api/chat", chat_body(), headers={"X-Request-ID": sent})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] not in ("", sent)
    assert gateway.fake.last_request.headers["X-Request-ID"] == response.headers["X-Request-ID"]


def test_every_proxied_response_carries_a_request_id(gateway: MainGateway) -> None:
    responses = [
        gateway.get("/v1/models"),
        gateway.post("/api/chat", chat_body()),
        requests.post(gateway.url + "/api/chat", json=chat_body(), timeout=10),  # 401
        gateway.post("/api/nowhere", chat_body()),  # 404
        gateway.post("/api/chat", {"messages": "nope"}),  # 400
    ]
    for response in responses:
        assert response.headers.get("X-Request-ID"), (response.request.url, response.status_code)
    ids = [r.headers["X-Request-ID"] for r in responses]
    assert len(set(ids)) == len(ids)
    assert_error(responses[2], 401, "missing_token")


def test_health_and_routing_errors_carry_a_request_id_too(gateway: MainGateway) -> None:
    """PRODUCT.md: every client API response carries X-Request-ID (the client's if sane)."""
    responses = {
        "health": gateway.get("/api/health", token=None, headers={"X-Request-ID": "hc-1"}),
        "wrong method": gateway.get("/api/chat"),  # 405
        "no such route": gateway.post("/v1/nothing", {}),  # 404
    }
    missing = [name for name, r in responses.items() if not r.headers.get("X-Request-ID")]
    assert missing == []
    assert responses["health"].headers["X-Request-ID"] == "hc-1"
