"""A graceful stop under load loses no request-log row: every request that got an HTTP
answer, whatever its status, is in the log after SIGTERM (on SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

from tests.fakes.upstream import FakeUpstream
from tests.live import LiveServer
from tests.server.client_fixtures import UPSTREAM_KEY, Appliance, chat_body, wait_for

TOTAL = 200
WORKERS = 16
SIGNAL_AFTER = 50


@dataclass
class Outcome:
    answered: dict[str, int] = field(default_factory=dict)  # request id -> HTTP status
    unanswered: int = 0  # connection refused or reset: the server had stopped listening


def _load_then_sigterm(live: LiveServer, headers: dict[str, str]) -> Outcome:
    """TOTAL requests from WORKERS threads; SIGTERM once SIGNAL_AFTER have answers."""
    outcome, lock, numbers = Outcome(), threading.Lock(), itertools.count()

    def worker() -> None:
        while next(numbers) < TOTAL:
            try:
                response = requests.post(live.url + "/api/chat", json=chat_body(),
                                         headers=headers, timeout=30)
            except requests.RequestException:
                with lock:
                    outcome.unanswered += 1
                continue
            with lock:
                outcome.answered[response.headers["X-Request-ID"]] = response.status_code

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for _ in range(WORKERS):
            pool.submit(worker)
        assert wait_for(lambda: len(outcome.answered) >= SIGNAL_AFTER, timeout=20)
        live.process.send_signal(signal.SIGTERM)
    return outcome


def test_sigterm_under_load_loses_no_log_row(tmp_path, database_url: str) -> None:
    with FakeUpstream() as fake:
        app = Appliance(tmp_path / "data", database_url)
        try:
            app.provider("fake", base_url=fake.base_url, api_key=UPSTREAM_KEY)
            app.endpoint("chat", "/api/chat", "fake")
            token = app.token("load")
            live = app.serve(MODELPROXY_GRACE_S="20")
            fake.set_delay(0.03)  # keep requests in flight when the signal comes
            outcome = _load_then_sigterm(live, token.headers)
            assert live.stop() == 0, live.output

            assert len(outcome.answered) + outcome.unanswered == TOTAL
            assert len(outcome.answered) >= SIGNAL_AFTER
            rows = app.log_rows()
            assert len(rows) == len(outcome.answered)
            assert {r["request_id"]: r["status"] for r in rows} == outcome.answered
        finally:
            app.close()
