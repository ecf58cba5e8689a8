"""Serving a request on an endpoint's targets: tried in the router's order (router.py),
the next one after a failure that is the target's fault (a connection refused, a timeout
before the answer began, 429, 5xx, 529, the provider refusing its key or model), never
once the answer is the client's. Every attempt beyond the first is noted on the call (its
log row shows them all); the router hears how each went (cool-downs)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from werkzeug import Response

from server.catalog import EndpointRecord, ProviderEntry, TargetRecord
from server.client_api.call import Call, ClientError, end_attempt
from server.client_api.client_watch import ClientGone
from server.client_api.relay import upstream_failure
from server.client_api.router import RouteOptions, Router, retry_after_seconds, retryable
from server.providers import UpstreamError, UpstreamTimeout

# Serves the request on one target: its response, or UpstreamError where the target
# failed before any byte of an answer left for the client.
Attempt = Callable[[TargetRecord, ProviderEntry], Response]
# Statuses whose Retry-After says how long the target wants to be left alone.
ASKS_TO_WAIT = frozenset({429, 503, 529})


class Routes:
    """The router and the options it runs with (rebuilt when the catalog's change)."""

    def __init__(self, router: Router | None = None) -> None:
        self.router = router or Router()
        self._options_from: object = None

    def options(self, catalog_options: dict[str, object]) -> RouteOptions:
        if catalog_options is not self._options_from:  # the catalog reloaded its options
            self.router.options = RouteOptions.from_options(catalog_options)
            self._options_from = catalog_options
        return self.router.options


def routed(routes: Routes, providers: dict[int, ProviderEntry], options: dict[str, object],
           call: Call, endpoint: EndpointRecord, attempt: Attempt,
           on_failed: Callable[[TargetRecord, bool], None] | None = None,
           client_left: Callable[[], bool] | None = None) -> Response:
    """The first answer of `endpoint`'s targets in the router's order; where all fail, the
    last failure (as the client sees an upstream failure). `on_failed(target, retried)`
    hears of each failed attempt (metrics); `client_left()`, asked before each attempt
    after the first, says the client has gone (ClientGone: no attempt for nobody)."""
    budget_s = routes.options(options).time_budget_s
    order = routes.router.order(endpoint.targets, functools.partial(_usable, providers))
    if not order:
        raise ClientError(502, f"no target of the endpoint {endpoint.name!r} can be used",
                          "upstream_error")
    router = routes.router
    failure: UpstreamError | None = None
    tried = 0
    for index, target in enumerate(order):
        if index and call.elapsed_s() >= budget_s:
            break
        if index and client_left is not None and client_left():
            _release(router, order[index:])
            raise ClientGone
        tried += 1
        call.tries += 1
        _aim(call, target)
        began = time.perf_counter()
        if call.attempts:  # after a failure: listed (its row is made during the attempt)
            call.attempts.append(_entry(target, began))
        try:
            response = attempt(target, providers[target.provider_id])
        except UpstreamError as exc:
            failure = exc
            timeout = isinstance(exc, UpstreamTimeout)
            if not call.attempts:
                call.attempts.append(_entry(target, began))
            end_attempt(call.attempts[-1], _status_of(exc), exc.message)
            if not retryable(exc.status, timeout):  # the client's fault: not the target's
                _release(router, order[index:])
                raise upstream_failure(exc) from None
            wait = retry_after_seconds(exc.retry_after) if exc.status in ASKS_TO_WAIT else None
            router.failed(target.id, exc.status, exc.message, wait)
            if on_failed is not None:
                on_failed(target, index + 1 < len(order))
            continue
        except BaseException:  # the client left, the server stops, a 400 of translation
            _release(router, order[index:])
            raise
        if call.stream:  # told how it went when it ends (Gateway.finish): it may break yet
            call.relaying = True
        else:
            router.succeeded(target.id)
        if index + 1 < len(order):
            _release(router, order[index + 1:])
        return response
    _release(router, order[tried:])  # the time budget ran out before them
    assert failure is not None  # at least one was tried, and failed
    raise upstream_failure(failure)


def _usable(providers: dict[int, ProviderEntry], target: TargetRecord) -> bool:
    entry = providers.get(target.provider_id)
    return entry is not None and entry.enabled and entry.adapter is not None


def _aim(call: Call, target: TargetRecord) -> None:
    """The call's row names the target being tried (the last one tried, in the end)."""
    call.target_id, call.provider_id = target.id, target.provider_id
    call.model, call.price = target.model, target.price


def _entry(target: TargetRecord, began: float) -> dict[str, Any]:
    """An attempt under way; `end_attempt` (for the one that answers, the call's log
    record) says how it went."""
    return {"target_id": target.id, "provider_id": target.provider_id, "model": target.model,
            "status": None, "latency_ms": None, "error": None, "began": began}


def _status_of(exc: UpstreamError) -> int:
    """The status an attempt's failure is listed with: the provider's, else the proxy's."""
    if exc.status is not None:
        return exc.status
    return 504 if isinstance(exc, UpstreamTimeout) else 502


def _release(router: Router, untried: list[TargetRecord]) -> None:
    """Targets this request was given but did not try free their half-open probes."""
    for target in untried:
        router.release(target.id)
