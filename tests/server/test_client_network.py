"""Behind a trusted proxy (client addresses from X-Forwarded-For, IPv4 and IPv6 allow-lists)
and CORS for browser clients."""

from __future__ import annotations

import pytest
import requests

from tests.server.client_fixtures import (
    CORS_ORIGIN,
    EdgeGateway,
    MainGateway,
    assert_error,
    chat_body,
)

# --- trusted proxies and IP allow-lists ------------------------------------------------------


def test_ipv6_client_inside_the_allowed_network_is_served(edge: EdgeGateway) -> None:
    response = edge.post("/api/chat", chat_body(), token="v6-doc", forwarded_for="2001:db8::5")
    assert response.status_code == 200, response.text
    assert edge.appliance.log_row(response.headers["X-Request-ID"])["client_ip"] == "2001:db8::5"


@pytest.mark.parametrize("address", ["fd00::1", "2001:db9::5", "10.0.0.1"])
def test_client_outside_an_ipv6_allow_list_is_refused(edge: EdgeGateway, address: str) -> None:
    response = edge.post("/api/chat", chat_body(), token="v6-doc", forwarded_for=address)
    assert_error(response, 403, "ip_not_allowed", mentions=address)


def test_ipv6_loopback_single_address_allow_list(edge: EdgeGateway) -> None:
    assert edge.post("/api/chat", chat_body(), token="v6-loopback",
                     forwarded_for="::1").status_code == 200
    refused = edge.post("/api/chat", chat_body(), token="v6-loopback", forwarded_for="::2")
    assert_error(refused, 403, "ip_not_allowed")
    direct = edge.post("/api/chat", chat_body(), token="v6-loopback")  # from 127.0.0.1 itself
    assert_error(direct, 403, "ip_not_allowed")


def test_forwarded_for_from_a_trusted_proxy_names_the_client(edge: EdgeGateway) -> None:
    response = edge.post("/api/chat", chat_body(), token="net10", forwarded_for="10.1.2.3")
    assert response.status_code == 200, response.text
    assert edge.appliance.log_row(response.headers["X-Request-ID"])["client_ip"] == "10.1.2.3"


def test_a_forged_first_hop_does_not_pass(edge: EdgeGateway) -> None:
    """The client prepends a hop of its own: only the hop the proxy added counts."""
    response = edge.post("/api/chat", chat_body(), token="net10",
                         forwarded_for="10.9.9.9, 192.0.2.7")
    assert_error(response, 403, "ip_not_allowed", mentions="192.0.2.7")


# --- CORS -------------------------------------------------------------------------------------


def _preflight(url: str, origin: str, path: str = "/v1/chat/completions") -> requests.Response:
    return requests.options(url + path, timeout=10, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})


def test_preflight_from_an_allowed_origin_is_answered(edge: EdgeGateway) -> None:
    response = _preflight(edge.url, CORS_ORIGIN)
    assert response.status_code == 204 and response.headers["X-Request-ID"]
    assert response.headers["Access-Control-Allow-Origin"] == CORS_ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed


@pytest.mark.parametrize("origin", ["https://evil.example.com", "https://app.example.com.evil.io",
                                    "http://app.example.com", "https://APP.example.com:8443"])
def test_preflight_from_another_origin_gets_no_allow_origin(edge: EdgeGateway,
                                                           origin: str) -> None:
    response = _preflight(edge.url, origin)
    assert "Access-Control-Allow-Origin" not in response.headers


def test_request_from_the_allowed_origin_gets_allow_origin(edge: EdgeGateway) -> None:
    response = edge.post("/api/chat", chat_body(), headers={"Origin": CORS_ORIGIN})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == CORS_ORIGIN
    assert "x-request-id" in response.headers["Access-Control-Expose-Headers"].lower()
    other = edge.post("/api/chat", chat_body(), headers={"Origin": "https://evil.example.com"})
    assert other.status_code == 200
    assert "Access-Control-Allow-Origin" not in other.headers


def test_refusals_to_the_allowed_origin_are_readable_by_the_browser(edge: EdgeGateway) -> None:
    response = requests.post(edge.url + "/api/chat", json=chat_body(), timeout=10,
                             headers={"Origin": CORS_ORIGIN})
    assert_error(response, 401, "missing_token")
    assert response.headers["Access-Control-Allow-Origin"] == CORS_ORIGIN


def test_without_configured_origins_there_is_no_cors(gateway: MainGateway) -> None:
    preflight = _preflight(gateway.url, CORS_ORIGIN)
    assert "Access-Control-Allow-Origin" not in preflight.headers
    response = gateway.post("/api/chat", chat_body(), headers={"Origin": CORS_ORIGIN})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers
