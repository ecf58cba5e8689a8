"""Many clients at once while a target flaps or fails: every request gets one answer and
one log row, the attempts on the rows are the requests the fakes received, and the router
ends sane (a recovered target is reached again once its cool-down is over)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from app.models import Endpoint, RequestLog
from tests.server.client_fixtures import wait_for
from tests.server.route_fixtures import Routed
from tests.server.route_fixtures import _routed as _routed
from tests.server.route_fixtures import routed as routed

pytestmark = pytest.mark.usefixtures("routed")
CLIENTS = 200


def _storm(routed: Routed, endpoint: str, stream: bool = False) -> dict[str, int]:
    """CLIENTS requests at once: request id -> status (each answered, or the test fails)."""
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        answers = list(pool.map(lambda n: routed.chat(endpoint, f"storm {n}", stream=stream),
                                range(CLIENTS)))
    if stream:
        assert all(a.text.rstrip().endswith("data: [DONE]") for a in answers)
    return {a.headers["X-Request-ID"]: a.status_code for a in answers}


def _rows(routed: Routed, endpoint: str, expected: int) -> list[dict[str, Any]]:
    def query() -> list[dict[str, Any]]:
        with routed.appliance.session():
            endpoint_id = Endpoint.get(Endpoint.name == endpoint).id
            return list(RequestLog.select().where(RequestLog.endpoint_id == endpoint_id)
                        .dicts())

    assert wait_for(lambda: len(query()) >= expected, 15), "rows missing"
    return query()


def _assert_one_sound_row_each(routed: Routed, endpoint: str, answers: dict[str, int]) -> None:
    assert len(answers) == CLIENTS, "a request id was given twice"
    assert set(answers.values()) == {200}, answers
    rows = _rows(routed, endpoint, CLIENTS)
    assert sorted(r["request_id"] for r in rows) == sorted(answers)  # one row each
    targets = set(routed.target_ids(endpoint))
    for row in rows:
        assert row["status"] == 200 and row["target_id"] in targets
        log = row["attempt_log"] or [{"target_id": row["target_id"], "status": 200}]
        assert len(log) == row["attempts"] <= 3
        assert log[-1]["target_id"] == row["target_id"] and log[-1]["status"] == 200
        assert all(a["status"] != 200 for a in log[:-1])
        assert len({a["target_id"] for a in log}) == len(log), "a target tried twice"
    received = len(routed.first.requests) + len(routed.second.requests)
    assert sum(r["attempts"] for r in rows) == received


def _recovers(routed: Routed, endpoint: str, recovered: list[int]) -> None:
    """After the cool-down (1 s here), requests reach the recovered targets again and no
    target is left cooling or half-open."""
    routed.first.reset()
    time.sleep(1.2)
    reached: set[int] = set()
    for _ in range(30):
        response = routed.chat(endpoint)
        assert response.status_code == 200
        reached.add(routed.row(response)["target_id"])
        if set(recovered) <= reached:
            break
    assert set(recovered) <= reached
    states = [line for line in requests.get(routed.appliance.url + "/metrics", timeout=10)
              .text.splitlines()
              if line.startswith(f'modelproxy_target_state{{endpoint="{endpoint}"')]
    assert len(states) == 3 and all(line.endswith(" 0.0") for line in states), states


@pytest.mark.parametrize("stream", [False, True])
def test_a_storm_over_a_flapping_target_answers_everyone_once(routed: Routed,
                                                              stream: bool) -> None:
    endpoint = "storm-flap-stream" if stream else "storm-flap"
    routed.first.flap(500, every=2)
    answers = _storm(routed, endpoint, stream)
    _assert_one_sound_row_each(routed, endpoint, answers)
    first = routed.target_ids(endpoint)[0]  # first-again (priority 1) is never needed
    _recovers(routed, endpoint, [first])


def test_a_storm_while_a_provider_is_down_then_back(routed: Routed) -> None:
    routed.first.fail_always(503)
    answers = _storm(routed, "storm-down")
    _assert_one_sound_row_each(routed, "storm-down", answers)
    # Both targets on the failing fake cooled down early: most requests skipped them.
    assert len(routed.first.requests) < CLIENTS
    first, first_again, _ = routed.target_ids("storm-down")
    _recovers(routed, "storm-down", [first, first_again])
