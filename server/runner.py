"""`modelproxy serve`: one gevent process serving the Flask app — the one process, or a
worker of the supervisor (server/supervisor.py), which serves the socket it inherited.

Monkey-patching happens here, first, before anything else is imported — and nowhere
else. app.main imports this module before the CLI when the command is `serve` (unless
this process is to be the supervisor of several workers, which is never patched).
"""

from gevent import monkey

monkey.patch_all()

import logging  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import ssl  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
import psycopg2.extensions  # noqa: E402
from gevent.event import Event  # noqa: E402
from gevent.pool import Pool  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402
from gevent.socket import wait_read, wait_write  # noqa: E402

from app import tls  # noqa: E402
from app.errors import SettingsError  # noqa: E402
from app.settings import Settings, env_name  # noqa: E402
from server import capacity, process, scheduler, startup  # noqa: E402
from server.connection import ConnectionLimits, Handler, RefusalLog, error_bytes  # noqa: E402
from server.factory import create_app  # noqa: E402
from server.stopping import ServerStopped  # noqa: E402

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


class Server(WSGIServer):
    """A WSGIServer that refuses connections past its cap; on stop it ends idle keep-alive
    connections (after a last call) and gives requests in flight the grace period to
    finish; those still running after it are cut off (ServerStopped), each answered 503
    where its response has not started, and logged."""

    handler_class = Handler

    def __init__(self, *args: Any, limits: ConnectionLimits | None = None,
                 tls: ssl.SSLContext | None = None, **kwargs: Any) -> None:
        # With TLS, gevent wraps each accepted socket but leaves the handshake to the
        # connection's Handler, which bounds it by the header deadline: a handshake run
        # at accept has no deadline at all.
        if tls is not None:
            kwargs.update(ssl_context=tls, do_handshake_on_connect=False)
        super().__init__(*args, spawn=Pool(), **kwargs)
        self.access_log = kwargs.get("log") is not None
        self.limits = limits or ConnectionLimits()
        self.idle: set[gevent.Greenlet] = set()
        self.cut_off = Event()  # set when the grace period is over
        self.last_call = 0.0  # once stopping: until when an idle connection may still ask
        self.connections = 0
        self.refusals = RefusalLog()
        self._refusing = 0

    def handle(self, sock: socket.socket, address: Any) -> None:
        if self.connections >= self.limits.max_connections:
            self._refuse(sock)
            return
        self.connections += 1
        try:
            super().handle(sock, address)
        finally:
            self.connections -= 1

    def _refuse(self, sock: socket.socket) -> None:
        """503 at once, without waiting for the request: the answer is the same whatever
        it is. Then what the client sent is read away, so that the close is a FIN, not a
        reset that would destroy the answer unread: for a moment (until the client has
        read it and closes), but only a few such moments at a time, so that a flood of
        connections cannot hold the files the cap keeps free."""
        self._refusing += 1
        self.refusals.note(logging.WARNING, "refused a connection: %d open, the limit "
                           "(%s)", self.connections, env_name("max_connections"))
        try:
            with gevent.Timeout(REFUSAL_LINGER_S, False):
                sock.sendall(error_bytes(
                    503, f"the server is at its limit of {self.limits.max_connections} "
                    "connections; retry shortly", "too_many_connections",
                    {"Retry-After": "1"}))
                sock.shutdown(socket.SHUT_WR)
                if self._refusing > REFUSALS_LINGERING:
                    sock.settimeout(0)  # only what has arrived already
                while sock.recv(65536):
                    pass
        except OSError:  # BlockingIOError: nothing more has arrived
            pass
        finally:
            self._refusing -= 1
            sock.close()

    def stop(self, timeout: float | None = None) -> None:
        grace = self.stop_timeout if timeout is None else timeout
        self.close()
        # Idle keep-alive connections last had a response that did not say "close": their
        # clients may be sending the next request right now. It is answered (saying
        # "close") if it comes within LAST_CALL_S, rather than its connection closed under
        # it, which leaves a client not knowing whether a POST was done.
        last_call = min(LAST_CALL_S, grace)
        self.last_call = time.monotonic() + last_call
        gevent.spawn_later(last_call, self._end_idle)
        self.pool.join(timeout=grace)
        if len(self.pool):
            log.warning("the grace period is over: cutting off %d connection(s) still busy",
                        len(self.pool))
            self.cut_off.set()
            self.pool.kill(exception=ServerStopped, block=True, timeout=1)

    def _end_idle(self) -> None:
        for greenlet in list(self.idle):
            greenlet.kill(block=False)


