"""routing.routed on its own: the attempt loop over an endpoint's targets, with attempts
that fail as a provider would (no server, no sockets)."""

from __future__ import annotations

import time

import pytest
from werkzeug import Response

from server.catalog import EndpointRecord, ProviderEntry, TargetRecord
from server.client_api.call import Call, ClientError
from server.client_api.client_watch import ClientGone, has_left
from server.client_api.router import Router
from server.client_api.routing import Routes, routed
from server.providers import ProviderConfig, UpstreamError, UpstreamTimeout

OPTIONS = {"route_attempts": 3, "route_time_budget_s": 120, "cooldown_failures": 3,
           "cooldown_window_s": 60, "cooldown_s": 30}


def _target(n: int, priority: int | None = None) -> TargetRecord:
    return TargetRecord(id=n, endpoint_id=1, provider_id=n, model=f"m{n}",
                        priority=n if priority is None else priority, weight=1,
                        enabled=True, price=None)


def _setup(count: int) -> tuple[EndpointRecord, dict[int, ProviderEntry]]:
    targets = tuple(_target(n) for n in range(1, count + 1))
    endpoint = EndpointRecord(id=1, name="e", path="/api/e", kind="chat", model="m1",
                              provider_id=1, enabled=True, targets=targets)
    providers = {t.provider_id: ProviderEntry(
        ProviderConfig(id=t.provider_id, name=f"p{t.provider_id}", type="echo",
                       base_url="", api_key=None, headers={}, timeout_s=1.0),
        True, adapter=object()) for t in targets}
    return endpoint, providers


def _run(outcomes: dict[int, Exception | None], count: int = 3, routes: Routes | None = None,
         options: dict | None = None, call: Call | None = None) -> tuple[Call, list[int]]:
    endpoint, providers = _setup(count)
    call = call or Call("r", "127.0.0.1")
    tried: list[int] = []

    def attempt(target: TargetRecord, entry: ProviderEntry) -> Response:
        tried.append(target.id)
        failure = outcomes.get(target.id)
        if failure is not None:
            raise failure
        return Response("ok")

    routed(routes or Routes(Router()), providers, options or OPTIONS, call, endpoint, attempt)
    return call, tried


def test_the_first_target_that_answers_is_the_calls() -> None:
    call, tried = _run({1: UpstreamError("boom", status=500), 2: None})
    assert tried == [1, 2]
    assert (call.target_id, call.provider_id, call.model) == (2, 2, "m2")
    log = call.log_record()
    assert log["attempts"] == 2 and log["target_id"] == 2
    assert [(a["target_id"], a["status"]) for a in log["attempt_log"]] == [(1, 500), (2, 200)]
    assert all("began" not in a for a in log["attempt_log"])


def test_one_answering_attempt_lists_nothing() -> None:
    call, tried = _run({})
    assert tried == [1] and call.attempts == []
    assert call.log_record()["attempts"] == 1 and call.log_record()["attempt_log"] is None


@pytest.mark.parametrize("status", [400, 413, 422])
def test_a_clients_fault_ends_the_routing(status: int) -> None:
    with pytest.raises(ClientError) as refused:
        _run({1: UpstreamError("bad", status=status)})
    assert refused.value.status == 400


def test_every_failure_ends_with_the_last_one() -> None:
    with pytest.raises(ClientError) as failed:
        _run({1: UpstreamError("a", status=500), 2: UpstreamTimeout("slow"),
              3: UpstreamError("c", status=529, retry_after="4")})
    assert (failed.value.status, failed.value.headers.get("Retry-After")) == (503, "4")


def test_attempts_are_capped_by_the_option() -> None:
    with pytest.raises(ClientError):
        _run({n: UpstreamError("x", status=500) for n in range(1, 5)}, count=4,
             options={**OPTIONS, "route_attempts": 2})


def test_no_attempt_starts_after_the_time_budget() -> None:
    call = Call("r", "127.0.0.1")
    call.started = time.perf_counter() - 5  # 5 s spent already, the budget is 1 s
    with pytest.raises(ClientError) as failed:
        _run({1: UpstreamError("a", status=500), 2: None}, call=call,
             options={**OPTIONS, "route_time_budget_s": 1})
    assert failed.value.status == 502 and len(call.attempts) == 1


def test_an_untried_targets_half_open_probe_is_freed() -> None:
    now = [0.0]
    router = Router(clock=lambda: now[0])
    for _ in range(3):
        router.failed(2, 500, "down")  # the fallback cools down for 30 s
    now[0] = 31.0  # its probe is free: the next request is given it, but 1 answers first
    _, tried = _run({}, count=2, routes=Routes(router))
    assert tried == [1]
    both = [t.id for t in router.order([_target(1), _target(2)])]
    assert both == [1, 2]  # the probe is free again (held, 2 would be left out)
    assert [t.id for t in router.order([_target(1), _target(2)])] == [1]  # now it is held


def test_the_target_is_told_how_each_attempt_went() -> None:
    router = Router()
    routes = Routes(router)
    _run({1: UpstreamError("busy", status=429, retry_after="10"), 2: None}, routes=routes)
    health = router.health(1)
    assert health["state"] == "cooling" and 9 < health["cooling_for_s"] <= 10
    assert (health["last_status"], health["last_error"]) == (429, "busy")


def test_no_attempt_starts_once_the_client_has_left() -> None:
    endpoint, providers = _setup(3)
    call, tried = Call("r", "127.0.0.1"), []
    now = [100.0]
    router = Router(clock=lambda: now[0])
    for _ in range(3):
        router.failed(3, 500, "down")  # 3 cools down; at 130 s its probe is this request's

    def attempt(target: TargetRecord, entry: ProviderEntry) -> Response:
        tried.append(target.id)
        raise UpstreamError("boom", status=500)

    now[0] = 131.0
    with pytest.raises(ClientGone):
        routed(Routes(router), providers, OPTIONS, call, endpoint, attempt,
               client_left=lambda: bool(tried))  # gone while the first attempt failed
    assert tried == [1] and len(call.attempts) == 1
    assert router.health(3)["state"] == "half_open"
    assert 3 in [t.id for t in router.order(endpoint.targets)], "the probe was given back"


def test_has_left_tells_a_closed_client_from_a_quiet_one() -> None:
    import socket

    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert not has_left(ours) and not has_left(None)
        theirs.sendall(b"GET")  # a pipelined request: still there
        assert not has_left(ours)
        ours.recv(3)
        theirs.close()
        assert has_left(ours)
