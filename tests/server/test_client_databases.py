"""A smoke test of the client API on each database: chat, a stream, embeddings, the SDK,
a refusal and their request-log rows — on SQLite and on PostgreSQL."""

from __future__ import annotations

import requests
from openai import OpenAI

from tests.fakes.upstream import FakeUpstream
from tests.server.client_fixtures import (
    UPSTREAM_KEY,
    Appliance,
    IssuedToken,
    assert_error,
    chat_body,
    sse_data,
    streamed_text,
)


def _traffic(app: Appliance, token: IssuedToken) -> dict[str, requests.Response]:
    """One of each kind of request; checks the answers, returns the responses by kind."""
    def post(path: str, body: dict, headers: dict | None = None) -> requests.Response:
        return requests.post(app.url + path, json=body, timeout=10,
                             headers=token.headers if headers is None else headers)

    sent = {
        "chat": post("/api/chat", chat_body("on this database")),
        "stream": post("/api/chat", chat_body("a b c", stream=True)),
        "embeddings": post("/api/embeddings", {"input": "x y"}),
        "refused": post("/api/chat", chat_body(), headers={}),
    }
    assert sent["chat"].json()["choices"][0]["message"]["content"] == "echo: on this database"
    payloads = sse_data(sent["stream"])
    assert payloads[-1] == "[DONE]" and streamed_text(payloads) == "echo: a b c"
    assert sent["embeddings"].status_code == 200, sent["embeddings"].text
    assert_error(sent["refused"], 401, "missing_token")

    client = OpenAI(base_url=app.url + "/v1", api_key=token.plaintext, max_retries=0,
                    timeout=10)
    answer = client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "sdk"}])
    assert answer.choices[0].message.content == "echo: sdk"
    return sent


def test_chat_stream_embeddings_and_log_rows(tmp_path, database_url: str) -> None:
    with FakeUpstream() as fake:
        app = Appliance(tmp_path / "data", database_url)
        try:
            app.provider("fake", base_url=fake.base_url, api_key=UPSTREAM_KEY)
            chat_id = app.endpoint("chat", "/api/chat", "fake")
            embed_id = app.endpoint("embed", "/api/embeddings", "fake", kind="embeddings",
                                    model="text-embedding-3-small")
            token = app.token("smoke", rpm=100)
            app.serve()
            sent = _traffic(app, token)

            # Rows are written while the server runs (in batches), not only at the stop.
            chat_row = app.log_row(sent["chat"].headers["X-Request-ID"])
            assert (chat_row["status"], chat_row["endpoint_id"]) == (200, chat_id)
            assert chat_row["token_id"] == token.id
            assert app.stop() == 0

            rows = {r["request_id"]: r for r in app.log_rows()}
            assert len(rows) == 5  # the four above and the SDK's
            stream_row = rows[sent["stream"].headers["X-Request-ID"]]
            assert stream_row["stream"] is True and stream_row["ttfb_ms"] is not None
            assert (stream_row["prompt_tokens"], stream_row["completion_tokens"]) == (3, 4)
            embed_row = rows[sent["embeddings"].headers["X-Request-ID"]]
            assert (embed_row["endpoint_id"], embed_row["model"]) == (
                embed_id, "text-embedding-3-small")
            assert embed_row["prompt_tokens"] == 2
            refused_row = rows[sent["refused"].headers["X-Request-ID"]]
            assert (refused_row["status"], refused_row["token_id"]) == (401, None)
            usage = app.cli_json("usage")
            assert (usage["requests"], usage["errors"]) == (5, 1)
        finally:
            app.close()