LAST_CALL_S = 0.5
REFUSAL_LINGER_S = 1.0
REFUSALS_LINGERING = 32


def serve(settings: Settings) -> int:
    """Run until SIGTERM or SIGINT, then stop gracefully. Returns the exit status."""
    who = f"[worker {process.worker_number()}] " if process.is_worker() else ""
    logging.basicConfig(level=settings.log_level,
                        format=f"%(asctime)s %(levelname)s {who}%(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # it reports every run
    data_dir_existed = settings.data_dir.exists()
    app = create_app(settings)
    state = app.extensions["modelproxy"]
    access_log = log if settings.log_level == "DEBUG" else None
    server = Server(_listener(settings), app, log=access_log, error_log=log,
                    limits=connection_limits(settings), tls=tls_context(settings))
    if process.is_worker():
        # One connection per wake-up (gevent takes up to 100): the workers share one
        # accept queue, and a worker that drained it whole took 3/4 of wrk's connections.
        server.max_accept = 1
    try:
        server.start()
    except OSError as exc:
        raise startup.cannot_listen(settings, exc) from None
    if process.is_worker():
        log.info("serving (pid %d)", os.getpid())
    else:
        startup.announce(settings, state.db, data_dir_existed)
    housekeeping = scheduler.start(state)
    stopping = Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, stopping.set)
    process.say_ready()
    stopping.wait()
    log.info("stopping: finishing requests in flight (up to %.0f s)", settings.grace_s)
    housekeeping.shutdown(wait=False)
    server.stop(timeout=settings.grace_s)
    state.close()
    log.info("stopped")
    return 0


def _listener(settings: Settings) -> Any:
    """The supervisor's socket for a worker (its accept queue shared with the other
    workers), else the address to bind."""
    fd = process.listen_fd()
    if fd is None:
        return (settings.host, settings.port)
    listener = socket.socket(fileno=fd)  # gevent's socket: the module is patched
    listener.setblocking(False)
    return listener


def connection_limits(settings: Settings) -> ConnectionLimits:
    """The request deadlines and the connection cap, after raising the open-file limit."""
    files = capacity.raise_file_limit()
    cap, note = capacity.connection_cap(settings.max_connections,
                                        files.after if files else None)
    if files is not None and files.raised:
        log.info("open-file limit raised from %d to %d", files.before, files.after)
    if note:
        log.warning("%s %s", env_name("max_connections"), note)
    log.info("up to %d client connections (open-file limit %s)", cap,
             files.after if files else "none")
    return ConnectionLimits(header_timeout_s=settings.header_timeout_s,
                            keepalive_s=settings.keepalive_s,
                            body_timeout_s=settings.body_timeout_s, max_connections=cap)


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The server's TLS context when a certificate is set (checked with the settings)."""
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    if notice := tls.certificate_notice(settings.tls_cert):
        log.warning(notice)
    try:
        return tls.server_context(settings.tls_cert, settings.tls_key)
    except (OSError, ssl.SSLError) as exc:  # changed since the check, or refused by OpenSSL
        raise SettingsError(f"{env_name('tls_cert')}: cannot serve TLS with "
                            f"{settings.tls_cert} and {settings.tls_key}: {exc}") from None

