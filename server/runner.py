"""`modelproxy serve`: one gevent process serving the Flask app.

Monkey-patching happens here, first, before anything else is imported — and nowhere
else. app.main imports this module before the CLI when the command is `serve`.
"""

from gevent import monkey

monkey.patch_all()

import errno  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
import psycopg2.extensions  # noqa: E402
from gevent.event import Event  # noqa: E402
from gevent.pool import Pool  # noqa: E402
from gevent.pywsgi import WSGIHandler, WSGIServer  # noqa: E402
from gevent.socket import wait_read, wait_write  # noqa: E402

from app import __version__  # noqa: E402
from app.db import redact  # noqa: E402
from app.errors import SettingsError  # noqa: E402
from app.services import setup  # noqa: E402
from app.settings import Settings, data_dir_notice, env_name  # noqa: E402
from server import scheduler  # noqa: E402
from server.factory import create_app  # noqa: E402

log = logging.getLogger("modelproxy")


def _psycopg2_wait(conn: Any, timeout: float | None = None) -> None:
    """Let psycopg2 wait for PostgreSQL cooperatively, so a query never blocks the process."""
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        if state == psycopg2.extensions.POLL_READ:
            wait_read(conn.fileno(), timeout=timeout)
        elif state == psycopg2.extensions.POLL_WRITE:
            wait_write(conn.fileno(), timeout=timeout)
        else:
            raise psycopg2.OperationalError(f"bad state from poll: {state!r}")


psycopg2.extensions.set_wait_callback(_psycopg2_wait)


class Handler(WSGIHandler):
    """Sets TCP_NODELAY (without it keep-alive clients wait ~40 ms per response on
    delayed ACKs), tells the server when a connection sits idle between requests, and
    formats access-log lines only when there is an access log (DEBUG)."""

    def handle(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle()

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ["modelproxy.socket"] = self.socket  # to notice a waiting client leave
        return environ

    def log_request(self) -> None:
        if self.server.access_log:  # else not even formatted: ~1% of a request's CPU
            super().log_request()

    def read_requestline(self) -> str:
        if self.server.closed:
            return ""  # stopping: end the keep-alive connection instead of waiting
        current = gevent.getcurrent()
        self.server.idle.add(current)
        try:
            return super().read_requestline()
        finally:
            self.server.idle.discard(current)


class Server(WSGIServer):
    """A WSGIServer whose stop ends idle keep-alive connections at once and gives requests
    in flight the grace period to finish."""

    handler_class = Handler

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, spawn=Pool(), **kwargs)
        self.access_log = kwargs.get("log") is not None
        self.idle: set[gevent.Greenlet] = set()

    def stop(self, timeout: float | None = None) -> None:
        self.close()
        for greenlet in list(self.idle):
            greenlet.kill(block=False)
        super().stop(timeout)


def serve(settings: Settings) -> int:
    """Run until SIGTERM or SIGINT, then stop gracefully. Returns the exit status."""
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # it reports every run
    data_dir_existed = settings.data_dir.exists()
    app = create_app(settings)
    state = app.extensions["modelproxy"]
    access_log = log if settings.log_level == "DEBUG" else None
    server = Server((settings.host, settings.port), app, log=access_log, error_log=log)
    try:
        server.start()
    except OSError as exc:
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise SettingsError(
            f"cannot listen on {settings.host}:{settings.port}: {reason} "
            f"(choose another with --port or {env_name('port')})"
        ) from None
    _announce(settings, state.db, data_dir_existed)
    housekeeping = scheduler.start(state)
    stopping = Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, stopping.set)
    stopping.wait()
    log.info("stopping: finishing requests in flight (up to %.0f s)", settings.grace_s)
    housekeeping.shutdown(wait=False)
    server.stop(timeout=settings.grace_s)
    state.close()
    log.info("stopped")
    return 0


def _announce(settings: Settings, db: Any, data_dir_existed: bool = True) -> None:
    host = settings.host if settings.host not in {"0.0.0.0", "::"} else "localhost"
    log.info("ModelProxy %s listening on http://%s:%d (data directory %s, database %s)",
             __version__, host, settings.port, settings.data_dir, redact(settings.database))
    if notice := data_dir_notice(settings, data_dir_existed):
        log.warning(notice)
    with db.connection_context():
        code = setup.ensure_code(settings)
    if code:
        log.warning("no admin yet. Setup code: %s (also in %s). Create the first admin in "
                    "the desktop window, with POST /admin/api/setup, or with "
                    "`modelproxy admin create --username NAME --password-stdin`",
                    code, setup.code_file(settings))
