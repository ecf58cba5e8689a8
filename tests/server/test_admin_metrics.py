"""GET /metrics: Prometheus text with request counts per endpoint and status, the latency
histogram, model tokens, cost and the number of open streams."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

pytest.register_assert_rewrite("tests.server.admin_fixtures")

from tests.server.admin_fixtures import (  # noqa: E402
    HTTP_TIMEOUT,
    AdminAppliance,
    chat,
    wait_until,
)

pytest_plugins = ["tests.server.admin_fixtures"]


def _scrape(url: str) -> tuple[requests.Response, dict[str, Any]]:
    response = requests.get(url + "/metrics", timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, response.text
    return response, {f.name: f for f in text_string_to_metric_families(response.text)}


def _value(families: dict[str, Any], family: str, sample: str, **labels: str) -> float | None:
    for s in families[family].samples:
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return None


def test_metrics_count_the_client_traffic(admin_env: AdminAppliance) -> None:
    root = admin_env.admin
    assert root is not None
    endpoint = root.create_endpoint(admin_env.provider_ids["echo"])
    token = root.create_token()["token"]
    name, path = endpoint["name"], endpoint["path"]
    answers = [chat(admin_env.url, token, path, f"metrics {i}") for i in range(3)]
    bad = requests.post(admin_env.url + path, json={"messages": 5}, timeout=HTTP_TIMEOUT,
                        headers={"Authorization": f"Bearer {token}"})
    assert [a.status_code for a in answers] == [200] * 3 and bad.status_code == 400
    prompt = sum(a.json()["usage"]["prompt_tokens"] for a in answers)
    completion = sum(a.json()["usage"]["completion_tokens"] for a in answers)

    response, families = _scrape(admin_env.url)
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "# TYPE modelproxy_requests_total counter" in response.text

    requests_family = families["modelproxy_requests"]
    assert requests_family.type == "counter"
    assert _value(families, "modelproxy_requests", "modelproxy_requests_total",
                  endpoint=name, status="200") == 3
    assert _value(families, "modelproxy_requests", "modelproxy_requests_total",
                  endpoint=name, status="400") == 1

    latency = families["modelproxy_request_duration_seconds"]
    assert latency.type == "histogram"
    assert _value(families, "modelproxy_request_duration_seconds",
                  "modelproxy_request_duration_seconds_count", endpoint=name) == 4
    assert _value(families, "modelproxy_request_duration_seconds",
                  "modelproxy_request_duration_seconds_bucket", endpoint=name, le="+Inf") == 4
    total_s = _value(families, "modelproxy_request_duration_seconds",
                     "modelproxy_request_duration_seconds_sum", endpoint=name)
    assert total_s is not None and 0 < total_s < 10
    buckets = [s for s in latency.samples if s.name.endswith("_bucket")
               and s.labels["endpoint"] == name]
    counts = [s.value for s in buckets]
    assert len(buckets) > 5 and counts == sorted(counts), "cumulative buckets"

    tokens_family = families["modelproxy_model_tokens"]
    assert tokens_family.type == "counter"
    assert _value(families, "modelproxy_model_tokens", "modelproxy_model_tokens_total",
                  endpoint=name, kind="prompt") == prompt
    assert _value(families, "modelproxy_model_tokens", "modelproxy_model_tokens_total",
                  endpoint=name, kind="completion") == completion
    assert families["modelproxy_open_streams"].type == "gauge"


def test_metrics_count_the_cost_at_the_targets_price(admin_env: AdminAppliance) -> None:
    root = admin_env.admin
    assert root is not None
    endpoint = root.create_endpoint(admin_env.provider_ids["echo"], price_input_per_m=2.5,
                                    price_output_per_m=10)
    token = root.create_token()["token"]
    answers = [chat(admin_env.url, token, endpoint["path"], f"cost {i}") for i in range(3)]
    assert [a.status_code for a in answers] == [200] * 3
    rows = root.wait_for_log_rows(3, endpoint_id=endpoint["id"])
    expected = sum((a.json()["usage"]["prompt_tokens"] * 2.5
                    + a.json()["usage"]["completion_tokens"] * 10) / 1e6 for a in answers)
    assert sum(r["cost"] for r in rows) == pytest.approx(expected, abs=1e-9)
    _, families = _scrape(admin_env.url)
    assert families["modelproxy_cost_usd"].type == "counter"
    assert _value(families, "modelproxy_cost_usd", "modelproxy_cost_usd_total",
                  endpoint=endpoint["name"], provider="echo") == pytest.approx(expected)


def test_an_open_stream_shows_in_the_gauge(admin_env: AdminAppliance) -> None:
    root = admin_env.admin
    assert root is not None and admin_env.fake is not None
    endpoint = root.create_endpoint(admin_env.provider_ids["fake"], model="gpt-4o-mini")
    token = root.create_token()["token"]

    def open_streams() -> float | None:
        return _value(_scrape(admin_env.url)[1], "modelproxy_open_streams",
                      "modelproxy_open_streams")

    assert open_streams() == 0
    admin_env.fake.stream_delay(0.4)  # 4 content chunks and the end: ~2 s in all
    got_first = threading.Event()
    lines: list[bytes] = []

    def read_stream() -> None:
        with requests.post(admin_env.url + endpoint["path"], stream=True, timeout=30,
                           headers={"Authorization": f"Bearer {token}"},
                           json={"messages": [{"role": "user", "content": "one two three"}],
                                 "stream": True}) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line:
                    lines.append(line)
                    got_first.set()

    reader = threading.Thread(target=read_stream)
    reader.start()
    try:
        assert got_first.wait(10), "the stream did not start"
        assert open_streams() == 1
    finally:
        reader.join(30)
    assert lines and lines[-1] == b"data: [DONE]"
    assert wait_until(lambda: open_streams() == 0, 5)


def test_metrics_are_open_to_loopback(admin_env: AdminAppliance) -> None:
    response = requests.get(admin_env.url + "/metrics", timeout=HTTP_TIMEOUT)
    assert response.status_code == 200
    assert "modelproxy_open_streams" in response.text
