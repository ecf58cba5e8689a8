"""Endpoints with several targets: fallback on each failure that is the target's fault,
never after an answer began; cool-downs; weights; every attempt on the row; rollups by the
provider that answered."""

from __future__ import annotations

import time

import pytest
import requests

from app.models import Provider, UsageDaily
from tests.server.client_fixtures import wait_for
from tests.server.route_fixtures import Routed
from tests.server.route_fixtures import _routed as _routed
from tests.server.route_fixtures import routed as routed

pytestmark = pytest.mark.usefixtures("routed")


def _fallback_row(routed: Routed, response, endpoint: str, first_status: int) -> dict:
    assert response.status_code == 200, response.text
    row = routed.row(response)
    first, second = routed.target_ids(endpoint)
    assert row["attempts"] == 2 and row["target_id"] == second
    log = row["attempt_log"]
    assert [(a["target_id"], a["status"]) for a in log] == [(first, first_status),
                                                            (second, 200)]
    assert log[0]["error"] and log[1]["error"] is None
    assert all(a["latency_ms"] >= 0 for a in log)
    assert row["model"] == f"{endpoint}-m1"  # the answering target's upstream model
    return row


@pytest.mark.parametrize("status", [500, 429, 529, 503, 401])
def test_an_upstream_failure_status_falls_back_to_the_next_target(routed: Routed,
                                                                  status: int) -> None:
    routed.first.fail_next(status)
    endpoint = f"fall-{status}"
    response = routed.chat(endpoint, "hello")
    assert response.json()["choices"][0]["message"]["content"] == "echo: hello"
    _fallback_row(routed, response, endpoint, status)
    assert routed.second.last_request.body["model"] == f"{endpoint}-m1"


def test_a_refused_connection_falls_back(routed: Routed) -> None:
    response = routed.chat("fall-refused")
    row = _fallback_row(routed, response, "fall-refused", 502)
    assert "connect" in row["attempt_log"][0]["error"].lower()


def test_a_dropped_connection_falls_back(routed: Routed) -> None:
    routed.first.drop_next()
    _fallback_row(routed, routed.chat("fall-drop"), "fall-drop", 502)


def test_a_timeout_before_the_answer_falls_back(routed: Routed) -> None:
    routed.first.set_delay(2.0)  # the "tight" provider gives up after 0.5 s
    started = time.monotonic()
    response = routed.chat("fall-timeout")
    _fallback_row(routed, response, "fall-timeout", 504)
    assert time.monotonic() - started < 1.9  # the second target did not wait for the first


def test_a_stream_that_fails_to_open_falls_back(routed: Routed) -> None:
    routed.first.fail_next(500)
    response = routed.chat("fall-stream", "streamed", stream=True)
    assert response.status_code == 200
    assert response.text.rstrip().endswith("data: [DONE]")
    _fallback_row(routed, response, "fall-stream", 500)


