"""A client that hangs up while its request is being routed: one row (499), no attempt
started once it has left, its quota hold given back."""

from __future__ import annotations

import time

import pytest
import requests

from tests.server.client_fixtures import IssuedToken, wait_for
from tests.server.route_fixtures import Routed
from tests.server.route_fixtures import _routed as _routed
from tests.server.route_fixtures import routed as routed

pytestmark = pytest.mark.usefixtures("routed")


def _one_request_a_month(routed: Routed, name: str) -> IssuedToken:
    token = routed.appliance.token(name, scopes=["all"], monthly_requests=1)
    headers = {"Authorization": f"Bearer {token.plaintext}"}
    assert wait_for(lambda: requests.get(routed.appliance.url + "/v1/models", headers=headers,
                                         timeout=5).status_code == 200, 10)
    return token


def _leave(routed: Routed, token: IssuedToken, endpoint: str, after_s: float) -> None:
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(routed.appliance.url + "/v1/chat/completions", timeout=(5, after_s),
                      json={"model": endpoint, "messages": [{"role": "user", "content": "x"}]},
                      headers={"Authorization": f"Bearer {token.plaintext}"})


def _chat(routed: Routed, token: IssuedToken, endpoint: str) -> requests.Response:
    return requests.post(routed.appliance.url + "/v1/chat/completions", timeout=10,
                         json={"model": endpoint, "messages": [{"role": "user", "content": "x"}]},
                         headers={"Authorization": f"Bearer {token.plaintext}"})


def _rows_of(routed: Routed, token: IssuedToken) -> list[dict]:
    """The token's chat rows (not the /v1/models request that saw it accepted)."""
    return [r for r in routed.appliance.log_rows()
            if r["token_id"] == token.id and r["endpoint_id"] is not None]


@pytest.mark.parametrize(("endpoint", "fails_after_s", "leaves_after_s"), [
    ("leave-slow", 1.5, 0.8),  # gone while the first target is awaited (watched)
    ("leave-fast", 0.4, 0.15),  # gone before the watch starts; the first fails after
])
def test_a_client_that_leaves_during_a_fallback_gets_one_row_and_no_more_attempts(
        routed: Routed, endpoint: str, fails_after_s: float, leaves_after_s: float) -> None:
    token = _one_request_a_month(routed, f"leaver-{endpoint}")
    routed.first.set_delay(fails_after_s)
    routed.first.fail_always(500)
    _leave(routed, token, endpoint, leaves_after_s)
    assert wait_for(lambda: len(_rows_of(routed, token)) == 1, 5)
    time.sleep(fails_after_s + 0.3)  # had the next target been tried, it would be by now
    rows = _rows_of(routed, token)
    assert [(r["status"], r["attempts"]) for r in rows] == [(499, 1)]
    assert routed.second.requests == [], "a target was tried after the client had left"
    first, _ = routed.target_ids(endpoint)
    assert rows[0]["target_id"] == first
    routed.first.reset()  # the hold was given back: the month's one request is still there
    assert _chat(routed, token, endpoint).status_code == 200
    assert _chat(routed, token, endpoint).status_code == 429


# A provider's Retry-After of any shape: (header, the seconds the client is told and the
# targets cool down for; None: junk, neither).
HOSTILE_RETRY_AFTER = [
    ("1e308", None), ("9" * 400, 3600), ("-5", None), ("99999999999", 3600),
    ("Wed, 21 Oct 2099 07:28:00 GMT", 3600), ("Thu, 01 Jan 1970 00:00:00 GMT", 0),
    ("soon", None), ("\x7f\x01é", None), ("2, 3", None), ("  7  ", 7),
]


@pytest.mark.parametrize(("n", "header", "cooling_s"),
                         [(n, h, s) for n, (h, s) in enumerate(HOSTILE_RETRY_AFTER)])
def test_a_hostile_retry_after_never_breaks_the_answer_and_cools_at_most_an_hour(
        routed: Routed, n: int, header: str, cooling_s: int | None) -> None:
    endpoint = f"hostile-{n}"
    routed.first.fail_always(429, headers={"Retry-After": header})
    response = routed.chat(endpoint)
    assert response.status_code == 502, response.text  # the last 429, as an upstream error
    assert response.json()["error"]["code"] == "upstream_error"
    passed_on = response.headers.get("Retry-After")
    if cooling_s is None:
        assert passed_on is None, "junk is not passed on to clients"
    else:
        assert passed_on == str(cooling_s)
    row = routed.row(response)
    assert (row["status"], row["attempts"]) == (502, 2)
    health = requests.get(f"{routed.appliance.url}/metrics", timeout=10).text
    states = [line.rsplit(" ", 1)[1] for line in health.splitlines()
              if line.startswith(f'modelproxy_target_state{{endpoint="{endpoint}"')]
    assert states == (["0.0", "0.0"] if not cooling_s else ["2.0", "2.0"])
