"""Catalog change notices over Redis pub/sub: an admin change saved on one instance is
announced on CHANNEL, and every other instance reloads its catalog at once (within
milliseconds) instead of at its next fingerprint poll (server/catalog.py, every 2 s).

Notices only make changes apply sooner; polling stays, and catches what a notice missed:
changes made while Redis was down, a notice sent while an instance was reconnecting, and
changes made by the CLI without Redis. Publishing never holds up the admin's answer (it
runs in a thread of its own, a greenlet under serve), and a failure to publish is logged,
not raised. The listener runs in a thread (greenlet) too; when Redis goes away it says so
once, tries again every RECONNECT_S seconds, and reloads once when it is back (a notice
may have been lost meanwhile).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable

import redis

from server.shared.redis_conn import REDIS_ERRORS, connect

log = logging.getLogger(__name__)
CHANNEL = b"modelproxy:catalog"
RECONNECT_S = 0.5
LISTEN_TICK_S = 0.5  # how often the listener looks whether it is asked to stop


class CatalogNotices:
    """Announces this process's catalog changes and hears the others'."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._sender = os.urandom(8).hex().encode()  # its own notices are not news to it
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None
        self.connected = threading.Event()  # subscribed (for tests and health)

    def publish(self) -> None:
        """Tell the other instances that the catalog changed (in the background)."""
        threading.Thread(target=self.publish_now, daemon=True, name="catalog-notice").start()

    def publish_now(self) -> bool:
        """Tell them now; whether Redis took the notice."""
        try:
            self._client.publish(CHANNEL, self._sender)
            return True
        except REDIS_ERRORS as exc:
            log.warning("could not announce a catalog change through Redis (%s): other "
                        "instances apply it at their next check instead", exc)
            return False

    def start(self, on_notice: Callable[[], None]) -> None:
        """Call `on_notice()` for each change another process announces."""
        self._listener = threading.Thread(target=self._listen, args=(on_notice,), daemon=True,
                                          name="catalog-notices")
        self._listener.start()

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None and self._listener is not threading.current_thread():
            self._listener.join(timeout=5)

    def _listen(self, on_notice: Callable[[], None]) -> None:
        down_since: float | None = None
        while not self._stop.is_set():
            pubsub = self._client.pubsub()
            try:
                pubsub.subscribe(CHANNEL)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=LISTEN_TICK_S)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self.connected.set()
                        if down_since is not None:
                            log.warning("Redis answers again after %.0f s: catalog changes "
                                        "are announced again", time.monotonic() - down_since)
                            down_since = None
                            _call(on_notice)  # what was announced meanwhile was lost
                    elif message["type"] == "message" and message["data"] != self._sender:
                        _call(on_notice)
            except REDIS_ERRORS as exc:
                self.connected.clear()
                if down_since is None:
                    down_since = time.monotonic()
                    log.error("Redis does not answer (%s): catalog changes made on other "
                              "instances apply at the next check, within seconds", exc)
                self._stop.wait(RECONNECT_S)
            finally:
                _close(pubsub)


def _call(on_notice: Callable[[], None]) -> None:
    try:
        on_notice()
    except Exception:  # a bug: the listener must live on, or notices stop applying
        log.exception("could not apply a catalog change notice")


def _close(pubsub: redis.client.PubSub) -> None:
    with contextlib.suppress(*REDIS_ERRORS):  # the connection is gone already
        pubsub.close()


def catalog_notices(redis_url: str | None) -> CatalogNotices | None:
    """The notices a server uses: none without Redis (polling alone)."""
    return CatalogNotices(connect(redis_url)) if redis_url else None