def test_a_messages_stream_falls_back_across_dialects(routed: Routed) -> None:
    routed.first.fail_next(529)  # an anthropic provider overloaded, a chat provider next
    response = routed.post("/v1/messages", {
        "model": "fall-anthropic", "max_tokens": 50, "stream": True,
        "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 200
    assert "event: message_stop" in response.text
    row = _fallback_row(routed, response, "fall-anthropic", 529)
    assert (row["client_dialect"], row["provider_dialect"]) == ("messages", "chat")
    assert routed.first.requests[-1].path.endswith("/messages")  # tried in its own dialect


def test_a_200_that_is_no_answer_falls_back(routed: Routed) -> None:
    """A provider answering 200 with an error object (some gateways do) is broken: the
    next target answers, and the broken one is told it failed."""
    response = routed.chat("fall-shape")
    row = _fallback_row(routed, response, "fall-shape", 502)
    assert "not a valid chat answer" in row["attempt_log"][0]["error"]
    routed.first.fail_next(200, {"type": "message", "content": "not a list of blocks"})
    claude = routed.post("/v1/messages", {"model": "fall-shape-claude", "max_tokens": 20,
                                          "messages": [{"role": "user", "content": "hi"}]})
    assert claude.json()["type"] == "message", claude.text
    row = _fallback_row(routed, claude, "fall-shape-claude", 502)
    assert "not a valid messages answer" in row["attempt_log"][0]["error"]
    health = _metrics(routed)
    assert 'modelproxy_upstream_attempts_total{endpoint="fall-shape",outcome="retried",' \
        'provider="error-200"} 1.0' in health


def test_the_clients_own_fault_is_not_retried(routed: Routed) -> None:
    routed.first.fail_next(400)
    response = routed.chat("fall-400")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "upstream_rejected_request"
    assert routed.second.requests == []
    row = routed.row(response)
    assert (row["attempts"], row["attempt_log"]) == (1, None)


def test_a_stream_that_breaks_after_its_first_byte_is_not_retried(routed: Routed) -> None:
    routed.first.fail_mid_stream(after=2)
    response = routed.chat("fall-mid", stream=True)
    assert response.status_code == 200
    events = [line for line in response.text.splitlines() if line.startswith("data: ")]
    assert '"error"' in events[-1] and "[DONE]" not in response.text
    assert routed.second.requests == []
    row = routed.row(response)
    assert (row["status"], row["attempts"]) == (502, 1)


def test_streams_breaking_under_way_cool_their_target_down(routed: Routed) -> None:
    routed.first.fail_mid_stream(after=1, count=3)
    for _ in range(3):  # each broke after its first bytes: not retried, but counted
        response = routed.chat("mid-cool", stream=True)
        assert '"error"' in response.text and routed.second.requests == []
    routed.first.clear()
    after = routed.chat("mid-cool", stream=True)
    assert after.text.rstrip().endswith("data: [DONE]")
    assert routed.first.requests == [] and len(routed.second.requests) == 1


def test_a_request_refused_before_forwarding_names_no_attempt(routed: Routed) -> None:
    response = routed.post("/v1/chat/completions", {"model": "health"})  # no messages
    assert response.status_code == 400
    row = routed.row(response)
    assert (row["attempts"], row["target_id"], row["attempt_log"]) == (0, None, None)
    assert routed.first.requests == [] and routed.second.requests == []


def test_when_every_target_fails_the_last_failure_is_the_answer(routed: Routed) -> None:
    routed.first.fail_always(503, headers={"Retry-After": "3"})
    response = routed.chat("all-fail")
    assert response.status_code == 502
    assert response.headers.get("Retry-After") == "3"
    row = routed.row(response)
    assert row["attempts"] == 3 and row["status"] == 502
    assert [a["status"] for a in row["attempt_log"]] == [503, 503, 503]
    assert len(routed.first.requests) == 3


def test_a_failing_target_cools_down_then_is_tried_again(routed: Routed) -> None:
    first, _ = routed.target_ids("cool")
    routed.first.fail_always(500)
    for _ in range(3):  # three failures within the window (cooldown_failures = 3)
        assert routed.chat("cool").status_code == 200
    routed.first.clear()
    skipped = routed.chat("cool")
    assert skipped.status_code == 200 and routed.first.requests == []
    assert routed.row(skipped)["attempts"] == 1  # straight to the second target
    metrics = _metrics(routed)
    assert 'modelproxy_target_state{endpoint="cool",model="cool-m0",provider="first"} 2.0' \
        in metrics
    routed.first.reset()  # healthy again; the cool-down (1 s) ends
    time.sleep(1.1)
    probe = routed.chat("cool")
    assert probe.status_code == 200 and len(routed.first.requests) == 1
    assert routed.row(probe)["target_id"] == first


def test_retry_after_cools_a_target_at_once_for_as_long_as_it_asks(routed: Routed) -> None:
    routed.first.fail_next(429, headers={"Retry-After": "1"})
    assert routed.chat("retry-after").status_code == 200
    routed.first.clear()
    assert routed.chat("retry-after").status_code == 200
    assert routed.first.requests == []  # one failure, but it asked to be left alone
    time.sleep(1.1)
    assert routed.chat("retry-after").status_code == 200
    assert len(routed.first.requests) == 1


def test_weights_share_requests_among_targets_of_one_priority(routed: Routed) -> None:
    sent = 400
    for _ in range(sent):
        assert routed.chat("weights").status_code == 200
    second = len(routed.second.requests)
    assert len(routed.first.requests) + second == sent
    # 3:1 -> 300 expected; 5 sigma of Binomial(400, 0.75) is ~43.
    assert abs(second - 300) <= 43, second


def test_rollups_count_by_the_provider_that_answered(routed: Routed) -> None:
    routed.first.fail_next(500)
    response = routed.chat("fall-500", "counted")
    row = routed.row(response)
    with routed.appliance.session():
        second = Provider.get(Provider.name == "second").id
        assert row["provider_id"] == second
        assert wait_for(lambda: UsageDaily.select().where(
            (UsageDaily.endpoint_id == row["endpoint_id"])
            & (UsageDaily.provider_id == second)).exists(), 5)


def _metrics(routed: Routed) -> str:
    return requests.get(routed.appliance.url + "/metrics", timeout=10).text
