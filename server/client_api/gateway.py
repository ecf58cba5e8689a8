"""The policy every client request passes, in the order PRODUCT.md gives: token (401),
revoked or expired (403), client address (403), the route's scope (403), endpoint exists
for this token (404, or 403 for a token with an allow-list: an endpoint a token may not
use is answered as a missing one), its scope (403), enabled and of the right kind
(404/400), rate limit (429), quota (429)."""

from __future__ import annotations

import datetime as dt
import logging
import math
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import peewee as pw
from werkzeug import Response

from app.crypto import token_prefix
from app.models import utcnow
from app.services.token_auth import TokenVerifier, TooManyFailures
from app.settings import Settings
from server.admin_access import AdminAccess
from server.budget_alerts import BudgetAlerts
from server.catalog import Catalog, EndpointRecord, ProviderEntry, TargetRecord, TokenRecord
from server.client_api import holds, month_usage, network
from server.client_api.call import Call, ClientError
from server.client_api.client_watch import has_left
from server.client_api.limit_store import Admission, LimitStore, LimitsUnavailable
from server.client_api.limits import QuotaUnknown
from server.client_api.quota_terms import Spend, Used
from server.client_api.router import Router
from server.client_api.routing import Attempt, Routes, routed
from server.logwriter import LogWriter
from server.metrics import Metrics

if TYPE_CHECKING:
    from server.shared import SharedState

log = logging.getLogger(__name__)


