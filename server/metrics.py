"""GET /metrics: Prometheus text format, for the addresses the admin allow-list admits
(server/admin_access.py; loopback only when there is none). Each app has its own
registry: no global state.

Under a supervisor (`serve --workers N`) the counters, histograms and the open-streams
gauge are prometheus_client's multiprocess values (files in the directory the supervisor
names, <data-dir>/metrics, emptied at each start): a scrape, whichever worker answers it,
sees their sums over every worker of this run, those replaced included. What only a
worker knows (its log writer, its routes' target health) is reported by the worker that
answered, labelled `worker`; the X-ModelProxy-Worker header says which one it was."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response, current_app, request
from gevent import monkey
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from app.prices import NANOS_PER_USD
from server import process
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
                                  registry=self.registry, multiprocess_mode="livesum")
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
        self._incs: dict[tuple[Any, tuple[str, ...]], Callable[[float], None]] = {}
        # What a scrape reads: this registry, or every worker's files and this worker's own.
        self.exposed = self.registry
        self.worker: str | None = None  # the `worker` label of a worker's own metrics
        if metrics_dir := os.environ.get(process.METRICS_DIR_ENV):
            self.exposed = CollectorRegistry()
            MultiProcessCollector(self.exposed, path=metrics_dir)
            self.worker = str(process.worker_number())

    def watch_log_writer(self, writer: LogWriter) -> None:
        """Report the request-log writer: up, rows written, rows kept aside."""
        self.exposed.register(_LogWriterCollector(writer, self.worker))

    def watch_routes(self, catalog: Any, router: Any) -> None:
        """Report each endpoint target's health (read at each scrape)."""
        self.exposed.register(_RoutesCollector(catalog, router, self.worker))

    def attempt(self, endpoint: str, provider: str, outcome: str) -> None:
        self._count(self.attempts, endpoint, provider, outcome)(1)

    def observe(self, call: Call, endpoint: str, provider: str,
                cost_nanos: int | None = None) -> None:
        """Count one finished client request (`cost_nanos`: its row's, computed once)."""
        self._count(self.requests, endpoint, str(call.status))(1)
        if call.target_id is not None and call.ttfb_ms is not None and call.status < 500:
            self._count(self.attempts, endpoint, provider, "ok")(1)
        self._child(self.latency, endpoint).observe(call.elapsed_s())
        if call.status in (502, 504):
            self._count(self.upstream_errors, provider)(1)
        if call.prompt_tokens:
            self._count(self.model_tokens, endpoint, "prompt")(call.prompt_tokens)
        if call.completion_tokens:
            self._count(self.model_tokens, endpoint, "completion")(call.completion_tokens)
        if cost_nanos:
            self._count(self.cost_usd, endpoint, provider)(cost_nanos / NANOS_PER_USD)

    def _child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, kept: labels() takes a lock and builds a key each call."""
        child = self._children.get((metric, labels))
        if child is None:
            child = self._children[metric, labels] = metric.labels(*labels)
            _native_locks(child)
        return child

    def _count(self, metric: Any, *labels: str) -> Callable[[float], None]:
        """How to add to counter `metric.labels(*labels)`, kept: its value's own `inc`.
        Counter.inc checks, per call, that the child has its labels and the amount is not
        negative (true of every amount here: counts and costs, never below 0); these
        checks were a tenth of a request's metrics work, for every request."""
        inc = self._incs.get((metric, labels))
        if inc is None:
            child = self._child(metric, *labels)
            value = getattr(child, "_value", None)  # prometheus_client's MutexValue
            inc = value.inc if hasattr(value, "inc") else child.inc
            self._incs[metric, labels] = inc
        return inc


# The OS's own lock, not gevent's patched one (whose acquire and release are Python code).
_allocate_lock = monkey.get_original("_thread", "allocate_lock")


def _native_locks(child: Any) -> None:
    """Give a child's values (a counter's value, a histogram's sum and buckets) the OS's
    lock: each value holds its lock only to add a number (no greenlet can switch there),
    so it guards them from threads as well, without the Python of gevent's (measured:
    gevent's lock was ~130 of a request's ~21,500 bytecodes)."""
    for value in (getattr(child, "_value", None), getattr(child, "_sum", None),
                  *getattr(child, "_buckets", ())):
        if hasattr(value, "_lock"):
            value._lock = _allocate_lock()


class _LogWriterCollector:
    """Read at each scrape from the writer's own counters (no work on the hot path)."""

    def __init__(self, writer: LogWriter, worker: str | None = None) -> None:
        self._writer = writer
        self._worker = worker

    def collect(self) -> Iterator[Metric]:
        labels = ["worker"] if self._worker else []
        values = [self._worker] if self._worker else []
        for family, value in (
                (GaugeMetricFamily("modelproxy_log_writer_up",
                                   "1 while the request-log writer runs.", labels=labels),
                 int(self._writer.running)),
                (CounterMetricFamily("modelproxy_log_rows_written",
                                     "Request-log rows written to the database.",
                                     labels=labels), self._writer.written),
                (CounterMetricFamily("modelproxy_log_rows_unwritten",
                                     "Request-log rows the database refused, kept in "
                                     "unwritten-requests.jsonl.", labels=labels),
                 self._writer.kept_aside)):
            family.add_metric(values, value)
            yield family


TARGET_STATES = {"healthy": 0, "half_open": 1, "cooling": 2}


class _RoutesCollector:
    """Each enabled target's state, from the router, at scrape time."""

    def __init__(self, catalog: Any, router: Any, worker: str | None = None) -> None:
        self._catalog = catalog
        self._router = router
        self._worker = worker  # each worker's router keeps its own targets' health

    def collect(self) -> Iterator[Metric]:
        worker = [self._worker] if self._worker else []
        family = GaugeMetricFamily("modelproxy_target_state",
                                   "Endpoint targets: 0 healthy, 1 half-open (one request "
                                   "tries it), 2 cooling down (skipped).",
                                   labels=["endpoint", "provider", "model",
                                           *(["worker"] if worker else [])])
        for endpoint in list(self._catalog.endpoints_by_id.values()):
            for target in endpoint.targets:
                _, provider = self._catalog.names_for(None, target.provider_id)
                state = self._router.health(target.id)["state"]
                family.add_metric([endpoint.name, provider, target.model, *worker],
                                  TARGET_STATES[state])
        yield family


@bp.get("/metrics")
def metrics() -> Response:
    state = current_app.extensions["modelproxy"]
    address = state.gateway.client_ip(request.remote_addr, request.headers.get("X-Forwarded-For"))
    if not state.gateway.admin_access.admits_metrics(address):
        return error_response(403, "metrics are not open to this address", "ip_not_allowed")
    response = Response(generate_latest(state.metrics.exposed), mimetype=CONTENT_TYPE_LATEST)
    response.headers[process.WORKER_HEADER] = process.worker_label()
    return response
