"""The proxy's in-memory view of providers, endpoints and tokens.

The hot path reads only this. It is reloaded whole when the tables change: the admin API
calls `apply_change()` after each change (effective at once), and a background thread checks
a cheap fingerprint every `REFRESH_S` seconds for changes made by the CLI or another server.
With Redis (server/shared/notices.py), a change saved here is also announced to the other
instances, which reload at once on hearing it; the poll stays, for what a notice misses.

Tokens are swapped in first and on their own: whatever else fails to load, a revocation
applies. A provider whose key cannot be opened is an entry with a `problem`, not a failed
reload; when the secret key was rotated under the running server (the sealed key check in
the `setting` table changed, or the key file), the key is read again.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import threading
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import peewee as pw

from app import prices
from app.crypto import SecretBox
from app.db import DATABASE_ERRORS
from app.errors import SecretKeyError
from app.models import Endpoint, EndpointTarget, Provider, Setting, Token
from app.services import options, provider_types, providers, secret_key
from app.settings import Settings
from server.providers import Adapter, ProviderConfig, UpstreamError, adapter_for

if TYPE_CHECKING:  # redis is imported only where it is used (~8 MB of memory)
    from server.shared.notices import CatalogNotices

log = logging.getLogger(__name__)
REFRESH_S = 2.0

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class TokenRecord:
    id: int
    name: str
    secret_hash: str
    scopes: frozenset[str]
    rpm: int | None
    monthly_requests: int | None
    monthly_tokens: int | None
    networks: tuple[Network, ...]
    allowed_endpoints: frozenset[int]
    expires_at: dt.datetime | None
    revoked: bool
    monthly_budget: Decimal | None = None  # USD a month

    def allows_scope(self, scope: str) -> bool:
        return "all" in self.scopes or scope in self.scopes


@dataclass(frozen=True)
class TargetRecord:
    """One place an endpoint's requests may go."""

    id: int
    endpoint_id: int
    provider_id: int
    model: str  # the provider's name for it
    priority: int  # lower is tried first
    weight: int  # among targets of one priority
    enabled: bool
    price: prices.Price | None  # None: no price known


@dataclass(frozen=True)
class EndpointRecord:
    id: int
    name: str
    path: str
    kind: str
    model: str  # the first target's
    provider_id: int  # the first target's
    enabled: bool
    aliases: tuple[str, ...] = ()  # extra model names it answers to
    targets: tuple[TargetRecord, ...] = ()  # the enabled ones, by (priority, id)
    monthly_budget: Decimal | None = None  # USD a month


@dataclass(frozen=True)
class ProviderEntry:
    config: ProviderConfig
    enabled: bool
    adapter: Adapter | None  # None when no adapter is installed for the type
    problem: str | None = None


