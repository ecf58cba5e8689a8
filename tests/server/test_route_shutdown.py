"""A graceful stop under load while fallbacks are in flight: every answered request has
its one row (its attempts as the fakes received them), none is lost, the exit is clean."""

from __future__ import annotations

import itertools
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from app.models import EndpointTarget
from tests.fakes.upstream import FakeUpstream
from tests.server.client_fixtures import UPSTREAM_KEY, Appliance, chat_body, wait_for

TOTAL = 200
WORKERS = 16
SIGNAL_AFTER = 50


def _chats(fake: FakeUpstream) -> int:
    return sum(r.path.endswith("/chat/completions") for r in fake.requests)


def test_sigterm_with_fallbacks_in_flight_loses_no_row(tmp_path, database_url: str) -> None:
    with FakeUpstream() as first, FakeUpstream() as second:
        app = Appliance(tmp_path / "data", database_url)
        try:
            app.provider("first", base_url=first.base_url, api_key=UPSTREAM_KEY)
            fallback = app.provider("second", base_url=second.base_url, api_key=UPSTREAM_KEY)
            endpoint = app.endpoint("chat", "/api/chat", "first")
            with app.session():
                EndpointTarget.create(endpoint=endpoint, provider=fallback, model="m1",
                                      priority=1)
            token = app.token("load")
            live = app.serve(MODELPROXY_GRACE_S="20")
            app.wait_for_provider_checks(2)
            # Slow enough that a request is in flight on each target when the signal comes;
            # every other request to the first fails, so about half of them fall back.
            first.set_delay(0.03)
            second.set_delay(0.03)
            first.flap(503, every=2)
            answered: dict[str, int] = {}
            unanswered, lock, numbers = [0], threading.Lock(), itertools.count()

            def worker() -> None:
                while next(numbers) < TOTAL:
                    try:
                        response = requests.post(live.url + "/api/chat", json=chat_body(),
                                                 headers=token.headers, timeout=30)
                    except requests.RequestException:
                        with lock:
                            unanswered[0] += 1
                        continue
                    with lock:
                        answered[response.headers["X-Request-ID"]] = response.status_code

            with ThreadPoolExecutor(max_workers=WORKERS) as pool:
                for _ in range(WORKERS):
                    pool.submit(worker)
                assert wait_for(lambda: len(answered) >= SIGNAL_AFTER, timeout=20)
                live.process.send_signal(signal.SIGTERM)
            assert live.stop() == 0, live.output
            assert "Traceback" not in live.output

            assert len(answered) + unanswered[0] == TOTAL
            rows = app.log_rows()
            assert {r["request_id"]: r["status"] for r in rows} == answered
            assert set(answered.values()) == {200}  # the fallback answered every failure
            assert any(r["attempts"] == 2 for r in rows), "no fallback was exercised"
            assert sum(r["attempts"] for r in rows) == _chats(first) + _chats(second)
        finally:
            app.close()