class Gateway:
    def __init__(self, settings: Settings, db: pw.Database, catalog: Catalog,
                 log_writer: LogWriter, metrics: Metrics,
                 run_blocking: Callable[..., Any], shared: SharedState) -> None:
        self.settings = settings
        self.db = db
        self.metrics = metrics
        self.catalog = catalog
        self.log_writer = log_writer
        self.verifier = TokenVerifier(run_blocking)
        self.shared = shared  # what processes share: memory, or Redis (server.shared)
        self.limits: LimitStore = shared.limits  # rate windows, quota and money holds
        self.routes = Routes()
        log_writer.report_written(self.limits.written)
        self.alerts = BudgetAlerts(catalog, db)  # started and stopped with the log writer
        self.limits.report_spent(self.alerts.spent)  # settles made in the background
        self.trusted_proxies = network.parse_networks(settings.trusted_proxies)
        self.admin_access = AdminAccess(settings, catalog)

    # --- who -------------------------------------------------------------------------

    def authenticate(self, call: Call, authorization: str | None) -> TokenRecord:
        scheme, _, presented = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise ClientError(401, "missing token: send the header "
                              "'Authorization: Bearer <token>' (or 'x-api-key: <token>')",
                              "missing_token")
        presented = presented.strip()
        try:
            token_id = self.verifier.verify(presented, self._lookup, call.client_ip)
        except TooManyFailures as refused:
            retry = str(max(1, math.ceil(refused.retry_after_s)))
            raise ClientError(429, "too many failed token checks from this address; retry in "
                              f"{retry} s", "too_many_failed_attempts",
                              headers={"Retry-After": retry}) from None
        prefix = token_prefix(presented)
        token = self.catalog.token(prefix) if prefix else None
        if token_id is None or token is None or token.id != token_id:
            raise ClientError(401, "invalid token", "invalid_token")
        call.token_id = token.id
        if token.revoked:
            raise ClientError(403, "this token has been revoked", "token_revoked")
        if token.expires_at is not None and token.expires_at <= utcnow():
            raise ClientError(403, "this token has expired", "token_expired")
        if not network.allowed(call.client_ip, token.networks):
            raise ClientError(403, f"this token may not be used from {call.client_ip}",
                              "ip_not_allowed")
        return token

    def require_scope(self, token: TokenRecord, scope: str) -> None:
        if not token.allows_scope(scope):
            raise ClientError(403, f"this token does not have the {scope!r} scope",
                              "scope_not_allowed")

    # --- what ------------------------------------------------------------------------

    def endpoint_by_path(self, call: Call, token: TokenRecord, path: str,
                         kind: str | None) -> tuple[EndpointRecord, ProviderEntry]:
        endpoint = self._seen(call, token, self.catalog.endpoints_by_path.get(path))
        if endpoint is None:
            if token.allowed_endpoints:
                raise ClientError(403, f"this token may not use the endpoint at {path}",
                                  "endpoint_not_allowed")
            raise ClientError(404, f"no endpoint at {path}{_OR_NOT_FOR_IT[_sees_all(token)]}",
                              "endpoint_not_found")
        return self._usable(call, token, endpoint, kind)

    def endpoint_by_model(self, call: Call, token: TokenRecord, model: Any,
                          kind: str) -> tuple[EndpointRecord, ProviderEntry]:
        if not isinstance(model, str) or not model:
            raise ClientError(400, "model is required: the name of an endpoint",
                              "invalid_request", param="model")
        endpoint = self._endpoint_for_model(call, token, model)
        if endpoint is None:
            if token.allowed_endpoints:
                raise ClientError(403, f"this token may not use the model {model!r}",
                                  "endpoint_not_allowed")
            raise ClientError(404, f"the model {model!r} does not exist"
                              f"{_OR_NOT_FOR_IT[_sees_all(token)]}: use an endpoint name "
                              "(GET /v1/models lists them)", "model_not_found")
        return self._usable(call, token, endpoint, kind)

    def _seen(self, call: Call, token: TokenRecord,
              endpoint: EndpointRecord | None) -> EndpointRecord | None:
        """`endpoint` if the token may know of it, else None: an endpoint a token may not
        use is answered as a missing one (403 for a token with an allow-list, else 404),
        so a token learns nothing of the others. The admin's log still names it."""
        if endpoint is None or _sees(token, endpoint):
            return endpoint
        call.endpoint_id, call.provider_id = endpoint.id, endpoint.provider_id
        return None

    def _endpoint_for_model(self, call: Call, token: TokenRecord,
                            model: str) -> EndpointRecord | None:
        """By endpoint name first, then by upstream model: among the endpoints the token
        may know of, where it may not know of them all."""
        named = self._seen(call, token, self.catalog.endpoints_by_name.get(model))
        if named is not None:
            return named
        if _sees_all(token):
            return self.catalog.endpoints_by_model.get(model)
        return next((e for e in self.catalog.endpoints_by_path.values()
                     if e.enabled and e.model == model and _sees(token, e)), None)

    def _usable(self, call: Call, token: TokenRecord, endpoint: EndpointRecord,
                kind: str | None) -> tuple[EndpointRecord, ProviderEntry]:
        """The endpoint, if it can serve, and its first target that can (routing may try
        others): its row names that target until another is tried."""
        call.endpoint_id, call.provider_id = endpoint.id, endpoint.provider_id
        call.model = endpoint.model
        self.require_scope(token, endpoint.kind)  # an allow-listed endpoint of another kind
        target, provider = _first_target(self.catalog.providers, endpoint)
        if not endpoint.enabled or provider is None:
            raise ClientError(404, f"the endpoint {endpoint.name!r} is disabled",
                              "endpoint_disabled")
        if kind is not None and endpoint.kind != kind:
            raise ClientError(400, f"the endpoint {endpoint.name!r} is a {endpoint.kind} "
                              f"endpoint, not {kind}", "wrong_endpoint_kind")
        call.target_id, call.provider_id, call.model = target.id, target.provider_id, target.model
        call.price = target.price
        if provider.adapter is None:
            raise ClientError(502, provider.problem or "the provider cannot be used",
                              "upstream_error")
        return endpoint, provider

    # --- where -----------------------------------------------------------------------

    @property
    def router(self) -> Router:
        return self.routes.router

    def route(self, call: Call, endpoint: EndpointRecord, attempt: Attempt,
              client: socket.socket | None = None) -> Response:
        """`attempt` on the endpoint's targets in the router's order, until one answers
        or the `client` (its socket, where there is one) has left."""
        return routed(self.routes, self.catalog.providers, self.catalog.options, call,
                      endpoint, attempt, lambda target, retried: self._attempt_failed(
                          endpoint, target, retried), lambda: has_left(client))

    def _attempt_failed(self, endpoint: EndpointRecord, target: TargetRecord,
                        retried: bool) -> None:
        provider = self.catalog.providers.get(target.provider_id)
        self.metrics.attempt(endpoint.name, provider.config.name if provider else "",
                             "retried" if retried else "failed")

    # --- how much --------------------------------------------------------------------

    def admit(self, call: Call, token: TokenRecord, quota: bool = True, kind: str = "chat",
              body: dict[str, Any] | None = None) -> None:
        """Count the request against the token's rate limit and hold it against its quotas
        and budgets, and its endpoint's budget (with the model tokens and money a `kind`
        request of this `body` may use): one decision of the limit store. A request with
        no limits asks nothing of it."""
        asked: list[holds.Asked] = []
        if quota:
            endpoint = self.catalog.endpoints_by_id.get(call.endpoint_id or 0)
            asked = holds.asks(token, endpoint, kind, body, self.catalog.options)
        if token.rpm is None and not asked:
            return
        admission = self._admit(token, asked)
        decision = admission.rate
        if decision is not None:
            call.rate_headers = {
                "x-ratelimit-limit-requests": str(decision.limit),
                "x-ratelimit-remaining-requests": str(decision.remaining),
                "x-ratelimit-reset-requests": _duration(decision.reset_s),
            }
            if not decision.allowed:
                retry = str(max(1, int(decision.reset_s + 0.999)))
                raise ClientError(429, f"rate limit of {token.rpm} requests per minute "
                                  f"reached; retry in {retry} s", "rate_limit_exceeded",
                                  headers={"Retry-After": retry})
        if admission.refusal is not None:
            naming = asked[admission.refused or 0].naming  # the subject that refused it
            raise ClientError(429, f"{admission.refusal}{naming}", "insufficient_quota")
        if admission.holds:
            call.hold = admission.holds
            call.quota_held = True

    def _admit(self, token: TokenRecord, asked: list[holds.Asked]) -> Admission:
        """The store's decision, or 503 where none can be made (a month's usage cannot be
        read, Redis does not answer): fail closed, as without a database at all."""
        try:
            return self.limits.admit(token.id, token.rpm, asked)
        except QuotaUnknown as unknown:
            raise ClientError(503, str(unknown), "quota_unavailable",
                              headers={"Retry-After": "1"}) from None
        except LimitsUnavailable as unavailable:
            raise ClientError(503, str(unavailable), "limits_unavailable",
                              headers={"Retry-After": "1"}) from None

    def finish(self, call: Call) -> None:
        """Settle the quota hold and queue the log row. Only the first call per request
        does anything: an error path reached after it (a bug) must not log it twice."""
        if call.logged:
            return
        call.logged = True
        record = call.log_record()
        written, spends = False, []
        try:
            if call.quota_held:
                written, spends = self._settle(call, record)
        finally:  # whatever happened to the quota, the row is kept
            if not written:
                self.log_writer.write(record)
        if spends:  # budget crossings: queued for the alerts' thread
            self.alerts.spent(spends)
        if call.relaying:
            self._stream_ended(call)
        self.metrics.observe(call, *self.catalog.names_for(call.endpoint_id, call.provider_id),
                             record["cost_nanos"])

    def _stream_ended(self, call: Call) -> None:
        """Tell the router how a relayed stream went: one that broke under way was not
        retried (the client had bytes of it), but it is its target's failure."""
        target_id = call.target_id or 0
        if call.status < 400:
            self.router.succeeded(target_id)
        elif call.status in (502, 504):
            self.router.failed(target_id, None, call.error)
        else:  # the client left, the server stopped: nothing said of the target
            self.router.release(target_id)

    def _settle(self, call: Call, record: dict[str, Any]) -> tuple[bool, list[Spend]]:
        """Settle the call's holds with what it used and cost; True if its row was
        written here and now (on a shared database it is, before the answer ends: the
        next request, on any server, must see what this one used), and what each
        subject's month spent before and after."""
        call.quota_held = False
        used = Used(0, call.prompt_tokens + call.completion_tokens, record["cost_nanos"] or 0)
        return self.limits.settle(call.hold, call.status < 400, used,
                                  write=lambda: self.log_writer.write_now(record), row=record)

    def client_ip(self, peer: str | None, forwarded_for: str | None) -> str:
        return network.client_address(peer, forwarded_for, self.trusted_proxies)

    def _lookup(self, prefix: str) -> tuple[int, str] | None:
        token = self.catalog.token(prefix)
        return (token.id, token.secret_hash) if token else None


