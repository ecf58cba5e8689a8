"""A graceful stop under load loses no request-log row: every request that got an HTTP
answer, whatever its status, is in the log after SIGTERM (on SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
import json
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

from server.stopping import STOPPED
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


# --- the end of the grace period (issue 11, item 17) -------------------------------------------


def _chats(fake: FakeUpstream) -> int:
    return sum(r.path.endswith("/chat/completions") for r in fake.requests)


def _post(live: LiveServer, headers: dict[str, str], results: dict[str, object], key: str,
          **body: object) -> None:
    try:
        response = requests.post(live.url + "/api/chat", json=chat_body(**body),
                                 headers=headers, timeout=30)
        results[key] = response
    except requests.RequestException as exc:
        results[key] = exc


def test_requests_still_waiting_when_the_grace_period_ends_get_503_and_one_row(
        tmp_path) -> None:
    with FakeUpstream() as fake:
        app = Appliance(tmp_path / "data")
        try:
            app.provider("fake", base_url=fake.base_url, api_key=UPSTREAM_KEY, timeout_s=60)
            app.endpoint("chat", "/api/chat", "fake")
            token = app.token("grace")
            live = app.serve(MODELPROXY_GRACE_S="1")
            app.wait_for_provider_checks(1)
            fake.set_delay(30)  # the upstream answers long after the grace period
            results: dict[str, object] = {}
            threads = [threading.Thread(target=_post, args=(live, token.headers, results, key),
                                        kwargs={"stream": key == "stream"})
                       for key in ("whole-1", "whole-2", "stream")]
            for thread in threads:
                thread.start()
            assert fake.wait_until(lambda f: _chats(f) == 3, timeout=10)
            live.process.send_signal(signal.SIGTERM)
            for thread in threads:
                thread.join(timeout=30)
            assert live.stop() == 0

            for key, response in results.items():
                assert isinstance(response, requests.Response), (key, response)
                assert response.status_code == 503, (key, response.text)
                error = response.json()["error"]  # JSON, not gevent's plain-text 500
                assert error["code"] == "server_stopped" and "stopped" in error["message"]
                assert response.headers["Connection"] == "close"
                row = app.log_row(response.headers["X-Request-ID"])
                assert row["status"] == 503 and row["error"] == STOPPED
                assert row["stream"] == (key == "stream")
            assert len(app.log_rows()) == 3
            assert "Traceback" not in live.output
        finally:
            app.close()


def test_a_stream_cut_by_the_end_of_the_grace_period_is_logged_as_cut(tmp_path) -> None:
    with FakeUpstream() as fake:
        app = Appliance(tmp_path / "data")
        try:
            app.provider("fake", base_url=fake.base_url, api_key=UPSTREAM_KEY, timeout_s=60)
            app.endpoint("chat", "/api/chat", "fake")
            token = app.token("grace")
            live = app.serve(MODELPROXY_GRACE_S="1")
            fake.stream_delay(30)  # the first event comes, the rest long after the grace
            response = requests.post(live.url + "/api/chat", json=chat_body(stream=True),
                                     headers=token.headers, timeout=30, stream=True)
            assert response.status_code == 200
            lines = response.iter_lines()
            assert next(line for line in lines if line).startswith(b"data: {")
            live.process.send_signal(signal.SIGTERM)
            rest = [line for line in lines if line]  # the stream ends, and its connection
            assert live.stop() == 0
            # no [DONE]: one error event says it was cut, not complete
            assert len(rest) == 1 and rest[0].startswith(b"data: "), rest
            assert json.loads(rest[0][6:])["error"] == {
                "message": STOPPED, "type": "server_error", "code": "server_stopped"}
            assert response.headers.get("Connection") != "close"  # it began before the stop
            row = app.log_row(response.headers["X-Request-ID"])
            assert (row["status"], row["error"], row["stream"]) == (503, STOPPED, True)
            assert "Traceback" not in live.output
        finally:
            app.close()


def test_responses_during_the_grace_period_close_their_connection(tmp_path) -> None:
    with FakeUpstream() as fake:
        app = Appliance(tmp_path / "data")
        try:
            app.provider("fake", base_url=fake.base_url, api_key=UPSTREAM_KEY)
            app.endpoint("chat", "/api/chat", "fake")
            token = app.token("grace")
            live = app.serve(MODELPROXY_GRACE_S="20")
            before = requests.post(live.url + "/api/chat", json=chat_body(),
                                   headers=token.headers, timeout=10)
            assert "Connection" not in before.headers  # keep-alive while serving
            fake.set_delay(1.0)
            results: dict[str, object] = {}
            thread = threading.Thread(target=_post, args=(live, token.headers, results, "a"))
            thread.start()
            assert fake.wait_until(lambda f: _chats(f) == 2, timeout=10)
            live.process.send_signal(signal.SIGTERM)
            thread.join(timeout=30)
            assert live.stop() == 0
            response = results["a"]
            assert isinstance(response, requests.Response) and response.status_code == 200
            assert response.headers["Connection"] == "close"  # do not reuse this socket
        finally:
            app.close()


def test_keep_alive_clients_are_never_cut_off_after_sending_during_a_stop(tmp_path) -> None:
    """Clients looping on kept-alive connections when SIGTERM comes: each request is
    answered, or refused before it is sent (the listener is closed); none is sent into a
    connection the server then closes without an answer (RemoteDisconnected), which
    leaves a client not knowing whether its POST was done."""
    with FakeUpstream() as fake:
        app = Appliance(tmp_path / "data")
        try:
            app.provider("fake", base_url=fake.base_url, api_key=UPSTREAM_KEY)
            app.endpoint("chat", "/api/chat", "fake")
            token = app.token("keepalive")
            live = app.serve(MODELPROXY_GRACE_S="20")
            fake.set_delay(0.01)
            outcomes: list[str] = []
            started = threading.Barrier(KEEPALIVE_CLIENTS + 1)

            def client() -> None:
                session = requests.Session()
                started.wait()
                while True:
                    try:
                        response = session.post(live.url + "/api/chat", json=chat_body(),
                                                headers=token.headers, timeout=30)
                        outcomes.append(str(response.status_code))
                    except requests.ConnectionError as exc:
                        refused = "Connection refused" in str(exc)
                        outcomes.append("refused" if refused else f"cut off: {exc}")
                        return

            threads = [threading.Thread(target=client) for _ in range(KEEPALIVE_CLIENTS)]
            for thread in threads:
                thread.start()
            started.wait()
            assert wait_for(lambda: len(outcomes) >= 10 * KEEPALIVE_CLIENTS, timeout=20)
            live.process.send_signal(signal.SIGTERM)
            for thread in threads:
                thread.join(timeout=30)
            assert live.stop() == 0
            assert set(outcomes) == {"200", "refused"}, [o for o in outcomes if "cut" in o][:3]
        finally:
            app.close()


KEEPALIVE_CLIENTS = 60