class Catalog:
    def __init__(self, settings: Settings, box: SecretBox, db: pw.Database,
                 notices: CatalogNotices | None = None) -> None:
        self._settings = settings
        self._notices = notices
        self._box = box
        self._db = db
        self._lock = threading.Lock()
        self._fingerprint: tuple = ()
        self._box_problem: str | None = None  # why the key in force cannot be read
        self._unopened: set[int] = set()  # providers whose stored key cannot be opened
        self.tokens_by_prefix: dict[str, TokenRecord] = {}
        self.endpoints_by_path: dict[str, EndpointRecord] = {}
        self.endpoints_by_name: dict[str, EndpointRecord] = {}
        self.endpoints_by_id: dict[int, EndpointRecord] = {}
        self.endpoints_by_model: dict[str, EndpointRecord] = {}
        self.providers: dict[int, ProviderEntry] = {}
        self.options: dict[str, object] = {}
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    # --- reads on the hot path ---------------------------------------------------------

    def token(self, prefix: str) -> TokenRecord | None:
        return self.tokens_by_prefix.get(prefix)

    def names_for(self, endpoint_id: int | None, provider_id: int | None) -> tuple[str, str]:
        """Endpoint and provider names for metrics labels ("" when there is none)."""
        endpoint = self.endpoints_by_id.get(endpoint_id) if endpoint_id else None
        provider = self.providers.get(provider_id) if provider_id else None
        return (endpoint.name if endpoint else "", provider.config.name if provider else "")

    def endpoint_for_model(self, model: str) -> EndpointRecord | None:
        """The endpoint a `model` names: by endpoint name or alias first, then by upstream
        model."""
        return self.endpoints_by_name.get(model) or self.endpoints_by_model.get(model)

    @property
    def box(self) -> SecretBox:
        """The SecretBox in force (it changes when the key is rotated under the server)."""
        return self._box

    def current_box(self) -> SecretBox:
        """The SecretBox, checked against the database first: what seals a new provider key
        must be the key in force even if a rotation happened since the last refresh."""
        with self._db.connection_context():
            check = secret_key.sealed_check()
        if check is not None and not secret_key.opens(self._box, check):
            self.reload()
            if self._box_problem:  # sealing under the old key would lose the new secret
                raise SecretKeyError(self._box_problem)
        return self._box

    # --- loading -----------------------------------------------------------------------

    def reload(self) -> None:
        """Load everything from the database and swap it in, tokens first. Raises only
        when the database fails (what was loaded by then stays swapped in)."""
        with self._lock, self._db.connection_context():
            fingerprint = self._read_fingerprint()
            self.tokens_by_prefix = {t.prefix: _token_record(t) for t in Token.select()}
            self._swap_endpoints(_endpoint_records())
            self._refresh_box()
            self._swap_providers(self._provider_entries(list(Provider.select())))
            self.options = options.effective(self._settings)
            # A key that cannot be opened yet (a rotation half done) is tried again next time.
            stuck = self._box_problem or self._unopened
            self._fingerprint = () if stuck else fingerprint

    def apply_change(self) -> None:
        """Reload after a change this server saved, and announce it to the other instances.
        A failure is logged, not raised (the change is saved, and its answer must say so);
        the watcher tries again."""
        if self._notices is not None:
            self._notices.publish()
        self._reload_logged("saved, but could not reload")

    def apply_notice(self) -> None:
        """Reload because another instance announced a change."""
        self._reload_logged("another instance changed them, but could not reload")

    def _reload_logged(self, what: str) -> None:
        try:
            self.reload()
        except (*DATABASE_ERRORS, SecretKeyError) as exc:
            self._fingerprint = ()
            log.error("%s providers, endpoints and tokens (trying again in %.0f s): %s",
                      what, REFRESH_S, exc)

    def _swap_endpoints(self, endpoints: list[EndpointRecord]) -> None:
        self.endpoints_by_path = {e.path: e for e in endpoints}
        # Names and aliases are unique together (app.services.endpoints); a name wins anyway.
        by_name = {alias: e for e in endpoints for alias in e.aliases}
        by_name.update({e.name: e for e in endpoints})
        self.endpoints_by_name = by_name
        self.endpoints_by_id = {e.id: e for e in endpoints}
        by_model: dict[str, EndpointRecord] = {}
        for e in endpoints:  # the first enabled endpoint serving a model wins
            if e.enabled and e.model not in by_model:
                by_model[e.model] = e
        self.endpoints_by_model = by_model

    def _swap_providers(self, entries: dict[int, ProviderEntry]) -> None:
        old = self.providers
        self.providers = entries
        for provider_id, entry in old.items():
            if entry.adapter and entries.get(provider_id, entry).adapter is not entry.adapter:
                entry.adapter.close()

    def refresh_if_changed(self) -> bool:
        with self._db.connection_context():
            changed = self._read_fingerprint() != self._fingerprint
        if changed:
            self.reload()
        return changed

    def start_watching(self, interval: float = REFRESH_S) -> None:
        """Check for outside changes every `interval` seconds (a greenlet under serve)."""
        self._watcher = threading.Thread(target=self._watch, args=(interval,), daemon=True,
                                         name="catalog-refresh")
        self._watcher.start()
        if self._notices is not None:
            self._notices.start(self.apply_notice)

    def stop(self) -> None:
        """Stop watching (waiting out a refresh under way: the database closes next)."""
        self._stop.set()
        if self._notices is not None:
            self._notices.stop()
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(timeout=10)
        for entry in self.providers.values():
            if entry.adapter:
                entry.adapter.close()

    def _watch(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.refresh_if_changed()
            except DATABASE_ERRORS as exc:
                log.warning("could not refresh providers, endpoints and tokens: %s", exc)
            except Exception:  # a bug: the watcher must live on, or revocations stop applying
                log.exception("could not refresh providers, endpoints and tokens")

    def _read_fingerprint(self) -> tuple:
        parts: list[tuple] = [_file_stamp(self._settings.key_file)]
        for model in (Provider, Endpoint, EndpointTarget, Token, Setting):
            parts.append(tuple(model.select(pw.fn.COUNT(pw.SQL("*")), pw.fn.MAX(model.updated_at))
                               .tuples().get()))
        return tuple(parts)

    def _refresh_box(self) -> None:
        """Read the secret key again when the stored key check no longer opens with it."""
        check = secret_key.sealed_check()
        if check is None or secret_key.opens(self._box, check):
            problem = None
        else:
            try:
                self._box = secret_key.current_box(self._settings)
                problem = None
                log.info("the secret key was rotated: provider keys opened with the new key")
            except SecretKeyError as exc:
                problem = str(exc)
        if problem and problem != self._box_problem:
            log.error("provider keys cannot be opened: %s", problem)
        self._box_problem = problem

    def _provider_entries(self, rows: list[Provider]) -> dict[int, ProviderEntry]:
        entries = {}
        self._unopened = set()
        for row in rows:
            current = self.providers.get(row.id)
            try:
                config = self._config(row)
            except SecretKeyError as exc:  # this provider's key cannot be opened; the rest can
                self._unopened.add(row.id)
                entries[row.id] = self._unopened_entry(row, current, self._box_problem or str(exc))
                continue
            if current and current.config == config:
                entries[row.id] = ProviderEntry(config, row.enabled, current.adapter,
                                                current.problem)
                continue
            try:
                entries[row.id] = ProviderEntry(config, row.enabled, adapter_for(config))
            except UpstreamError as exc:
                entries[row.id] = ProviderEntry(config, row.enabled, None, exc.message)
        return entries

    def _unopened_entry(self, row: Provider, current: ProviderEntry | None,
                        problem: str) -> ProviderEntry:
        """The entry of a provider whose sealed key or headers cannot be opened (the key was
        rotated and this server cannot read the new one): what it opened before, if nothing
        else about the provider changed (a rotation re-seals the same values), else
        unusable."""
        config = self._config(row, sealed=False)
        if current and current.adapter and replace(
                config, api_key=current.config.api_key,
                headers=current.config.headers) == current.config:
            return replace(current, enabled=row.enabled)
        return ProviderEntry(config, row.enabled, None, problem)

    def _config(self, row: Provider, sealed: bool = True) -> ProviderConfig:
        """The provider's configuration; with `sealed` False, without what is sealed (its
        stored key and its headers' values)."""
        api_key = providers.api_key(self._box, row) if sealed else None
        env_field = provider_types.KEY_ENV.get(row.type)
        if api_key is None and env_field:
            api_key = getattr(self._settings, env_field) or os.environ.get(env_field.upper())
        headers = providers.header_values(self._box, row) if sealed else {}
        return ProviderConfig(id=row.id, name=row.name, type=row.type, base_url=row.base_url,
                              api_key=api_key, headers=headers, timeout_s=row.timeout_s)


def _file_stamp(path: Path) -> tuple:
    """What changes when a file is replaced (inode, mtime); () when there is none."""
    try:
        found = path.stat()
    except OSError:
        return ()
    return (found.st_ino, found.st_mtime_ns)


def _token_record(t: Token) -> TokenRecord:
    return TokenRecord(
        id=t.id, name=t.name, secret_hash=t.secret_hash, scopes=frozenset(t.scopes or []),
        rpm=t.rpm, monthly_requests=t.monthly_requests, monthly_tokens=t.monthly_tokens,
        networks=tuple(ipaddress.ip_network(n, strict=False) for n in t.allowed_ips or []),
        allowed_endpoints=frozenset(t.allowed_endpoints or []), expires_at=t.expires_at,
        revoked=t.revoked, monthly_budget=t.monthly_budget,
    )


def _endpoint_records() -> list[EndpointRecord]:
    by_endpoint: dict[int, list[TargetRecord]] = {}
    T = EndpointTarget
    for t in (T.select(T, Provider.id, Provider.type).join(Provider).where(T.enabled == True)  # noqa: E712
              .order_by(T.priority, T.id)):
        by_endpoint.setdefault(t.endpoint_id, []).append(_target_record(t))
    return [_endpoint_record(e, tuple(by_endpoint.get(e.id, ())))
            for e in Endpoint.select().order_by(Endpoint.id)]


def _target_record(t: EndpointTarget) -> TargetRecord:
    price = prices.for_target(t.provider.type, t.model, t.price_input_per_m,
                              t.price_cached_input_per_m, t.price_output_per_m)
    return TargetRecord(id=t.id, endpoint_id=t.endpoint_id, provider_id=t.provider_id,
                        model=t.model, priority=t.priority, weight=t.weight,
                        enabled=t.enabled, price=price)


def _endpoint_record(e: Endpoint, targets: tuple[TargetRecord, ...]) -> EndpointRecord:
    return EndpointRecord(
        id=e.id, name=e.name, path=e.path, kind=e.kind, model=e.model,
        provider_id=e.provider_id, enabled=e.enabled, aliases=tuple(e.aliases or ()),
        targets=targets, monthly_budget=e.monthly_budget,
    )