_OR_NOT_FOR_IT = {True: "", False: " that this token may use"}
KINDS = ("chat", "embeddings")


def _first_target(providers: dict[int, ProviderEntry], endpoint: EndpointRecord
                  ) -> tuple[Any, Any]:
    """The endpoint's first target whose provider is enabled and can be used, else its
    first whose provider is enabled (that one's problem is then the answer), with that
    provider; (None, None) when no target's provider is enabled. One loop: it runs for
    every request."""
    first: tuple[Any, Any] = (None, None)
    for target in endpoint.targets:
        entry = providers.get(target.provider_id)
        if entry is None or not entry.enabled:
            continue
        if entry.adapter is not None:
            return target, entry
        if first[1] is None:
            first = target, entry
    return first


def _sees(token: TokenRecord, endpoint: EndpointRecord) -> bool:
    """Whether the token may know the endpoint exists: it is in its allow-list (whatever
    its kind: the admin named it) or, without one, of a kind in its scopes."""
    if token.allowed_endpoints:
        return endpoint.id in token.allowed_endpoints
    return token.allows_scope(endpoint.kind)


def _sees_all(token: TokenRecord) -> bool:
    """Whether the token may use every endpoint (no allow-list, every scope)."""
    return not token.allowed_endpoints and all(token.allows_scope(k) for k in KINDS)


def _duration(seconds: float) -> str:
    """OpenAI's style for reset times: 0.5s, 12s, 1m30s."""
    seconds = round(seconds, 2)
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest}s"


def _monthly_usage(token_id: int, since: dt.date) -> tuple[int, int]:
    """A token's successful requests and model tokens since `since`: its quotas alone, as
    they were read before budgets (the quota book reads `month_usage.of_token`)."""
    return month_usage.of_token(token_id, since)[:2]
