"""Noticing that a client has hung up while its request waits on the provider: a greenlet
that watches the client socket for a stream, and, for a whole answer awaited long enough to
be worth it, a bare loop timer that becomes a watcher and raises ClientGone into the wait."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator
from typing import Any


def client_gone(sock: socket.socket) -> bool:
    """Wait until the client socket has something to say: True if it hung up."""
    from gevent.socket import wait_read

    try:
        wait_read(sock.fileno())
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def has_left(sock: socket.socket | None) -> bool:
    """Whether the client has hung up already, without waiting (False where there is no
    socket to look at). Asked before a fallback attempt: one who left gets no more."""
    if sock is None:
        return False
    import select

    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):  # reset, or closed under us (fileno -1)
        return True


def watch_disconnect(sock: socket.socket | None, on_gone: Callable[[], None]) -> Any:
    """Under gevent, a greenlet that calls `on_gone` as soon as the client hangs up, even
    while upstream is silent. None where there is no socket to watch (tests, WSGI shims)."""
    if sock is None:
        return None
    import gevent

    def watch() -> None:
        if client_gone(sock):
            on_gone()

    return gevent.spawn(watch)


class ClientGone(BaseException):
    """The client hung up while its request waited for the provider. Raised into the
    waiting call from outside, so, like GreenletExit, not an Exception: an adapter's
    `except Exception` must not take it for a provider failure."""


# Whole answers are watched for the client leaving only once they have been awaited this
# long: a watcher for every request cost ~6% of the proxy's CPU, and quick answers have
# nothing worth cancelling. A slow one (a long generation) is closed upstream, so a
# self-hosted server such as vLLM stops generating for nobody. Streams are watched from
# the start.
WATCH_AFTER_S = 0.5


@contextlib.contextmanager
def given_up_if_client_leaves(sock: socket.socket | None, after_s: float) -> Iterator[None]:
    """Run the block; if it is still running `after_s` seconds on and the client hangs
    up, raise ClientGone in it where it waits (urllib3 then closes the upstream
    connection). Plain run where there is no socket to watch."""
    if sock is None:
        yield
        return
    import gevent

    watch = _ClientWatch(sock, gevent.getcurrent())
    timer = gevent.get_hub().loop.timer(after_s)
    timer.start(watch.start)  # a bare timer until then: ~0.4 us, a greenlet ~4 us
    try:
        yield
    finally:
        timer.close()
        watch.stop()


class _ClientWatch:
    """Once started, a greenlet that raises ClientGone in `caller` if the client hangs up
    before `stop()`."""

    def __init__(self, sock: socket.socket, caller: Any) -> None:
        self.sock = sock
        self.caller = caller
        self.armed = True
        self.greenlet: Any = None

    def start(self) -> None:
        import gevent

        self.greenlet = gevent.spawn(self._watch)

    def stop(self) -> None:
        self.armed = False
        if self.greenlet is not None:
            self.greenlet.kill(block=False)

    def _watch(self) -> None:
        import gevent

        if client_gone(self.sock) and self.armed:
            gevent.get_hub().loop.run_callback(self._interrupt)

    def _interrupt(self) -> None:  # in the hub: only if the block has not ended meanwhile
        if self.armed:
            self.caller.throw(ClientGone)
