"""No request can stop the request log: text that UTF-8 or PostgreSQL cannot take (NUL in
the body's `endpoint`, a lone surrogate or NUL in an upstream's error message) gets its
ordinary answer and a row with that text replaced by U+FFFD, and the requests after it
still get rows and rollups — on SQLite and on PostgreSQL. (A lone surrogate in a client's
body is refused at the door, 400 `invalid_json`, and logged like any refusal.)"""

from __future__ import annotations

import requests

from app.models import UsageHourly
from server.logwriter import UNWRITTEN_FILE
from tests.fakes.upstream import FakeUpstream
from tests.server.client_fixtures import (
    UPSTREAM_KEY,
    Appliance,
    IssuedToken,
    assert_error,
    chat_body,
    wait_for,
)


def _body(endpoint: str) -> str:
    """A chat body whose `endpoint` is written as given (JSON escapes and all)."""
    return '{"endpoint": "' + endpoint + '", "messages": [{"role": "user", "content": "hi"}]}'


def _metrics(app: Appliance) -> list[str]:
    return requests.get(app.url + "/metrics", timeout=10).text.splitlines()


def _post_raw(app: Appliance, token: IssuedToken, path: str, body: str) -> requests.Response:
    """`body` sent as it is: JSON escapes such as \\ud800 reach the server unchanged."""
    return requests.post(app.url + path, data=body.encode(), timeout=10,
                         headers={**token.headers, "Content-Type": "application/json"})


def test_unencodable_text_gets_its_answer_and_a_row_and_logging_goes_on(
        tmp_path, database_url: str) -> None:
    with FakeUpstream() as fake:
        app = Appliance(tmp_path / "data", database_url)
        try:
            app.provider("fake", base_url=fake.base_url, api_key=UPSTREAM_KEY)
            app.endpoint("chat", "/api/chat", "fake")
            token = app.token("t")
            app.serve()
            surrogate = _post_raw(app, token, "/api/chat", _body("/api/\\ud800"))
            assert_error(surrogate, 400, "invalid_json", mentions="lone surrogate")
            nul = _post_raw(app, token, "/api/chat", _body("/api/\\u0000"))
            assert_error(nul, 404, "endpoint_not_found")
            fake.fail_next(500, '{"error": {"message": "upstream \\udc00 \\u0000 broke"}}')
            upstream = requests.post(app.url + "/api/chat", json=chat_body(), timeout=10,
                                     headers=token.headers)
            assert_error(upstream, 502, "upstream_error")
            later = [requests.post(app.url + "/api/chat", json=chat_body(), timeout=10,
                                   headers=token.headers) for _ in range(3)]
            assert [r.status_code for r in later] == [200, 200, 200]

            for response in later:  # written while the server runs, after the bad rows
                app.log_row(response.headers["X-Request-ID"])
            assert app.log_row(surrogate.headers["X-Request-ID"])["status"] == 400
            assert app.log_row(nul.headers["X-Request-ID"])["error"] == (
                "no endpoint at /api/\ufffd")
            upstream_row = app.log_row(upstream.headers["X-Request-ID"])
            assert upstream_row["status"] == 502 and "\ufffd \ufffd broke" in upstream_row["error"]
            with app.session():
                rollup = sum(u.requests for u in UsageHourly.select())
            assert rollup == 6
            health = requests.get(app.url + "/api/health", timeout=10)
            assert (health.status_code, health.json()["writer"]) == (200, "ok")
            expected = {"modelproxy_log_writer_up 1.0", "modelproxy_log_rows_written_total 6.0",
                        "modelproxy_log_rows_unwritten_total 0.0"}
            assert wait_for(lambda: expected <= set(_metrics(app)), timeout=5), _metrics(app)
            assert app.stop() == 0
            assert len(app.log_rows()) == 6
            assert not (app.data_dir / UNWRITTEN_FILE).exists()
        finally:
            app.close()
