"""Who may call what: tokens, revocation, expiry, client addresses, scopes, endpoint
allow-lists and endpoint lookup — each refusal with its status, code and log row."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
import requests

from tests.server.client_fixtures import MainGateway, assert_error, chat_body, wait_for


def _post_with(gateway: MainGateway, authorization: str | None,
               path: str = "/api/chat") -> requests.Response:
    headers = {"Authorization": authorization} if authorization is not None else {}
    return requests.post(gateway.url + path, json=chat_body(), headers=headers, timeout=10)


# --- tokens ----------------------------------------------------------------------------------


def test_no_authorization_header_is_401_missing_token(gateway: MainGateway) -> None:
    response = _post_with(gateway, None)
    assert_error(response, 401, "missing_token", mentions="Authorization: Bearer")
    assert gateway.fake.requests == []
    row = gateway.log_row(response)
    assert (row["status"], row["token_id"]) == (401, None)


@pytest.mark.parametrize("authorization", ["Bearer", "Basic dXNlcjpwYXNz", "Token abc"])
def test_authorization_without_a_bearer_token_is_401_missing_token(
        gateway: MainGateway, authorization: str) -> None:
    assert_error(_post_with(gateway, authorization), 401, "missing_token")


@pytest.mark.parametrize("presented", [
    "not-a-token",
    "mpx_short",
    "mpx_" + secrets.token_urlsafe(32),  # well-formed, but never issued
    "sk-upstream-secret-1234",  # the provider key is no client token
])
def test_unknown_or_malformed_token_is_401_invalid_token(gateway: MainGateway,
                                                         presented: str) -> None:
    response = _post_with(gateway, f"Bearer {presented}")
    error = assert_error(response, 401, "invalid_token", mentions="invalid token")
    assert presented not in error["message"]
    assert gateway.fake.requests == []


def test_a_token_with_one_character_changed_is_invalid(gateway: MainGateway) -> None:
    real = gateway.tokens["all"].plaintext
    forged = real[:-1] + ("A" if real[-1] != "A" else "B")  # same prefix, wrong secret
    assert_error(_post_with(gateway, f"Bearer {forged}"), 401, "invalid_token")


def test_revoked_token_is_403_token_revoked(gateway: MainGateway) -> None:
    response = gateway.post("/api/chat", chat_body(), token="revoked")
    assert_error(response, 403, "token_revoked", mentions="revoked")
    assert gateway.fake.requests == []
    row = gateway.log_row(response)
    assert (row["status"], row["token_id"]) == (403, gateway.tokens["revoked"].id)


def test_expired_token_is_403_token_expired(gateway: MainGateway) -> None:
    response = gateway.post("/v1/chat/completions", {**chat_body(), "model": "chat"},
                            token="expired")
    assert_error(response, 403, "token_expired", mentions="expired")
    assert gateway.fake.requests == []


def test_token_expiring_later_is_served(gateway: MainGateway) -> None:
    assert gateway.post("/api/chat", chat_body(), token="expires-later").status_code == 200


def test_the_bearer_scheme_is_case_insensitive(gateway: MainGateway) -> None:
    response = _post_with(gateway, f"bearer {gateway.tokens['all'].plaintext}")
    assert response.status_code == 200, response.text


def test_revocation_by_the_cli_applies_within_five_seconds(gateway: MainGateway) -> None:
    assert gateway.post("/api/chat", chat_body(), token="cli-revoke").status_code == 200
    result = gateway.appliance.cli("token", "revoke", str(gateway.tokens["cli-revoke"].id))
    assert result.returncode == 0, result.stderr
    last: list[requests.Response] = []

    def refused() -> bool:
        last[:] = [gateway.post("/api/echo/chat", chat_body(), token="cli-revoke")]
        return last[0].status_code != 200

    assert wait_for(refused, timeout=5.0, interval=0.2), "still accepted 5 s after revoking"
    assert_error(last[0], 403, "token_revoked")


# --- client addresses ------------------------------------------------------------------------


def test_address_outside_the_allow_list_is_403_ip_not_allowed(gateway: MainGateway) -> None:
    response = gateway.post("/api/chat", chat_body(), token="net10")
    assert_error(response, 403, "ip_not_allowed", mentions="127.0.0.1")
    assert gateway.fake.requests == []


def test_address_inside_the_allow_list_is_served(gateway: MainGateway) -> None:
    response = gateway.post("/api/chat", chat_body(), token="net127")
    assert response.status_code == 200, response.text
    assert gateway.log_row(response)["client_ip"] == "127.0.0.1"


def test_forwarded_for_is_ignored_without_a_trusted_proxy(gateway: MainGateway) -> None:
    response = gateway.post("/api/chat", chat_body(), token="net10",
                            headers={"X-Forwarded-For": "10.1.2.3"})
    assert_error(response, 403, "ip_not_allowed")
    assert gateway.log_row(response)["client_ip"] == "127.0.0.1"
    served = gateway.post("/api/chat", chat_body(), headers={"X-Forwarded-For": "10.1.2.3"})
    assert served.status_code == 200
    assert gateway.log_row(served)["client_ip"] == "127.0.0.1"


# --- scopes, allow-lists and endpoint lookup ---------------------------------------------------


def test_chat_only_token_may_chat(gateway: MainGateway) -> None:
    assert gateway.post("/api/chat", chat_body(), token="chat-only").status_code == 200


@pytest.mark.parametrize(("method", "path", "scope"), [
    ("POST", "/api/embeddings", "embeddings"),
    ("POST", "/v1/embeddings", "embeddings"),
    ("GET", "/api/models", "models"),
    ("GET", "/v1/models", "models"),
])
def test_chat_only_token_is_403_scope_not_allowed_elsewhere(
        gateway: MainGateway, method: str, path: str, scope: str) -> None:
    response = requests.request(method, gateway.url + path, headers=gateway.headers("chat-only"),
                                json={"model": "embed", "input": "x"}, timeout=10)
    assert_error(response, 403, "scope_not_allowed", mentions=scope)
    assert gateway.fake.requests == []


def test_chat_only_token_cannot_reach_embeddings_through_another_path(
        gateway: MainGateway) -> None:
    response = gateway.post("/api/echo/embed", {"input": "x"}, token="chat-only")
    assert_error(response, 404, "endpoint_not_found", mentions="that this token may use")


def test_endpoint_outside_the_allow_list_is_403_endpoint_not_allowed(
        gateway: MainGateway) -> None:
    assert gateway.post("/api/echo/chat", chat_body(), token="echo-only").status_code == 200
    refused = gateway.post("/api/chat", chat_body(), token="echo-only")
    assert_error(refused, 403, "endpoint_not_allowed", mentions="chat")
    by_model = gateway.post("/v1/chat/completions", {**chat_body(), "model": "team-chat"},
                            token="echo-only")
    assert_error(by_model, 403, "endpoint_not_allowed", mentions="team-chat")
    assert gateway.fake.requests == []


def _answer(response: requests.Response, asked: str) -> tuple[int, str, str]:
    """Status, code and message, with what the client asked for taken out of the message."""
    error = response.json()["error"]
    return response.status_code, error["code"], error["message"].replace(asked, "<asked>")


@pytest.mark.parametrize(("path", "body"), [
    ("/api/chat", chat_body()),  # exists, not in the allow-list
    ("/api/off", chat_body()),  # exists, disabled, not in the allow-list
    ("/api/echo/embed", {"input": "x"}),  # exists, another kind
    ("/api/echo/chat", chat_body(endpoint="/api/team/chat")),  # named in the body
])
def test_a_token_with_an_allow_list_cannot_tell_other_endpoints_from_missing_ones(
        gateway: MainGateway, path: str, body: dict[str, Any]) -> None:
    asked = body.get("endpoint", path)
    other = gateway.post(path, body, token="echo-only")
    missing = gateway.post("/api/nowhere", {**body, "endpoint": "/api/nowhere"},
                           token="echo-only")
    assert_error(other, 403, "endpoint_not_allowed", mentions=asked)
    assert _answer(other, asked) == _answer(missing, "/api/nowhere")
    assert other.headers.keys() == missing.headers.keys()
    assert gateway.fake.requests == []


@pytest.mark.parametrize(("route", "model"), [
    ("/v1/chat/completions", "team-chat"),  # an endpoint's name
    ("/v1/chat/completions", "gpt-4o"),  # an endpoint's upstream model
    ("/v1/chat/completions", "off"),  # disabled
    ("/v1/embeddings", "embed"),
])
def test_a_token_with_an_allow_list_cannot_tell_other_models_from_missing_ones(
        gateway: MainGateway, route: str, model: str) -> None:
    body = {**chat_body(), "input": "x"}
    other = gateway.post(route, {**body, "model": model}, token="echo-only")
    missing = gateway.post(route, {**body, "model": "no-such-model"}, token="echo-only")
    assert_error(other, 403, "endpoint_not_allowed", mentions=model)
    assert _answer(other, model) == _answer(missing, "no-such-model")


def test_a_token_with_an_allow_list_finds_its_endpoint_by_upstream_model(
        gateway: MainGateway) -> None:
    answer = gateway.post("/v1/chat/completions", {**chat_body(), "model": "echo-model"},
                          token="echo-only")
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(("route", "body", "asked", "code"), [
    ("/api/echo/embed", {"input": "x"}, "/api/echo/embed", "endpoint_not_found"),
    ("/api/chat", chat_body(endpoint="/api/echo/embed"), "/api/echo/embed",
     "endpoint_not_found"),
    ("/v1/chat/completions", {**chat_body(), "model": "echo-embed"}, "echo-embed",
     "model_not_found"),
])
def test_a_token_without_a_scope_cannot_tell_endpoints_of_that_kind_from_missing_ones(
        gateway: MainGateway, route: str, body: dict[str, Any], asked: str,
        code: str) -> None:
    missing_name = "/api/nowhere" if asked.startswith("/") else "no-such-model"
    missing_body = {**body, **({"endpoint": missing_name} if "endpoint" in body else {}),
                    **({"model": missing_name} if "model" in body else {})}
    missing_route = "/api/nowhere" if route == asked else route
    other = gateway.post(route, body, token="chat-only")
    missing = gateway.post(missing_route, missing_body, token="chat-only")
    assert_error(other, 404, code, mentions="this token may use")
    assert _answer(other, asked) == _answer(missing, missing_name)


def test_unknown_endpoint_path_is_404_endpoint_not_found(gateway: MainGateway) -> None:
    assert_error(gateway.post("/api/nowhere", chat_body()), 404, "endpoint_not_found",
                 mentions="/api/nowhere")
    in_body = gateway.post("/api/chat", chat_body(endpoint="/api/also-nowhere"))
    assert_error(in_body, 404, "endpoint_not_found", mentions="/api/also-nowhere")


def test_unknown_model_on_v1_is_404_model_not_found(gateway: MainGateway) -> None:
    response = gateway.post("/v1/chat/completions", {**chat_body(), "model": "gpt-5-turbo"})
    assert_error(response, 404, "model_not_found", mentions="gpt-5-turbo")
    embeddings = gateway.post("/v1/embeddings", {"model": "no-such-embedder", "input": "x"})
    assert_error(embeddings, 404, "model_not_found", mentions="no-such-embedder")


def test_disabled_endpoint_is_404(gateway: MainGateway) -> None:
    for response in (gateway.post("/api/off", chat_body()),
                     gateway.post("/v1/chat/completions", {**chat_body(), "model": "off"})):
        assert_error(response, 404, {"endpoint_disabled", "endpoint_not_found",
                                     "model_not_found"}, mentions="off")
    assert gateway.fake.requests == []


def test_embeddings_endpoint_through_api_chat_is_400_wrong_endpoint_kind(
        gateway: MainGateway) -> None:
    response = gateway.post("/api/chat", chat_body(endpoint="/api/embeddings"))
    assert_error(response, 400, "wrong_endpoint_kind", mentions="embeddings")
    chat_as_embeddings = gateway.post("/v1/embeddings", {"model": "chat", "input": "x"})
    assert_error(chat_as_embeddings, 400, "wrong_endpoint_kind", mentions="chat")
    assert gateway.fake.requests == []
