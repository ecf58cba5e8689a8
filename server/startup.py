"""What `serve` does once before serving, whether in the one process or in the supervisor
of several workers: check the settings, migrate, make the key, print the setup code, bind.

No gevent here: the supervisor imports this module unpatched (the one process imports it
after runner.py has patched, as everything else).
"""

from __future__ import annotations

import errno
import logging
import socket
from typing import Any

from app import __version__
from app.db import open_database, redact
from app.errors import SettingsError
from app.services import admin_access, secret_key, setup
from app.settings import Settings, data_dir_notice, env_name

log = logging.getLogger("modelproxy")

BACKLOG = 1024  # connections the kernel queues for the workers to accept


def check_workers(settings: Settings) -> None:
    """Refuse several workers without Redis: each would keep its own rate windows, quota
    and money holds and login guard, letting a token through N times its limits."""
    if settings.workers > 1 and not settings.redis_url:
        raise SettingsError(
            f"{env_name('workers')}={settings.workers} needs {env_name('redis_url')}: "
            f"without Redis each worker keeps its own rate limits and quotas, so a token "
            f"would get {settings.workers} times its limits. Set {env_name('redis_url')}"
            f"=redis://HOST:6379/0, or run one worker (--workers 1)")


def prepare(settings: Settings) -> None:
    """Once, before any worker starts: migrate the database, make the secret key file and
    print the setup code (workers then find all of it done)."""
    data_dir_existed = settings.data_dir.exists()
    db = open_database(settings)  # migrates
    try:
        with db.connection_context():
            secret_key.load_box(settings)
        announce(settings, db, data_dir_existed)
    finally:
        db.close_all()


def listen(settings: Settings) -> socket.socket:
    """The listening socket the workers share (inherited, so one accept queue)."""
    try:
        family, _, _, _, address = socket.getaddrinfo(
            settings.host, settings.port, type=socket.SOCK_STREAM,
            flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise cannot_listen(settings, exc) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise cannot_listen(settings, exc) from None
    return sock


def cannot_listen(settings: Settings, exc: OSError) -> SettingsError:
    reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
    return SettingsError(
        f"cannot listen on {settings.host}:{settings.port}: {reason} "
        f"(choose another with --port or {env_name('port')})")


def announce(settings: Settings, db: Any, data_dir_existed: bool = True) -> None:
    host = settings.host if settings.host not in {"0.0.0.0", "::"} else "localhost"
    workers = f", {settings.workers} workers" if settings.workers > 1 else ""
    scheme = "https" if settings.tls_cert else "http"
    log.info("ModelProxy %s listening on %s://%s:%d (data directory %s, database %s%s)",
             __version__, scheme, host, settings.port, settings.data_dir, redact(settings.database),
             workers)
    if notice := data_dir_notice(settings, data_dir_existed):
        log.warning(notice)
    with db.connection_context():
        code = setup.ensure_code(settings)
        open_admin = admin_access.startup_notice(settings, setup_pending=code is not None)
    if code:
        log.warning("no admin yet. Setup code: %s (also in %s). Create the first admin in "
                    "the desktop window, with POST /admin/api/setup, or with "
                    "`modelproxy admin create --username NAME --password-stdin`",
                    code, setup.code_file(settings))
    if open_admin:
        log.warning(open_admin)
