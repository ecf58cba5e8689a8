"""Catalog change notices over the test's own Redis (server/shared/notices.py): heard by
the other instances, not by the sender; the listener outlives a Redis restart and reloads
once when it is back. End to end with `modelproxy serve` processes: tests/scale/."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from server.shared.notices import CatalogNotices
from server.shared.redis_conn import connect

DEADLINE_S = 10.0  # a bound for a broken test, never a timing assertion


class Heard:
    def __init__(self) -> None:
        self.count = 0
        self._event = threading.Event()

    def __call__(self) -> None:
        self.count += 1
        self._event.set()

    def wait(self) -> bool:
        heard = self._event.wait(DEADLINE_S)
        self._event.clear()
        return heard


def listening(url: str, heard: Heard) -> CatalogNotices:
    notices = CatalogNotices(connect(url))
    notices.start(heard)
    assert notices.connected.wait(DEADLINE_S)
    return notices


def test_a_notice_is_heard_by_the_others_not_by_its_sender(redis_server) -> None:
    heard_a, heard_b = Heard(), Heard()
    a, b = listening(redis_server.url, heard_a), listening(redis_server.url, heard_b)
    try:
        assert a.publish_now()
        assert heard_b.wait()
        b.publish()  # in the background, as the admin API does
        assert heard_a.wait()
        time.sleep(0.2)  # a notice to itself would have come by now
        assert (heard_a.count, heard_b.count) == (1, 1)
    finally:
        a.stop()
        b.stop()


def test_the_listener_outlives_redis_and_reloads_once_it_is_back(
        redis_server, caplog: pytest.LogCaptureFixture) -> None:
    heard = Heard()
    sender = CatalogNotices(connect(redis_server.url))
    listener = listening(redis_server.url, heard)
    try:
        with caplog.at_level(logging.WARNING, logger="server.shared.notices"):
            redis_server.stop()
            assert not sender.publish_now(), "Redis down: the notice is not taken"
            deadline = time.monotonic() + DEADLINE_S
            while listener.connected.is_set() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not listener.connected.is_set()
            redis_server.start()
            assert heard.wait(), "reconnected: it reloads, a notice may have been lost"
            assert sender.publish_now()
            assert heard.wait(), "and hears notices again"
        messages = [r.getMessage() for r in caplog.records]
        assert sum("Redis does not answer" in m for m in messages) == 1, messages
        assert sum("catalog changes are announced again" in m for m in messages) == 1
        assert any("could not announce a catalog change" in m for m in messages)
    finally:
        listener.stop()
