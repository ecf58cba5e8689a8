"""create_app(settings) -> Flask: the one place the HTTP app is put together."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import peewee as pw
from flask import Flask

from app.crypto import RunBlocking, SecretBox, run_inline
from app.db import open_database
from app.services import secret_key
from app.settings import Settings
from server import admin_api, client_api, errors
from server import metrics as metrics_routes
from server.admin_api.guard import LoginGuard
from server.catalog import Catalog
from server.client_api.gateway import Gateway
from server.logwriter import UNWRITTEN_FILE, LogWriter
from server.metrics import Metrics
from server.provider_checks import ProviderChecker
from server.shared import SharedState, catalog_notices, login_guard, shared_state

log = logging.getLogger(__name__)


@dataclass
class State:
    """What the routes share, kept on `app.extensions["modelproxy"]` (no module globals)."""

    settings: Settings
    db: pw.Database
    catalog: Catalog
    log_writer: LogWriter
    gateway: Gateway
    health: ProviderChecker
    login_guard: LoginGuard
    metrics: Metrics
    shared: SharedState
    run_bcrypt: RunBlocking = run_inline  # bcrypt off the event loop: logins, new tokens
    run_blocking: RunBlocking = run_inline  # other blocking work: gevent's threads under serve

    @property
    def box(self) -> SecretBox:
        """The secret key in force, checked against the database (a rotation may have
        happened under this server): what seals new provider keys."""
        return self.catalog.current_box()

    def close(self) -> None:
        """Release what the app holds: write the queued log rows, close the database."""
        self.catalog.stop()
        self.gateway.alerts.stop()  # not waiting for a webhook's retries
        self.log_writer.stop()  # its last rows settled first (their holds are in `shared`)
        self.shared.close()
        self.db.close_all()


def create_app(settings: Settings) -> Flask:
    """Open the database (migrating it), load the secret key, register every part."""
    db = open_database(settings)
    with db.connection_context():
        box = secret_key.load_box(settings)
    catalog = Catalog(settings, box, db, catalog_notices(settings.redis_url))
    catalog.reload()
    run_blocking = _run_blocking()
    # SQLite writes block the caller (PostgreSQL's wait on sockets, which gevent shares).
    log_writer = LogWriter(db, offload=run_blocking if settings.is_sqlite else None,
                           unwritten_path=settings.data_dir / UNWRITTEN_FILE)
    metrics = Metrics()
    metrics.watch_log_writer(log_writer)
    run_bcrypt = _run_bcrypt()
    shared = shared_state(settings)  # rate windows, quota holds: memory or Redis
    gateway = Gateway(settings, db, catalog, log_writer, metrics, run_bcrypt, shared)
    metrics.watch_routes(catalog, gateway.router)
    app = Flask("modelproxy")
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes)
    app.json.sort_keys = False
    app.extensions["modelproxy"] = State(settings, db, catalog, log_writer, gateway,
                                         ProviderChecker(catalog),
                                         login_guard(settings.redis_url), metrics, shared,
                                         run_bcrypt=run_bcrypt, run_blocking=run_blocking)

    @app.teardown_appcontext
    def release_connection(exc: BaseException | None) -> None:
        if not db.is_closed():
            db.close()  # back to the pool

    errors.init_app(app)
    client_api.init_app(app)
    admin_api.init_app(app)
    app.register_blueprint(metrics_routes.bp)
    log_writer.start()
    shared.start()
    gateway.alerts.start()
    catalog.start_watching()
    return app


def _run_blocking() -> Callable[..., Any]:
    """How to run blocking calls (SQLite's log commits, backups): in gevent's thread pool
    under serve, else inline."""
    from gevent import monkey

    if monkey.is_module_patched("socket"):
        import gevent

        return lambda fn, *args: gevent.get_hub().threadpool.apply(fn, args)
    return lambda fn, *args: fn(*args)


def _run_bcrypt() -> RunBlocking:
    """How to run bcrypt (~250 ms of CPU, the GIL released): under serve in a small thread
    pool of its own, so a flood of password or token checks never holds up the SQLite
    commits that wait in gevent's pool, and never takes more than half the cores (the event
    loop keeps one); else inline."""
    from gevent import monkey

    if monkey.is_module_patched("socket"):
        from gevent.threadpool import ThreadPool

        pool = ThreadPool(max(1, min(4, (os.cpu_count() or 1) // 2)))
        return lambda fn, *args: pool.apply(fn, args)
    return run_inline
