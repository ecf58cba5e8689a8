"""GET /metrics: Prometheus text format, for the addresses the admin allow-list admits
(server/admin_access.py; loopback only when there is none). Each app has its own
registry: no global state."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from app.prices import NANOS_PER_USD
from server.client_api.call import Call
from server.errors import error_response
from server.logwriter import LogWriter

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

bp = Blueprint("metrics", __name__)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("modelproxy_requests", "Client API requests.",
                                ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram("modelproxy_request_duration_seconds",
                                 "Client API request latency.", ["endpoint"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.upstream_errors = Counter("modelproxy_upstream_errors",
                                       "Upstream failures and timeouts.", ["provider"],
                                       registry=self.registry)
        self.open_streams = Gauge("modelproxy_open_streams", "Streams being relayed now.",
                                  registry=self.registry)
        self.model_tokens = Counter("modelproxy_model_tokens", "Model tokens counted.",
                                    ["endpoint", "kind"], registry=self.registry)
        self.attempts = Counter("modelproxy_upstream_attempts",
                                "Attempts on endpoint targets: ok, retried (the next target "
                                "was tried), failed (the last one tried).",
                                ["endpoint", "provider", "outcome"], registry=self.registry)
        # What requests cost at their targets' prices (those with none add nothing).
        self.cost_usd = Counter("modelproxy_cost_usd", "Cost of requests, in US dollars.",
                                ["endpoint", "provider"], registry=self.registry)
        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}

    def watch_log_writer(self, writer: LogWriter) -> None:
        """Report the request-log writer: up, rows written, rows kept aside."""
        self.registry.register(_LogWriterCollector(writer))

    def watch_routes(self, catalog: Any, router: Any) -> None:
        """Report each endpoint target's health (read at each scrape)."""
        self.registry.register(_RoutesCollector(catalog, router))

    def attempt(self, endpoint: str, provider: str, outcome: str) -> None:
        self._child(self.attempts, endpoint, provider, outcome).inc()

    def observe(self, call: Call, endpoint: str, provider: str,
                cost_nanos: int | None = None) -> None:
        """Count one finished client request (`cost_nanos`: its row's, computed once)."""
        self._child(self.requests, endpoint, str(call.status)).inc()
        if call.target_id is not None and call.ttfb_ms is not None and call.status < 500:
            self._child(self.attempts, endpoint, provider, "ok").inc()
        self._child(self.latency, endpoint).observe(call.elapsed_s())
        if call.status in (502, 504):
            self._child(self.upstream_errors, provider).inc()
        if call.prompt_tokens:
            self._child(self.model_tokens, endpoint, "prompt").inc(call.prompt_tokens)
        if call.completion_tokens:
            self._child(self.model_tokens, endpoint, "completion").inc(call.completion_tokens)
        if cost_nanos:
            self._child(self.cost_usd, endpoint, provider).inc(cost_nanos / NANOS_PER_USD)

    def _child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, kept: labels() takes a lock and builds a key each call."""
        child = self._children.get((metric, labels))
        if child is None:
            child = self._children[metric, labels] = metric.labels(*labels)
        return child


class _LogWriterCollector:
    """Read at each scrape from the writer's own counters (no work on the hot path)."""

    def __init__(self, writer: LogWriter) -> None:
        self._writer = writer

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("modelproxy_log_writer_up",
                                "1 while the request-log writer runs.",
                                value=int(self._writer.running))
        yield CounterMetricFamily("modelproxy_log_rows_written",
                                  "Request-log rows written to the database.",
                                  value=self._writer.written)
        yield CounterMetricFamily("modelproxy_log_rows_unwritten",
                                  "Request-log rows the database refused, kept in "
                                  "unwritten-requests.jsonl.", value=self._writer.kept_aside)


TARGET_STATES = {"healthy": 0, "half_open": 1, "cooling": 2}


class _RoutesCollector:
    """Each enabled target's state, from the router, at scrape time."""

    def __init__(self, catalog: Any, router: Any) -> None:
        self._catalog = catalog
        self._router = router

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("modelproxy_target_state",
                                   "Endpoint targets: 0 healthy, 1 half-open (one request "
                                   "tries it), 2 cooling down (skipped).",
                                   labels=["endpoint", "provider", "model"])
        for endpoint in list(self._catalog.endpoints_by_id.values()):
            for target in endpoint.targets:
                _, provider = self._catalog.names_for(None, target.provider_id)
                state = self._router.health(target.id)["state"]
                family.add_metric([endpoint.name, provider, target.model],
                                  TARGET_STATES[state])
        yield family


@bp.get("/metrics")
def metrics() -> Response:
    state = current_app.extensions["modelproxy"]
    address = state.gateway.client_ip(request.remote_addr, request.headers.get("X-Forwarded-For"))
    if not state.gateway.admin_access.admits_metrics(address):
        return error_response(403, "metrics are not open to this address", "ip_not_allowed")
    return Response(generate_latest(state.metrics.registry), mimetype=CONTENT_TYPE_LATEST)
