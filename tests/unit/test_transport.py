"""The adapters' transport: outbound proxies from the environment, headers, errors.

A loopback HTTP server plays the outbound proxy: it records each request line and headers
and answers a fixed chat completion.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from server.providers import ProviderConfig, UpstreamError, adapter_for
from server.providers.transport import Transport

ANSWER = {"object": "chat.completion", "choices": [], "usage": {"prompt_tokens": 1}}


class Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, dict[str, str]]]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append((self.requestline, dict(self.headers)))
        data = json.dumps(ANSWER).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def proxy() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    Recorder.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def config(base_url: str) -> ProviderConfig:
    return ProviderConfig(id=1, name="up", type="openai_compatible", base_url=base_url,
                          api_key="sk-secret-key", timeout_s=5)


def test_calls_go_through_the_proxy_the_environment_names(
        proxy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    adapter = adapter_for(config("http://upstream.invalid/v1"))
    assert adapter.chat({"model": "m", "messages": []}, "req-1") == ANSWER
    line, headers = Recorder.seen[-1]
    assert line == "POST http://upstream.invalid/v1/chat/completions HTTP/1.1"
    assert headers["Authorization"] == "Bearer sk-secret-key"
    assert headers["X-Request-ID"] == "req-1"
    assert headers["Content-Type"] == "application/json"
    adapter.close()


def test_no_proxy_hosts_are_called_directly(proxy: str, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("NO_PROXY", "upstream.invalid")
    assert Transport("http://upstream.invalid/v1", {}).proxy is None
    monkeypatch.delenv("NO_PROXY")
    assert Transport("http://upstream.invalid/v1", {}).proxy == proxy


def test_an_unreachable_provider_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    port = server.server_address[1]
    server.server_close()  # nothing listens there now
    adapter = adapter_for(config(f"http://127.0.0.1:{port}/v1"))
    with pytest.raises(UpstreamError, match="cannot reach provider up: connection refused"):
        adapter.chat({"model": "m", "messages": []}, "req-2")
